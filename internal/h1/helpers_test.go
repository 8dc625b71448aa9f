package h1_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki/internal/h1"
)

// serveH1 serves s on a loopback listener the way the gateway does, a goroutine per accepted
// connection calling ServeConn, and returns the listener's address. Cleanup closes the
// listener and the server and waits for every ServeConn to return.
func serveH1(t testing.TB, s *h1.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	accepting := make(chan struct{})
	go func() {
		defer close(accepting)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() { s.ServeConn(c) })
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-accepting
		s.Close()
		conns.Wait()
	})
	return ln.Addr().String()
}

// serveStd serves h with net/http's server on a loopback listener, with the same limits as
// the h1.Server it is compared with.
func serveStd(t testing.TB, h http.Handler, maxHeaderBytes int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, MaxHeaderBytes: maxHeaderBytes, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// discardLogger is a logger for servers whose logs a test does not look at.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// logBuffer is a slog destination safe for the server's goroutines to write to.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

// rawResponse is an HTTP/1.x response as it was on the wire, reduced to what a client can
// depend on: header lines are sorted (their order is not part of HTTP) and Date is left out.
type rawResponse struct {
	Status  string
	Header  []string // "Name: value", names canonical
	Framing string   // "length", "chunked", "close" (read to EOF), "none", or "short" (fewer bytes than declared)
	Body    string
	Trailer []string
}

func (r rawResponse) code() int {
	_, rest, _ := strings.Cut(r.Status, " ")
	n, _ := strconv.Atoi(rest[:min(3, len(rest))])
	return n
}

func (r rawResponse) field(name string) (string, bool) {
	for _, l := range r.Header {
		if k, v, _ := strings.Cut(l, ": "); k == name {
			return v, true
		}
	}
	return "", false
}

// readResponse reads one response (an interim 1xx included) from br, for a request made with
// method.
func readResponse(br *bufio.Reader, method string) (rawResponse, error) {
	var r rawResponse
	line, err := br.ReadString('\n')
	if err != nil {
		return r, fmt.Errorf("status line: %w (read %q)", err, line)
	}
	r.Status = strings.TrimRight(line, "\r\n")
	header, err := readFields(br)
	if err != nil {
		return r, err
	}
	var length, te string
	for _, l := range header {
		k, v, _ := strings.Cut(l, ": ")
		switch k {
		case "Date":
			continue
		case "Content-Length":
			length = v
		case "Transfer-Encoding":
			te = v
		}
		r.Header = append(r.Header, l)
	}
	slices.Sort(r.Header)
	code := r.code()
	switch {
	case method == http.MethodHead || code/100 == 1 || code == 204 || code == 304:
		r.Framing = "none"
	case te == "chunked":
		r.Framing = "chunked"
		var body bytes.Buffer
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return r, fmt.Errorf("chunk size: %w", err)
			}
			size, _, _ := strings.Cut(strings.TrimRight(line, "\r\n"), ";")
			n, err := strconv.ParseInt(size, 16, 64)
			if err != nil {
				return r, fmt.Errorf("chunk size %q: %w", line, err)
			}
			if n == 0 {
				break
			}
			if _, err := io.CopyN(&body, br, n); err != nil {
				return r, fmt.Errorf("chunk: %w", err)
			}
			if crlf, err := br.ReadString('\n'); err != nil || crlf != "\r\n" {
				return r, fmt.Errorf("chunk end %q: %v", crlf, err)
			}
		}
		r.Body = body.String()
		if r.Trailer, err = readFields(br); err != nil {
			return r, fmt.Errorf("trailer: %w", err)
		}
		slices.Sort(r.Trailer)
	case length != "":
		r.Framing = "length"
		n, err := strconv.ParseInt(length, 10, 64)
		if err != nil {
			return r, err
		}
		b := make([]byte, n)
		m, err := io.ReadFull(br, b)
		r.Body = string(b[:m])
		if err != nil {
			r.Framing = "short"
		}
	default:
		r.Framing = "close"
		b, err := io.ReadAll(br)
		r.Body = string(b)
		if err != nil {
			return r, err
		}
	}
	return r, nil
}

// readFields reads header (or trailer) lines up to the empty line, with canonical names.
func readFields(br *bufio.Reader) ([]string, error) {
	var fields []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return fields, fmt.Errorf("header: %w (read %q)", err, line)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return fields, nil
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return fields, fmt.Errorf("header line %q", line)
		}
		fields = append(fields, http.CanonicalHeaderKey(k)+": "+strings.TrimSpace(v))
	}
}

// exchange is what a client saw on one connection: the responses, and whether the
// connection then served another request.
type exchange struct {
	Responses []rawResponse
	Err       string // the error that ended reading, if any
	Open      bool
}

// methodsOf parses the requests in raw for their methods, so HEAD responses are read without
// a body; it stops at the first that does not parse.
func methodsOf(raw string) []string {
	var methods []string
	br := bufio.NewReader(strings.NewReader(raw))
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return methods
		}
		methods = append(methods, req.Method)
		io.Copy(io.Discard, req.Body)
	}
}

// converse writes raw to a new connection to addr, reads n final responses (and any interim
// ones before them), and then checks whether the connection still serves a request.
func converse(t *testing.T, addr, raw string, n int) exchange {
	t.Helper()
	c := dial(t, addr)
	c.SetDeadline(time.Now().Add(3 * time.Second))
	go io.WriteString(c, raw) // the server may stop reading part way
	br := bufio.NewReader(c)
	var ex exchange
	methods := methodsOf(raw)
	for final := 0; final < n; {
		method := http.MethodGet
		if final < len(methods) {
			method = methods[final]
		}
		r, err := readResponse(br, method)
		if err != nil {
			if r.Status != "" {
				ex.Responses = append(ex.Responses, r)
			}
			ex.Err = errText(err)
			return ex
		}
		ex.Responses = append(ex.Responses, r)
		if r.code()/100 != 1 {
			final++
		}
	}
	ex.Open = stillOpen(c, br)
	return ex
}

// stillOpen reports whether the connection answers another request.
func stillOpen(c net.Conn, br *bufio.Reader) bool {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "GET /next HTTP/1.1\r\nHost: example.com\r\n\r\n"); err != nil {
		return false
	}
	r, err := readResponse(br, http.MethodGet)
	return err == nil && r.code() != 0
}

// errText reduces a read error to what is the same for both servers.
func errText(err error) string {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return "EOF"
	case strings.Contains(err.Error(), "connection reset"):
		return "EOF" // closed with unread data: the same to the client
	}
	return err.Error()
}
