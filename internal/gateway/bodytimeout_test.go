package gateway

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki/internal/h1"
	"github.com/tiaki-nz/tiaki/internal/policy"
	"github.com/tiaki-nz/tiaki/internal/policy/content"
)

// bodyTimeoutBound is the routes' limits.body_timeout in these tests; the listeners' own
// default is far longer, so an answer at about this time shows the route's bound at work.
const bodyTimeoutBound = 300 * time.Millisecond

// handlerCount counts the gateway's handlers running, to show that a stalled request lets
// go of its goroutine.
type handlerCount struct {
	h       http.Handler
	running atomic.Int32
}

func (c *handlerCount) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.running.Add(1)
	defer c.running.Add(-1)
	c.h.ServeHTTP(w, r)
}

func (c *handlerCount) waitIdle(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); c.running.Load() != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d handlers still running", c.running.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stallGateway is a gateway whose routes have a short body_timeout: /streamed passes the body
// to an upstream that reads it, /checked has a policy read it first (content.Buffer),
// /keyed refuses a request without an API key before reading it, and /get allows only GET.
func stallGateway(t *testing.T) *handlerCount {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		w.Write(b)
	}))
	t.Cleanup(up.Close)
	checker, err := content.New(content.Config{})
	if err != nil {
		t.Fatal(err)
	}
	kit := newAuthKit(t)
	post := []string{http.MethodPost}
	g, err := New([]Route{
		{Name: "streamed", PathPrefix: "/streamed", Upstream: mustURL(t, up.URL), Methods: post, BodyTimeout: bodyTimeoutBound},
		{Name: "checked", PathPrefix: "/checked", Upstream: mustURL(t, up.URL), Methods: post, BodyTimeout: bodyTimeoutBound,
			Policies: []policy.Policy{checker}},
		{Name: "keyed", PathPrefix: "/keyed", Upstream: mustURL(t, up.URL), Methods: post, BodyTimeout: bodyTimeoutBound,
			Policies: []policy.Policy{kit.apiKey(t, true)}},
		{Name: "get", PathPrefix: "/get", Upstream: mustURL(t, up.URL), Methods: []string{http.MethodGet}, BodyTimeout: bodyTimeoutBound},
	}, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.CloseIdleConnections)
	return &handlerCount{h: g}
}

var stallCases = []struct {
	path string
	code int
}{
	{"/streamed/x", http.StatusRequestTimeout},
	{"/checked/x", http.StatusRequestTimeout},
	{"/keyed/x", http.StatusUnauthorized},
	{"/get/x", http.StatusMethodNotAllowed},
}

// TestBodyTimeoutHTTP1 sends each route a request whose body stops after two bytes, over the
// gateway's HTTP/1.1 server (issue 11): within the route's body_timeout the gateway answers
// (408 where it was reading the body; the refusal it had decided on before, once the drain
// gives up) and closes the connection, and the handler and connection are released.
func TestBodyTimeoutHTTP1(t *testing.T) {
	t.Parallel()
	gw := stallGateway(t)
	srv := &h1.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute,
		BodyTimeout: time.Minute, Logger: quietLogger()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{}, len(stallCases))
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { srv.ServeConn(c); served <- struct{}{} }()
		}
	}()
	t.Cleanup(func() { ln.Close(); srv.Close() })

	for _, tc := range stallCases {
		t.Run(tc.path, func(t *testing.T) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			start := time.Now()
			io.WriteString(c, "POST "+tc.path+" HTTP/1.1\r\nHost: api.example\r\nContent-Type: application/json\r\n"+
				"Content-Length: 100\r\n\r\n{\"")
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no response: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			took := time.Since(start)
			if resp.StatusCode != tc.code {
				t.Errorf("status %d %s, want %d", resp.StatusCode, body, tc.code)
			}
			if tc.code == http.StatusRequestTimeout && !strings.Contains(string(body), `"request-timeout"`) {
				t.Errorf("body %s, want the request-timeout problem", body)
			}
			if took < bodyTimeoutBound-50*time.Millisecond || took > bodyTimeoutBound+3*time.Second {
				t.Errorf("answered after %v, want about %v", took, bodyTimeoutBound)
			}
			if !resp.Close {
				t.Error("the connection is kept after a body that did not arrive")
			}
			if n, err := br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Errorf("after the response: %d bytes, %v; want the connection closed", n, err)
			}
			select {
			case <-served:
			case <-time.After(3 * time.Second):
				t.Error("the connection is still being served")
			}
			gw.waitIdle(t)
		})
	}
}

// TestBodyTimeoutHTTP2 is TestBodyTimeoutHTTP1 over HTTP/2 (net/http's server), where the
// deadline is the stream's.
func TestBodyTimeoutHTTP2(t *testing.T) {
	t.Parallel()
	gw := stallGateway(t)
	srv := httptest.NewUnstartedServer(gw)
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = nil
	srv.StartTLS()
	t.Cleanup(srv.Close)
	client := srv.Client()
	for _, tc := range stallCases {
		t.Run(tc.path, func(t *testing.T) {
			pr, pw := io.Pipe()
			defer pw.Close()
			go pw.Write([]byte(`{"`)) // and nothing more
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+tc.path, pr)
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = 100
			req.Header.Set("Content-Type", "application/json")
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			took := time.Since(start)
			if resp.ProtoMajor != 2 {
				t.Fatalf("served over %s", resp.Proto)
			}
			if resp.StatusCode != tc.code {
				t.Errorf("status %d %s, want %d", resp.StatusCode, body, tc.code)
			}
			// HTTP/2 answers a refusal at once (no drain); a body being read takes the bound.
			if tc.code == http.StatusRequestTimeout && (took < bodyTimeoutBound-50*time.Millisecond || took > bodyTimeoutBound+3*time.Second) {
				t.Errorf("answered after %v, want about %v", took, bodyTimeoutBound)
			}
			if took > bodyTimeoutBound+3*time.Second {
				t.Errorf("answered after %v", took)
			}
			gw.waitIdle(t)
		})
	}
}
