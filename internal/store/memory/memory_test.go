package memory

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/store/limitstest"
)

// clock is a manual clock for tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 1, 10, 30, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestConformance(t *testing.T) {
	limitstest.Run(t, func(t *testing.T) limitstest.Cluster {
		c := newClock()
		s := New(Options{Now: c.Now})
		// One process is one node: both "nodes" are the same store.
		return limitstest.Cluster{A: s, B: s, Now: c.Now, Advance: c.Advance}
	})
}

func TestLimiterTableEvictsNearestToFull(t *testing.T) {
	t.Parallel()
	c := newClock()
	s := New(Options{Now: c.Now, MaxKeys: numShards}) // one key per shard
	l := tiaki.Limit{Rate: 1, Per: time.Hour}
	for i := range 2000 {
		if _, err := s.Allow(t.Context(), fmt.Sprint("ip-", i), l, 1); err != nil {
			t.Fatalf("Allow %d: %v", i, err)
		}
	}
	if n := s.limits.len(); n > numShards {
		t.Fatalf("limits table holds %d keys, bound %d", n, numShards)
	}
}

func TestStrictTablesRefuseWhenFull(t *testing.T) {
	t.Parallel()
	c := newClock()
	s := New(Options{Now: c.Now, MaxKeys: numShards})
	ctx := t.Context()
	var full error
	for i := 0; full == nil && i < 10000; i++ {
		_, full = s.Consume(ctx, fmt.Sprint("jti-", i), time.Minute)
	}
	if !errors.Is(full, ErrFull) {
		t.Fatalf("replay cache never filled: %v", full)
	}
	// Live entries are kept: expired ones make room.
	c.Advance(2 * time.Minute)
	if ok, err := s.Consume(ctx, "after-expiry", time.Minute); err != nil || !ok {
		t.Fatalf("after expiry: %v, %v; want room again", ok, err)
	}
	full = nil
	for i := 0; full == nil && i < 10000; i++ {
		_, _, full = s.Add(ctx, fmt.Sprint("consumer-", i), time.Hour, 1)
	}
	if !errors.Is(full, ErrFull) {
		t.Fatalf("quotas never filled: %v", full)
	}
}

func TestSweepDropsExpired(t *testing.T) {
	t.Parallel()
	c := newClock()
	s := New(Options{Now: c.Now})
	ctx := t.Context()
	for i := range 1000 {
		if _, err := s.Consume(ctx, fmt.Sprint("jti-", i), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance(sweepEvery + time.Second)
	// Adding keys sweeps each shard they land in.
	for i := range 1000 {
		if _, err := s.Consume(ctx, fmt.Sprint("new-", i), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.replay.len(); n != 1000 {
		t.Fatalf("replay cache holds %d entries after the sweep, want the 1000 live ones", n)
	}
}

func TestAllowDoesNotAllocate(t *testing.T) {
	s := New(Options{})
	l := tiaki.Limit{Rate: 1_000_000, Per: time.Second, Burst: 10}
	ctx := t.Context()
	_, _ = s.Allow(ctx, "warm", l, 1)
	if n := testing.AllocsPerRun(1000, func() { _, _ = s.Allow(ctx, "warm", l, 1) }); n != 0 {
		t.Errorf("Allow allocates %v times per call for a known key", n)
	}
}

func BenchmarkAllow(b *testing.B) {
	s := New(Options{})
	l := tiaki.Limit{Rate: 1_000_000_000, Per: time.Second, Burst: 1000}
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprint("route\x00consumer-", i)
	}
	ctx := b.Context()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.Allow(ctx, keys[i&1023], l, 1); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
