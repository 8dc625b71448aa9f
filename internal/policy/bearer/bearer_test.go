package bearer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
)

const (
	issuer   = "https://as.example.govt.nz"
	audience = "https://api.example.govt.nz/payments"
)

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// signingKey is an ES256 key as an issuer holds it.
type signingKey struct {
	kid  string
	priv *ecdsa.PrivateKey
}

func newKey(t testing.TB, kid string) signingKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, priv: priv}
}

func (k signingKey) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: "ES256", Use: "sig"}
}

func jwks(t testing.TB, keys ...signingKey) []byte {
	t.Helper()
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, k.jwk())
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tokenClaims are the claims a test token carries; zero fields are left out.
type tokenClaims struct {
	jwt.Claims
	ClientID string `json:"client_id,omitempty"`
	Scope    string `json:"scope,omitempty"`
}

func goodClaims(now time.Time) tokenClaims {
	return tokenClaims{
		Claims: jwt.Claims{
			Issuer: issuer, Subject: "alice", Audience: jwt.Audience{audience, "https://other"},
			Expiry: jwt.NewNumericDate(now.Add(10 * time.Minute)), IssuedAt: jwt.NewNumericDate(now),
			ID: "jti-1",
		},
		ClientID: "billing-service", Scope: "payments:read payments:write",
	}
}

func sign(t testing.TB, k signingKey, typ string, c tokenClaims) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hs256WithPublicKey forges the classic algorithm-confusion token: HMAC keyed with the
// verifier's public key bytes.
func hs256WithPublicKey(t testing.TB, k signingKey, c tokenClaims) string {
	der, err := x509.MarshalPKIXPublicKey(k.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	input := b64(map[string]string{"alg": "HS256", "typ": "at+jwt", "kid": k.kid}) + "." + b64(c)
	m := hmac.New(sha256.New, pemKey)
	m.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

type fixture struct {
	v     *Verifier
	clock *clock
	key   signingKey
	calls *atomic.Int32 // JWKS() calls
}

func newFixture(t testing.TB, required bool) *fixture {
	t.Helper()
	f := &fixture{clock: &clock{now: t0}, key: newKey(t, "k1"), calls: new(atomic.Int32)}
	set := jwks(t, f.key)
	var err error
	f.v, err = New(Config{
		Issuers:  []Issuer{{Issuer: issuer, JWKS: func() []byte { f.calls.Add(1); return set }}},
		Audience: audience,
		Required: required,
	}, Deps{Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func request(target, authorization string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	return r
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	now := t0
	good := sign(t, f.key, "at+jwt", goodClaims(now))
	with := func(mod func(*tokenClaims)) tokenClaims { c := goodClaims(now); mod(&c); return c }
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + b64(with(func(c *tokenClaims) { c.Scope = "admin" })) + "." + parts[2]
	none := b64(map[string]string{"alg": "none", "typ": "at+jwt"}) + "." + parts[1] + "."

	tests := []struct {
		name     string
		r        *http.Request
		wantType string // "" when it passes
		wantDesc string // error_description in the challenge
	}{
		{name: "valid", r: request("/", "Bearer "+good)},
		{name: "scheme is case-insensitive", r: request("/", "bearer "+good)},
		{name: "typ JWT", r: request("/", "Bearer "+sign(t, f.key, "JWT", goodClaims(now)))},
		{name: "inside the clock skew", r: request("/", "Bearer "+sign(t, f.key, "at+jwt", with(func(c *tokenClaims) {
			c.Expiry = jwt.NewNumericDate(now.Add(-4 * time.Second))
		})))},
		// Issue 11 item 14: 6 s past exp is refused with the default leeway (it was 30 s).
		{name: "6 s past exp", r: request("/", "Bearer "+sign(t, f.key, "at+jwt", with(func(c *tokenClaims) {
			c.Expiry = jwt.NewNumericDate(now.Add(-6 * time.Second))
		}))), wantType: "invalid-token"},
		{name: "missing", r: request("/", ""), wantType: "token-required"},
		{name: "basic is not a bearer token", r: request("/", "Basic YWxpY2U6cHc="), wantType: "token-required"},
		{name: "expired", r: request("/", "Bearer "+sign(t, f.key, "at+jwt", with(func(c *tokenClaims) {
			c.Expiry = jwt.NewNumericDate(now.Add(-time.Minute))
		}))), wantType: "invalid-token", wantDesc: "the access token has expired"},
		{name: "not yet valid", r: request("/", "Bearer "+sign(t, f.key, "at+jwt", with(func(c *tokenClaims) {
			c.NotBefore = jwt.NewNumericDate(now.Add(time.Minute))
		}))), wantType: "invalid-token", wantDesc: "the access token is not valid yet"},
		{name: "wrong audience", r: request("/", "Bearer "+sign(t, f.key, "at+jwt", with(func(c *tokenClaims) {
			c.Audience = jwt.Audience{"https://api.example.govt.nz/other"}
		}))), wantType: "invalid-token", wantDesc: "the access token is not for this API"},
		{name: "wrong issuer", r: request("/", "Bearer "+sign(t, f.key, "at+jwt", with(func(c *tokenClaims) {
			c.Issuer = "https://evil.example"
		}))), wantType: "invalid-token", wantDesc: "the token issuer is not trusted here"},
		{name: "no exp", r: request("/", "Bearer "+sign(t, f.key, "at+jwt", with(func(c *tokenClaims) { c.Expiry = nil }))),
			wantType: "invalid-token", wantDesc: "the access token lacks required claims"},
		{name: "no client_id", r: request("/", "Bearer "+sign(t, f.key, "at+jwt", with(func(c *tokenClaims) { c.ClientID = "" }))),
			wantType: "invalid-token", wantDesc: "the access token lacks required claims"},
		{name: "no typ", r: request("/", "Bearer "+sign(t, f.key, "", goodClaims(now))),
			wantType: "invalid-token", wantDesc: "the token is not a JWT access token"},
		{name: "ID token typ", r: request("/", "Bearer "+sign(t, f.key, "id_token+jwt", goodClaims(now))),
			wantType: "invalid-token", wantDesc: "the token is not a JWT access token"},
		{name: "alg none", r: request("/", "Bearer "+none), wantType: "invalid-token",
			wantDesc: "the access token is malformed or uses an algorithm this API does not accept"},
		{name: "HS256 keyed with the public key", r: request("/", "Bearer "+hs256WithPublicKey(t, f.key, goodClaims(now))),
			wantType: "invalid-token", wantDesc: "the access token is malformed or uses an algorithm this API does not accept"},
		{name: "tampered payload", r: request("/", "Bearer "+tampered), wantType: "invalid-token", wantDesc: "the token signature is invalid"},
		{name: "unknown kid", r: request("/", "Bearer "+sign(t, newKey(t, "k9"), "at+jwt", goodClaims(now))),
			wantType: "invalid-token", wantDesc: "the token signing key is unknown"},
		{name: "another key under the same kid", r: request("/", "Bearer "+sign(t, newKey(t, "k1"), "at+jwt", goodClaims(now))),
			wantType: "invalid-token", wantDesc: "the token signature is invalid"},
		{name: "garbage", r: request("/", "Bearer not-a-jwt"), wantType: "invalid-token",
			wantDesc: "the access token is malformed or uses an algorithm this API does not accept"},
		{name: "not a b64token", r: request("/", `Bearer a"b`), wantType: "invalid-token", wantDesc: "the access token is malformed or uses an algorithm this API does not accept"},
		{name: "too long", r: request("/", "Bearer "+strings.Repeat("a", maxTokenLen+1)), wantType: "invalid-token"},
		{name: "in the query", r: request("/?access_token="+good, ""), wantType: "token-in-url"},
		{name: "in the query beside the header", r: request("/?x=1&access%5Ftoken="+good, "Bearer "+good), wantType: "token-in-url"},
		{name: "two Authorization headers", r: func() *http.Request {
			r := request("/", "Bearer "+good)
			r.Header.Add("Authorization", "Bearer "+good)
			return r
		}(), wantType: "invalid-request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var p tiaki.Principal
			d := f.v.Check(tt.r, &p)
			if tt.wantType == "" {
				if d != nil {
					t.Fatalf("denied: %v (%s)", d, d.Challenge)
				}
				want := tiaki.Principal{Consumer: "billing-service", Subject: "alice", CredentialID: "jti-1",
					Scopes: []string{"payments:read", "payments:write"}, Credentials: []tiaki.CredentialKind{tiaki.CredentialBearer}}
				if diff := cmp.Diff(want, p, cmpIgnoreExpiry); diff != "" {
					t.Errorf("principal (-want +got):\n%s", diff)
				}
				return
			}
			if d == nil {
				t.Fatalf("passed, want %s", tt.wantType)
			}
			if d.Type != tt.wantType {
				t.Errorf("type %s, want %s (%s)", d.Type, tt.wantType, d.Reason)
			}
			switch {
			case d.Type == "token-required":
				if d.Status != 401 || d.Challenge != `Bearer realm="tiaki"` {
					t.Errorf("missing token: %d %q; want 401 and a bare challenge (RFC 6750 §3.1)", d.Status, d.Challenge)
				}
			case tt.wantDesc != "":
				want := `Bearer realm="tiaki", error="invalid_token", error_description="` + tt.wantDesc + `"`
				if d.Status != 401 || d.Challenge != want {
					t.Errorf("got %d %q\nwant 401 %q", d.Status, d.Challenge, want)
				}
			}
		})
	}
}

var cmpIgnoreExpiry = cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".ExpiresAt" }, cmp.Ignore())

func TestForm(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	good := sign(t, f.key, "at+jwt", goodClaims(t0))
	body := "amount=10&access_token=" + good
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	var p tiaki.Principal
	if d := f.v.Check(r, &p); d == nil || d.Type != "token-in-body" || d.Status != 401 {
		t.Fatalf("token in a form body: %v, want 401 token-in-body", d)
	}
	// The body is put back whole for the upstream.
	r = httptest.NewRequest(http.MethodPost, "/", strings.NewReader("amount=10&note=hi"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if d := f.v.Check(r, &p); d != nil {
		t.Fatalf("plain form: %v", d)
	}
	rest, err := io.ReadAll(r.Body)
	if err != nil || string(rest) != "amount=10&note=hi" {
		t.Errorf("body after the check = %q, %v", rest, err)
	}
}

func TestCache(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	c := goodClaims(t0)
	c.Expiry = jwt.NewNumericDate(t0.Add(2 * time.Minute))
	tok := sign(t, f.key, "at+jwt", c)
	check := func() *policy.Denial {
		var p tiaki.Principal
		return f.v.Check(request("/", "Bearer "+tok), &p)
	}
	for range 5 {
		if d := check(); d != nil {
			t.Fatal(d)
		}
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("key set consulted %d times for 5 requests with one token, want 1", n)
	}
	// Cached until exp, then verified again, and refused past the skew.
	f.clock.Add(2*time.Minute + DefaultClockSkew + time.Second)
	if d := check(); d == nil || d.Reason != "token expired" {
		t.Errorf("after exp: %v, want expired", d)
	}
}

func TestMergeAfterAPIKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	tok := sign(t, f.key, "at+jwt", goodClaims(t0))
	p := tiaki.Principal{Consumer: "key-consumer", CredentialID: "key-id", Credentials: []tiaki.CredentialKind{tiaki.CredentialAPIKey}}
	if d := f.v.Check(request("/", "Bearer "+tok), &p); d != nil {
		t.Fatal(d)
	}
	want := tiaki.Principal{Consumer: "key-consumer", Subject: "alice", CredentialID: "key-id",
		Scopes: []string{"payments:read", "payments:write"}, Credentials: []tiaki.CredentialKind{tiaki.CredentialAPIKey, tiaki.CredentialBearer}}
	if diff := cmp.Diff(want, p, cmpIgnoreExpiry); diff != "" {
		t.Errorf("principal (-want +got):\n%s", diff)
	}
}

func TestMachineToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	c := goodClaims(t0)
	c.Subject = c.ClientID
	var p tiaki.Principal
	if d := f.v.Check(request("/", "Bearer "+sign(t, f.key, "at+jwt", c)), &p); d != nil {
		t.Fatal(d)
	}
	if p.Subject != "" || p.Consumer != "billing-service" {
		t.Errorf("client-credentials token: subject %q consumer %q; want no subject", p.Subject, p.Consumer)
	}
}

func TestRemoteKeySet(t *testing.T) {
	t.Parallel()
	k1, k2 := newKey(t, "k1"), newKey(t, "k2")
	var mu sync.Mutex
	served := jwks(t, k1)
	var fetches atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(served)
	}))
	t.Cleanup(srv.Close)
	clk := &clock{now: t0}
	v, err := New(Config{Issuers: []Issuer{{Issuer: issuer, JWKSURL: srv.URL + "/jwks"}}, Audience: audience, Required: true},
		Deps{Now: clk.Now, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	check := func(k signingKey, jti string) *policy.Denial {
		c := goodClaims(clk.Now())
		c.ID = jti // a new token each time, so the token cache does not answer
		var p tiaki.Principal
		return v.Check(request("/", "Bearer "+sign(t, k, "at+jwt", c)), &p)
	}
	if d := check(k1, "a"); d != nil {
		t.Fatalf("k1: %v", d)
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
	// The issuer rotates to k2. Unknown kids refresh the set at most once per 30 s.
	mu.Lock()
	served = jwks(t, k1, k2)
	mu.Unlock()
	clk.Add(minRefresh)
	if d := check(k2, "b"); d != nil {
		t.Errorf("k2 after rotation: %v", d)
	}
	if d := check(newKey(t, "k3"), "c"); d == nil || d.Reason != "unknown signing key" {
		t.Errorf("unknown kid: %v", d)
	}
	if d := check(newKey(t, "k4"), "d"); d == nil {
		t.Error("unknown kid k4 passed")
	}
	if n := fetches.Load(); n != 2 {
		t.Errorf("%d fetches after three unknown kids within 30 s, want 2", n)
	}
	clk.Add(minRefresh)
	check(newKey(t, "k5"), "e")
	if n := fetches.Load(); n != 3 {
		t.Errorf("%d fetches after 30 s more, want 3", n)
	}
}

func TestKeySetUnavailable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	v, err := New(Config{Issuers: []Issuer{{Issuer: issuer, JWKSURL: srv.URL}}, Audience: audience},
		Deps{HTTPClient: srv.Client(), Now: func() time.Time { return t0 }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var p tiaki.Principal
	d := v.Check(request("/", "Bearer "+sign(t, newKey(t, "k1"), "at+jwt", goodClaims(t0))), &p)
	if d == nil || d.Status != http.StatusServiceUnavailable {
		t.Errorf("no key set: %v, want 503", d)
	}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	local := func() []byte { return []byte(`{"keys":[]}`) }
	ok := Issuer{Issuer: issuer, JWKS: local}
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"no issuers", Config{Audience: audience}},
		{"no audience", Config{Issuers: []Issuer{ok}}},
		{"HS256", Config{Issuers: []Issuer{ok}, Audience: audience, Algorithms: []string{"HS256"}}},
		{"none", Config{Issuers: []Issuer{ok}, Audience: audience, Algorithms: []string{"none"}}},
		{"http key set", Config{Issuers: []Issuer{{Issuer: issuer, JWKSURL: "http://as.example/jwks"}}, Audience: audience}},
		{"both sources", Config{Issuers: []Issuer{{Issuer: issuer, JWKS: local, JWKSURL: "https://as.example/jwks"}}, Audience: audience}},
		{"no source", Config{Issuers: []Issuer{{Issuer: issuer}}, Audience: audience}},
		{"duplicate issuer", Config{Issuers: []Issuer{ok, ok}, Audience: audience}},
		{"negative skew", Config{Issuers: []Issuer{ok}, Audience: audience, ClockSkew: -time.Second}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg, Deps{}); err == nil {
				t.Error("New accepted it")
			}
		})
	}
}

func TestCachedAllocs(t *testing.T) {
	f := newFixture(t, true)
	r := request("/x?page=1", "Bearer "+sign(t, f.key, "at+jwt", goodClaims(t0)))
	p := tiaki.Principal{Credentials: make([]tiaki.CredentialKind, 0, 4)}
	if d := f.v.Check(r, &p); d != nil {
		t.Fatal(d)
	}
	n := testing.AllocsPerRun(200, func() {
		p = tiaki.Principal{Credentials: p.Credentials[:0]}
		if d := f.v.Check(r, &p); d != nil {
			t.Fatal(d)
		}
	})
	if n != 0 {
		t.Errorf("a cached token costs %v allocations, want 0", n)
	}
}

func FuzzAuthenticate(f *testing.F) {
	fx := newFixture(f, false)
	f.Add("Bearer " + sign(f, fx.key, "at+jwt", goodClaims(t0)))
	f.Add("Bearer a.b.c")
	f.Add("Bearer ")
	f.Fuzz(func(t *testing.T, authorization string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header["Authorization"] = []string{authorization}
		var p tiaki.Principal
		if d := fx.v.Check(r, &p); d == nil && len(p.Credentials) > 0 && p.Consumer != "billing-service" {
			t.Errorf("accepted a token no one issued: %q", authorization)
		}
	})
}

// TestTokenScopesReplaceAKeys: with a key and a token on one request, the token is what
// authorises it, so its scopes replace those the key was issued with (issue #11 item 13).
func TestTokenScopesReplaceAKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	tok := sign(t, f.key, "at+jwt", goodClaims(t0))
	p := tiaki.Principal{Consumer: "key-consumer", CredentialID: "key-id", Scopes: []string{"payments:admin"},
		Credentials: []tiaki.CredentialKind{tiaki.CredentialAPIKey}}
	if d := f.v.Check(request("/", "Bearer "+tok), &p); d != nil {
		t.Fatal(d)
	}
	if diff := cmp.Diff([]string{"payments:read", "payments:write"}, p.Scopes); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
}

// TestClockLeeway (issue 11 item 14): a token 6 s past exp is refused with the default leeway
// and accepted where the route's leeway is longer; a leeway past MaxClockSkew is refused.
func TestClockLeeway(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		leeway time.Duration
		past   time.Duration
		ok     bool
	}{
		{"default, 4 s past exp", 0, 4 * time.Second, true},
		{"default, 6 s past exp", 0, 6 * time.Second, false},
		{"20 s leeway, 6 s past exp", 20 * time.Second, 6 * time.Second, true},
		{"20 s leeway, 21 s past exp", 20 * time.Second, 21 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, true)
			v, err := New(Config{Issuers: []Issuer{{Issuer: issuer, JWKS: func() []byte { return jwks(t, f.key) }}},
				Audience: audience, Required: true, ClockSkew: tc.leeway}, Deps{Now: f.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			c := goodClaims(t0)
			c.Expiry = jwt.NewNumericDate(f.clock.Now().Add(-tc.past))
			tok := sign(t, f.key, "at+jwt", c)
			var p tiaki.Principal
			d := v.Check(request("/", "Bearer "+tok), &p)
			if (d == nil) != tc.ok {
				t.Errorf("Check = %v, want accepted %v", d, tc.ok)
			}
		})
	}
	if _, err := New(Config{Issuers: []Issuer{{Issuer: issuer, JWKS: func() []byte { return nil }}}, Audience: audience,
		ClockSkew: MaxClockSkew + time.Second}, Deps{}); err == nil {
		t.Error("a leeway past MaxClockSkew was accepted")
	}
}
