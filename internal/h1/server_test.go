package h1_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki/internal/h1"
)

func hello(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "hello")
}

// expectClosed requires the server to close c without sending anything more, within d.
func expectClosed(t *testing.T, c net.Conn, br *bufio.Reader, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(br)
	if len(b) > 0 {
		t.Errorf("read %q before the connection closed", b)
	}
	if err != nil && errText(err) != "EOF" {
		t.Errorf("connection not closed: %v", err)
	}
}

func getOn(t *testing.T, c net.Conn, br *bufio.Reader, path string) rawResponse {
	t.Helper()
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: example.com\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r, err := readResponse(br, http.MethodGet)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return r
}

func TestReadHeaderTimeout(t *testing.T) {
	t.Parallel()
	addr := serveH1(t, &h1.Server{Handler: http.HandlerFunc(hello), ReadHeaderTimeout: 100 * time.Millisecond})
	for name, partial := range map[string]string{
		"partial header": "GET / HTTP/1.1\r\nHost: example.com\r\n",
		"nothing sent":   "",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, addr)
			io.WriteString(c, partial)
			start := time.Now()
			expectClosed(t, c, bufio.NewReader(c), 2*time.Second)
			if d := time.Since(start); d < 80*time.Millisecond || d > time.Second {
				t.Errorf("closed after %v, want about 100ms", d)
			}
		})
	}
	t.Run("complete header in time", func(t *testing.T) {
		t.Parallel()
		c := dial(t, addr)
		io.WriteString(c, "GET / HTTP/1.1\r\n")
		time.Sleep(40 * time.Millisecond)
		io.WriteString(c, "Host: example.com\r\n\r\n")
		r, err := readResponse(bufio.NewReader(c), http.MethodGet)
		if err != nil || r.Body != "hello" {
			t.Errorf("got %+v, %v", r, err)
		}
	})
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	addr := serveH1(t, &h1.Server{Handler: http.HandlerFunc(hello), IdleTimeout: 150 * time.Millisecond, ReadHeaderTimeout: time.Second})
	c := dial(t, addr)
	br := bufio.NewReader(c)
	getOn(t, c, br, "/1")
	time.Sleep(75 * time.Millisecond) // within the idle timeout: the connection is kept
	getOn(t, c, br, "/2")
	start := time.Now()
	expectClosed(t, c, br, 2*time.Second)
	if d := time.Since(start); d < 120*time.Millisecond || d > time.Second {
		t.Errorf("idle connection closed after %v, want about 150ms", d)
	}
}

// TestIdleTimeoutAloneLeavesBodies checks that the idle wait's deadline does not outlive it:
// with only IdleTimeout set, a handler still reads a body that takes longer than it.
func TestIdleTimeoutAloneLeavesBodies(t *testing.T) {
	t.Parallel()
	addr := serveH1(t, &h1.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d %v", len(b), err)
	}), IdleTimeout: 100 * time.Millisecond})
	c := dial(t, addr)
	br := bufio.NewReader(c)
	getOn(t, c, br, "/first") // the next request is read after an idle wait
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 10\r\n\r\n01234")
	time.Sleep(250 * time.Millisecond)
	io.WriteString(c, "56789")
	r, err := readResponse(br, http.MethodPost)
	if err != nil || r.Body != "10 <nil>" {
		t.Errorf("got %+v, %v; want the whole body read", r, err)
	}
}

// TestHandlerDeadlinesEndWithRequest checks that deadlines a handler sets through
// http.ResponseController do not carry over to the connection's next request.
func TestHandlerDeadlinesEndWithRequest(t *testing.T) {
	t.Parallel()
	addr := serveH1(t, &h1.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/short" {
			rc := http.NewResponseController(w)
			if err := rc.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
				t.Error(err)
			}
			if err := rc.SetWriteDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
				t.Error(err)
			}
		}
		hello(w, r)
	})})
	c := dial(t, addr)
	br := bufio.NewReader(c)
	getOn(t, c, br, "/short")
	time.Sleep(120 * time.Millisecond)
	if r := getOn(t, c, br, "/later"); r.Body != "hello" {
		t.Errorf("got %+v", r)
	}
}

func TestHijack(t *testing.T) {
	t.Parallel()
	addr := serveH1(t, &h1.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := w.Write([]byte("x")); err != http.ErrHijacked {
			t.Errorf("Write after Hijack: %v", err)
		}
		if _, _, err := w.(http.Hijacker).Hijack(); err != http.ErrHijacked {
			t.Errorf("second Hijack: %v", err)
		}
		// What the client sent after the request is in the reader handed over.
		go func() {
			defer c.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
			brw.Flush()
			for {
				line, err := brw.ReadString('\n')
				if err != nil {
					return
				}
				brw.WriteString("echo: " + line)
				brw.Flush()
			}
		}()
	})})
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nsent early\n")
	br := bufio.NewReader(c)
	want := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\necho: sent early\n"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != want {
		t.Fatalf("read %q, %v; want %q", got, err, want)
	}
	// The server neither wrote more nor closed the connection after the handler returned.
	io.WriteString(c, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "echo: ping\n" {
		t.Errorf("read %q, %v after the handler returned", line, err)
	}
}

func TestPanic(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	addr := serveH1(t, &h1.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/panic":
				w.Header().Set("Content-Length", "5")
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(http.StatusOK) // committed but not sent: nothing reaches the client
				panic("boom")
			case "/abort":
				panic(http.ErrAbortHandler)
			}
			hello(w, r)
		}),
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	for _, path := range []string{"/panic", "/abort"} {
		c := dial(t, addr)
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: example.com\r\n\r\n")
		expectClosed(t, c, bufio.NewReader(c), 2*time.Second)
	}
	got := logs.String()
	if n := strings.Count(got, "h1: handler panic"); n != 1 || !strings.Contains(got, "panic=boom") ||
		!strings.Contains(got, "level=ERROR") || !strings.Contains(got, "server_test.go") {
		t.Errorf("log: want one ERROR line with the panic and its stack (ErrAbortHandler is not logged), got:\n%s", got)
	}
	// The server goes on serving.
	c := dial(t, addr)
	if r := getOn(t, c, bufio.NewReader(c), "/"); r.Body != "hello" {
		t.Errorf("after the panics: %+v", r)
	}
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	t.Run("idle connections closed at once", func(t *testing.T) {
		t.Parallel()
		s := &h1.Server{Handler: http.HandlerFunc(hello)}
		addr := serveH1(t, s)
		c := dial(t, addr)
		br := bufio.NewReader(c)
		getOn(t, c, br, "/")
		fresh := dial(t, addr) // connected, no request yet
		time.Sleep(20 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("Shutdown took %v with only idle connections", d)
		}
		expectClosed(t, c, br, time.Second)
		expectClosed(t, fresh, bufio.NewReader(fresh), time.Second)
		// A connection accepted after Shutdown is closed without being served.
		late := dial(t, addr)
		io.WriteString(late, get)
		expectClosed(t, late, bufio.NewReader(late), time.Second)
	})
	t.Run("in-flight request completes", func(t *testing.T) {
		t.Parallel()
		entered, release := make(chan struct{}), make(chan struct{})
		s := &h1.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-release
			hello(w, r)
		})}
		addr := serveH1(t, s)
		c := dial(t, addr)
		io.WriteString(c, get)
		<-entered
		done := make(chan error, 1)
		go func() { done <- s.Shutdown(context.Background()) }()
		select {
		case err := <-done:
			t.Fatalf("Shutdown returned %v with a request in flight", err)
		case <-time.After(50 * time.Millisecond):
		}
		close(release)
		br := bufio.NewReader(c)
		r, err := readResponse(br, http.MethodGet)
		if err != nil || r.Body != "hello" {
			t.Fatalf("in-flight response: %+v, %v", r, err)
		}
		if v, _ := r.field("Connection"); v != "close" {
			t.Errorf("Connection %q, want close", v)
		}
		expectClosed(t, c, br, time.Second)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		case <-time.After(2 * time.Second):
			t.Error("Shutdown did not return after the last connection closed")
		}
	})
	t.Run("context expires first", func(t *testing.T) {
		t.Parallel()
		entered, release := make(chan struct{}), make(chan struct{})
		s := &h1.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-release
		})}
		addr := serveH1(t, s)
		t.Cleanup(func() { close(release) })
		c := dial(t, addr)
		io.WriteString(c, get)
		<-entered
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown: %v, want context.DeadlineExceeded", err)
		}
		// The rest was closed: the client's connection ends without a response.
		expectClosed(t, c, bufio.NewReader(c), time.Second)
	})
}

func TestResponseController(t *testing.T) {
	t.Parallel()
	addr := serveH1(t, &h1.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		errs := []error{
			rc.SetReadDeadline(time.Now().Add(time.Second)),
			rc.SetWriteDeadline(time.Now().Add(time.Second)),
			rc.EnableFullDuplex(),
			rc.Flush(),
		}
		fmt.Fprint(w, errs)
	})})
	resp, err := http.Get("http://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "[<nil> <nil> <nil> <nil>]" || resp.TransferEncoding == nil {
		t.Errorf("got %q (Transfer-Encoding %q); want every call to succeed and the flush to begin a chunked body",
			b, resp.TransferEncoding)
	}
}

// TestFullDuplex interleaves reading the request body with writing the response, which
// EnableFullDuplex allows, on both servers.
func TestFullDuplex(t *testing.T) {
	t.Parallel()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.EnableFullDuplex(); err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ready\n")
		rc.Flush()
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %v", b, err)
	})
	run := func(addr string) string {
		c := dial(t, addr)
		c.SetDeadline(time.Now().Add(2 * time.Second))
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 10\r\n\r\n01234")
		br := bufio.NewReader(c)
		if _, err := br.ReadString('\n'); err != nil { // status line
			return err.Error()
		}
		if _, err := readFields(br); err != nil {
			return err.Error()
		}
		body := httputil.NewChunkedReader(br)
		ready := make([]byte, len("ready\n"))
		if _, err := io.ReadFull(body, ready); err != nil {
			return fmt.Sprintf("before the rest of the body was sent: %v", err)
		}
		io.WriteString(c, "56789")
		rest, err := io.ReadAll(body)
		return fmt.Sprintf("%s%s %v", ready, rest, err)
	}
	want := "ready\n0123456789 <nil> <nil>"
	if got := run(serveStd(t, handler, 0)); got != want {
		t.Errorf("net/http: %q", got)
	}
	if got := run(serveH1(t, &h1.Server{Handler: handler})); got != want {
		t.Errorf("h1: %q, want %q", got, want)
	}
}

// TestLingerAfterUnreadBody checks that a connection closed with a request body unread is
// half-closed and read from for a while rather than closed at once, so that the client's
// stack does not reset it (losing the response) while the client is still sending
// (RFC 9112 §9.6).
func TestLingerAfterUnreadBody(t *testing.T) {
	t.Parallel()
	addr := serveH1(t, &h1.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
	})})
	c := dial(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 100000000\r\n\r\n")
	br := bufio.NewReader(c)
	r, err := readResponse(br, http.MethodPost)
	if err != nil || r.code() != http.StatusRequestEntityTooLarge {
		t.Fatalf("got %+v, %v", r, err)
	}
	if v, _ := r.field("Connection"); v != "close" {
		t.Errorf("Connection %q, want close", v)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after the response: %v, want EOF (the server's write side closed)", err)
	}
	chunk := strings.Repeat("x", 32<<10)
	for i := range 5 {
		time.Sleep(20 * time.Millisecond)
		if _, err := io.WriteString(c, chunk); err != nil {
			t.Fatalf("write %d, %v after the response: the server closed at once", i, err)
		}
	}
}

// TestExpectContinueWithoutRead checks that a server that never reads a body it was told to
// wait for does not wait for it: the response comes at once and the connection closes.
func TestExpectContinueWithoutRead(t *testing.T) {
	t.Parallel()
	addr := serveH1(t, &h1.Server{Handler: http.HandlerFunc(hello)})
	c := dial(t, addr)
	io.WriteString(c, "PUT / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n")
	br := bufio.NewReader(c)
	r, err := readResponse(br, http.MethodPut)
	if err != nil || r.Body != "hello" {
		t.Fatalf("got %+v, %v", r, err)
	}
	if v, _ := r.field("Connection"); v != "close" {
		t.Errorf("Connection %q, want close", v)
	}
	expectClosed(t, c, br, time.Second)
}

// TestRequestContext pins down the request context's deliberate difference from net/http's:
// it is the connection's, so it outlives the handler and ends with the connection.
func TestRequestContext(t *testing.T) {
	t.Parallel()
	ctxs := make(chan context.Context, 1)
	addr := serveH1(t, &h1.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctxs <- r.Context()
		fmt.Fprint(w, r.Context().Value(http.LocalAddrContextKey))
	})})
	c := dial(t, addr)
	if r := getOn(t, c, bufio.NewReader(c), "/"); r.Body != addr {
		t.Errorf("LocalAddrContextKey: %q, want %s", r.Body, addr)
	}
	ctx := <-ctxs
	if ctx.Err() != nil {
		t.Errorf("context ended with the handler: %v", ctx.Err())
	}
	c.Close()
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Second):
		t.Error("context not cancelled when the connection closed")
	}
}

// BenchmarkServeConn serves a small GET over loopback TCP to a keep-alive client with
// net/http's server and with h1's, to compare their cost per request. The client is a
// minimal one (a fixed request, a response read by its Content-Length) so that the
// allocations reported are nearly all the server's. "sniffed" leaves the length to the
// server (h1 then holds the body back and copies the header map, as net/http does);
// "length set" is the proxied case, a Content-Length and Content-Type set by the handler.
func BenchmarkServeConn(b *testing.B) {
	const body = "hello, world\n"
	handlers := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"sniffed", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, body)
		}},
		{"length set", func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h["Content-Type"] = []string{"text/plain; charset=utf-8"}
			h["Content-Length"] = []string{strconv.Itoa(len(body))}
			io.WriteString(w, body)
		}},
	}
	const request = "GET /resource HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"
	for _, h := range handlers {
		servers := []struct {
			name  string
			serve func(b *testing.B) string
		}{
			{"net/http", func(b *testing.B) string { return serveStd(b, h.handler, 0) }},
			{"h1", func(b *testing.B) string { return serveH1(b, &h1.Server{Handler: h.handler}) }},
		}
		for _, srv := range servers {
			b.Run(h.name+"/"+srv.name, func(b *testing.B) {
				c := dial(b, srv.serve(b))
				c.SetDeadline(time.Time{})
				br := bufio.NewReader(c)
				buf := make([]byte, 64)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := io.WriteString(c, request); err != nil {
						b.Fatal(err)
					}
					if n, err := readLengthFramed(br, buf); err != nil || string(buf[:n]) != body {
						b.Fatalf("response: %q, %v", buf[:n], err)
					}
				}
			})
		}
	}
}

// BenchmarkServeConnBody is BenchmarkServeConn for a small POST whose body the handler reads,
// with the timeouts a production listener has (cmd/tiaki sets them all). "route deadline"
// moves the body's deadline as the gateway does for a route's limits.body_timeout.
func BenchmarkServeConnBody(b *testing.B) {
	const body = "hello, world\n"
	const payload = `{"name":"Aroha","items":[1,2,3],"note":"a small JSON request body"}`
	reply := func(w http.ResponseWriter) {
		h := w.Header()
		h["Content-Type"] = []string{"text/plain; charset=utf-8"}
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
		io.WriteString(w, body)
	}
	handlers := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"read", func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			reply(w)
		}},
		{"route deadline", func(w http.ResponseWriter, r *http.Request) {
			http.NewResponseController(w).SetReadDeadline(time.Now().Add(20 * time.Second))
			io.Copy(io.Discard, r.Body)
			reply(w)
		}},
	}
	request := "POST /resource HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\nContent-Type: application/json\r\n" +
		"Content-Length: " + strconv.Itoa(len(payload)) + "\r\n\r\n" + payload
	for _, h := range handlers {
		servers := []struct {
			name  string
			serve func(b *testing.B) string
		}{
			{"net/http", func(b *testing.B) string {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				srv := &http.Server{Handler: h.handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
				go srv.Serve(ln)
				b.Cleanup(func() { srv.Close() })
				return ln.Addr().String()
			}},
			{"h1", func(b *testing.B) string {
				return serveH1(b, &h1.Server{Handler: h.handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
					BodyTimeout: 30 * time.Second,
				})
			}},
		}
		for _, srv := range servers {
			b.Run(h.name+"/"+srv.name, func(b *testing.B) {
				c := dial(b, srv.serve(b))
				c.SetDeadline(time.Time{})
				br := bufio.NewReader(c)
				buf := make([]byte, 64)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := io.WriteString(c, request); err != nil {
						b.Fatal(err)
					}
					if n, err := readLengthFramed(br, buf); err != nil || string(buf[:n]) != body {
						b.Fatalf("response: %q, %v", buf[:n], err)
					}
				}
			})
		}
	}
}

// readLengthFramed reads a response's header and its Content-Length body into body, without
// allocating.
func readLengthFramed(br *bufio.Reader, body []byte) (int, error) {
	length := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) == 2 {
			break
		}
		const cl = "Content-Length: "
		if len(line) > len(cl) && string(line[:len(cl)]) == cl {
			length, _ = strconv.Atoi(string(line[len(cl) : len(line)-2]))
		}
	}
	if length < 0 || length > len(body) {
		return 0, fmt.Errorf("Content-Length %d", length)
	}
	return io.ReadFull(br, body[:length])
}
