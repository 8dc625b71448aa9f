package authserver

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// atClaims are the RFC 9068 §2.2 claims of a Tiaki access token.
type atClaims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	Audience string `json:"aud"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	ID       string `json:"jti"`
	Expiry   int64  `json:"exp"`
	IssuedAt int64  `json:"iat"`
}

// verify checks tok against the JWKS the server publishes, as a resource server would, and
// returns its claims.
func (e *testEnv) verify(t *testing.T, tok string) atClaims {
	t.Helper()
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("parse access token: %v", err)
	}
	h := parsed.Headers[0]
	if typ := h.ExtraHeaders[jose.HeaderType]; typ != "at+jwt" {
		t.Errorf("typ = %v, want at+jwt (RFC 9068 §2.1)", typ)
	}
	resp, err := e.ts.Client().Get(e.issuer + PathJWKS)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := jsonDecode(resp.Body, &set); err != nil {
		t.Fatal(err)
	}
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q: %d keys in the published JWKS", h.KeyID, len(keys))
	}
	var c atClaims
	if err := parsed.Claims(keys[0].Key, &c); err != nil {
		t.Fatalf("signature does not verify against the published key: %v", err)
	}
	return c
}

func TestClientCredentialsWithOAuth2Client(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, env.ts.Client())
	tests := []struct {
		name, id, secret string
		style            oauth2.AuthStyle
		scopes           []string
		wantScope        string
	}{
		// x/oauth2 form-encodes Basic credentials (RFC 6749 §2.3.1): "/", "+" and "=" arrive
		// percent-encoded and must be decoded (engine gap 1).
		{"basic, encoded secret", "billing-service", billingSecret, oauth2.AuthStyleInHeader, []string{"payments:read"}, "payments:read"},
		{"basic, no scope gets registered scopes", "billing-service", billingSecret, oauth2.AuthStyleInHeader, nil, "payments:read payments:write"},
		{"client_secret_post", "poster", posterSecret, oauth2.AuthStyleInParams, []string{"payments:read"}, "payments:read"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cc := clientcredentials.Config{ClientID: tc.id, ClientSecret: tc.secret, TokenURL: env.issuer + PathToken,
				Scopes: tc.scopes, AuthStyle: tc.style}
			before := time.Now().Unix()
			tok, err := cc.Token(ctx)
			if err != nil {
				t.Fatalf("token: %v", err)
			}
			if tok.TokenType != "Bearer" {
				t.Errorf("token_type = %q, want Bearer", tok.TokenType)
			}
			if got := tok.Extra("scope"); got != tc.wantScope {
				t.Errorf("response scope = %v, want %q", got, tc.wantScope)
			}
			c := env.verify(t, tok.AccessToken)
			if c.ID == "" {
				t.Error("no jti")
			}
			if c.IssuedAt < before || c.IssuedAt > time.Now().Unix() {
				t.Errorf("iat = %d, not now", c.IssuedAt)
			}
			if got := c.Expiry - c.IssuedAt; got != int64((10 * time.Minute).Seconds()) {
				t.Errorf("exp - iat = %d, want the configured TTL", got)
			}
			c.ID, c.IssuedAt, c.Expiry = "", 0, 0
			want := atClaims{Issuer: env.issuer, Subject: tc.id, Audience: env.issuer, ClientID: tc.id, Scope: tc.wantScope}
			if diff := cmp.Diff(want, c); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTokenEndpointRefusals(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	cc := url.Values{"grant_type": {"client_credentials"}}
	with := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	tests := []struct {
		name       string
		form       url.Values
		auth       string
		wantStatus int
		wantError  string
	}{
		{"percent-encoded Basic ID works", cc, rawBasic("demo%2Dclient:demo%2Dsecret"), 200, ""},
		{"unencoded Basic ID works", cc, rawBasic("demo-client:" + demoSecret), 200, ""},
		{"wrong secret", cc, basic("demo-client", "guess"), 401, "invalid_client"},
		{"unknown client", cc, basic("nobody", "guess"), 401, "invalid_client"},
		{"no credentials", cc, "", 401, "invalid_client"},
		{"malformed Basic", cc, "Basic !!!", 401, "invalid_client"},
		{"bad percent-encoding", cc, rawBasic("demo%zz:x"), 401, "invalid_client"},
		{"post client using Basic", cc, basic("poster", posterSecret), 401, "invalid_client"},
		{"basic client using post", with("grant_type", "client_credentials", "client_id", "demo-client", "client_secret", demoSecret), "", 401, "invalid_client"},
		{"two auth methods", with("grant_type", "client_credentials", "client_secret", demoSecret), basic("demo-client", demoSecret), 400, "invalid_request"},
		{"password grant", with("grant_type", "password", "username", "alice", "password", "pw"), basic("demo-client", demoSecret), 400, "unsupported_grant_type"},
		{"unknown grant", with("grant_type", "urn:example:magic"), basic("demo-client", demoSecret), 400, "unsupported_grant_type"},
		{"client not registered for grant", cc, basic("web-app", demoSecret), 400, "unauthorized_client"},
		{"unregistered scope", with("grant_type", "client_credentials", "scope", "payments:write"), basic("demo-client", demoSecret), 400, "invalid_scope"},
		{"scope outside the catalogue", with("grant_type", "client_credentials", "scope", "admin"), basic("demo-client", demoSecret), 400, "invalid_scope"},
		{"repeated parameter", with("grant_type", "client_credentials", "grant_type", "client_credentials"), basic("demo-client", demoSecret), 400, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, doc := env.call(t, PathToken, tc.form, tc.auth)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%v)", resp.StatusCode, tc.wantStatus, doc)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store (RFC 6749 §5.1)", got)
			}
			if tc.wantError == "" {
				if doc["access_token"] == nil {
					t.Errorf("no access_token in %v", doc)
				}
				return
			}
			if doc["error"] != tc.wantError {
				t.Errorf("error = %v, want %s (%v)", doc["error"], tc.wantError, doc)
			}
			if desc, _ := doc["error_description"].(string); desc == "" {
				t.Errorf("no error_description in %v", doc)
			}
			challenge := resp.Header.Get("WWW-Authenticate")
			if tc.wantStatus == 401 && challenge != `Basic realm="tiaki", error="invalid_client"` {
				t.Errorf("WWW-Authenticate = %q on 401", challenge)
			}
			if tc.wantStatus != 401 && challenge != "" {
				t.Errorf("WWW-Authenticate = %q on %d", challenge, tc.wantStatus)
			}
		})
	}
}

func TestTokenEndpointBounds(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	auth := basic("demo-client", demoSecret)
	tests := []struct {
		name       string
		req        func() *http.Request
		wantStatus int
	}{
		{"body too large", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, env.issuer+PathToken,
				strings.NewReader("grant_type=client_credentials&pad="+strings.Repeat("a", maxFormBytes)))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Authorization", auth)
			return r
		}, http.StatusRequestEntityTooLarge},
		{"secret in the URL", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, env.issuer+PathToken+"?client_secret=x",
				strings.NewReader("grant_type=client_credentials"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Authorization", auth)
			return r
		}, http.StatusBadRequest},
		{"JSON body", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, env.issuer+PathToken, strings.NewReader(`{"grant_type":"client_credentials"}`))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Authorization", auth)
			return r
		}, http.StatusBadRequest},
		{"GET", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, env.issuer+PathToken, nil)
			return r
		}, http.StatusMethodNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, err := env.ts.Client().Do(tc.req())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.wantStatus)
			}
		})
	}
}

// TestStoreFailureIsTemporarilyUnavailable: a client store that fails (a database outage) is
// neither the client's fault nor lasting: 503 temporarily_unavailable with Retry-After (issue
// 11 item 21; a 500 server_error was answered before), the cause logged, never shown.
func TestStoreFailureIsTemporarilyUnavailable(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.clients.setErr(errors.New("database on fire at 10.0.0.7"))
	req, _ := http.NewRequest(http.MethodPost, env.issuer+PathToken, strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", basic("demo-client", demoSecret))
	req.Header.Set("Request-Transaction-Id", "req-123")
	resp, doc := env.do(t, req)
	if resp.StatusCode != http.StatusServiceUnavailable || doc["error"] != "temporarily_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("got %d %v (Retry-After %q), want 503 temporarily_unavailable with Retry-After", resp.StatusCode, doc, resp.Header.Get("Retry-After"))
	}
	if strings.Contains(doc["error_description"].(string), "fire") {
		t.Errorf("the cause reached the client: %v", doc)
	}
	logs := env.logs.String()
	if !strings.Contains(logs, "request_id=req-123") || !strings.Contains(logs, "database on fire") {
		t.Errorf("the cause and request ID are not in the log:\n%s", logs)
	}
	if strings.Contains(logs, demoSecret) {
		t.Errorf("the client secret reached the log:\n%s", logs)
	}
}

func TestStoreFullIsServiceUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		id     string
		scopes []string // of the two tokens that fill the store, then of the one refused
		again  string   // a scope set that is still served from a full store ("-": none)
	}{
		// JWTs share a grant per client and scope set: only a new scope set needs room.
		{"JWT scope sets", "billing-service", []string{"payments:read", "payments:write", "payments:read payments:write"}, "payments:read"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newEnv(t, func(c *Config) { c.MaxLiveGrants = 2 })
			secret := demoSecret
			if tc.id == "billing-service" {
				secret = billingSecret
			}
			env.token(t, tc.id, secret, tc.scopes[0])
			env.token(t, tc.id, secret, tc.scopes[1])
			form := url.Values{"grant_type": {"client_credentials"}}
			if tc.scopes[2] != "" {
				form.Set("scope", tc.scopes[2])
			}
			resp, doc := env.call(t, PathToken, form, basic(tc.id, secret))
			if resp.StatusCode != http.StatusServiceUnavailable || doc["error"] != "server_error" || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("got %d %v Retry-After=%q, want 503 server_error with Retry-After", resp.StatusCode, doc, resp.Header.Get("Retry-After"))
			}
			if tc.again != "-" {
				env.token(t, tc.id, secret, tc.again)
			}
			// Once the first grants expire, tokens are issued again.
			env.clock.Advance(10*time.Minute + grantGrace)
			env.token(t, tc.id, secret, tc.scopes[2])
		})
	}
}
