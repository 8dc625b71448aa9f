package h1_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki/internal/h1"
)

// serveOne serves the connections of a fresh listener with s and reports on ended each time a
// ServeConn returns, so a test can see that a connection's goroutine was released.
func serveOne(t *testing.T, s *h1.Server) (addr string, ended <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				s.ServeConn(c)
				done <- struct{}{}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.Close()
	})
	return ln.Addr().String(), done
}

// stalled sends a request header that declares a body, and only part of the body.
func stalled(t *testing.T, addr, header, part string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c := dial(t, addr)
	if _, err := io.WriteString(c, header+part); err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

// TestBodyTimeout checks Server.BodyTimeout (issue 11): a body that stops arriving fails the
// handler's read within the bound, with os.ErrDeadlineExceeded; a body the handler did not
// read holds its response only that long; either way the connection then closes and its
// goroutine ends.
func TestBodyTimeout(t *testing.T) {
	t.Parallel()
	const bound = 300 * time.Millisecond
	readBody := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			w.WriteHeader(http.StatusRequestTimeout)
			return
		}
		fmt.Fprintf(w, "read: %v", err)
	})
	refuse := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, "no credentials")
	})
	cases := []struct {
		name    string
		handler http.Handler
		request string
		code    int
		after   time.Duration // the earliest the response may come
	}{
		{"body read, length", readBody, "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 100\r\n\r\nab", 408, bound},
		{"body read, chunked", readBody, "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n", 408, bound},
		{"body read, nothing of it sent", readBody, "PUT / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 10\r\n\r\n", 408, bound},
		// The server drains what the handler left before it answers (as net/http's does), but
		// only until the deadline.
		{"body not read", refuse, "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 100\r\n\r\nab", 401, bound},
		{"body not read, chunked", refuse, "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n", 401, bound},
		{"OPTIONS *", nil, "OPTIONS * HTTP/1.1\r\nHost: example.com\r\nContent-Length: 100\r\n\r\nab", 200, bound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := tc.handler
			if h == nil {
				h = http.HandlerFunc(hello)
			}
			addr, ended := serveOne(t, &h1.Server{Handler: h, ReadHeaderTimeout: time.Second, IdleTimeout: time.Second,
				BodyTimeout: bound, Logger: discardLogger()})
			start := time.Now()
			c, br := stalled(t, addr, tc.request, "")
			r, err := readResponse(br, http.MethodPost)
			took := time.Since(start)
			if err != nil {
				t.Fatalf("no response: %v", err)
			}
			if r.code() != tc.code {
				t.Errorf("status %q, want %d", r.Status, tc.code)
			}
			if took < tc.after-50*time.Millisecond || took > bound+2*time.Second {
				t.Errorf("answered after %v, want about %v", took, bound)
			}
			if v, _ := r.field("Connection"); v != "close" {
				t.Errorf("Connection %q, want close", v)
			}
			expectClosed(t, c, br, 2*time.Second)
			select {
			case <-ended:
			case <-time.After(2 * time.Second):
				t.Error("the connection's goroutine is still serving")
			}
		})
	}
}

// TestBodyTimeoutKeepsConnection checks that a body sent in time keeps the connection: the
// deadline is the body's and ends with it.
func TestBodyTimeoutKeepsConnection(t *testing.T) {
	t.Parallel()
	const bound = 200 * time.Millisecond
	addr := serveH1(t, &h1.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d %v", len(b), err)
	}), BodyTimeout: bound})
	c := dial(t, addr)
	br := bufio.NewReader(c)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 10\r\n\r\n01234")
	time.Sleep(bound / 2)
	io.WriteString(c, "56789")
	if r, err := readResponse(br, http.MethodPost); err != nil || r.Body != "10 <nil>" {
		t.Fatalf("got %+v, %v", r, err)
	}
	time.Sleep(2 * bound) // past the body's deadline: the connection waits for the next request
	if r := getOn(t, c, br, "/next"); r.Body != "0 <nil>" {
		t.Errorf("next request: %+v", r)
	}
}

// TestHandlerMovesBodyDeadline checks that a handler's read deadline replaces BodyTimeout
// (the gateway sets each route's limits.body_timeout this way), later or earlier.
func TestHandlerMovesBodyDeadline(t *testing.T) {
	t.Parallel()
	for name, d := range map[string]time.Duration{"later": 600 * time.Millisecond, "earlier": 50 * time.Millisecond} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			addr := serveH1(t, &h1.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				start := time.Now()
				if err := http.NewResponseController(w).SetReadDeadline(start.Add(d)); err != nil {
					t.Error(err)
				}
				_, err := io.ReadAll(r.Body)
				if took := time.Since(start); !errors.Is(err, os.ErrDeadlineExceeded) || took < d-20*time.Millisecond || took > d+time.Second {
					t.Errorf("read failed after %v with %v, want os.ErrDeadlineExceeded after %v", took, err, d)
				}
				w.WriteHeader(http.StatusRequestTimeout)
			}), BodyTimeout: 200 * time.Millisecond})
			_, br := stalled(t, addr, "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 100\r\n\r\n", "ab")
			if r, err := readResponse(br, http.MethodPost); err != nil || r.code() != 408 {
				t.Errorf("got %+v, %v", r, err)
			}
		})
	}
}

// TestBodyTimeoutSpareSlowHandler checks that the body's deadline, once the body is in, does
// not end a slow request as a client gone away would (the watch reads the connection after
// watchAfter, half a second).
func TestBodyTimeoutSpareSlowHandler(t *testing.T) {
	t.Parallel()
	addr := serveH1(t, &h1.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
			fmt.Fprintf(w, "cancelled after the body (%d bytes)", len(b))
		case <-time.After(900 * time.Millisecond):
			fmt.Fprintf(w, "%d bytes, still wanted", len(b))
		}
	}), BodyTimeout: 100 * time.Millisecond})
	c := dial(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 2\r\n\r\nab")
	if r, err := readResponse(bufio.NewReader(c), http.MethodPost); err != nil || r.Body != "2 bytes, still wanted" {
		t.Errorf("got %+v, %v", r, err)
	}
}
