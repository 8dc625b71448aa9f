package authserver

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"github.com/tiaki-nz/tiaki"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"
)

// The fast paths (issueFast, introspectFast) must answer exactly as the engine does. These
// tests call a server in process, once with the fast paths and once without (Server.slow),
// and compare the answers byte for byte, token values aside.

// fastEnv is a Server called in process, with settable clocks and optionally a revocation
// feed (without one, revocation is known only to the grant store).
type fastEnv struct {
	srv   *Server
	keys  *fakeKeys
	clock *fakeClock // Deps.Now: the grant store's clock
	wall  *wallClock // the clock introspectFast judges JWT times by
	feed  *fakeFeed
	// engineCalls counts the requests that reached the engine.
	engineCalls atomic.Int64
}

// wallClock is the real clock plus an offset a test can advance. The engine stamps iat with the
// real clock, so a frozen fake would call a token issued a second later "not yet valid".
type wallClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *wallClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *wallClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

func newFastEnv(t *testing.T, withFeed bool) *fastEnv {
	t.Helper()
	e := &fastEnv{
		keys:  newFakeKeys(t, "es256-1"),
		clock: &fakeClock{t: time.Now()},
		wall:  &wallClock{},
	}
	deps := Deps{Clients: fixtureClients(), Secrets: testSecrets, Sealer: testSealer, Keys: e.keys, Now: e.clock.Now, Logger: discardLogger()}
	if withFeed {
		e.feed = &fakeFeed{}
		deps.Revocations = e.feed
	}
	srv, err := New(testConfig("https://tiaki.test"), deps)
	if err != nil {
		t.Fatal(err)
	}
	srv.wall = e.wall.Now
	inner := srv.engine
	srv.engine = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.engineCalls.Add(1)
		inner.ServeHTTP(w, r)
	})
	e.srv = srv
	return e
}

// answer is a recorded response.
type answer struct {
	Status int
	Header http.Header
	Body   string
}

// send posts form to path in process. contentType "" means a form.
func (e *fastEnv) send(path string, form url.Values, authorization, contentType string) answer {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	if contentType == "" {
		contentType = "application/x-www-form-urlencoded"
	}
	r.Header.Set("Content-Type", contentType)
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, r)
	return answer{Status: rec.Code, Header: rec.Header(), Body: rec.Body.String()}
}

// both sends the same request with the fast paths on and off, and reports whether the first
// was served without the engine.
func (e *fastEnv) both(path string, form url.Values, authorization, contentType string) (fast, engine answer, served bool) {
	e.srv.slow = false
	before := e.engineCalls.Load()
	fast = e.send(path, form, authorization, contentType)
	served = e.engineCalls.Load() == before
	e.srv.slow = true
	engine = e.send(path, form, authorization, contentType)
	e.srv.slow = false
	return fast, engine, served
}

// issue gets an access token, by the fast path unless slow.
func (e *fastEnv) issue(t *testing.T, id, secret, scope string, slow bool) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	e.srv.slow = slow
	a := e.send(PathToken, form, basic(id, secret), "")
	e.srv.slow = false
	var doc struct {
		AccessToken string `json:"access_token"`
	}
	if a.Status != http.StatusOK || json.Unmarshal([]byte(a.Body), &doc) != nil || doc.AccessToken == "" {
		t.Fatalf("token for %s: %d %s", id, a.Status, a.Body)
	}
	return doc.AccessToken
}

func (e *fastEnv) introspect(tok, authorization string) answer {
	return e.send(PathIntrospect, url.Values{"token": {tok}}, authorization, "")
}

var (
	variableClaims = regexp.MustCompile(`"(jti|grant_id)":"[^"]*"|"(iat|exp)":[0-9]+`)
	jwtLike        = regexp.MustCompile(`"access_token":"([^"]*)"`)
	uuidV4         = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

// normaliseToken replaces the parts of a token response that differ between two issues: the
// token's random and time-dependent claims, and for opaque tokens the token itself. A JWT's
// header and the order and encoding of its claims are kept.
func normaliseToken(t *testing.T, body string) string {
	t.Helper()
	m := jwtLike.FindStringSubmatch(body)
	if m == nil {
		return body
	}
	tok := m[1]
	norm := "opaque"
	if parts := strings.Split(tok, "."); len(parts) == 3 {
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatalf("payload: %v", err)
		}
		var c struct {
			ID       string `json:"jti"`
			IssuedAt int64  `json:"iat"`
			Expiry   int64  `json:"exp"`
		}
		if err := json.Unmarshal(payload, &c); err != nil {
			t.Fatalf("payload %s: %v", payload, err)
		}
		if !uuidV4.MatchString(c.ID) {
			t.Errorf("jti %q is not a version 4 UUID", c.ID)
		}
		norm = parts[0] + "." + variableClaims.ReplaceAllString(string(payload), `"$1$2":0`) +
			".lifetime=" + strconv.FormatInt(c.Expiry-c.IssuedAt, 10)
	}
	return strings.Replace(body, tok, norm, 1)
}

func TestIssueFastMatchesEngine(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t, false)
	cc := func(kv ...string) url.Values {
		f := url.Values{"grant_type": {"client_credentials"}}
		for i := 0; i < len(kv); i += 2 {
			f.Add(kv[i], kv[i+1])
		}
		return f
	}
	billing := basic("billing-service", billingSecret)
	tests := []struct {
		name        string
		form        url.Values
		auth        string
		contentType string
		wantStatus  int
		wantFast    bool
	}{
		{"scope", cc("scope", "payments:read"), billing, "", 200, true},
		{"two scopes", cc("scope", "payments:write payments:read"), billing, "", 200, true},
		{"tab-separated scopes", cc("scope", "payments:read\tpayments:write"), billing, "", 200, true},
		{"default scope", cc(), billing, "", 200, true},
		{"client_secret_post", cc("client_id", "poster", "client_secret", posterSecret), "", "", 200, true},
		{"Basic and matching client_id", cc("client_id", "billing-service"), billing, "", 200, true},
		{"opaque token", cc(), basic("opaque-client", demoSecret), "", 200, true},
		{"content type with charset", cc(), billing, "application/x-www-form-urlencoded; charset=utf-8", 200, true},
		{"wrong secret", cc(), basic("billing-service", "guess"), "", 401, false},
		{"unknown client", cc(), basic("nobody", "guess"), "", 401, false},
		{"conflicting client IDs", cc("client_id", "demo-client"), billing, "", 401, false},
		{"post client by Basic", cc(), basic("poster", posterSecret), "", 401, false},
		{"post client without secret", cc("client_id", "poster"), "", "", 401, false},
		{"scope not registered", cc("scope", "payments:read payments:write"), basic("demo-client", demoSecret), "", 400, false},
		{"scope not in catalogue", cc("scope", "admin"), billing, "", 400, false},
		{"openid", cc("scope", "openid"), billing, "", 400, false},
		{"grant not registered", cc(), basic("web-app", demoSecret), "", 400, false},
		{"resource not offered", cc("resource", "https://api.example"), billing, "", 200, false},
		{"wrong content type", cc(), billing, "text/plain", 400, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fast, engine, served := e.both(PathToken, tc.form, tc.auth, tc.contentType)
			if served != tc.wantFast {
				t.Errorf("served by the fast path = %v, want %v", served, tc.wantFast)
			}
			if fast.Status != tc.wantStatus {
				t.Errorf("status = %d, want %d (%s)", fast.Status, tc.wantStatus, fast.Body)
			}
			fast.Body, engine.Body = normaliseToken(t, fast.Body), normaliseToken(t, engine.Body)
			if diff := cmp.Diff(engine, fast); diff != "" {
				t.Errorf("fast path differs from the engine (-engine +fast):\n%s", diff)
			}
		})
	}
}

func TestIntrospectFastMatchesEngine(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t, false)
	other := newFastEnv(t, false) // same client IDs and kid, another key
	fastJWT := e.issue(t, "demo-client", demoSecret, "payments:read", false)
	engineJWT := e.issue(t, "billing-service", billingSecret, "", true)
	opaque := e.issue(t, "opaque-client", demoSecret, "", false)
	foreign := other.issue(t, "demo-client", demoSecret, "", false)
	revoked := e.issue(t, "demo-client", demoSecret, "", false)
	if a := e.send(PathRevoke, url.Values{"token": {revoked}}, basic("demo-client", demoSecret), ""); a.Status != 200 {
		t.Fatalf("revoke: %d %s", a.Status, a.Body)
	}
	idToken := signJWT(t, e.keys, map[string]any{"iss": "https://tiaki.test", "sub": "alice", "aud": "web-app",
		"exp": time.Now().Add(time.Hour).Unix()})
	wrongIssuer := signJWT(t, e.keys, map[string]any{"iss": "https://elsewhere.test", "grant_id": grantOf(t, fastJWT),
		"exp": time.Now().Add(time.Hour).Unix()})
	billing := basic("billing-service", billingSecret)

	tests := []struct {
		name        string
		token       string
		auth        string
		form        url.Values
		contentType string
		wantActive  bool
		wantFast    bool
	}{
		{wantFast: true, name: "JWT issued by the fast path", token: fastJWT, auth: billing, wantActive: true},
		{wantFast: true, name: "JWT issued by the engine", token: engineJWT, auth: billing, wantActive: true},
		{wantFast: true, name: "own token", token: fastJWT, auth: basic("demo-client", demoSecret), wantActive: true},
		{wantFast: true, name: "caller by client_secret_post", token: fastJWT,
			form: url.Values{"client_id": {"poster"}, "client_secret": {posterSecret}}, wantActive: true},
		{wantFast: true, name: "opaque token", token: opaque, auth: billing, wantActive: true},
		{wantFast: true, name: "revoked", token: revoked, auth: billing},
		{wantFast: true, name: "signed by another server", token: foreign, auth: billing},
		{wantFast: true, name: "ID token", token: idToken, auth: billing},
		{wantFast: true, name: "wrong issuer", token: wrongIssuer, auth: billing},
		{wantFast: true, name: "tampered", token: fastJWT[:len(fastJWT)-4] + "AAAA", auth: billing},
		{wantFast: true, name: "JWT-shaped garbage", token: "a.b.c", auth: billing},
		{name: "garbage", token: "not-a-token", auth: billing},
		{name: "no token", token: "", auth: billing},
		{name: "wrong secret", token: fastJWT, auth: basic("billing-service", "guess")},
		{name: "no client authentication", token: fastJWT},
		// Public clients are refused before either path.
		{wantFast: true, name: "public client", token: fastJWT, auth: basic("citizen-app", "")},
		{wantFast: true, name: "public client by form", token: fastJWT, form: url.Values{"client_id": {"citizen-app"}}},
		{name: "private_key_jwt client by Basic", token: fastJWT, auth: basic("jwt-client", "x")},
		{name: "conflicting client IDs", token: fastJWT, auth: billing, form: url.Values{"client_id": {"demo-client"}}},
		{name: "wrong content type", token: fastJWT, auth: billing, contentType: "text/plain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"token": {tc.token}}
			if tc.token == "" {
				form = url.Values{}
			}
			for k, v := range tc.form {
				form[k] = v
			}
			// Twice: the second fast answer comes from the cache.
			for range 2 {
				fast, engine, served := e.both(PathIntrospect, form, tc.auth, tc.contentType)
				if served != tc.wantFast {
					t.Errorf("served by the fast path = %v, want %v", served, tc.wantFast)
				}
				if diff := cmp.Diff(engine, fast); diff != "" {
					t.Fatalf("fast path differs from the engine (-engine +fast):\n%s", diff)
				}
				if active := strings.Contains(fast.Body, `"active":true`); active != tc.wantActive {
					t.Fatalf("active = %v, want %v: %d %s", active, tc.wantActive, fast.Status, fast.Body)
				}
			}
		})
	}
}

// TestIntrospectFastRechecks shows that what can change is checked on every call, even for a
// token whose verification is cached.
func TestIntrospectFastRechecks(t *testing.T) {
	t.Parallel()
	caller := basic("billing-service", billingSecret)
	tests := []struct {
		name string
		// change happens after the token was introspected active (and cached).
		change func(t *testing.T, e *fastEnv, tok string)
	}{
		{"revoked by its client, no feed", func(t *testing.T, e *fastEnv, tok string) {
			if a := e.send(PathRevoke, url.Values{"token": {tok}}, basic("demo-client", demoSecret), ""); a.Status != 200 {
				t.Fatalf("revoke: %d %s", a.Status, a.Body)
			}
		}},
		{"revoked by its client, with a feed", func(t *testing.T, e *fastEnv, tok string) {
			if a := e.send(PathRevoke, url.Values{"token": {tok}}, basic("demo-client", demoSecret), ""); a.Status != 200 {
				t.Fatalf("revoke: %d %s", a.Status, a.Body)
			}
		}},
		{"grant revoked on another node", func(t *testing.T, e *fastEnv, tok string) {
			e.feed.remote(tiaki.RevokedGrant, grantOf(t, tok), time.Now().Add(time.Hour))
		}},
		{"jti revoked on another node", func(t *testing.T, e *fastEnv, tok string) {
			e.feed.remote(tiaki.RevokedToken, claimsOf(t, tok).ID, time.Now().Add(time.Hour))
		}},
		{"expired", func(t *testing.T, e *fastEnv, tok string) {
			// The token's exp is judged by the wall clock; the grant outlives it by grantGrace.
			e.wall.Advance(10*time.Minute + time.Second)
		}},
		{"signing key replaced", func(t *testing.T, e *fastEnv, tok string) {
			// The same kid now names another key: the token no longer verifies.
			next := newFakeKeys(t, "es256-1")
			e.keys.mu.Lock()
			e.keys.private, e.keys.public = next.private, next.public
			e.keys.mu.Unlock()
			e.clock.Advance(keyTTL + time.Second) // the key cache reloads
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newFastEnv(t, !strings.Contains(tc.name, "no feed"))
			tok := e.issue(t, "demo-client", demoSecret, "", false)
			keep := e.issue(t, "demo-client", demoSecret, "", false)
			for range 2 {
				if a := e.introspect(tok, caller); !strings.Contains(a.Body, `"active":true`) {
					t.Fatalf("fresh token: %d %s", a.Status, a.Body)
				}
			}
			if e.srv.verified.size() == 0 {
				t.Fatal("the verification was not cached")
			}
			tc.change(t, e, tok)
			fast, engine, served := e.both(PathIntrospect, url.Values{"token": {tok}}, caller, "")
			if !served {
				t.Error("the fast path did not serve the request")
			}
			if fast.Status != http.StatusOK || fast.Body != string(inactive) {
				t.Errorf("after the change: %d %s, want inactive", fast.Status, fast.Body)
			}
			if tc.name != "expired" && !cmp.Equal(engine, fast) {
				// (The engine reads the real wall clock, so it cannot see the fake one move.)
				t.Errorf("the engine answers %+v, the fast path %+v", engine, fast)
			}
			if strings.Contains(tc.name, "revoked") {
				// Both tokens have the client's shared grant: revoking one token leaves the other
				// active; revoking the grant revokes both.
				want := `"active":true`
				if strings.HasPrefix(tc.name, "grant") {
					want = `"active":false`
				}
				if a := e.introspect(keep, caller); !strings.Contains(a.Body, want) {
					t.Errorf("another token of the client: %s, want %s", a.Body, want)
				}
			}
		})
	}
}

// TestClaimWriterMatchesGoJose compares hand-built claims with what the engine's go-jose
// builder makes of the same claims.
func TestClaimWriterMatchesGoJose(t *testing.T) {
	t.Parallel()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key := jose.JSONWebKey{Key: priv, KeyID: `k<1>&"\`, Algorithm: "ES256", Use: "sig"}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType(accessTokenType))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"plain", `<script>&"quotes"\`, "tab\tnew\nline\rbell\x07\x1f", "\u2028\u2029 é 漢字",
		"bad \xff utf-8 \xc3", "", "payments:read payments:write"} {
		t.Run(s, func(t *testing.T) {
			claims := map[string]any{"aud": []string{"a", s}, "client_id": s, "exp": int64(1 << 40), "sub": s}
			tok, err := jwt.Signed(sig).Claims(claims).Serialize()
			if err != nil {
				t.Fatal(err)
			}
			var cw claimWriter
			cw.strs("aud", []string{"a", s})
			cw.str("client_id", s)
			cw.num("exp", 1<<40)
			cw.str("sub", s)
			parts := strings.Split(tok, ".")
			want, _ := base64.RawURLEncoding.DecodeString(parts[1])
			if got := cw.bytes(); !bytes.Equal(got, want) {
				t.Errorf("claims:\n got %s\nwant %s", got, want)
			}
			if got := newJWTSigner(key).header; got != parts[0]+"." {
				t.Errorf("header = %q, want %q", got, parts[0]+".")
			}
		})
	}
}

func TestJWTSignerVerifies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		alg   string
		curve elliptic.Curve
	}{{"ES256", elliptic.P256()}, {"ES384", elliptic.P384()}, {"ES512", elliptic.P521()}} {
		t.Run(tc.alg, func(t *testing.T) {
			t.Parallel()
			priv, err := ecdsa.GenerateKey(tc.curve, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			s := newJWTSigner(jose.JSONWebKey{Key: priv, KeyID: "k", Algorithm: tc.alg})
			tok, err := s.sign([]byte(`{"sub":"x"}`))
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(tc.alg)})
			if err != nil {
				t.Fatal(err)
			}
			var c jwt.Claims
			if err := parsed.Claims(&priv.PublicKey, &c); err != nil || c.Subject != "x" {
				t.Fatalf("verify: %v, sub %q", err, c.Subject)
			}
		})
	}
	if newJWTSigner(jose.JSONWebKey{Key: []byte("secret"), Algorithm: "HS256"}) != nil {
		t.Error("a symmetric key got a signer")
	}
}

var jwsShape = regexp.MustCompile(`(^[\w-]+\.[\w-]+\.[\w-]+$)`) // joseutil.IsJWS

func FuzzIsJWS(f *testing.F) {
	for _, s := range []string{"a.b.c", "a.b", "a..c", ".b.c", "a.b.c.", "a.b.c.d", "aA0_-.b.c", "a.b.c\n", "é.b.c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isJWS(s), jwsShape.MatchString(s); got != want {
			t.Errorf("isJWS(%q) = %v, the engine's pattern says %v", s, got, want)
		}
	})
}

// signJWT signs claims with the server's own key, as if the server had issued them.
func signJWT(t *testing.T, keys *fakeKeys, claims map[string]any) string {
	t.Helper()
	key := keys.PrivateJWKS().Keys[0]
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func claimsOf(t *testing.T, tok string) *jwtClaims {
	t.Helper()
	c := peekJWT(tok)
	if c == nil {
		t.Fatalf("not a JWT: %q", tok)
	}
	return c
}

func grantOf(t *testing.T, tok string) string { return claimsOf(t, tok).GrantID }
