package h1_test

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki/internal/h1"
)

// TestClientGoneCancelsSlowRequest: a request still running after the watch delay has its
// context cancelled when the client closes the connection, as net/http's server does (later
// by at most the delay), so the gateway abandons the upstream exchange.
func TestClientGoneCancelsSlowRequest(t *testing.T) {
	for _, tc := range []struct{ name, req string }{
		{"no body", "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"body read", "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cancelled := make(chan time.Duration, 1)
			s := &h1.Server{Logger: discardLogger(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				start := time.Now()
				select {
				case <-r.Context().Done():
					cancelled <- time.Since(start)
				case <-time.After(5 * time.Second):
					cancelled <- -1
				}
			})}
			c := dial(t, serveH1(t, s))
			io.WriteString(c, tc.req)
			time.Sleep(100 * time.Millisecond)
			c.Close()
			if d := <-cancelled; d < 0 || d > 2*time.Second {
				t.Fatalf("context cancelled after %v, want within about a second of the client leaving", d)
			}
		})
	}
}

// TestWatchKeepsPipelinedRequest: the byte a background read takes from a pipelined request
// is not lost, and a client that is still there does not have its request cancelled.
func TestWatchKeepsPipelinedRequest(t *testing.T) {
	s := &h1.Server{Logger: discardLogger(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-r.Context().Done():
				http.Error(w, "cancelled", http.StatusServiceUnavailable)
				return
			case <-time.After(1200 * time.Millisecond):
			}
		}
		io.WriteString(w, "ok "+r.Method+" "+r.URL.Path)
	})}
	c := dial(t, serveH1(t, s))
	// The second request arrives while the first runs, after its watch began: the background
	// read takes its first byte.
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(800 * time.Millisecond)
	io.WriteString(c, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	for _, want := range []string{"ok GET /slow", "ok GET /next"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, b, want)
		}
	}
	// And a slow request on a connection that stays quiet is not cancelled either.
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("quiet client: %d", resp.StatusCode)
	}
}
