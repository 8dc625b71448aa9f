package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2/clientcredentials"
)

const permitsSecretE2E = "permits-e2e-secret-0123456789abcdef"

// TestAPIKeyScopesEndToEnd (issue #11 item 13): on an API that takes an API key or a token
// (auth.require: any), a method's scopes apply to whatever credential authorised the request.
// A key issued without scopes is refused on scoped methods, a key holding the scopes passes,
// and tokens are judged by their own scopes as before.
func TestAPIKeyScopesEndToEnd(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	addr := freePort(t)
	cfgPath := filepath.Join(dir, "tiaki.yaml")
	writeAtomic(t, cfgPath, []byte(fmt.Sprintf(`
issuer: https://%s
clients:
  - id: permits-app
    auth_method: client_secret_basic
    secret: %s
    grant_types: [client_credentials]
    scopes: [permits:read, permits:write]
apis:
  - name: permits
    upstream: builtin:echo
    match: {path_prefix: /permits}
    strip_prefix: true
    methods: [GET, POST]
    auth:
      api_key: optional
      oauth2:
        audience: https://api.example.govt.nz/permits
        scopes:
          GET: [permits:read]
          POST: [permits:write]
      require: any
`, addr, permitsSecretE2E)))
	r := startTiaki(t, dataDir, "--config", cfgPath, "--authserver-addr", addr)
	cli := func(args ...string) (int, string, string) {
		return run(t, append([]string{"--config", cfgPath, "--data", dataDir}, args...)...)
	}
	issue := func(name string, scopes ...string) string {
		t.Helper()
		args := []string{"apikey", "create", "--api", "permits", "--name", name}
		for _, s := range scopes {
			args = append(args, "--scope", s)
		}
		code, stdout, stderr := cli(args...)
		if code != 0 {
			t.Fatalf("apikey create %v: exit %d: %s", scopes, code, stderr)
		}
		return strings.TrimSpace(stdout)
	}
	noScopes := issue("no scopes")
	reader := issue("reader", "permits:read")
	writer := issue("writer", "permits:read permits:write") // space-separated, as an OAuth scope parameter
	if code, _, stderr := cli("apikey", "create", "--api", "permits", "--name", "bad", "--scope", `permits"read`); code != exitUsage || !strings.Contains(stderr, "not a scope") {
		t.Errorf("an invalid scope: exit %d: %s", code, stderr)
	}

	token := func(scope string) string {
		t.Helper()
		cc := clientcredentials.Config{ClientID: "permits-app", ClientSecret: permitsSecretE2E, TokenURL: r.Issuer + "/token",
			Scopes: []string{scope}, EndpointParams: map[string][]string{"resource": {"https://api.example.govt.nz/permits"}}}
		tok, err := cc.Token(context.WithValue(context.Background(), oauth2HTTPClient, r.client))
		if err != nil {
			t.Fatalf("token with %s: %v", scope, err)
		}
		return "Bearer " + tok.AccessToken
	}
	readToken, writeToken := token("permits:read"), token("permits:read permits:write")

	call := func(method string, header ...string) (*http.Response, []byte) {
		t.Helper()
		var body io.Reader
		if method == http.MethodPost {
			body = strings.NewReader(`{"site":"12 Queen St"}`)
		}
		req, err := http.NewRequest(method, "https://"+r.Gateway+"/permits/applications", body)
		if err != nil {
			t.Fatal(err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := r.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp, b
	}

	for _, tt := range []struct {
		name      string
		method    string
		header    []string
		want      int
		wantScope string // the scope the 403 challenge asks for
	}{
		{"key without scopes, POST", "POST", []string{"API-Key", noScopes}, 403, "permits:write"},
		{"key without scopes, GET", "GET", []string{"API-Key", noScopes}, 403, "permits:read"},
		{"key with read, GET", "GET", []string{"API-Key", reader}, 200, ""},
		{"key with read, POST", "POST", []string{"API-Key", reader}, 403, "permits:write"},
		{"key with write, POST", "POST", []string{"API-Key", writer}, 200, ""},
		{"read token, GET", "GET", []string{"Authorization", readToken}, 200, ""},
		{"read token, POST", "POST", []string{"Authorization", readToken}, 403, "permits:write"},
		{"write token, POST", "POST", []string{"Authorization", writeToken}, 200, ""},
		{"write token beside a key without scopes: the token decides", "POST", []string{"Authorization", writeToken, "API-Key", noScopes}, 200, ""},
		{"read token beside a writing key: the token decides", "POST", []string{"Authorization", readToken, "API-Key", writer}, 403, "permits:write"},
		{"no credential", "POST", nil, 401, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := call(tt.method, tt.header...)
			if resp.StatusCode != tt.want {
				t.Fatalf("%s: %d %s, want %d", tt.method, resp.StatusCode, body, tt.want)
			}
			if tt.want != 403 {
				return
			}
			// RFC 6750 §3.1, rendered like every other denial (RFC 9457).
			want := `Bearer realm="tiaki", error="insufficient_scope", scope="` + tt.wantScope + `"`
			if got := resp.Header.Get("WWW-Authenticate"); got != want {
				t.Errorf("challenge %q, want %q", got, want)
			}
			var problem struct{ Type string }
			if err := json.Unmarshal(body, &problem); err != nil || !strings.HasSuffix(problem.Type, "#insufficient-scope") ||
				resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("body %s (%v), content type %q", body, err, resp.Header.Get("Content-Type"))
			}
		})
	}

	t.Run("list and show name the scopes", func(t *testing.T) {
		code, out, stderr := cli("apikey", "list", "--output", "json")
		if code != 0 {
			t.Fatalf("list: %d %s", code, stderr)
		}
		var keys []struct {
			Name   string   `json:"name"`
			Scopes []string `json:"scopes"`
		}
		if err := json.Unmarshal([]byte(out), &keys); err != nil || len(keys) != 3 {
			t.Fatalf("list json: %v %s", err, out)
		}
		got := map[string]string{}
		for _, k := range keys {
			got[k.Name] = strings.Join(k.Scopes, " ")
		}
		if got["no scopes"] != "" || got["reader"] != "permits:read" || got["writer"] != "permits:read permits:write" {
			t.Errorf("listed scopes %q", got)
		}
		id := strings.Split(writer, "_")[1]
		code, out, _ = cli("apikey", "show", id)
		if code != 0 || !strings.Contains(out, "permits:read permits:write") || strings.Contains(out, writer[len("tk_")+len(id)+1:]) {
			t.Errorf("show: exit %d:\n%s", code, out)
		}
	})
}
