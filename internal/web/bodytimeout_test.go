package web

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

// TestBodyTimeout checks the net/http listeners' body bound: a body that stops arriving fails
// the handler's read within it, and once the body is in, a slow handler is not cancelled as
// if the client had gone (net/http's background read would otherwise hit the deadline).
func TestBodyTimeout(t *testing.T) {
	t.Parallel()
	const bound = 200 * time.Millisecond
	srv := httptest.NewServer(BodyTimeout(bound, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		b, err := io.ReadAll(r.Body)
		if err != nil {
			fmt.Fprintf(w, "read failed after %v, deadline exceeded: %v", time.Since(start).Round(bound), errors.Is(err, os.ErrDeadlineExceeded))
			return
		}
		select {
		case <-r.Context().Done():
			fmt.Fprintf(w, "%d bytes, then cancelled", len(b))
		case <-time.After(3 * bound):
			fmt.Fprintf(w, "%d bytes, still wanted", len(b))
		}
	})))
	t.Cleanup(srv.Close)
	for _, tc := range []struct{ name, request, want string }{
		{"stalled", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab", "read failed after 200ms, deadline exceeded: true"},
		{"in time, slow handler", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab", "2 bytes, still wanted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, tc.request)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if string(b) != tc.want {
				t.Errorf("got %q, want %q", b, tc.want)
			}
		})
	}
}
