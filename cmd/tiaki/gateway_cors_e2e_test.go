package main

import (
	"crypto/tls"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCORSEndToEnd (issue #11 item 20): a browser application on another origin can call an
// API through the gateway. Preflights are answered by the gateway before authentication and
// before the method allow-list; real requests from an allowed origin get the CORS headers on
// every response, denials included; another origin gets none.
func TestCORSEndToEnd(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfgPath := filepath.Join(dir, "tiaki.yaml")
	writeAtomic(t, cfgPath, []byte(`
apis:
  - name: permits
    upstream: builtin:echo
    match: {path_prefix: /permits}
    strip_prefix: true
    methods: [GET, POST]
    cors:
      allow_origins: [https://App.example.govt.nz, "https://*.council.govt.nz"]
      expose_headers: [WWW-Authenticate, Response-Correlation-Id]
      max_age: 10m
  - name: options
    upstream: builtin:echo
    match: {path_prefix: /options}
    methods: [GET, OPTIONS]     # OPTIONS itself goes upstream, through authentication
    cors:
      allow_origins: [https://app.example.govt.nz]
  - name: closed
    upstream: builtin:echo
    match: {path_prefix: /closed}
    methods: [GET]
`))
	r := startTiaki(t, dataDir, "--config", cfgPath)
	code, stdout, stderr := run(t, "--config", cfgPath, "--data", dataDir, "apikey", "create", "--api", "permits", "--name", "browser app")
	if code != 0 {
		t.Fatalf("apikey create: %d %s", code, stderr)
	}
	key := strings.TrimSpace(stdout)
	pool := r.client.Transport.(*http.Transport).TLSClientConfig.RootCAs
	http1 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, NextProtos: []string{"http/1.1"}},
		TLSNextProto:    map[string]func(string, *tls.Conn) http.RoundTripper{}}}
	for proto, client := range map[string]*http.Client{"HTTP/1.1": http1, "HTTP/2.0": r.client} {
		t.Run(proto, func(t *testing.T) { corsChecks(t, r, client, proto, key) })
	}
}

// corsChecks is TestCORSEndToEnd over one protocol: the gateway serves HTTP/1.1 with
// internal/h1 and HTTP/2 with net/http, and both must answer alike.
func corsChecks(t *testing.T, r *running, client *http.Client, proto, key string) {
	do := func(method, path string, header ...string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, "https://"+r.Gateway+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.Proto != proto {
			t.Fatalf("spoke %s, want %s", resp.Proto, proto)
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp, string(b)
	}
	const app = "https://app.example.govt.nz"
	noCORS := func(t *testing.T, h http.Header) {
		t.Helper()
		for k := range h {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("response carries %s: %q", k, h[k])
			}
		}
	}

	t.Run("preflight from an allowed origin: 204 before authentication", func(t *testing.T) {
		resp, body := do("OPTIONS", "/permits/applications", "Origin", app,
			"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type, api-key")
		if resp.StatusCode != 204 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		for k, want := range map[string]string{
			"Access-Control-Allow-Origin":  app,
			"Access-Control-Allow-Methods": "GET, POST, HEAD",
			"Access-Control-Allow-Headers": "content-type, api-key",
			"Access-Control-Max-Age":       "600",
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		if resp.Header.Get("Access-Control-Allow-Credentials") != "" || !strings.Contains(resp.Header.Get("Vary"), "Origin") {
			t.Errorf("credentials %q, Vary %q", resp.Header.Get("Access-Control-Allow-Credentials"), resp.Header.Get("Vary"))
		}
	})
	t.Run("preflight from a subdomain the pattern allows", func(t *testing.T) {
		resp, body := do("OPTIONS", "/permits/x", "Origin", "https://portal.akl.council.govt.nz", "Access-Control-Request-Method", "GET")
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://portal.akl.council.govt.nz" {
			t.Errorf("%d %q %s", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), body)
		}
	})
	t.Run("preflight on a route whose methods include OPTIONS is still the gateway's", func(t *testing.T) {
		resp, body := do("OPTIONS", "/options/x", "Origin", app, "Access-Control-Request-Method", "GET")
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != app {
			t.Errorf("%d %q %s", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), body)
		}
		// A plain OPTIONS there needs a key, as any request does.
		if resp, _ := do("OPTIONS", "/options/x", "Origin", app); resp.StatusCode != 401 || resp.Header.Get("Access-Control-Allow-Origin") != app {
			t.Errorf("plain OPTIONS: %d %q, want 401 readable by the app", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	})
	for _, tt := range []struct {
		name   string
		header []string
	}{
		{"from another origin", []string{"Origin", "https://evil.example", "Access-Control-Request-Method", "GET"}},
		{"for a method not allowed", []string{"Origin", app, "Access-Control-Request-Method", "DELETE"}},
		{"for a header not allowed", []string{"Origin", app, "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "x-debug"}},
	} {
		t.Run("preflight "+tt.name+": 403, no CORS headers", func(t *testing.T) {
			resp, body := do("OPTIONS", "/permits/applications", tt.header...)
			if resp.StatusCode != 403 || !strings.Contains(body, "cors-refused") {
				t.Errorf("%d %s", resp.StatusCode, body)
			}
			noCORS(t, resp.Header)
		})
	}

	t.Run("a request with Origin through authentication", func(t *testing.T) {
		resp, body := do("GET", "/permits/applications", "Origin", app, "API-Key", key)
		if resp.StatusCode != 200 || !strings.Contains(body, `"path": "/applications"`) {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != app {
			t.Errorf("Access-Control-Allow-Origin %q, want %q", got, app)
		}
		if got := resp.Header.Get("Access-Control-Expose-Headers"); got != "WWW-Authenticate, Response-Correlation-Id" {
			t.Errorf("Access-Control-Expose-Headers %q", got)
		}
		if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Origin") {
			t.Errorf("Vary %q lacks Origin", resp.Header.Values("Vary"))
		}
	})
	t.Run("a denial the application can read", func(t *testing.T) {
		resp, _ := do("GET", "/permits/applications", "Origin", app)
		if resp.StatusCode != 401 || resp.Header.Get("Access-Control-Allow-Origin") != app || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%d, Access-Control-Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	})
	t.Run("another origin gets no CORS headers", func(t *testing.T) {
		resp, _ := do("GET", "/permits/applications", "Origin", "https://evil.example", "API-Key", key)
		if resp.StatusCode != 200 {
			t.Errorf("%d", resp.StatusCode)
		}
		noCORS(t, resp.Header)
	})
	t.Run("an API without cors is unchanged", func(t *testing.T) {
		resp, _ := do("OPTIONS", "/closed/x", "Origin", app, "Access-Control-Request-Method", "GET")
		if resp.StatusCode != 204 || resp.Header.Get("Allow") == "" {
			t.Errorf("%d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
		noCORS(t, resp.Header)
	})
}
