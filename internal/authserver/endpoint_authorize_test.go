package authserver

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

func TestAuthorizationCodeFlow(t *testing.T) {
	t.Parallel()
	e := newPeopleEnv(t)
	b := e.browser(t)
	a := portalAuthz()
	code := b.authorize(a, "alice", alicePassword).Get("code")
	resp, doc := e.redeem(t, a, code)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("redeem: %d %v", resp.StatusCode, doc)
	}

	for _, k := range []string{"access_token", "refresh_token", "id_token"} {
		if s, _ := doc[k].(string); s == "" {
			t.Fatalf("no %s in %v", k, doc)
		}
	}
	if doc["token_type"] != "Bearer" || doc["scope"] != a.scope {
		t.Errorf("token_type %v scope %v", doc["token_type"], doc["scope"])
	}
	claims := verifyJWT(t, e, doc["id_token"].(string))
	at := doc["access_token"].(string)
	wantHash, _ := halfHash(at, "ES256")
	for k, want := range map[string]any{"iss": e.issuer, "aud": "portal", "sub": "alice", "nonce": a.nonce,
		"at_hash": wantHash, "acr": string(acrPassword)} {
		if claims[k] != want {
			t.Errorf("ID token %s = %v, want %v", k, claims[k], want)
		}
	}
	if amr, _ := claims["amr"].([]any); len(amr) != 1 || amr[0] != "pwd" {
		t.Errorf("amr = %v", claims["amr"])
	}
	if _, ok := claims["auth_time"].(float64); !ok {
		t.Errorf("no auth_time in %v", claims)
	}
	atClaims := verifyJWT(t, e, at)
	if atClaims["sub"] != "alice" || atClaims["client_id"] != "portal" || atClaims["aud"] != e.issuer {
		t.Errorf("access token claims %v", atClaims)
	}

	// Nothing secret is stored in clear: not the code, not the refresh token.
	dump := e.sessions.dump()
	for _, secret := range []string{code, doc["refresh_token"].(string), at} {
		if strings.Contains(dump, secret) {
			t.Error("a token is stored in clear")
		}
	}
}

// verifyJWT checks a JWT's signature with the fixture key and returns its claims.
func verifyJWT(t testing.TB, e *testEnv, tok string) map[string]any {
	t.Helper()
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("parse %q: %v", tok, err)
	}
	payload, err := jws.Verify(e.keys.private.Keys[0].Public())
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func TestAuthorizeRefusals(t *testing.T) {
	t.Parallel()
	e := newPeopleEnv(t)
	good := portalAuthz()
	tests := []struct {
		name  string
		edit  func(url.Values)
		page  int    // an error page with this status, never a redirect
		error string // else: a redirect to the client with this error
	}{
		{"unknown client", func(q url.Values) { q.Set("client_id", "nobody") }, 400, ""},
		{"unregistered redirect", func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }, 400, ""},
		{"redirect with another query", func(q url.Values) { q.Set("redirect_uri", "https://portal.example/cb") }, 400, ""},
		{"no redirect", func(q url.Values) { q.Del("redirect_uri") }, 400, ""},
		{"repeated parameter", func(q url.Values) { q.Add("state", "again") }, 400, ""},
		{"no code_challenge", func(q url.Values) { q.Del("code_challenge") }, 0, "invalid_request"},
		{"plain", func(q url.Values) { q.Set("code_challenge_method", "plain") }, 0, "invalid_request"},
		{"no method means plain", func(q url.Values) { q.Del("code_challenge_method") }, 0, "invalid_request"},
		{"short challenge", func(q url.Values) { q.Set("code_challenge", "abc") }, 0, "invalid_request"},
		{"implicit", func(q url.Values) { q.Set("response_type", "token") }, 0, "unsupported_response_type"},
		{"hybrid", func(q url.Values) { q.Set("response_type", "code id_token") }, 0, "unsupported_response_type"},
		{"no response_type", func(q url.Values) { q.Del("response_type") }, 0, "invalid_request"},
		{"fragment mode", func(q url.Values) { q.Set("response_mode", "fragment") }, 0, "invalid_request"},
		{"unknown scope", func(q url.Values) { q.Set("scope", "openid admin") }, 0, "invalid_scope"},
		{"prompt none and login", func(q url.Values) { q.Set("prompt", "none login") }, 0, "invalid_request"},
		{"request object", func(q url.Values) { q.Set("request", "eyJ") }, 0, "request_not_supported"},
		{"not signed in, prompt none", func(q url.Values) { q.Set("prompt", "none") }, 0, "login_required"},
		{"client without the code grant", func(q url.Values) {
			q.Set("client_id", "billing-service")
		}, 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u, _ := url.Parse(good.path())
			q := u.Query()
			tc.edit(q)
			p := e.browser(t).get(PathAuthorize + "?" + q.Encode())
			if tc.page != 0 {
				if p.status != tc.page || p.header.Get("Location") != "" || !strings.Contains(p.body, "<h1>") {
					t.Fatalf("status %d Location %q, want an error page %d", p.status, p.header.Get("Location"), tc.page)
				}
				return
			}
			loc := p.location(t)
			if got := loc.Query(); got.Get("error") != tc.error || got.Get("state") != good.state || got.Get("iss") != e.issuer ||
				got.Get("from") != "tiaki" || got.Has("code") {
				t.Fatalf("redirect %s, want error=%s with state, iss and the registered query", loc, tc.error)
			}
		})
	}
}

func TestLoopbackRedirectAnyPort(t *testing.T) {
	t.Parallel()
	e := newPeopleEnv(t)
	for _, tc := range []struct {
		redirect string
		ok       bool
	}{
		{"http://127.0.0.1:54321/callback", true}, // RFC 8252 §7.3: any port
		{"http://127.0.0.1/callback", true},
		{"http://127.0.0.1:54321/other", false},
		{"http://localhost:54321/callback", false},
		{"https://citizen.example:8443/cb", false}, // ports matter everywhere else
		{"https://citizen.example/cb", true},
	} {
		a := authz{clientID: "citizen-app", redirectURI: tc.redirect, scope: "openid", state: "s1", verifier: oauth2.GenerateVerifier()}
		p := e.browser(t).get(a.path())
		if got := p.status == http.StatusOK && strings.Contains(p.body, "Sign in"); got != tc.ok {
			t.Errorf("%s: login page %v, want %v (status %d)", tc.redirect, got, tc.ok, p.status)
		}
	}
	// The whole flow for a native app on an ephemeral port.
	b := e.browser(t)
	a := authz{clientID: "citizen-app", redirectURI: "http://127.0.0.1:61000/callback", scope: "openid payments:read",
		state: "s2", nonce: "n2", verifier: oauth2.GenerateVerifier()}
	doc := e.tokens(t, b, a)
	if doc["refresh_token"] == nil {
		t.Error("citizen-app registers refresh_token without offline_access: it should get a refresh token")
	}
}

func TestSessionBoundToBrowser(t *testing.T) {
	t.Parallel()
	e := newPeopleEnv(t)
	b := e.browser(t)
	a := portalAuthz()
	login := b.get(a.path())
	action, fields := login.form(t)

	t.Run("another browser", func(t *testing.T) {
		other := e.browser(t)
		if p := other.get(action); p.status != http.StatusForbidden {
			t.Fatalf("another browser got %d", p.status)
		}
		fields := fields
		fields.Set("username", "alice")
		fields.Set("password", alicePassword)
		if p := other.post(action, fields); p.status != http.StatusForbidden || strings.Contains(p.body, "consent") {
			t.Fatalf("another browser's post got %d", p.status)
		}
	})
	t.Run("wrong CSRF token", func(t *testing.T) {
		f := url.Values{"csrf_token": {"forged"}, "step": {"login"}, "username": {"alice"}, "password": {alicePassword}}
		if p := b.post(action, f); p.status != http.StatusForbidden {
			t.Fatalf("forged form got %d", p.status)
		}
	})
	t.Run("finished session", func(t *testing.T) {
		if q := b.decide(b.login(login, "alice", alicePassword), "allow").location(t).Query(); q.Get("code") == "" {
			t.Fatalf("no code: %v", q)
		}
		if p := b.get(action); p.status != http.StatusBadRequest || !strings.Contains(p.body, "already finished") {
			t.Fatalf("revisiting a finished session: %d\n%s", p.status, p.body)
		}
	})
	t.Run("unknown session", func(t *testing.T) {
		if p := b.get(PathAuthorize + "/nope"); p.status != http.StatusNotFound {
			t.Fatalf("unknown session: %d", p.status)
		}
	})
}

func TestConsentDeny(t *testing.T) {
	t.Parallel()
	e := newPeopleEnv(t)
	b := e.browser(t)
	a := portalAuthz()
	consent := b.login(b.get(a.path()), "alice", alicePassword)
	for _, want := range []string{"Developer Portal", "See your email address", "payments:read", ">Allow<", ">Deny<"} {
		if !strings.Contains(consent.body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	q := b.decide(consent, "deny").location(t).Query()
	if q.Get("error") != "access_denied" || q.Get("state") != a.state || q.Get("iss") != e.issuer || q.Has("code") {
		t.Fatalf("deny redirected with %v", q)
	}
}

func TestSingleSignOnAndPrompt(t *testing.T) {
	t.Parallel()
	e := newPeopleEnv(t)
	b := e.browser(t)
	e.tokens(t, b, portalAuthz())

	// Signed in and consented: prompt=none answers at once with a code.
	a := portalAuthz()
	a.prompt = "none"
	if q := b.get(a.path()).location(t).Query(); q.Get("code") == "" || q.Get("state") != a.state {
		t.Fatalf("prompt=none while signed in: %v", q)
	}
	// prompt=login and max_age=0 ask for the password again.
	for _, edit := range []func(*authz){
		func(a *authz) { a.prompt = "login" },
		func(a *authz) { a.extra = url.Values{"max_age": {"0"}} },
	} {
		a := portalAuthz()
		edit(&a)
		e.clock.Advance(2e9)
		if p := b.get(a.path()); p.status != http.StatusOK || !strings.Contains(p.body, `value="login"`) {
			t.Errorf("%+v: want the login page, got %d", a, p.status)
		}
	}
	// Consent to more scopes than before is asked for; prompt=none cannot ask.
	c := authz{clientID: "web-app", redirectURI: "https://web.example/cb", scope: "payments:read", state: "w",
		prompt: "none", verifier: oauth2.GenerateVerifier()}
	if q := b.get(c.path()).location(t).Query(); q.Get("error") != "consent_required" {
		t.Fatalf("prompt=none without consent: %v", q)
	}
}

func TestLoginErrorsAreIdentical(t *testing.T) {
	t.Parallel()
	e := newPeopleEnv(t)
	var bodies []string
	for _, cred := range [][2]string{{"alice", "wrong password"}, {"nobody", "wrong password"}} {
		b := e.browser(t)
		p := b.login(b.get(portalAuthz().path()), cred[0], cred[1])
		if p.status != http.StatusOK || !strings.Contains(p.body, "The username or password is not right.") {
			t.Fatalf("%s: %d\n%s", cred[0], p.status, p.body)
		}
		// Compare with the per-request values (session path, CSRF token, username) removed.
		_, fields := p.form(t)
		body := strings.ReplaceAll(p.body, fields.Get("csrf_token"), "")
		body = formAction.ReplaceAllString(body, "")
		bodies = append(bodies, strings.ReplaceAll(body, `value="`+cred[0]+`"`, ""))
	}
	if diff := cmp.Diff(bodies[0], bodies[1]); diff != "" {
		t.Errorf("unknown user and wrong password answer differently:\n%s", diff)
	}
}

func TestLoginThrottled(t *testing.T) {
	t.Parallel()
	e := newPeopleEnv(t, func(c *Config) { c.LoginLimit.Rate, c.LoginLimit.Per, c.LoginLimit.Burst = 3, 60e9, 3 })
	b := e.browser(t)
	p := b.get(portalAuthz().path())
	for i := range 3 {
		if p = b.login(p, "alice", "wrong"); p.status != http.StatusOK {
			t.Fatalf("attempt %d: %d", i+1, p.status)
		}
	}
	p = b.login(p, "alice", alicePassword)
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" || !strings.Contains(p.body, "Too many") {
		t.Fatalf("fourth attempt: %d Retry-After %q", p.status, p.header.Get("Retry-After"))
	}
	// Another account from the same address is throttled too (per IP).
	other := e.browser(t)
	if p := other.login(other.get(portalAuthz().path()), "bob", bobPassword); p.status != http.StatusTooManyRequests {
		t.Fatalf("same IP, other account: %d", p.status)
	}
	e.clock.Advance(61e9)
	if p := b.login(p, "alice", alicePassword); p.status != http.StatusOK || !strings.Contains(p.body, "consent") {
		t.Fatalf("after the window: %d", p.status)
	}
}

func TestCodeSingleUse(t *testing.T) {
	t.Parallel()
	e := newPeopleEnv(t)
	b := e.browser(t)
	a := portalAuthz()
	code := b.authorize(a, "alice", alicePassword).Get("code")
	resp, first := e.redeem(t, a, code)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("first redemption: %d %v", resp.StatusCode, first)
	}
	for _, n := range []string{"second", "third"} { // the third meets a revoked grant
		resp, again := e.redeem(t, a, code)
		if resp.StatusCode != http.StatusBadRequest || again["error"] != "invalid_grant" {
			t.Fatalf("%s redemption: %d %v", n, resp.StatusCode, again)
		}
	}
	// RFC 6749 §4.1.2: what the first redemption issued is revoked.
	if got := e.introspect(t, first["access_token"].(string)); got["active"] != false {
		t.Errorf("access token after code reuse: %v", got)
	}
	resp, doc := e.refresh(t, "portal", first["refresh_token"].(string))
	if resp.StatusCode != http.StatusBadRequest || doc["error"] != "invalid_grant" {
		t.Errorf("refresh after code reuse: %d %v", resp.StatusCode, doc)
	}
	if !e.feed.IsRevoked(verifyJWT(t, e, first["access_token"].(string))["grant_id"].(string)) {
		t.Error("the revoked grant was not recorded on the revocation list")
	}
}

func TestCodeConcurrentRedemption(t *testing.T) {
	t.Parallel()
	e := newPeopleEnv(t)
	b := e.browser(t)
	a := portalAuthz()
	code := b.authorize(a, "alice", alicePassword).Get("code")
	const n = 8
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, _ := e.redeem(t, a, code)
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[http.StatusOK] > 1 || count[http.StatusOK]+count[http.StatusBadRequest] != n {
		t.Fatalf("statuses %v: want at most one 200 and the rest 400", count)
	}
}

func TestCodeWrongVerifierOrRedirect(t *testing.T) {
	t.Parallel()
	e := newPeopleEnv(t)
	for _, tc := range []struct {
		name string
		edit func(*authz)
	}{
		{"wrong verifier", func(a *authz) { a.verifier = oauth2.GenerateVerifier() }},
		{"other redirect", func(a *authz) { a.redirectURI = "https://portal.example/cb" }},
	} {
		a := portalAuthz()
		code := e.browser(t).authorize(a, "alice", alicePassword).Get("code")
		tc.edit(&a)
		if resp, doc := e.redeem(t, a, code); resp.StatusCode != http.StatusBadRequest || doc["error"] != "invalid_grant" {
			t.Errorf("%s: %d %v", tc.name, resp.StatusCode, doc)
		}
	}
	// A public client must send the verifier too.
	a := authz{clientID: "citizen-app", redirectURI: "https://citizen.example/cb", scope: "openid", state: "c", verifier: oauth2.GenerateVerifier()}
	code := e.browser(t).authorize(a, "alice", alicePassword).Get("code")
	a.verifier = ""
	if resp, doc := e.redeem(t, a, code); resp.StatusCode != http.StatusBadRequest || doc["error"] != "invalid_grant" {
		t.Errorf("no verifier: %d %v", resp.StatusCode, doc)
	}
}
