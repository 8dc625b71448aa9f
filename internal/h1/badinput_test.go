package h1_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/tiaki-nz/tiaki/internal/h1"
)

// TestBadRequests sends requests net/http's server refuses before any handler runs, and
// requires the same status and body from h1, and the connection closed. Deliberate
// differences: net/http puts the reason in the status line too ("400 Bad Request: missing
// required Host header") and sends no Content-Length, where h1 keeps the status line standard
// and frames its body; for 501 net/http's body lacks the status ("Unsupported transfer
// encoding"), where h1 words it as every other error.
func TestBadRequests(t *testing.T) {
	t.Parallel()
	const maxHeader = 1 << 10
	cases := []struct {
		name, request string
		code          int
	}{
		{"malformed request line", "GARBAGE\r\n\r\n", 400},
		{"malformed request line, three words", "GET /\r\nHost: x\r\n\r\n", 400},
		{"header too large", "GET / HTTP/1.1\r\nHost: example.com\r\nX-Big: " + strings.Repeat("a", 8<<10) + "\r\n\r\n", 431},
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two Host headers", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"malformed Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"invalid header value", "GET / HTTP/1.1\r\nHost: example.com\r\nX-Bad: a\x00b\r\n\r\n", 400},
		{"invalid header name", "GET / HTTP/1.1\r\nHost: example.com\r\nBad Name: v\r\n\r\n", 400},
		{"two Content-Lengths", "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
		{"invalid Content-Length", "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: -1\r\n\r\n", 400},
		{"unsupported transfer coding", "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"two transfer codings", "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
		// A target that does not parse, or is in no form a server accepts, is the client's
		// error (400), not a connection gone away (issue 11).
		{"target without a leading slash", "GET foo HTTP/1.1\r\nHost: example.com\r\n\r\n", 400},
		{"target with a bad escape", "GET /%zz HTTP/1.1\r\nHost: example.com\r\n\r\n", 400},
		{"absolute form, space in host", "GET http://a b/c HTTP/1.1\r\n\r\n", 400},
		{"absolute form, escaped space in host", "GET http://a%20b/c HTTP/1.1\r\n\r\n", 400},
		{"absolute form, escaped space in host, Host", "GET http://a%20b/c HTTP/1.1\r\nHost: example.com\r\n\r\n", 400},
		// An absolute-form target replaces the Host header's value, but the header is still
		// required and checked (RFC 9112 §3.2; as net/http's server and nginx).
		{"absolute form, missing Host", "GET http://good.example/c HTTP/1.1\r\n\r\n", 400},
		{"absolute form, malformed Host", "GET http://good.example/c HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"absolute form, two Host headers", "GET http://good.example/c HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"asterisk form, missing Host", "OPTIONS * HTTP/1.1\r\n\r\n", 400},
		{"authority form, malformed Host", "CONNECT example.com:443 HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"HTTP/2.0 request line", "GET / HTTP/2.0\r\nHost: example.com\r\n\r\n", 505},
		{"HTTP/0.9", "GET / HTTP/0.9\r\nHost: example.com\r\n\r\n", 505},
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("a bad request reached the handler")
	})
	std := serveStd(t, handler, maxHeader)
	ours := serveH1(t, &h1.Server{Handler: handler, MaxHeaderBytes: maxHeader, Logger: discardLogger()})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want, got := converse(t, std, tc.request, 1), converse(t, ours, tc.request, 1)
			if len(got.Responses) != 1 || len(want.Responses) != 1 {
				t.Fatalf("responses: net/http %+v, h1 %+v", want, got)
			}
			w, g := want.Responses[0], got.Responses[0]
			if w.code() != tc.code || g.code() != tc.code {
				t.Errorf("status: net/http %q, h1 %q, want %d", w.Status, g.Status, tc.code)
			}
			if g.Status != "HTTP/1.1 "+strconv.Itoa(tc.code)+" "+http.StatusText(tc.code) {
				t.Errorf("h1 status line %q", g.Status)
			}
			if g.Body != w.Body && tc.code != http.StatusNotImplemented {
				t.Errorf("body: net/http %q, h1 %q", w.Body, g.Body)
			}
			if v, _ := g.field("Connection"); v != "close" || g.Framing != "length" {
				t.Errorf("h1 Connection %q, framing %s; want close, length", v, g.Framing)
			}
			if want.Open || got.Open {
				t.Errorf("connection left open: net/http %v, h1 %v", want.Open, got.Open)
			}
		})
	}
	// "PRI * HTTP/2.0" (the HTTP/2 preface) net/http hands to the handler, for h2c upgrades;
	// h1 does not serve h2c and refuses it like any other HTTP/2.0 request line.
	t.Run("HTTP/2 preface", func(t *testing.T) {
		t.Parallel()
		got := converse(t, ours, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 1)
		if len(got.Responses) != 1 || got.Responses[0].code() != 505 || got.Open {
			t.Errorf("got %+v, want a 505 and the connection closed", got)
		}
	})
}

// FuzzServeConn feeds arbitrary bytes to a connection and requires that whatever the server
// answers parses as a sequence of HTTP/1.1 responses, and that no request net/http's server
// would refuse reaches the handler. The client half-closes after sending: a body it declared
// but did not send would otherwise be waited for, by h1 as by net/http (neither has a body
// timeout here).
func FuzzServeConn(f *testing.F) {
	for _, seed := range []string{
		get, head, post("name=value"), post("abc") + "\r\n" + get, get + head + get,
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
		"GET / HTTP/1.1\r\nHost: example.com\r\nExpect: nope\r\n\r\n",
		"GET / HTTP/2.0\r\n\r\n", "GARBAGE\r\n\r\n", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: gzip\r\n\r\n",
		"GET http://good.example/c HTTP/1.1\r\n\r\n", "GET http://a%20b/c HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET foo HTTP/1.1\r\nHost: x\r\n\r\n", "OPTIONS * HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab" + get,
		"CONNECT example.com:443 HTTP/1.1\r\n\r\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s := &h1.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// An empty Host header is allowed (RFC 9112 §3.2), as by net/http, but for an
				// origin-form target h1 cannot tell it from none and refuses it.
				if r.ProtoMajor != 1 || r.ProtoAtLeast(1, 1) && r.Host == "" && strings.HasPrefix(r.RequestURI, "/") {
					t.Errorf("served %s with Host %q", r.Proto, r.Host)
				}
				for k, vv := range r.Header {
					for _, v := range vv {
						if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v) {
							t.Errorf("served a request with header %q: %q", k, v)
						}
					}
				}
				io.Copy(io.Discard, io.LimitReader(r.Body, 1<<10))
				io.WriteString(w, "ok")
			}),
			ReadHeaderTimeout: 50 * time.Millisecond,
			IdleTimeout:       20 * time.Millisecond,
			Logger:            discardLogger(),
		}
		c := dial(t, serveH1(t, s))
		go func() {
			c.Write([]byte(in))
			c.(*net.TCPConn).CloseWrite() // as a client that sent all it had: a truncated body ends
		}()
		out, err := io.ReadAll(c)
		if err != nil && errText(err) != "EOF" {
			t.Fatalf("reading the responses: %v", err)
		}
		br := bufio.NewReader(bytes.NewReader(out))
		methods := methodsOf(in)
		for final := 0; br.Buffered() > 0 || final == 0; {
			if _, err := br.Peek(1); err == io.EOF {
				break
			}
			method := http.MethodGet
			if final < len(methods) {
				method = methods[final]
			}
			resp, err := http.ReadResponse(br, &http.Request{Method: method})
			if err != nil {
				t.Fatalf("response %d does not parse: %v\nin:  %q\nout: %q", final, err, in, out)
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				t.Fatalf("response %d body: %v\nin:  %q\nout: %q", final, err, in, out)
			}
			if resp.Close {
				break // an error answered as the server closes: the request may not have been a HEAD
			}
			if resp.StatusCode/100 != 1 {
				final++
			}
		}
	})
}
