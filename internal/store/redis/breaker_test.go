package redis

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki"
)

// cutProxy forwards TCP connections to the test Redis until it is cut; then it drops every
// connection and black-holes new ones (accepts them and never answers), the way a failed
// server or a partition looks to a client: the worst case, where each call waits for its
// timeout.
type cutProxy struct {
	ln    net.Listener
	cut   atomic.Bool
	mu    sync.Mutex
	conns []net.Conn
}

func newCutProxy(t *testing.T) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.drop() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			p.mu.Unlock()
			if p.cut.Load() {
				continue // held open, never answered
			}
			up, err := net.Dial("tcp", testAddr)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestBreakerBoundsCallsWhileRedisIsGone: with Redis not answering, calls fail at once with
// tiaki.ErrUnavailable instead of each waiting for its own timeout (p99 308 ms measured under
// load, issue 11 item 21), and work again soon after Redis is back.
func TestBreakerBoundsCallsWhileRedisIsGone(t *testing.T) {
	t.Parallel()
	c := raw(t)
	prefix := newPrefix(t, c)
	p := newCutProxy(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	s, err := Open(ctx, Options{Addr: p.ln.Addr().String(), KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	limit := tiaki.Limit{Rate: 1000, Per: time.Second}
	if _, err := s.Allow(t.Context(), "k", limit, 1); err != nil {
		t.Fatal(err)
	}

	p.cut.Store(true)
	p.drop()
	// The call that finds Redis gone waits for its timeout, once.
	start := time.Now()
	if _, err := s.Allow(t.Context(), "k", limit, 1); !errors.Is(err, tiaki.ErrUnavailable) {
		t.Fatalf("first call after the cut: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > ioTimeout+200*time.Millisecond {
		t.Errorf("first call after the cut took %v, want at most the %v I/O timeout", d, ioTimeout)
	}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		wg        sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for range 50 {
				start := time.Now()
				_, err := s.Allow(t.Context(), "k", limit, 1)
				d := time.Since(start)
				if err == nil || !errors.Is(err, tiaki.ErrUnavailable) {
					t.Errorf("Allow while Redis is gone: %v, want ErrUnavailable", err)
				}
				mu.Lock()
				latencies = append(latencies, d)
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	slices.Sort(latencies)
	p99 := latencies[len(latencies)*99/100]
	if p99 > 50*time.Millisecond {
		t.Errorf("p99 of %d calls while Redis is gone: %v, want under 50ms (max %v)", len(latencies), p99, latencies[len(latencies)-1])
	}

	p.cut.Store(false)
	p.drop() // the black-holed connections go; new ones reach Redis
	deadline := time.Now().Add(3 * time.Second)
	for {
		if _, err := s.Allow(t.Context(), "k", limit, 1); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("Redis back, calls still fail: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{context.Canceled, false},
		{context.DeadlineExceeded, true},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{io.EOF, true},
	} {
		if got := unreachable(tc.err); got != tc.want {
			t.Errorf("unreachable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
