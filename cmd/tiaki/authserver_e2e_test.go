package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Interop tests for the authorization server (issue 3, item 11): the real Main, driven by
// independent clients — golang.org/x/oauth2 for the code flow with PKCE, refresh and client
// credentials, coreos/go-oidc for discovery and ID-token verification, plain net/http for the
// login and consent pages (a browser with a cookie jar) and for every refusal.

const (
	portalSecretE2E  = "portal-e2e-secret-0123456789abcdef"
	machineSecretE2E = "machine-e2e-secret-0123456789abcdef"
	alicePasswordE2E = "correct horse battery staple"
	portalCallback   = "https://portal.example/cb"
)

// freePort returns a loopback port that was free a moment ago, so the issuer in the
// configuration file can name the port the server listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// asServer is a running Tiaki configured for every flow, with what the tests need to reach it.
type asServer struct {
	*running
	cfgPath, dataDir string
	provider         *oidc.Provider
	ctx              context.Context // carries r.client for x/oauth2 and go-oidc
	reportsKey       jose.JSONWebKey
}

func startAuthServer(t *testing.T) *asServer {
	t.Helper()
	dir := t.TempDir()
	addr := freePort(t)
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key := jose.JSONWebKey{Key: priv, KeyID: "reports-1", Algorithm: "ES256", Use: "sig"}
	pub, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	s := &asServer{cfgPath: filepath.Join(dir, "tiaki.yaml"), dataDir: filepath.Join(dir, "data"), reportsKey: key}
	writeAtomic(t, s.cfgPath, []byte(fmt.Sprintf(`
issuer: https://%s
users:
  - username: alice
    password: %s
    claims: {name: Alice Ngata, email: alice@example.govt.nz, email_verified: true}
clients:
  - id: portal
    name: Developer Portal
    auth_method: client_secret_basic
    secret: %s
    grant_types: [authorization_code, refresh_token]
    redirect_uris: [%s]
    scopes: [openid, profile, email, offline_access]
  - id: machine
    auth_method: client_secret_basic
    secret: %s
    grant_types: [client_credentials]
    scopes: [payments:read]
  - id: reports
    auth_method: private_key_jwt
    jwks: %s
    grant_types: [client_credentials]
    scopes: [payments:read]
`, addr, alicePasswordE2E, portalSecretE2E, portalCallback, machineSecretE2E, pub)))
	s.running = startTiaki(t, s.dataDir, "--config", s.cfgPath, "--authserver-addr", addr)
	s.ctx = oidc.ClientContext(context.Background(), s.client)
	if s.provider, err = oidc.NewProvider(s.ctx, s.Issuer); err != nil {
		t.Fatalf("discovery with go-oidc: %v", err)
	}
	return s
}

func (s *asServer) portal(scopes ...string) *oauth2.Config {
	return &oauth2.Config{ClientID: "portal", ClientSecret: portalSecretE2E, Endpoint: s.provider.Endpoint(),
		RedirectURL: portalCallback, Scopes: scopes}
}

// person is a browser: cookies kept, redirects not followed.
type person struct {
	t *testing.T
	c *http.Client
}

func (s *asServer) person(t *testing.T) *person {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &person{t: t, c: &http.Client{Transport: s.client.Transport, Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (p *person) do(method, target string, form url.Values) (*http.Response, string) {
	p.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		p.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := p.c.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, string(b)
}

var (
	e2eFormAction = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	e2eHidden     = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// submit fills the page's form with extra fields and posts it.
func (p *person) submit(base, page string, extra url.Values) (*http.Response, string) {
	p.t.Helper()
	m := e2eFormAction.FindStringSubmatch(page)
	if m == nil {
		p.t.Fatalf("no form on the page:\n%s", page)
	}
	form := url.Values{}
	for _, h := range e2eHidden.FindAllStringSubmatch(page, -1) {
		form.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	for k, v := range extra {
		form[k] = v
	}
	return p.do(http.MethodPost, base+html.UnescapeString(m[1]), form)
}

// signIn follows an authorization URL through the login and consent pages and returns the
// query of the redirect back to the client.
func (p *person) signIn(base, authURL string) url.Values {
	p.t.Helper()
	resp, page := p.do(http.MethodGet, authURL, nil)
	if resp.StatusCode == http.StatusOK && strings.Contains(page, `value="login"`) {
		for _, want := range []string{`autocomplete="username"`, `autocomplete="current-password"`, `<html lang="en">`} {
			if !strings.Contains(page, want) {
				p.t.Errorf("login page lacks %s", want)
			}
		}
		resp, page = p.submit(base, page, url.Values{"username": {"alice"}, "password": {alicePasswordE2E}})
	}
	if resp.StatusCode == http.StatusOK && strings.Contains(page, `value="consent"`) {
		resp, page = p.submit(base, page, url.Values{"decision": {"allow"}})
	}
	if resp.StatusCode != http.StatusSeeOther {
		p.t.Fatalf("sign-in ended with %d:\n%s", resp.StatusCode, page)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		p.t.Fatal(err)
	}
	return loc.Query()
}

// oauthError returns the OAuth error code of an x/oauth2 failure.
func oauthError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func TestAuthServerEndToEnd(t *testing.T) {
	s := startAuthServer(t)
	base := s.Issuer

	// The code flow with PKCE through x/oauth2, the ID token verified by go-oidc.
	conf := s.portal(oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess)
	browser := s.person(t)
	verifier, state, nonce := oauth2.GenerateVerifier(), "state-e2e", "nonce-e2e"
	q := browser.signIn(base, conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)))
	if q.Get("state") != state || q.Get("iss") != s.Issuer || q.Get("code") == "" {
		t.Fatalf("redirect query %v: want code, state and iss (RFC 9207)", q)
	}
	code := q.Get("code")
	tok, err := conf.Exchange(s.ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("x/oauth2 code exchange: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := s.provider.Verifier(&oidc.Config{ClientID: "portal"}).Verify(s.ctx, rawID)
	if err != nil {
		t.Fatalf("go-oidc ID token verification: %v", err)
	}
	if idt.Nonce != nonce || idt.Subject != "alice" {
		t.Errorf("ID token nonce %q sub %q", idt.Nonce, idt.Subject)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	var idClaims struct {
		ACR      string   `json:"acr"`
		AMR      []string `json:"amr"`
		AuthTime int64    `json:"auth_time"`
	}
	if err := idt.Claims(&idClaims); err != nil || idClaims.ACR == "" || len(idClaims.AMR) == 0 || idClaims.AuthTime == 0 {
		t.Errorf("ID token acr/amr/auth_time: %+v %v", idClaims, err)
	}
	info, err := s.provider.UserInfo(s.ctx, oauth2.StaticTokenSource(tok))
	if err != nil || info.Email != "alice@example.govt.nz" || !info.EmailVerified {
		t.Errorf("userinfo: %+v %v", info, err)
	}

	t.Run("reused code refused, and its tokens revoked", func(t *testing.T) {
		_, err := conf.Exchange(s.ctx, code, oauth2.VerifierOption(verifier))
		if oauthError(err) != "invalid_grant" {
			t.Fatalf("second redemption: %v", err)
		}
		if _, err := s.provider.UserInfo(s.ctx, oauth2.StaticTokenSource(tok)); err == nil {
			t.Error("userinfo still accepts the first redemption's access token")
		}
	})

	// A fresh sign-in (single sign-on: no password this time) for the refresh tests.
	fresh := func() *oauth2.Token {
		v := oauth2.GenerateVerifier()
		q := browser.signIn(base, conf.AuthCodeURL("s2", oauth2.S256ChallengeOption(v)))
		tok, err := conf.Exchange(s.ctx, q.Get("code"), oauth2.VerifierOption(v))
		if err != nil || tok.RefreshToken == "" {
			t.Fatalf("exchange: %v (refresh token %q)", err, tok.RefreshToken)
		}
		return tok
	}

	t.Run("refresh rotation and reuse detection", func(t *testing.T) {
		first := fresh()
		first.Expiry = time.Now().Add(-time.Minute)
		second, err := conf.TokenSource(s.ctx, first).Token()
		if err != nil || second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
			t.Fatalf("refresh: %v (rotated %v)", err, second != nil && second.RefreshToken != first.RefreshToken)
		}
		if _, err := conf.TokenSource(s.ctx, first).Token(); oauthError(err) != "invalid_grant" {
			t.Fatalf("reused refresh token: %v", err)
		}
		second.Expiry = time.Now().Add(-time.Minute)
		if _, err := conf.TokenSource(s.ctx, second).Token(); oauthError(err) != "invalid_grant" {
			t.Errorf("the family's newest refresh token after reuse: %v", err)
		}
	})

	t.Run("introspection and revocation of access and refresh tokens", func(t *testing.T) {
		tok := fresh()
		machine := basicAuth("machine", machineSecretE2E)
		for _, tc := range []struct{ name, token string }{{"access", tok.AccessToken}, {"refresh", tok.RefreshToken}} {
			if got := s.introspect(t, tc.token, machine); got["active"] != true {
				t.Errorf("%s token introspects %v", tc.name, got)
			}
		}
		resp, _ := s.post(t, "/revoke", url.Values{"token": {tok.AccessToken}}, basicAuth("portal", portalSecretE2E))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("revoke: %d", resp.StatusCode)
		}
		for _, tc := range []struct{ name, token string }{{"access", tok.AccessToken}, {"refresh", tok.RefreshToken}} {
			if got := s.introspect(t, tc.token, machine); got["active"] != false {
				t.Errorf("revoked %s token introspects %v", tc.name, got)
			}
		}
		if _, err := s.provider.UserInfo(s.ctx, oauth2.StaticTokenSource(tok)); err == nil {
			t.Error("userinfo accepts a revoked access token")
		}
		unknown := s.introspect(t, "no-such-token", machine)
		if len(unknown) != 1 || unknown["active"] != false {
			t.Errorf("unknown token: %v", unknown)
		}
	})

	t.Run("client credentials", func(t *testing.T) {
		cc := clientcredentials.Config{ClientID: "machine", ClientSecret: machineSecretE2E, TokenURL: s.provider.Endpoint().TokenURL,
			Scopes: []string{"payments:read"}}
		tok, err := cc.Token(s.ctx)
		if err != nil || tok.RefreshToken != "" || tok.Extra("id_token") != nil {
			t.Fatalf("client credentials: %v %+v", err, tok)
		}
		cc.Scopes = []string{"admin"}
		if _, err := cc.Token(s.ctx); oauthError(err) != "invalid_scope" {
			t.Errorf("unknown scope: %v", err)
		}
		cc.Scopes, cc.ClientSecret = nil, "wrong-secret-wrong-secret-wrong-secret"
		resp, doc := s.post(t, "/token", url.Values{"grant_type": {"client_credentials"}}, basicAuth("machine", cc.ClientSecret))
		if resp.StatusCode != http.StatusUnauthorized || doc["error"] != "invalid_client" ||
			!strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("wrong secret: %d %v %q", resp.StatusCode, doc, resp.Header.Get("WWW-Authenticate"))
		}
	})

	t.Run("private_key_jwt, replayed jti refused", func(t *testing.T) {
		a := s.assertion(t)
		form := url.Values{"grant_type": {"client_credentials"}, "client_assertion": {a},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}}
		if resp, doc := s.post(t, "/token", form, ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("first use: %d %v", resp.StatusCode, doc)
		}
		if resp, doc := s.post(t, "/token", form, ""); resp.StatusCode != http.StatusUnauthorized || doc["error"] != "invalid_client" {
			t.Fatalf("replay: %d %v", resp.StatusCode, doc)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		s.refusals(t, conf)
	})

	t.Run("logout", func(t *testing.T) {
		p := s.person(t)
		v := oauth2.GenerateVerifier()
		q := p.signIn(base, conf.AuthCodeURL("s3", oauth2.S256ChallengeOption(v)))
		tok, err := conf.Exchange(s.ctx, q.Get("code"), oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		end := url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {portalCallback}, "state": {"bye"}}
		resp, _ := p.do(http.MethodGet, base+"/logout?"+end.Encode(), nil)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != portalCallback+"?state=bye" {
			t.Fatalf("logout: %d %q", resp.StatusCode, loc)
		}
		resp, _ = p.do(http.MethodGet, conf.AuthCodeURL("s4", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("prompt", "none")), nil)
		if loc, _ := url.Parse(resp.Header.Get("Location")); loc == nil || loc.Query().Get("error") != "login_required" {
			t.Errorf("prompt=none after logout: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// refusals checks a negative for each refusal of issue 3.
func (s *asServer) refusals(t *testing.T, conf *oauth2.Config) {
	p := s.person(t)
	v := oauth2.GenerateVerifier()
	authorize := func(opts ...oauth2.AuthCodeOption) (*http.Response, url.Values) {
		resp, _ := p.do(http.MethodGet, conf.AuthCodeURL("st", opts...), nil)
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || resp.Header.Get("Location") == "" {
			return resp, nil
		}
		return resp, loc.Query()
	}
	for _, tc := range []struct {
		name  string
		opts  []oauth2.AuthCodeOption
		error string
	}{
		{"no code_challenge", nil, "invalid_request"},
		{"plain PKCE", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_challenge", v), oauth2.SetAuthURLParam("code_challenge_method", "plain")}, "invalid_request"},
		{"implicit", []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("response_type", "token")}, "unsupported_response_type"},
	} {
		resp, q := authorize(tc.opts...)
		if resp.StatusCode != http.StatusSeeOther || q.Get("error") != tc.error || q.Get("state") != "st" || q.Get("iss") != s.Issuer {
			t.Errorf("%s: %d %v, want error=%s", tc.name, resp.StatusCode, q, tc.error)
		}
	}
	resp, q := authorize(oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("redirect_uri", "https://evil.example/cb"))
	if resp.StatusCode != http.StatusBadRequest || q != nil {
		t.Errorf("unregistered redirect_uri: %d, redirected %v", resp.StatusCode, q)
	}
	resp2, doc := s.post(t, "/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePasswordE2E}},
		basicAuth("portal", portalSecretE2E))
	if resp2.StatusCode != http.StatusBadRequest || doc["error"] != "unsupported_grant_type" {
		t.Errorf("password grant: %d %v", resp2.StatusCode, doc)
	}
}

func basicAuth(id, secret string) string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return req.Header.Get("Authorization")
}

// post sends a form to an endpoint of the server and decodes a JSON answer.
func (s *asServer) post(t *testing.T, path string, form url.Values, authorization string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.Issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc)
	return resp, doc
}

func (s *asServer) introspect(t *testing.T, token, authorization string) map[string]any {
	t.Helper()
	resp, doc := s.post(t, "/introspect", url.Values{"token": {token}}, authorization)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("introspect: %d %v", resp.StatusCode, doc)
	}
	return doc
}

// assertion signs a private_key_jwt client assertion for reports (RFC 7523 §3).
func (s *asServer) assertion(t *testing.T) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: s.reportsKey},
		(&jose.SignerOptions{}).WithHeader("kid", s.reportsKey.KeyID))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: "reports", Subject: "reports",
		Audience: jwt.Audience{s.provider.Endpoint().TokenURL}, ID: oauth2.GenerateVerifier(),
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return a
}
