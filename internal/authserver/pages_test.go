package authserver

import (
	"errors"
	"github.com/tiaki-nz/tiaki"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestPagesAreAccessibleAndLockedDown(t *testing.T) {
	t.Parallel()
	e := newPeopleEnv(t)
	b := e.browser(t)
	login := b.get(portalAuthz().path())
	consent := b.login(login, "alice", alicePassword)
	errorPage := b.get(PathAuthorize + "?client_id=nobody")
	for name, p := range map[string]page{"login": login, "consent": consent, "error": errorPage} {
		t.Run(name, func(t *testing.T) {
			for _, want := range []string{`<html lang="en">`, "<main>", "<h1>", `<meta name="viewport"`} {
				if !strings.Contains(p.body, want) {
					t.Errorf("page lacks %s", want)
				}
			}
			if lower := strings.ToLower(p.body); strings.Contains(lower, "<script") || strings.Contains(lower, "onload=") {
				t.Error("page has script")
			}
			csp := p.header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %s", csp, want)
				}
			}
			if strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("CSP %q allows script", csp)
			}
			if p.header.Get("Cache-Control") != "no-store" || p.header.Get("X-Frame-Options") != "DENY" {
				t.Errorf("Cache-Control %q X-Frame-Options %q", p.header.Get("Cache-Control"), p.header.Get("X-Frame-Options"))
			}
		})
	}
	for _, want := range []string{`<label for="username">`, `<label for="password">`, `autocomplete="username"`,
		`autocomplete="current-password"`, `type="password"`, `name="csrf_token"`} {
		if !strings.Contains(login.body, want) {
			t.Errorf("login page lacks %s", want)
		}
	}
	if !strings.Contains(consent.header.Get("Content-Security-Policy"), "form-action 'self' https://portal.example") {
		t.Errorf("consent CSP %q does not let the form end at the client", consent.header.Get("Content-Security-Policy"))
	}
	// The cookies are __Host- cookies: Secure, HttpOnly, SameSite=Lax, Path=/.
	for _, c := range strings.Split(strings.Join(login.header.Values("Set-Cookie"), "\n")+"\n"+
		strings.Join(consent.header.Values("Set-Cookie"), "\n"), "\n") {
		if c == "" {
			continue
		}
		if !strings.HasPrefix(c, "__Host-") || !strings.Contains(c, "Path=/") || !strings.Contains(c, "Secure") ||
			!strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Lax") || strings.Contains(c, "Domain=") {
			t.Errorf("cookie %q", c)
		}
	}
	css := b.get(PathAssets + "tiaki.css")
	if css.status != http.StatusOK || !strings.Contains(css.body, ":focus-visible") {
		t.Errorf("stylesheet: %d", css.status)
	}
}

func TestSessionStoreFailureIsAnErrorPage(t *testing.T) {
	t.Parallel()
	e := newPeopleEnv(t)
	b := e.browser(t)
	login := b.get(portalAuthz().path())
	e.sessions.mu.Lock()
	e.sessions.failing = errors.New("database down")
	e.sessions.mu.Unlock()
	p := b.login(login, "alice", alicePassword)
	if p.status != http.StatusInternalServerError || strings.Contains(p.body, "database down") {
		t.Fatalf("%d\n%s", p.status, p.body)
	}
}

func TestRevocationReachesTheFeed(t *testing.T) {
	t.Parallel()
	e := newPeopleEnv(t)
	tok := e.token(t, "billing-service", billingSecret, "payments:read")
	c := verifyJWT(t, e, tok)
	if resp, _ := e.call(t, PathRevoke, url.Values{"token": {tok}}, basic("billing-service", billingSecret)); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if !e.feed.IsRevoked(c["jti"].(string)) {
		t.Errorf("feed %v lacks the token's jti", e.feed.revoked)
	}
	// The grant is shared by every token of the client with these scopes: announcing it
	// would make gateways refuse them all.
	if e.feed.IsRevoked(c["grant_id"].(string)) {
		t.Errorf("feed %v names the shared grant", e.feed.revoked)
	}
	// A token with a broken signature announces nothing, whatever jti it names.
	parts := strings.Split(e.token(t, "demo-client", demoSecret, ""), ".")
	forged := parts[0] + "." + parts[1] + ".AAAA"
	before := len(e.feed.revoked)
	e.call(t, PathRevoke, url.Values{"token": {forged}}, basic("billing-service", billingSecret))
	if len(e.feed.revoked) != before {
		t.Error("a forged token changed the feed")
	}

	// Another node's revocation, known only through the feed, makes introspection inactive.
	fresh := e.token(t, "billing-service", billingSecret, "payments:read")
	if got := e.introspect(t, fresh); got["active"] != true {
		t.Fatalf("fresh token: %v", got)
	}
	e.feed.remote(tiaki.RevokedToken, verifyJWT(t, e, fresh)["jti"].(string), time.Now().Add(time.Hour))
	if got := e.introspect(t, fresh); got["active"] != false {
		t.Errorf("token revoked elsewhere introspects %v", got)
	}
}

// FuzzAuthorize sends arbitrary query strings to the authorization endpoint: it must never
// fail with a 5xx, and never redirect anywhere but a registered redirect URI.
func FuzzAuthorize(f *testing.F) {
	e := newPeopleEnv(f)
	f.Add(strings.TrimPrefix(portalAuthz().path(), PathAuthorize+"?"))
	f.Add("client_id=portal&redirect_uri=https%3A%2F%2Fevil.example&response_type=token")
	f.Add("client_id=citizen-app&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcallback&prompt=none%20login")
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, PathAuthorize, nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%q: %d", query, rec.Code)
		}
		if loc := rec.Header().Get("Location"); loc != "" {
			for _, ok := range []string{"https://portal.example/cb?", "http://127.0.0.1", "https://citizen.example/cb?", "https://web.example/cb?"} {
				if strings.HasPrefix(loc, ok) {
					return
				}
			}
			t.Fatalf("%q redirected to %q", query, loc)
		}
	})
}

func FuzzPeekJWT(f *testing.F) {
	f.Add("eyJhbGciOiJFUzI1NiJ9.eyJqdGkiOiJ4In0.sig")
	f.Add("..")
	f.Fuzz(func(t *testing.T, tok string) {
		_ = peekJWT(tok) // must not panic
		_ = validChallenge(tok)
		_ = validPrompt(tok)
	})
}
