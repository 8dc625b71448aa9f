package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
)

// bufferingPolicy reads the body into memory the way the content, OpenAPI and injection
// policies do, so the request takes syncTransport's synchronous path.
type bufferingPolicy struct{}

func (bufferingPolicy) Check(r *http.Request, _ *tiaki.Principal) *policy.Denial {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return &policy.Denial{Status: 400, Type: "unreadable-body", Title: "Unreadable body"}
	}
	r.Body = testBuffered{bytes.NewReader(data)}
	r.ContentLength = int64(len(data))
	return nil
}

func (p bufferingPolicy) Enforce(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	return policy.Apply(p, w, r, next)
}

// countConns counts the connections an upstream test server accepts.
func countConns(srv *httptest.Server) *atomic.Int32 {
	var n atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	return &n
}

func syncGateway(t *testing.T, upstream string, timeout time.Duration) (*httptest.Server, *http.Client) {
	t.Helper()
	g, err := New([]Route{{Name: "s", PathPrefix: "/s", StripPrefix: true, Upstream: mustURL(t, upstream),
		Methods: []string{"GET", "POST"}, Policies: []policy.Policy{bufferingPolicy{}}, Timeout: timeout}},
		Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.CloseIdleConnections)
	return serveTLS(t, g)
}

func TestSyncTransportReusesConnections(t *testing.T) {
	t.Parallel()
	up := httptest.NewUnstartedServer(echo("main"))
	conns := countConns(up)
	up.Start()
	t.Cleanup(up.Close)
	front, client := syncGateway(t, up.URL, 0)

	for i := range 20 {
		method, body := "GET", io.Reader(nil)
		if i%2 == 1 {
			method, body = "POST", strings.NewReader(fmt.Sprintf(`{"n":%d}`, i))
		}
		res := send(t, client, method, front.URL+"/s/items", http.Header{"Content-Type": {"application/json"}}, body)
		if res.status != 200 || res.echo == nil || res.echo.Method != method || res.echo.Path != "/items" {
			t.Fatalf("request %d: status %d: %s", i, res.status, res.body)
		}
		if method == "POST" && res.echo.BodyLen != len(fmt.Sprintf(`{"n":%d}`, i)) {
			t.Fatalf("request %d: upstream read %d body bytes", i, res.echo.BodyLen)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("20 sequential requests opened %d upstream connections, want 1", n)
	}
}

func TestSyncTransportExpectContinue(t *testing.T) {
	t.Parallel()
	// The upstream answers "Expect: 100-continue" with a 100 before the final response; the
	// client already had its 100 from the gateway, so this one is read past, not forwarded.
	up := httptest.NewServer(echo("main"))
	t.Cleanup(up.Close)
	front, client := syncGateway(t, up.URL, 0)
	body := strings.Repeat("b", 3000)
	res := send(t, client, "POST", front.URL+"/s/upload", http.Header{"Expect": {"100-continue"}, "Content-Type": {"text/plain"}},
		strings.NewReader(body))
	if res.status != 200 || res.echo == nil || res.echo.BodyLen != len(body) {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	for i := range 3 { // and the connection stays usable
		if res := send(t, client, "GET", front.URL+"/s/next", nil, nil); res.status != 200 {
			t.Fatalf("request %d after the 100-continue exchange: status %d", i, res.status)
		}
	}
}

func TestSyncTransportHead(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1234")
		if r.Method != http.MethodHead {
			w.Write(bytes.Repeat([]byte("x"), 1234))
		}
	}))
	t.Cleanup(up.Close)
	front, client := syncGateway(t, up.URL, 0)
	for i := range 3 {
		resp, err := client.Head(front.URL + "/s/file")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ContentLength != 1234 {
			t.Fatalf("HEAD %d: status %d, length %d; want 200 and the upstream's 1234", i, resp.StatusCode, resp.ContentLength)
		}
	}
	if res := send(t, client, "GET", front.URL+"/s/file", nil, nil); res.status != 200 || len(res.body) != 1234 {
		t.Errorf("GET after HEADs: status %d, %d bytes", res.status, len(res.body))
	}
}

func TestSyncTransportTrailersAndChunks(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "Checksum")
		w.Header().Set("Content-Type", "text/plain")
		for i := range 3 {
			fmt.Fprintf(w, "part %d\n", i)
			http.NewResponseController(w).Flush() // chunked, unknown length
		}
		w.Header().Set("Checksum", "abc123")
	}))
	t.Cleanup(up.Close)
	front, client := syncGateway(t, up.URL, 0)
	resp, err := client.Get(front.URL + "/s/stream")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != "part 0\npart 1\npart 2\n" {
		t.Errorf("body %q", body)
	}
	if got := resp.Trailer.Get("Checksum"); got != "abc123" {
		t.Errorf("trailer Checksum = %q, want abc123", got)
	}
}

// rawUpstream serves each connection with handle, on a plain TCP listener, for upstream
// behaviour net/http's server would not produce.
func rawUpstream(t *testing.T, handle func(c net.Conn, br *bufio.Reader, n int)) (url string, accepted *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	accepted = new(atomic.Int32)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n := int(accepted.Add(1))
			go func() {
				defer c.Close()
				handle(c, bufio.NewReader(c), n)
			}()
		}
	}()
	return "http://" + l.Addr().String(), accepted
}

// readRequest reads one request and its body from br.
func readRequest(br *bufio.Reader) (*http.Request, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, req.Body)
	return req, err
}

const okResponse = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"

func TestSyncTransportUpstreamClosedIdleConnection(t *testing.T) {
	t.Parallel()
	// Each connection answers one request, keep-alive by the look of it, then closes: the
	// next request finds a pooled connection that is already dead.
	upURL, accepted := rawUpstream(t, func(c net.Conn, br *bufio.Reader, _ int) {
		if _, err := readRequest(br); err == nil {
			io.WriteString(c, okResponse)
		}
	})
	front, client := syncGateway(t, upURL, 0)

	for i := range 3 { // idempotent: retried at once on a new connection
		if res := send(t, client, "GET", front.URL+"/s/x", nil, nil); res.status != 200 || string(res.body) != "ok" {
			t.Fatalf("GET %d: status %d: %s", i, res.status, res.body)
		}
	}
	if n := accepted.Load(); n < 3 {
		t.Errorf("upstream accepted %d connections, want one per request", n)
	}

	// A POST is not retried after it was sent, but every pooled connection is checked before
	// it is used, and this one is seen to be closed.
	time.Sleep(50 * time.Millisecond) // the upstream's FIN arrives
	res := send(t, client, "POST", front.URL+"/s/x", http.Header{"Content-Type": {"text/plain"}}, strings.NewReader("body"))
	if res.status != 200 || string(res.body) != "ok" {
		t.Fatalf("POST after idle: status %d: %s", res.status, res.body)
	}
}

func TestSyncTransportPostNotRetried(t *testing.T) {
	t.Parallel()
	// The first connection answers a GET and then, on the POST, reads it and hangs up without
	// answering: the upstream may have acted on it, so it must not be sent twice.
	var posts atomic.Int32
	upURL, _ := rawUpstream(t, func(c net.Conn, br *bufio.Reader, _ int) {
		for {
			req, err := readRequest(br)
			if err != nil {
				return
			}
			if req.Method == "POST" {
				posts.Add(1)
				return
			}
			io.WriteString(c, okResponse)
		}
	})
	front, client := syncGateway(t, upURL, 0)
	if res := send(t, client, "GET", front.URL+"/s/x", nil, nil); res.status != 200 {
		t.Fatalf("GET: status %d", res.status)
	}
	res := send(t, client, "POST", front.URL+"/s/x", http.Header{"Content-Type": {"text/plain"}}, strings.NewReader("pay once"))
	if res.status != http.StatusBadGateway || problemType(t, res) != "bad-gateway" {
		t.Errorf("POST: status %d %s, want 502 bad-gateway", res.status, res.body)
	}
	if n := posts.Load(); n != 1 {
		t.Errorf("upstream received the POST %d times, want 1", n)
	}
}

func TestSyncTransportBounds(t *testing.T) {
	t.Parallel()
	t.Run("response header too large", func(t *testing.T) {
		t.Parallel()
		upURL, _ := rawUpstream(t, func(c net.Conn, br *bufio.Reader, _ int) {
			if _, err := readRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\n")
			line := "X-Filler: " + strings.Repeat("a", 1000) + "\r\n"
			for range maxResponseHeader/len(line) + 10 {
				if _, err := io.WriteString(c, line); err != nil {
					return
				}
			}
		})
		front, client := syncGateway(t, upURL, 0)
		if res := send(t, client, "GET", front.URL+"/s/x", nil, nil); res.status != http.StatusBadGateway {
			t.Errorf("status %d, want 502", res.status)
		}
	})
	t.Run("too many informational responses", func(t *testing.T) {
		t.Parallel()
		upURL, _ := rawUpstream(t, func(c net.Conn, br *bufio.Reader, _ int) {
			if _, err := readRequest(br); err != nil {
				return
			}
			for range 20 {
				io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
			}
			io.WriteString(c, okResponse)
		})
		front, client := syncGateway(t, upURL, 0)
		if res := send(t, client, "GET", front.URL+"/s/x", nil, nil); res.status != http.StatusBadGateway {
			t.Errorf("status %d, want 502", res.status)
		}
	})
	t.Run("slow response body", func(t *testing.T) {
		t.Parallel()
		// The route's timeout bounds the whole exchange, the body too.
		upURL, _ := rawUpstream(t, func(c net.Conn, br *bufio.Reader, _ int) {
			if _, err := readRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
			time.Sleep(2 * time.Second)
		})
		front, client := syncGateway(t, upURL, 300*time.Millisecond)
		start := time.Now()
		resp, err := client.Get(front.URL + "/s/x")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil {
			t.Error("a body cut short by the route timeout was delivered whole")
		}
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("took %v, want about the 300ms route timeout", d)
		}
	})
}

func TestSyncTransportClientGoesAway(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		io.WriteString(w, "ok")
	}))
	conns := countConns(up)
	up.Start()
	t.Cleanup(up.Close)
	t.Cleanup(func() { close(release) })
	front, client := syncGateway(t, up.URL, 0)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", front.URL+"/s/hang", nil)
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("request to a hanging upstream returned")
	}
	// The abandoned exchange's connection is not reused: the next request gets a new one and
	// its own answer.
	deadline := time.Now().Add(2 * time.Second)
	for {
		res := send(t, client, "GET", front.URL+"/s/ok", nil, nil)
		if res.status == 200 && string(res.body) == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a cancelled request: status %d: %s", res.status, res.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := conns.Load(); n < 2 {
		t.Errorf("upstream connections %d, want a new one after the cancelled exchange", n)
	}
}

func TestSynchronousPath(t *testing.T) {
	get := httptest.NewRequest("GET", "http://up.test/", nil)
	streamed := httptest.NewRequest("POST", "http://up.test/", strings.NewReader("x"))
	buffered := streamed.Clone(context.Background())
	buffered.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("x")), nil }
	upgrade := httptest.NewRequest("GET", "http://up.test/", nil)
	upgrade.Header.Set("Connection", "Upgrade")
	upgrade.Header.Set("Upgrade", "websocket")
	for _, tc := range []struct {
		name string
		req  *http.Request
		want bool
	}{
		{"no body", get, true},
		{"body in memory", buffered, true},
		{"body streaming from the client", streamed, false},
		{"protocol upgrade", upgrade, false},
	} {
		if got := synchronous(tc.req); got != tc.want {
			t.Errorf("%s: synchronous = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRetryable(t *testing.T) {
	get := httptest.NewRequest("GET", "http://up.test/", nil)
	post := httptest.NewRequest("POST", "http://up.test/", nil)
	keyed := httptest.NewRequest("POST", "http://up.test/", nil)
	keyed.Header.Set("Idempotency-Key", "k-1")
	for _, tc := range []struct {
		name string
		req  *http.Request
		err  error
		want bool
	}{
		{"GET, connection closed before a response", get, &early{err: io.EOF, written: true}, true},
		{"POST, nothing written", post, &early{err: io.ErrClosedPipe}, true},
		{"POST, written, nothing read", post, &early{err: io.EOF, written: true}, false},
		{"POST with an idempotency key, nothing read", keyed, &early{err: io.EOF, written: true}, true},
		{"GET, upstream too slow", get, &early{err: os.ErrDeadlineExceeded, written: true}, false},
		{"GET, malformed response", get, errors.New("malformed HTTP response"), false},
	} {
		if got := retryable(tc.req, tc.err); got != tc.want {
			t.Errorf("%s: retryable = %v, want %v", tc.name, got, tc.want)
		}
	}
}
