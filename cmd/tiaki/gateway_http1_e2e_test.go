package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGatewayHTTP1AndHTTP2Alike sends the same requests to the gateway over HTTP/1.1 (served
// by internal/h1) and HTTP/2 (net/http's server) and expects the same answers: status,
// security headers, problem bodies, HEAD without a body, a POST body reaching the upstream.
func TestGatewayHTTP1AndHTTP2Alike(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"path": r.URL.Path, "body": string(b)})
	}))
	t.Cleanup(upstream.Close)
	up := upstream.URL
	cfgPath := filepath.Join(dir, "tiaki.yaml")
	writeAtomic(t, cfgPath, []byte(fmt.Sprintf(`
apis:
  - name: echo
    upstream: %s
    match: {path_prefix: /echo}
    strip_prefix: true
    methods: [GET, HEAD, POST]
    auth: {api_key: "off"}
    injection_protection: "off"
  - name: keyed
    upstream: %s
    match: {path_prefix: /keyed}
    auth: {api_key: required}
`, up, up)))
	r := startTiaki(t, dataDir, "--config", cfgPath)
	pool := r.client.Transport.(*http.Transport).TLSClientConfig.RootCAs
	clients := map[int]*http.Client{
		1: {Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, NextProtos: []string{"http/1.1"}},
			TLSNextProto:    map[string]func(string, *tls.Conn) http.RoundTripper{}}},
		2: r.client,
	}
	type answer struct {
		proto, status                        int
		body, contentType, hsts, nosniff, ct string
		requestID                            bool
	}
	do := func(t *testing.T, proto int, method, path, body string) answer {
		t.Helper()
		req, err := http.NewRequest(method, "https://"+r.Gateway+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := clients[proto].Do(req)
		if err != nil {
			t.Fatalf("HTTP/%d %s %s: %v", proto, method, path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return answer{proto: resp.ProtoMajor, status: resp.StatusCode, body: string(b),
			hsts: resp.Header.Get("Strict-Transport-Security"), nosniff: resp.Header.Get("X-Content-Type-Options"),
			ct: resp.Header.Get("Content-Type"), requestID: resp.Header.Get("Response-Correlation-Id") != ""}
	}
	for _, c := range []struct {
		name, method, path, body string
		status                   int
		bodyHas                  string
	}{
		{"proxied GET", "GET", "/echo/items?page=2", "", 200, `"path":"/items"`},
		{"POST body reaches the upstream", "POST", "/echo/orders", `{"id":42}`, 200, `"body":"{\"id\":42}"`},
		{"HEAD has no body", "HEAD", "/echo/items", "", 200, ""},
		{"method not allowed", "DELETE", "/echo/items", "", 405, "method"},
		{"no API key", "GET", "/keyed/x", "", 401, "problem"},
		{"unknown route", "GET", "/nowhere", "", 404, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			a1, a2 := do(t, 1, c.method, c.path, c.body), do(t, 2, c.method, c.path, c.body)
			if a1.proto != 1 || a2.proto != 2 {
				t.Fatalf("protocols %d and %d, want 1 and 2", a1.proto, a2.proto)
			}
			if a1.status != c.status || a2.status != c.status {
				t.Errorf("status HTTP/1.1 %d, HTTP/2 %d, want %d", a1.status, a2.status, c.status)
			}
			if c.method == "HEAD" && (a1.body != "" || a2.body != "") {
				t.Errorf("HEAD returned a body: %q / %q", a1.body, a2.body)
			}
			if !strings.Contains(strings.ToLower(a1.body), strings.ToLower(c.bodyHas)) {
				t.Errorf("HTTP/1.1 body %q lacks %q", a1.body, c.bodyHas)
			}
			a1.proto, a2.proto = 0, 0
			if a1 != a2 {
				t.Errorf("HTTP/1.1 and HTTP/2 differ:\n%+v\n%+v", a1, a2)
			}
			if a1.hsts == "" || a1.nosniff != "nosniff" || !a1.requestID {
				t.Errorf("HTTP/1.1 security headers missing: %+v", a1)
			}
		})
	}
}
