package gateway

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
)

// echoed is what the echo upstream saw.
type echoed struct {
	Method    string      `json:"method"`
	Path      string      `json:"path"`
	RawPath   string      `json:"raw_path"`
	Query     string      `json:"query"`
	Host      string      `json:"host"`
	Header    http.Header `json:"header"`
	BodyLen   int         `json:"body_len"`
	Consumer  string      `json:"consumer"` // builtin upstreams only: the principal in context
	Upstream  string      `json:"upstream"`
	Protocol  string      `json:"proto"`
	BodyError string      `json:"body_error"`
}

// echo answers with what it received, and with headers a careless backend sends.
func echo(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		e := echoed{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.RawPath, Query: r.URL.RawQuery, Host: r.Host,
			Header: r.Header, BodyLen: int(n), Upstream: name, Protocol: r.Proto}
		if err != nil {
			e.BodyError = err.Error()
		}
		if p := tiaki.PrincipalFrom(r.Context()); p != nil {
			e.Consumer = p.Consumer
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Server", "Apache/2.4.1 (Unix)")
		h.Set("Strict-Transport-Security", "max-age=1")
		h.Set("Response-Correlation-Id", "from-upstream")
		h.Set("Cache-Control", "max-age=60")
		json.NewEncoder(w).Encode(e)
	})
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// serveTLS fronts h with a TLS 1.3 listener, as the gateway listener is.
func serveTLS(t testing.TB, h http.Handler) (*httptest.Server, *http.Client) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return srv, c
}

type result struct {
	status int
	header http.Header
	body   []byte
	echo   *echoed
}

func send(t testing.TB, c *http.Client, method, target string, header http.Header, body io.Reader) result {
	t.Helper()
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v[0]
			continue
		}
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	res := result{status: resp.StatusCode, header: resp.Header, body: b}
	if len(b) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		res.echo = new(echoed)
		if err := json.Unmarshal(b, res.echo); err != nil {
			t.Fatalf("echo body: %v: %s", err, b)
		}
	}
	return res
}

// problemType returns the problem type suffix of a problem+json body, or "".
func problemType(t testing.TB, res result) string {
	t.Helper()
	if res.header.Get("Content-Type") != "application/problem+json" || len(res.body) == 0 {
		return ""
	}
	var p struct{ Type string }
	if err := json.Unmarshal(res.body, &p); err != nil {
		t.Fatalf("problem body: %v: %s", err, res.body)
	}
	return strings.TrimPrefix(p.Type, policy.TypeBase)
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// closedPort returns an address nothing listens on.
func closedPort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestGateway(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(echo("main"))
	t.Cleanup(up.Close)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)

	routes := []Route{
		{Name: "demo", PathPrefix: "/demo", StripPrefix: true, Upstream: mustURL(t, up.URL), Methods: []string{"GET", "post"}, MaxBody: 64},
		{Name: "api", PathPrefix: "/api/", Upstream: mustURL(t, up.URL+"/base"), Methods: []string{"GET"}},
		{Name: "api-v2", PathPrefix: "/api/v2", StripPrefix: true, Upstream: mustURL(t, up.URL+"/v2base"), Methods: []string{"GET", "OPTIONS"}},
		{Name: "special", Host: "Special.Example", PathPrefix: "/demo", Upstream: mustURL(t, up.URL+"/special"), Methods: []string{"GET"}},
		{Name: "down", PathPrefix: "/down", Upstream: mustURL(t, "http://"+closedPort(t)), Methods: []string{"GET"}},
		{Name: "slow", PathPrefix: "/slow", Upstream: mustURL(t, slow.URL), Methods: []string{"GET"}, Timeout: 100 * time.Millisecond},
		{Name: "builtin", PathPrefix: "/echo", StripPrefix: true, UpstreamHandler: echo("builtin"), Methods: []string{"GET", "DELETE"}},
	}
	g, err := New(routes, Options{UnknownRouteStatus: 501, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.CloseIdleConnections)
	front, client := serveTLS(t, g)

	type want struct {
		status   int
		problem  string // problem type, for gateway-made responses
		upstream string
		path     string
		rawPath  string
		query    string
		allow    string
		noBody   bool
	}
	tests := []struct {
		name   string
		method string
		path   string
		header http.Header
		body   io.Reader
		want   want
	}{
		{name: "prefix itself, stripped", method: "GET", path: "/demo", want: want{status: 200, upstream: "main", path: "/"}},
		{name: "below the prefix, stripped", method: "GET", path: "/demo/x/y?q=1", want: want{status: 200, upstream: "main", path: "/x/y", query: "q=1"}},
		{name: "not on a segment boundary", method: "GET", path: "/demox", want: want{status: 501, problem: "not-implemented"}},
		{name: "unknown route", method: "GET", path: "/nothing", want: want{status: 501, problem: "not-implemented"}},
		{name: "upstream base path, no strip", method: "GET", path: "/api/items", want: want{status: 200, upstream: "main", path: "/base/api/items"}},
		{name: "longest prefix wins", method: "GET", path: "/api/v2/items", want: want{status: 200, upstream: "main", path: "/v2base/items"}},
		{name: "host route, case and port ignored", method: "GET", path: "/demo/x", header: http.Header{"Host": {"SPECIAL.example:8444"}},
			want: want{status: 200, upstream: "main", path: "/special/demo/x"}},
		{name: "other hosts fall back", method: "GET", path: "/demo/x", header: http.Header{"Host": {"other.example"}},
			want: want{status: 200, upstream: "main", path: "/x"}},
		{name: "encoded slash kept", method: "GET", path: "/demo/a%2Fb", want: want{status: 200, upstream: "main", path: "/a/b", rawPath: "/a%2Fb"}},
		{name: "encoded slash at the prefix boundary", method: "GET", path: "/demo%2Fx", want: want{status: 400, problem: "bad-path"}},
		{name: "dot segments", method: "GET", path: "/demo/%2e%2e/admin", want: want{status: 400, problem: "bad-path"}},
		{name: "tomcat dot segment", method: "GET", path: "/demo/..;/admin", want: want{status: 400, problem: "bad-path"}},
		{name: "method not allowed", method: "DELETE", path: "/demo", want: want{status: 405, problem: "method-not-allowed", allow: "GET, HEAD, POST, OPTIONS"}},
		{name: "lower-case method", method: "get", path: "/demo", want: want{status: 405, problem: "method-not-allowed", allow: "GET, HEAD, POST, OPTIONS"}},
		{name: "TRACE", method: "TRACE", path: "/demo", want: want{status: 405, problem: "method-not-allowed"}},
		{name: "HEAD allowed with GET, no body", method: "HEAD", path: "/demo", want: want{status: 200, noBody: true}},
		{name: "HEAD of a denial, no body", method: "HEAD", path: "/nothing", want: want{status: 501, noBody: true}},
		{name: "OPTIONS answered by the gateway", method: "OPTIONS", path: "/demo", want: want{status: 204, allow: "GET, HEAD, POST, OPTIONS", noBody: true}},
		{name: "OPTIONS listed goes upstream", method: "OPTIONS", path: "/api/v2/x", want: want{status: 200, upstream: "main", path: "/v2base/x"}},
		{name: "body under the limit", method: "POST", path: "/demo", body: strings.NewReader(strings.Repeat("a", 64)), want: want{status: 200, upstream: "main", path: "/"}},
		{name: "body over the limit", method: "POST", path: "/demo", body: strings.NewReader(strings.Repeat("a", 65)), want: want{status: 413, problem: "payload-too-large"}},
		{name: "streamed body over the limit", method: "POST", path: "/demo", body: io.MultiReader(strings.NewReader(strings.Repeat("a", 65))),
			want: want{status: 413, problem: "payload-too-large"}},
		{name: "upstream unreachable", method: "GET", path: "/down", want: want{status: 502, problem: "bad-gateway"}},
		{name: "upstream too slow", method: "GET", path: "/slow", want: want{status: 504, problem: "gateway-timeout"}},
		{name: "upstream too slow, through ReverseProxy", method: "GET", path: "/slow", header: http.Header{"Te": {"trailers"}},
			want: want{status: 504, problem: "gateway-timeout"}},
		{name: "builtin upstream, stripped", method: "GET", path: "/echo/z", want: want{status: 200, upstream: "builtin", path: "/z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := send(t, client, tt.method, front.URL+tt.path, tt.header, tt.body)
			if res.status != tt.want.status {
				t.Fatalf("status %d, want %d: %s", res.status, tt.want.status, res.body)
			}
			if got := problemType(t, res); got != tt.want.problem && !tt.want.noBody {
				t.Errorf("problem type %q, want %q", got, tt.want.problem)
			}
			if tt.want.noBody && len(res.body) != 0 {
				t.Errorf("body %q, want none", res.body)
			}
			if tt.want.allow != "" && res.header.Get("Allow") != tt.want.allow {
				t.Errorf("Allow %q, want %q", res.header.Get("Allow"), tt.want.allow)
			}
			// Security headers on every response, the gateway's values only.
			for k, v := range map[string]string{"Strict-Transport-Security": "max-age=31536000", "X-Content-Type-Options": "nosniff"} {
				if got := res.header.Values(k); !cmp.Equal(got, []string{v}) {
					t.Errorf("%s = %q, want [%q]", k, got, v)
				}
			}
			if id := res.header.Values("Response-Correlation-Id"); len(id) != 1 || id[0] == "from-upstream" {
				t.Errorf("Response-Correlation-Id = %q, want the gateway's one", id)
			}
			if tt.want.status >= 400 && !tt.want.noBody && res.header.Get("Cache-Control") != "no-store" {
				t.Errorf("error response Cache-Control %q, want no-store", res.header.Get("Cache-Control"))
			}
			if tt.want.upstream == "" {
				return
			}
			e := res.echo
			if e == nil {
				t.Fatalf("no echo: %s", res.body)
			}
			if e.Upstream != tt.want.upstream || e.Path != tt.want.path || e.RawPath != tt.want.rawPath || e.Query != tt.want.query {
				t.Errorf("upstream %s saw path %q raw %q query %q; want %s %q %q %q", e.Upstream, e.Path, e.RawPath, e.Query,
					tt.want.upstream, tt.want.path, tt.want.rawPath, tt.want.query)
			}
			if got := res.header.Get("Server"); got != "" {
				t.Errorf("backend product leaked in Server: %q", got)
			}
			if tt.want.upstream == "main" && e.Protocol != "HTTP/1.1" {
				t.Errorf("upstream protocol %s, want HTTP/1.1", e.Protocol)
			}
		})
	}
}

// wrapper is an Enforce-shaped policy that must run after the checks.
type wrapper struct{ fail error }

func (p wrapper) Enforce(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	if p.fail != nil {
		return p.fail
	}
	w.Header().Set("Wrapped", "yes")
	next.ServeHTTP(w, r)
	return nil
}

func TestPipelineAndSwap(t *testing.T) {
	t.Parallel()
	g, err := New([]Route{
		{Name: "wrapped", PathPrefix: "/w", UpstreamHandler: echo("w"), Methods: []string{"GET"}, Policies: []policy.Policy{wrapper{}}},
		{Name: "denied", PathPrefix: "/d", UpstreamHandler: echo("d"), Methods: []string{"GET"},
			Policies: []policy.Policy{wrapper{fail: &policy.Denial{Status: 429, Type: "too-many-requests", RetryAfter: time.Second}}}},
		{Name: "broken", PathPrefix: "/b", UpstreamHandler: echo("b"), Methods: []string{"GET"},
			Policies: []policy.Policy{wrapper{fail: errors.New("internal detail: db password wrong")}}},
	}, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	front, client := serveTLS(t, g)
	if res := send(t, client, "GET", front.URL+"/w", nil, nil); res.status != 200 || res.header.Get("Wrapped") != "yes" {
		t.Errorf("wrapped: %d %v", res.status, res.header)
	}
	if res := send(t, client, "GET", front.URL+"/d", nil, nil); res.status != 429 || res.header.Get("Retry-After") != "1" || problemType(t, res) != "too-many-requests" {
		t.Errorf("denied: %d %v %s", res.status, res.header, res.body)
	}
	res := send(t, client, "GET", front.URL+"/b", nil, nil)
	if res.status != 500 || strings.Contains(string(res.body), "password") {
		t.Errorf("broken policy: %d %s", res.status, res.body)
	}

	if err := g.Swap([]Route{{Name: "x", PathPrefix: "/w", Methods: []string{"GET"}}}); err == nil {
		t.Error("Swap accepted a route without an upstream")
	}
	if res := send(t, client, "GET", front.URL+"/w", nil, nil); res.status != 200 {
		t.Errorf("after a failed swap: %d, want the old routes", res.status)
	}
	if err := g.Swap([]Route{{Name: "new", PathPrefix: "/n", UpstreamHandler: echo("n"), Methods: []string{"GET"}}}); err != nil {
		t.Fatal(err)
	}
	if res := send(t, client, "GET", front.URL+"/w", nil, nil); res.status != 404 {
		t.Errorf("old route after swap: %d, want 404", res.status)
	}
	if res := send(t, client, "GET", front.URL+"/n", nil, nil); res.status != 200 {
		t.Errorf("new route after swap: %d", res.status)
	}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	h := echo("x")
	up := &url.URL{Scheme: "http", Host: "127.0.0.1:1"}
	ok := Route{Name: "ok", PathPrefix: "/a", UpstreamHandler: h, Methods: []string{"GET"}}
	with := func(mod func(*Route)) []Route { r := ok; mod(&r); return []Route{r} }
	for _, tt := range []struct {
		name   string
		routes []Route
		opts   Options
	}{
		{"no name", with(func(r *Route) { r.Name = "" }), Options{}},
		{"no methods", with(func(r *Route) { r.Methods = nil }), Options{}},
		{"CONNECT", with(func(r *Route) { r.Methods = []string{"CONNECT"} }), Options{}},
		{"both upstreams", with(func(r *Route) { r.Upstream = up }), Options{}},
		{"credentials in upstream", with(func(r *Route) { r.UpstreamHandler = nil; r.Upstream = mustURL(t, "http://u:p@h") }), Options{}},
		{"ftp upstream", with(func(r *Route) { r.UpstreamHandler = nil; r.Upstream = mustURL(t, "ftp://h") }), Options{}},
		{"TLS for http", with(func(r *Route) { r.UpstreamHandler = nil; r.Upstream = up; r.UpstreamTLS = &tls.Config{} }), Options{}},
		{"relative prefix", with(func(r *Route) { r.PathPrefix = "a" }), Options{}},
		{"dot prefix", with(func(r *Route) { r.PathPrefix = "/a/../b" }), Options{}},
		{"timeout too long", with(func(r *Route) { r.Timeout = time.Hour }), Options{}},
		{"nil policy", with(func(r *Route) { r.Policies = []policy.Policy{nil} }), Options{}},
		{"duplicate prefix", []Route{ok, {Name: "other", PathPrefix: "/a/", UpstreamHandler: h, Methods: []string{"GET"}}}, Options{}},
		{"duplicate name", []Route{ok, {Name: "ok", PathPrefix: "/b", UpstreamHandler: h, Methods: []string{"GET"}}}, Options{}},
		{"unknown route status", []Route{ok}, Options{UnknownRouteStatus: 403}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.routes, tt.opts)
			if !errors.Is(err, tiaki.ErrInvalid) {
				t.Errorf("New = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestDotSegments(t *testing.T) {
	t.Parallel()
	for p, want := range map[string]bool{
		"/": false, "/a/b": false, "/a/.b": false, "/a/b.": false, "/a/...": false, "/a..b": false,
		"/.": true, "/..": true, "/a/./b": true, "/a/../b": true, "/a/..": true, `/a\..\b`: true, "/a/..;/b": true,
		"/a\x00b": true, "/a\nb": true,
	} {
		if got := dotSegments(p); got != want {
			t.Errorf("dotSegments(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestTimeoutContext(t *testing.T) {
	t.Parallel()
	var deadline time.Time
	var ok bool
	g, err := New([]Route{{Name: "t", PathPrefix: "/", Methods: []string{"GET"}, Timeout: time.Minute,
		UpstreamHandler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { deadline, ok = r.Context().Deadline() })}},
		Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	g.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(context.Background(), "GET", "/x", nil))
	if !ok || time.Until(deadline) > time.Minute || time.Until(deadline) < 50*time.Second {
		t.Errorf("upstream deadline %v (%v), want about a minute away", deadline, ok)
	}
}

func TestSwapWhileServing(t *testing.T) {
	t.Parallel()
	routes := func(name string) []Route {
		return []Route{{Name: name, PathPrefix: "/", UpstreamHandler: echo(name), Methods: []string{"GET"}}}
	}
	g, err := New(routes("a"), Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			if err := g.Swap(routes(string(rune('a' + i%2)))); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 200 {
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
		if rec.Code != 200 {
			t.Fatalf("status %d during swaps", rec.Code)
		}
	}
	<-done
}

func FuzzServe(f *testing.F) {
	g, err := New([]Route{
		{Name: "s", PathPrefix: "/a/b", StripPrefix: true, UpstreamHandler: echo("s"), Methods: []string{"GET"}},
		{Name: "h", Host: "h.example", PathPrefix: "/", UpstreamHandler: echo("h"), Methods: []string{"GET"}},
	}, Options{Logger: quietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"/a/b", "/a/b/c%2Fd", "/a%2Fb/c", "/a/b/..", "/a/b/%2e%2e/x", "*", "/a/b?x=1"} {
		f.Add(s, "h.example:1")
	}
	f.Fuzz(func(t *testing.T, target, host string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		r := &http.Request{Method: "GET", URL: u, Host: host, Header: http.Header{}, Body: http.NoBody, RequestURI: target}
		r = r.WithContext(context.Background())
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, r)
		if rec.Code == 200 && dotSegments(u.Path) {
			t.Errorf("%q reached an upstream", target)
		}
	})
}
