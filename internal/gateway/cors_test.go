package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tiaki-nz/tiaki/internal/policy"
	"github.com/tiaki-nz/tiaki/internal/policy/cors"
)

// TestCORS: a route's CORS policy answers preflights before the method allow-list and every
// policy, and owns the CORS headers of every other response: an upstream's own are replaced,
// and denials carry them too.
func TestCORS(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A backend that does its own, too generous, CORS.
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Vary", "Accept-Encoding")
		h.Set("Content-Type", "text/plain")
		w.Write([]byte("ok"))
	}))
	t.Cleanup(up.Close)
	rules, err := cors.New(cors.Config{AllowOrigins: []string{"https://app.example.govt.nz"}, AllowMethods: []string{"GET"}})
	if err != nil {
		t.Fatal(err)
	}
	refuseAll := wrapper{fail: &policy.Denial{Status: 401, Type: "api-key-required", Challenge: `APIKey header="Api-Key"`}}
	g, err := New([]Route{
		{Name: "open", PathPrefix: "/open", Upstream: mustURL(t, up.URL), Methods: []string{"GET"}, CORS: rules},
		{Name: "locked", PathPrefix: "/locked", UpstreamHandler: echo("locked"), Methods: []string{"GET"}, CORS: rules,
			Policies: []policy.Policy{refuseAll}},
	}, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.CloseIdleConnections)
	front, client := serveTLS(t, g)
	const app = "https://app.example.govt.nz"

	res := send(t, client, "OPTIONS", front.URL+"/locked/x", http.Header{"Origin": {app}, "Access-Control-Request-Method": {"GET"}}, nil)
	if res.status != 204 || res.header.Get("Access-Control-Allow-Origin") != app || res.header.Get("Access-Control-Allow-Methods") != "GET, HEAD" {
		t.Errorf("preflight on a route whose policies refuse everything: %d %v", res.status, res.header)
	}
	res = send(t, client, "OPTIONS", front.URL+"/open/x", http.Header{"Origin": {app}, "Access-Control-Request-Method": {"POST"}}, nil)
	if res.status != 403 || problemType(t, res) != "cors-refused" || res.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight for a method not allowed: %d %v", res.status, res.header)
	}

	res = send(t, client, "GET", front.URL+"/open/x", http.Header{"Origin": {app}}, nil)
	if res.status != 200 || res.header.Get("Access-Control-Allow-Origin") != app || res.header.Get("Access-Control-Allow-Credentials") != "" ||
		len(res.header.Values("Access-Control-Allow-Origin")) != 1 || res.header.Values("Vary")[0] != "Accept-Encoding" {
		t.Errorf("allowed origin through an upstream with its own CORS: %d %v", res.status, res.header)
	}
	res = send(t, client, "GET", front.URL+"/open/x", http.Header{"Origin": {"https://evil.example"}}, nil)
	if res.status != 200 || res.header.Get("Access-Control-Allow-Origin") != "" || res.header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("another origin kept the upstream's CORS headers: %v", res.header)
	}
	res = send(t, client, "GET", front.URL+"/locked/x", http.Header{"Origin": {app}}, nil)
	if res.status != 401 || res.header.Get("Access-Control-Allow-Origin") != app {
		t.Errorf("a denial the application cannot read: %d %v", res.status, res.header)
	}
	res = send(t, client, "DELETE", front.URL+"/open/x", http.Header{"Origin": {app}}, nil)
	if res.status != 405 || res.header.Get("Access-Control-Allow-Origin") != app {
		t.Errorf("405 without CORS headers: %d %v", res.status, res.header)
	}
}
