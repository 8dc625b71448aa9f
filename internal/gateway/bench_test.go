package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tiaki-nz/tiaki/internal/auditlog"
	"github.com/tiaki-nz/tiaki/internal/policy"
	"github.com/tiaki-nz/tiaki/internal/web"
)

// discardWriter is a ResponseWriter that keeps nothing, so benchmarks measure the gateway.
type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }

// SetReadDeadline stands in for the server's (the gateway sets a route's body deadline).
func (d *discardWriter) SetReadDeadline(time.Time) error { return nil }

var smallJSON = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header()["Content-Type"] = []string{"application/json"}
	w.Write([]byte(`{"id":42,"status":"ok"}`))
})

// benchRoutes serves the same policies through a proxied upstream (/p) and a builtin one (/b),
// so the difference isolates the proxy's cost from the pipeline's.
func benchRoutes(b *testing.B, policies ...policy.Policy) *Gateway {
	b.Helper()
	up := httptest.NewServer(smallJSON)
	b.Cleanup(up.Close)
	g, err := New([]Route{
		{Name: "p", PathPrefix: "/p", Upstream: mustURL(b, up.URL), Methods: []string{"GET"}, Policies: policies},
		{Name: "b", PathPrefix: "/b", UpstreamHandler: smallJSON, Methods: []string{"GET"}, Policies: policies},
	}, Options{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(g.CloseIdleConnections)
	return g
}

func runBench(b *testing.B, g *Gateway, header http.Header) {
	for _, tc := range []struct{ name, path string }{{"proxied", "/p/items"}, {"builtin", "/b/items"}} {
		b.Run(tc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, tc.path, nil)
			r = r.WithContext(web.WithRequestID(r.Context(), "bench-request-id"))
			r.Header = header
			w := &discardWriter{h: http.Header{}}
			g.ServeHTTP(w, r) // warm caches and the connection pool
			if w.code != 0 && w.code != http.StatusOK {
				b.Fatalf("status %d", w.code)
			}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				g.ServeHTTP(w, r)
			}
		})
	}
}

func BenchmarkPassThrough(b *testing.B) {
	runBench(b, benchRoutes(b), http.Header{"Accept": {"application/json"}})
}

func BenchmarkAPIKeyAndBearer(b *testing.B) {
	kit := newAuthKit(b)
	g := benchRoutes(b, kit.apiKey(b, true), kit.bearer(b, true), scopes(b, map[string][]string{"GET": {"payments:read"}}))
	runBench(b, g, http.Header{
		"Accept":        {"application/json"},
		"Api-Key":       {kit.key},
		"Authorization": {"Bearer " + kit.token(b, "payments:read")},
	})
}

// BenchmarkObserved is the API key and bearer stack with everything a production gateway adds:
// an audit event per request (JSON to a discarded stream, through the burst detector), the
// metrics, and the identity assertion upstream (cached).
func BenchmarkObserved(b *testing.B) {
	kit := newAuthKit(b)
	up := httptest.NewServer(smallJSON)
	b.Cleanup(up.Close)
	burst, err := auditlog.NewBurstDetector(auditlog.NewJSONSink(io.Discard), auditlog.BurstOptions{})
	if err != nil {
		b.Fatal(err)
	}
	policies := []policy.Policy{kit.apiKey(b, true), kit.bearer(b, true), scopes(b, map[string][]string{"GET": {"payments:read"}})}
	g, err := New([]Route{
		{Name: "p", PathPrefix: "/p", Upstream: mustURL(b, up.URL), Methods: []string{"GET"}, Policies: policies},
		{Name: "b", PathPrefix: "/b", UpstreamHandler: smallJSON, Methods: []string{"GET"}, Policies: policies},
	}, Options{Logger: quietLogger(), Audit: burst, Metrics: prometheus.NewRegistry(), Identity: newIdentityKit(b).options()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(g.CloseIdleConnections)
	runBench(b, g, http.Header{
		"Accept":        {"application/json"},
		"Api-Key":       {kit.key},
		"Authorization": {"Bearer " + kit.token(b, "payments:read")},
	})
}

// BenchmarkPassThroughPost is BenchmarkPassThrough for a small JSON POST, whose body the
// gateway bounds (limits.max_body, limits.body_timeout) on its way upstream.
func BenchmarkPassThroughPost(b *testing.B) {
	const payload = `{"name":"Aroha","items":[1,2,3],"note":"a small JSON request body"}`
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		smallJSON(w, r)
	}))
	b.Cleanup(up.Close)
	g, err := New([]Route{
		{Name: "p", PathPrefix: "/p", Upstream: mustURL(b, up.URL), Methods: []string{"POST"}},
		{Name: "b", PathPrefix: "/b", UpstreamHandler: smallJSON, Methods: []string{"POST"}},
	}, Options{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(g.CloseIdleConnections)
	for _, tc := range []struct{ name, path string }{{"proxied", "/p/items"}, {"builtin", "/b/items"}} {
		b.Run(tc.name, func(b *testing.B) {
			body := strings.NewReader(payload)
			r := httptest.NewRequest(http.MethodPost, tc.path, nil)
			r = r.WithContext(web.WithRequestID(r.Context(), "bench-request-id"))
			r.Header = http.Header{"Accept": {"application/json"}, "Content-Type": {"application/json"}}
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				body.Reset(payload)
				r.Body, r.ContentLength = io.NopCloser(body), int64(len(payload))
				clear(w.h)
				w.code = 0
				g.ServeHTTP(w, r)
				if w.code != 0 && w.code != http.StatusOK {
					b.Fatalf("status %d", w.code)
				}
			}
		})
	}
}
