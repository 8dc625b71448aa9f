package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

func TestDirect(t *testing.T) {
	withHeader := func(k, v string) *http.Request {
		r := httptest.NewRequest("GET", "http://gw.test/s/x", nil)
		r.Header.Set(k, v)
		return r
	}
	streamed := httptest.NewRequest("POST", "http://gw.test/s/x", strings.NewReader("abc"))
	buffered := httptest.NewRequest("POST", "http://gw.test/s/x", nil)
	buffered.Body, buffered.ContentLength = testBuffered{bytes.NewReader([]byte("abc"))}, 3
	for _, tc := range []struct {
		name string
		r    *http.Request
		want bool
	}{
		{"plain GET", httptest.NewRequest("GET", "http://gw.test/s/x?a=1&b=%20", nil), true},
		{"Connection: keep-alive", withHeader("Connection", "keep-alive"), true},
		{"body in memory", buffered, true},
		{"body streaming", streamed, false},
		{"upgrade", withHeader("Upgrade", "websocket"), false},
		{"TE: trailers", withHeader("Te", "trailers"), false},
		{"Connection naming a header", withHeader("Connection", "keep-alive, X-Private"), false},
		{"query with ;", httptest.NewRequest("GET", "http://gw.test/s/x?a=1;b=2", nil), false},
		{"query with a bad escape", httptest.NewRequest("GET", "http://gw.test/s/x?a=%zz", nil), false},
	} {
		if got := direct(tc.r); got != tc.want {
			t.Errorf("%s: direct = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestForwarderHeaders(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Connection", "X-Upstream-Private")
		h.Set("X-Upstream-Private", "secret")
		h.Set("Keep-Alive", "timeout=5")
		h["Set-Cookie"] = []string{"a=1", "b=2"}
		echo("main").ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	front, client := syncGateway(t, up.URL, 0)
	res := send(t, client, "GET", front.URL+"/s/items/7?a=1&b=two", http.Header{
		"Connection":      {"keep-alive"},
		"X-Forwarded-For": {"203.0.113.9"}, // a client's claim, replaced
		"Forwarded":       {"for=203.0.113.9"},
		"Accept":          {"application/json", "text/plain"},
	}, nil)
	if res.status != 200 || res.echo == nil {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	e := res.echo
	if e.Path != "/items/7" || e.Query != "a=1&b=two" {
		t.Errorf("upstream got %s?%s, want /items/7?a=1&b=two", e.Path, e.Query)
	}
	if got := e.Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the peer's address only", got)
	}
	if got := e.Header.Get("X-Forwarded-Proto"); got != "https" {
		t.Errorf("X-Forwarded-Proto = %q, want https", got)
	}
	if got := e.Header.Get("Forwarded"); got != "" {
		t.Errorf("the client's Forwarded header reached the upstream: %q", got)
	}
	if got := e.Header.Values("Accept"); len(got) != 2 {
		t.Errorf("Accept = %q, want both values", got)
	}
	if got := e.Header.Get("User-Agent"); got != "Go-http-client/1.1" { // the test client's own
		t.Errorf("User-Agent = %q", got)
	}
	if res.header.Get("X-Upstream-Private") != "" || res.header.Get("Keep-Alive") != "" {
		t.Errorf("hop-by-hop response headers reached the client: %v", res.header)
	}
	if got := res.header.Values("Set-Cookie"); len(got) != 2 {
		t.Errorf("Set-Cookie = %q, want both", got)
	}
}

func TestForwarderNoUserAgent(t *testing.T) {
	t.Parallel()
	upURL, _ := rawUpstream(t, func(c net.Conn, br *bufio.Reader, _ int) {
		req, err := readRequest(br)
		if err != nil {
			return
		}
		_, has := req.Header["User-Agent"]
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n%5v", has)
	})
	front, _ := syncGateway(t, upURL, 0)
	conn, err := net.Dial("tcp", strings.TrimPrefix(front.URL, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc := tlsClient(front, conn)
	io.WriteString(tc, "GET /s/x HTTP/1.1\r\nHost: gw.test\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if strings.TrimSpace(string(body)) != "false" {
		t.Errorf("upstream saw a User-Agent the client did not send (%q)", body)
	}
}

func TestForwarderInformationalAndStreaming(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			http.NewResponseController(w).Flush()
			time.Sleep(20 * time.Millisecond)
		}
	}))
	t.Cleanup(up.Close)
	front, client := syncGateway(t, up.URL, 0)
	var hints []string
	req, _ := http.NewRequest("GET", front.URL+"/s/events", nil)
	req = req.WithContext(withGot1xx(req.Context(), func(code int, h http.Header) {
		hints = append(hints, fmt.Sprintf("%d %s", code, h.Get("Link")))
	}))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if len(hints) != 1 || hints[0] != "103 </style.css>; rel=preload" {
		t.Errorf("1xx seen by the client: %q, want the upstream's 103 with its Link", hints)
	}
	// Each event arrives on its own, before the upstream has finished.
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: 0\n" {
		t.Fatalf("first event %q, %v", line, err)
	}
	if resp.Header.Get("Link") != "" {
		t.Errorf("the 103's Link header leaked into the final response")
	}
}

// tlsClient starts TLS on conn to the test server srv, trusting its certificate.
func tlsClient(srv *httptest.Server, conn net.Conn) *tls.Conn {
	conf := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	conf.ServerName = "127.0.0.1"
	conf.NextProtos = []string{"http/1.1"}
	return tls.Client(conn, conf)
}

// withGot1xx makes a client request report the 1xx responses it receives to f.
func withGot1xx(ctx context.Context, f func(code int, h http.Header)) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		f(code, http.Header(h))
		return nil
	}})
}
