package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// TestTrustedIssuerEndToEnd fronts an API with one Tiaki (B) whose callers get their tokens
// from another Tiaki (A), as during a staged migration (issue 11, item 12). B is configured
// with A's issuer identifier and CA only: A's keys and introspection endpoint come from its
// metadata. JWTs from A are verified with A's keys, held to B's audience and scopes; A's
// opaque tokens are introspected at A with B's client credentials, and revoking one at A
// stops it at B within 5 s; a forged signature and an unknown opaque string are refused.
func TestTrustedIssuerEndToEnd(t *testing.T) {
	const (
		audience      = "https://api.example.govt.nz/permits"
		partnerSecret = "partner-secret-0123456789abcdefghijkl"
		opaqueSecret  = "opaque-secret-0123456789abcdefghijklm"
		gatewaySecret = "gateway-b-secret-0123456789abcdefghij"
	)
	dirA, dirB := t.TempDir(), t.TempDir()
	addrA := freePort(t)
	cfgA := filepath.Join(dirA, "tiaki.yaml")
	writeAtomic(t, cfgA, []byte(fmt.Sprintf(`
issuer: https://%s
apis:
  - name: permits
    upstream: builtin:echo
    match: {path_prefix: /permits}
    auth: {oauth2: {audience: %s}}
  - name: other
    upstream: builtin:echo
    match: {path_prefix: /other}
    auth: {oauth2: {audience: https://api.example.govt.nz/other}}
clients:
  - id: partner
    auth_method: client_secret_basic
    secret: %s
    grant_types: [client_credentials]
    scopes: ["permits:read", "permits:write"]
  - id: opaque-partner
    auth_method: client_secret_basic
    secret: %s
    grant_types: [client_credentials]
    scopes: ["permits:read"]
    access_token_format: opaque
  - id: gateway-b
    auth_method: client_secret_basic
    secret: %s
    grant_types: [client_credentials]
    scopes: ["permits:read"]
`, addrA, audience, partnerSecret, opaqueSecret, gatewaySecret)))
	a := startTiaki(t, filepath.Join(dirA, "data"), "--config", cfgA, "--authserver-addr", addrA)

	cfgB := filepath.Join(dirB, "tiaki.yaml")
	writeAtomic(t, cfgB, []byte(fmt.Sprintf(`
trusted_issuers:
  - name: tiaki-a
    issuer: https://%s
    ca: %s
    introspection: {client_id: gateway-b, client_secret: %s}
apis:
  - name: permits
    upstream: builtin:echo
    match: {path_prefix: /permits}
    methods: [GET, POST]
    injection_protection: "off"
    auth:
      oauth2:
        audience: %s
        issuers: [tiaki-a]
        scopes:
          GET: ["permits:read"]
          POST: ["permits:write"]
`, addrA, a.CAFile, gatewaySecret, audience)))
	b := startTiaki(t, filepath.Join(dirB, "data"), "--config", cfgB)

	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, a.client)
	token := func(t *testing.T, id, secret, resource string, scopes ...string) string {
		t.Helper()
		cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: a.Issuer + "/token",
			Scopes: scopes, EndpointParams: url.Values{"resource": {resource}}}
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("token from A for %s: %v", id, err)
		}
		return tok.AccessToken
	}
	call := func(t *testing.T, method, tok string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, "https://"+b.Gateway+"/permits/p-1", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}

	t.Run("JWT from A with the scope", func(t *testing.T) {
		tok := token(t, "partner", partnerSecret, audience, "permits:read")
		if code, ch := call(t, http.MethodGet, tok); code != http.StatusOK {
			t.Fatalf("GET with A's token: %d %s\n%s", code, ch, b.stderr.String())
		}
		if code, ch := call(t, http.MethodPost, tok); code != http.StatusForbidden || !strings.Contains(ch, "insufficient_scope") {
			t.Errorf("POST without permits:write: %d %q, want 403 insufficient_scope", code, ch)
		}
		// The audit stream is flushed every 200 ms.
		eventually(t, 2*time.Second, func() string {
			if !strings.Contains(b.stderr.String(), `"consumer":"partner"`) {
				return "B's audit does not name A's client as the consumer"
			}
			return ""
		})
	})

	t.Run("JWT from A for another API", func(t *testing.T) {
		tok := token(t, "partner", partnerSecret, "https://api.example.govt.nz/other", "permits:read")
		if code, ch := call(t, http.MethodGet, tok); code != http.StatusUnauthorized || !strings.Contains(ch, "invalid_token") {
			t.Errorf("token for another audience: %d %q, want 401 invalid_token", code, ch)
		}
	})

	t.Run("a token A did not issue", func(t *testing.T) {
		// B's own keys signed nothing A would vouch for; a token naming A but signed by
		// someone else fails the signature, and a made-up opaque string is inactive at A.
		tok := token(t, "partner", partnerSecret, audience, "permits:read")
		parts := strings.Split(tok, ".")
		forged := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
		if code, _ := call(t, http.MethodGet, forged); code != http.StatusUnauthorized {
			t.Errorf("forged signature: %d, want 401", code)
		}
		if code, _ := call(t, http.MethodGet, "not-a-token-A-issued"); code != http.StatusUnauthorized {
			t.Errorf("unknown opaque token: %d, want 401", code)
		}
	})

	t.Run("opaque token from A, introspected, then revoked", func(t *testing.T) {
		tok := token(t, "opaque-partner", opaqueSecret, audience, "permits:read")
		if strings.Count(tok, ".") == 2 {
			t.Fatalf("opaque-partner got a JWT")
		}
		if code, ch := call(t, http.MethodGet, tok); code != http.StatusOK {
			t.Fatalf("GET with A's opaque token: %d %s\n%s", code, ch, b.stderr.String())
		}
		req, err := http.NewRequest(http.MethodPost, a.Issuer+"/revoke", strings.NewReader(url.Values{"token": {tok}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", basicAuth("opaque-partner", opaqueSecret))
		resp, err := a.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("revoke at A: %d", resp.StatusCode)
		}
		took := eventually(t, 6*time.Second, func() string {
			if code, _ := call(t, http.MethodGet, tok); code != http.StatusUnauthorized {
				return fmt.Sprintf("revoked opaque token still answers %d", code)
			}
			return ""
		})
		// The bound is the introspection cache's 5 s, plus scheduling slack on a busy machine.
		if took > 6*time.Second {
			t.Errorf("revocation took %v to reach B", took)
		}
	})
}
