package gateway

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/auditlog"
	"github.com/tiaki-nz/tiaki/internal/policy"
)

// waitEvents polls the sink until it holds n events: the gateway emits after the response has
// gone, so the client can see the response first.
func waitEvents(t *testing.T, m *auditlog.Memory, n int) []auditlog.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ev := m.Events()
		if len(ev) >= n || time.Now().After(deadline) {
			return ev
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAuditEvents(t *testing.T) {
	t.Parallel()
	kit := newAuthKit(t)
	up := httptest.NewServer(echo("main"))
	t.Cleanup(up.Close)
	mem := auditlog.NewMemory(0)
	g, err := New([]Route{
		{Name: "payments", PathPrefix: "/pay", Upstream: mustURL(t, up.URL), Methods: []string{"GET"},
			Policies: []policy.Policy{kit.apiKey(t, true)}},
		{Name: "down", PathPrefix: "/down", Upstream: mustURL(t, "http://"+closedPort(t)), Methods: []string{"GET"}},
	}, Options{Logger: quietLogger(), Audit: mem, ClientIP: func(*http.Request) string { return "203.0.113.7" }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.CloseIdleConnections)
	front, client := serveTLS(t, g)

	send(t, client, "GET", front.URL+"/pay/items?card=4111", http.Header{"Api-Key": {kit.key}, "Request-Transaction-Id": {"r-ok"}}, nil)
	send(t, client, "GET", front.URL+"/pay/items?api_key=secret", http.Header{"Request-Transaction-Id": {"r-url"}}, nil)
	send(t, client, "GET", front.URL+"/pay/items", http.Header{"Api-Key": {kit.key + "x"}, "Request-Transaction-Id": {"r-bad"}}, nil)
	send(t, client, "DELETE", front.URL+"/pay/items", http.Header{"Request-Transaction-Id": {"r-405"}}, nil)
	send(t, client, "GET", front.URL+"/down", http.Header{"Request-Transaction-Id": {"r-502"}}, nil)
	send(t, client, "GET", front.URL+"/nowhere", http.Header{"Request-Transaction-Id": {"r-404"}}, nil)

	got := waitEvents(t, mem, 6)
	for _, e := range got {
		if e.Time.IsZero() || e.Latency <= 0 || e.ClientIP != "203.0.113.7" || e.Method == "" {
			t.Errorf("event %s lacks time, latency, client IP or method: %+v", e.RequestID, e)
		}
	}
	keyID := strings.Split(kit.key, "_")[1]
	want := []auditlog.Event{
		{Type: auditlog.TypeRequest, RequestID: "r-ok", Consumer: "key-app", CredentialID: keyID,
			Credentials: []tiaki.CredentialKind{tiaki.CredentialAPIKey}, Route: "payments", Path: "/pay/items", Status: 200},
		{Type: auditlog.TypeDenial, RequestID: "r-url", Route: "payments", Path: "/pay/items", Status: 401,
			Rule: "api-key-in-url", Reason: "API key in the query string"},
		{Type: auditlog.TypeDenial, RequestID: "r-bad", Route: "payments", Path: "/pay/items", Status: 401,
			Rule: "invalid-api-key", Reason: "malformed API key"},
		{Type: auditlog.TypeDenial, RequestID: "r-405", Route: "payments", Path: "/pay/items", Status: 405,
			Rule: "method-not-allowed", Reason: "method not allowed"},
		{Type: auditlog.TypeUpstreamError, RequestID: "r-502", Route: "down", Path: "/down", Status: 502,
			Rule: "bad-gateway", Reason: "upstream unreachable or failed"},
		{Type: auditlog.TypeDenial, RequestID: "r-404", Path: "/nowhere", Status: 404, Rule: "not-found", Reason: "no route matches"},
	}
	ignore := cmpopts.IgnoreFields(auditlog.Event{}, "Time", "Latency", "ClientIP", "Method")
	byID := cmpopts.SortSlices(func(a, b auditlog.Event) bool { return a.RequestID < b.RequestID })
	if diff := cmp.Diff(want, got, ignore, byID, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	for _, e := range got {
		if strings.Contains(fmt.Sprint(e), "secret") || strings.Contains(fmt.Sprint(e), kit.key) || strings.Contains(fmt.Sprint(e), "4111") {
			t.Errorf("event %s carries a credential or the query: %+v", e.RequestID, e)
		}
	}
}

func TestAuthFailureBurst(t *testing.T) {
	t.Parallel()
	kit := newAuthKit(t)
	mem := auditlog.NewMemory(0)
	burst, err := auditlog.NewBurstDetector(mem, auditlog.BurstOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := New([]Route{{Name: "payments", PathPrefix: "/", UpstreamHandler: echo("b"), Methods: []string{"GET"},
		Policies: []policy.Policy{kit.apiKey(t, true)}}}, Options{Logger: quietLogger(), Audit: burst})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 25 {
		r := httptest.NewRequest("GET", "/x", nil)
		r.RemoteAddr = "198.51.100.4:" + fmt.Sprint(40000+i)
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		if w.Code != 401 {
			t.Fatalf("status %d", w.Code)
		}
	}
	bursts := mem.OfType(auditlog.TypeAuthFailuresBurst)
	if len(bursts) != 1 || bursts[0].ClientIP != "198.51.100.4" || bursts[0].Count != 20 {
		t.Errorf("bursts %+v, want one for 198.51.100.4", bursts)
	}
}

// stamp is an Enforce-shaped policy that sets response headers before calling next, as a rate
// limiter sets RateLimit headers.
type stamp struct{}

func (stamp) Enforce(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	w.Header().Set("Ratelimit-Remaining", "41")
	w.Header().Set("Cache-Control", "private")
	next.ServeHTTP(w, r)
	return nil
}

func TestPolicyResponseHeaders(t *testing.T) {
	t.Parallel()
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)                  // reading sends the 100 Continue
		w.Header().Set("Ratelimit-Remaining", "999") // an upstream's own value must not win
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("ok"))
	})
	up := httptest.NewServer(upstream)
	t.Cleanup(up.Close)
	g, err := New([]Route{
		{Name: "p", PathPrefix: "/p", Upstream: mustURL(t, up.URL), Methods: []string{"POST"}, Policies: []policy.Policy{stamp{}}},
		{Name: "b", PathPrefix: "/b", UpstreamHandler: upstream, Methods: []string{"POST"}, Policies: []policy.Policy{stamp{}}},
		{Name: "denied", PathPrefix: "/d", UpstreamHandler: upstream, Methods: []string{"POST"},
			Policies: []policy.Policy{stamp{}, wrapper{fail: &policy.Denial{Status: 429, Type: "too-many-requests"}}}},
	}, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.CloseIdleConnections)
	front, client := serveTLS(t, g)
	for _, tc := range []struct {
		path, cacheControl string
		status             int
	}{{"/p", "private", 200}, {"/b", "private", 200}, {"/d", "no-store", 429}} {
		// Expect: 100-continue makes the upstream answer 100 first, after which ReverseProxy
		// clears the response headers set so far.
		h := http.Header{"Expect": {"100-continue"}, "Content-Type": {"text/plain"}}
		res := send(t, client, "POST", front.URL+tc.path, h, strings.NewReader(strings.Repeat("a", 2000)))
		if res.status != tc.status {
			t.Fatalf("%s: status %d: %s", tc.path, res.status, res.body)
		}
		if got := res.header.Values("Ratelimit-Remaining"); !cmp.Equal(got, []string{"41"}) {
			t.Errorf("%s: RateLimit-Remaining %q, want the policy's [41]", tc.path, got)
		}
		if got := res.header.Get("Cache-Control"); got != tc.cacheControl {
			t.Errorf("%s: Cache-Control %q, want %q", tc.path, got, tc.cacheControl)
		}
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	consumer := func(name string) policy.Policy {
		return principalPolicy{tiaki.Principal{Consumer: name, Credentials: []tiaki.CredentialKind{tiaki.CredentialAPIKey}}}
	}
	var routes []Route
	for i := range MaxConsumerLabels + 5 {
		routes = append(routes, Route{Name: fmt.Sprint("r", i), PathPrefix: fmt.Sprint("/r", i), UpstreamHandler: echo("b"),
			Methods: []string{"GET"}, Policies: []policy.Policy{consumer(fmt.Sprint("app-", i))}})
	}
	routes = append(routes, Route{Name: "open", PathPrefix: "/open", UpstreamHandler: echo("b"), Methods: []string{"GET"}})
	g, err := New(routes, Options{Logger: quietLogger(), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(routes, Options{Logger: quietLogger(), Metrics: reg}); err == nil {
		t.Error("a second gateway registered the same collectors")
	}
	serve := func(method, path string) {
		w := httptest.NewRecorder()
		g.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	}
	for i := range MaxConsumerLabels + 5 {
		serve("GET", fmt.Sprint("/r", i))
	}
	serve("GET", "/r0")
	serve("DELETE", "/r0")
	serve("GET", "/open")
	serve("GET", "/nowhere")

	counts := map[string]float64{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var histograms int
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "tiaki_gateway_requests_total":
				counts[labels(m)] = m.GetCounter().GetValue()
			case "tiaki_gateway_request_duration_seconds":
				histograms++
			}
		}
	}
	for k, want := range map[string]float64{
		"code=200,consumer=app-0,route=r0":     2,
		"code=405,consumer=,route=r0":          1,
		"code=200,consumer=(other),route=r101": 1,
		"code=200,consumer=,route=open":        1,
		"code=404,consumer=,route=":            1,
	} {
		if counts[k] != want {
			t.Errorf("%s = %v, want %v", k, counts[k], want)
		}
	}
	consumers := map[string]bool{}
	for k := range counts {
		consumers[strings.Split(strings.Split(k, "consumer=")[1], ",")[0]] = true
	}
	if len(consumers) > MaxConsumerLabels+2 { // plus "" and (other)
		t.Errorf("%d consumer labels, bound %d", len(consumers), MaxConsumerLabels)
	}
	if histograms != len(routes)+1 {
		t.Errorf("%d latency series, want one per route and one for unmatched requests", histograms)
	}
}

func labels(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return strings.Join(parts, ",")
}

func TestPeerIP(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"10.0.0.1:443": "10.0.0.1", "[2001:db8::1]:8443": "2001:db8::1", "pipe": "pipe", "": ""} {
		if got := peerIP(&http.Request{RemoteAddr: in}); got != want {
			t.Errorf("peerIP(%q) = %q, want %q", in, got, want)
		}
	}
}
