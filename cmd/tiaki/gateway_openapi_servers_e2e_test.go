package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenAPIServerPathEndToEnd serves the orders description under routes whose prefix and
// the description's server URL combine in each documented way (issue 11 item 15: a server
// path equal to the prefix used to be applied twice, and every path answered 501), and checks
// both that validation finds the operation and what path the upstream sees.
func TestOpenAPIServerPathEndToEnd(t *testing.T) {
	dir := t.TempDir()
	orders, err := os.ReadFile("testdata/orders-openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// withServer writes the orders description with one server URL.
	withServer := func(name, server string) string {
		p := filepath.Join(dir, name+".yaml")
		doc := strings.Replace(string(orders), "paths:\n", "servers: [{url: '"+server+"'}]\npaths:\n", 1)
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"path": r.URL.Path})
	}))
	t.Cleanup(upstream.Close)
	cfgPath := filepath.Join(dir, "tiaki.yaml")
	writeAtomic(t, cfgPath, []byte(fmt.Sprintf(`
gateway: {unknown_route_status: 501}
apis:
  - name: stripped
    upstream: builtin:echo
    match: {path_prefix: /permits}
    strip_prefix: true
    auth: {api_key: "off"}
    openapi: %s
  - name: kept
    upstream: builtin:echo
    match: {path_prefix: /store}
    auth: {api_key: "off"}
    openapi: %s
  - name: no-server
    upstream: builtin:echo
    match: {path_prefix: /plain}
    strip_prefix: true
    auth: {api_key: "off"}
    openapi: %s
  - name: elsewhere
    upstream: builtin:echo
    match: {path_prefix: /v1-permits}
    strip_prefix: true
    auth: {api_key: "off"}
    openapi: %s
  - name: upstream-path
    upstream: %s/permits
    match: {path_prefix: /v2-permits}
    strip_prefix: true
    auth: {api_key: "off"}
    openapi: %s
`, withServer("stripped", "https://api.example.govt.nz/permits"), withServer("kept", "https://api.example.govt.nz/store"),
		mustAbs(t, "testdata/orders-openapi.yaml"),
		withServer("elsewhere", "https://api.example.govt.nz/permits"),
		upstream.URL, withServer("upstream-path", "https://api.example.govt.nz/permits"))))
	r := startTiaki(t, filepath.Join(dir, "data"), "--config", cfgPath)

	get := func(t *testing.T, path string) (int, string) {
		t.Helper()
		resp, err := r.client.Get("https://" + r.Gateway + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct{ name, path, upstreamSees string }{
		{"server path equal to the prefix, stripped", "/permits/orders", "/orders"},
		{"server path equal to the prefix, not stripped", "/store/orders", "/store/orders"},
		{"no server path, stripped", "/plain/orders", "/orders"},
		{"server path elsewhere, stripped: the upstream serves it", "/v1-permits/permits/orders", "/permits/orders"},
		{"server path in the upstream URL", "/v2-permits/orders", "/permits/orders"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, tc.path)
			var echo struct{ Path string }
			if code != http.StatusOK || json.Unmarshal([]byte(body), &echo) != nil || echo.Path != tc.upstreamSees {
				t.Fatalf("GET %s: %d %s; want 200 with the upstream seeing %s", tc.path, code, body, tc.upstreamSees)
			}
		})
	}
	t.Run("an unknown path names the path looked up", func(t *testing.T) {
		code, body := get(t, "/permits/refunds")
		if code != http.StatusNotImplemented || !strings.Contains(body, `\"/refunds\" (the request path after \"/permits\")`) {
			t.Fatalf("GET /permits/refunds: %d %s", code, body)
		}
	})
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A server path outside a prefix that is not stripped can match no request: serve refuses it
// at the API's openapi key instead of answering 404 to everything.
func TestOpenAPIServerPathOutsidePrefixRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	orders, err := os.ReadFile("testdata/orders-openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(dir, "orders.yaml")
	doc := strings.Replace(string(orders), "paths:\n", "servers: [{url: 'https://api.example.govt.nz/permits'}]\npaths:\n", 1)
	if err := os.WriteFile(spec, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "tiaki.yaml")
	writeAtomic(t, cfgPath, []byte(fmt.Sprintf(`apis:
  - name: orders
    upstream: builtin:echo
    match: {path_prefix: /v1-permits}
    auth: {api_key: "off"}
    openapi: %s
`, spec)))
	code, _, stderr := run(t, "serve", "--config", cfgPath, "--data", filepath.Join(dir, "data"),
		"--authserver-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0", "--ops-addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(stderr, "tiaki.yaml:6: apis[0].openapi:") || !strings.Contains(stderr, "strip_prefix") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}
