package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestContentChecksEndToEnd drives the body-reading policies through the real listener:
// content type (415) and Accept (406), OpenAPI request validation naming the failing field
// (THREAT-06/08), and injection checks that block attacks but not ordinary text (THREAT-14/15).
func TestContentChecksEndToEnd(t *testing.T) {
	dir := t.TempDir()
	spec, _ := filepath.Abs("testdata/orders-openapi.yaml")
	cfgPath := filepath.Join(dir, "tiaki.yaml")
	writeAtomic(t, cfgPath, []byte(fmt.Sprintf(`
apis:
  - name: orders
    upstream: builtin:echo
    match: {path_prefix: /orders-api}
    strip_prefix: true
    methods: [GET, POST]
    auth: {api_key: "off"}
    openapi: %s
  - name: notes
    upstream: builtin:echo
    match: {path_prefix: /notes}
    methods: [GET, POST]
    auth: {api_key: "off"}
`, spec)))
	r := startTiaki(t, filepath.Join(dir, "data"), "--config", cfgPath)
	order, err := os.ReadFile("testdata/order.json")
	if err != nil {
		t.Fatal(err)
	}
	post := func(path, ctype, body string, header ...string) (int, string) {
		req, _ := http.NewRequest("POST", "https://"+r.Gateway+path, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := r.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		name, path, ctype, body string
		header                  []string
		want                    int
		wantIn                  string
	}{
		{"valid order", "/orders-api/orders", "application/json", string(order), nil, 200, ""},
		{"wrong content type", "/orders-api/orders", "text/plain", string(order), nil, 415, "unsupported-media-type"},
		{"Accept nothing we produce", "/notes/x", "application/json", `{"a":1}`, []string{"Accept", "application/xml"}, 406, "not-acceptable"},
		{"schema violation names the field", "/orders-api/orders", "application/json",
			strings.Replace(string(order), `"quantity":2`, `"quantity":-2`, 1), nil, 400, "items[0].quantity"},
		{"duplicate keys", "/notes/x", "application/json", `{"a":1,"a":2}`, nil, 400, "duplicate-key"},
		{"SQL injection", "/notes/x", "application/json", `{"q":"' OR 1=1--"}`, nil, 403, "request-blocked"},
		{"XSS", "/notes/x", "application/json", `{"q":"<script>alert(1)</script>"}`, nil, 403, "request-blocked"},
		{"ordinary text with an apostrophe", "/notes/x", "application/json", `{"name":"Aroha O'Connor","note":"a < b and c > d","plan":"select your plan","price":"$9.99"}`, nil, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(tc.path, tc.ctype, tc.body, tc.header...)
			if code != tc.want || !strings.Contains(body, tc.wantIn) {
				t.Fatalf("status %d, want %d; body %s", code, tc.want, body)
			}
			if strings.Contains(body, "OR 1=1") || strings.Contains(body, "<script>") {
				t.Fatalf("the payload was echoed in the refusal: %s", body)
			}
		})
	}
}
