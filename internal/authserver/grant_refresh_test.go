package authserver

import (
	"net/http"
	"net/url"
	"sync"
	"testing"

	"golang.org/x/oauth2"
)

// refresh uses a refresh token as a fixture client.
func (e *testEnv) refresh(t testing.TB, clientID, rt string) (*http.Response, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	return e.call(t, PathToken, form, e.clientAuth(form, clientID))
}

// introspect asks about a token as billing-service.
func (e *testEnv) introspect(t testing.TB, tok string) map[string]any {
	t.Helper()
	resp, doc := e.call(t, PathIntrospect, url.Values{"token": {tok}}, basic("billing-service", billingSecret))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("introspect: %d %v", resp.StatusCode, doc)
	}
	return doc
}

func TestRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	e := newPeopleEnv(t)
	first := e.tokens(t, e.browser(t), portalAuthz())
	rt1 := first["refresh_token"].(string)
	if got := e.introspect(t, rt1); got["active"] != true || got["client_id"] != "portal" {
		t.Fatalf("refresh token introspection: %v", got)
	}

	resp, second := e.refresh(t, "portal", rt1)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d %v", resp.StatusCode, second)
	}
	rt2, _ := second["refresh_token"].(string)
	if rt2 == "" || rt2 == rt1 {
		t.Fatalf("refresh token not rotated: %v", second)
	}
	claims := verifyJWT(t, e, second["id_token"].(string))
	if want, _ := halfHash(second["access_token"].(string), "ES256"); claims["at_hash"] != want {
		t.Errorf("refreshed ID token at_hash %v, want %v", claims["at_hash"], want)
	}
	if _, ok := claims["nonce"]; ok || claims["sub"] != "alice" || claims["auth_time"] == nil {
		t.Errorf("refreshed ID token claims %v: want sub and auth_time, no nonce", claims)
	}
	if got := e.introspect(t, rt1); got["active"] != false {
		t.Errorf("the rotated refresh token still introspects active: %v", got)
	}

	// RFC 9700 §4.14.2: the spent token again revokes the whole family.
	resp, doc := e.refresh(t, "portal", rt1)
	if resp.StatusCode != http.StatusBadRequest || doc["error"] != "invalid_grant" {
		t.Fatalf("reused refresh token: %d %v", resp.StatusCode, doc)
	}
	if resp, doc := e.refresh(t, "portal", rt2); resp.StatusCode != http.StatusBadRequest || doc["error"] != "invalid_grant" {
		t.Errorf("the family's current refresh token after reuse: %d %v", resp.StatusCode, doc)
	}
	for _, at := range []any{first["access_token"], second["access_token"]} {
		if got := e.introspect(t, at.(string)); got["active"] != false {
			t.Errorf("an access token of the family after reuse: %v", got)
		}
	}
}

func TestRefreshConcurrentUse(t *testing.T) {
	t.Parallel()
	e := newPeopleEnv(t)
	rt := e.tokens(t, e.browser(t), portalAuthz())["refresh_token"].(string)
	const n = 8
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, _ := e.refresh(t, "portal", rt)
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[http.StatusOK] != 1 || count[http.StatusBadRequest] != n-1 {
		t.Fatalf("statuses %v: want one 200 and %d 400", count, n-1)
	}
}

func TestRefreshTokenOnlyWhenAllowed(t *testing.T) {
	t.Parallel()
	e := newPeopleEnv(t)
	for _, tc := range []struct {
		name string
		a    authz
		want bool
	}{
		{"offline_access granted", portalAuthz(), true},
		{"client asks for offline_access but not here", func() authz {
			a := portalAuthz()
			a.scope = "openid payments:read"
			return a
		}(), false},
		{"client without the refresh grant", authz{clientID: "web-app", redirectURI: "https://web.example/cb",
			scope: "payments:read", state: "w", verifier: oauth2.GenerateVerifier()}, false},
		{"client registers refresh_token and no offline_access", authz{clientID: "citizen-app",
			redirectURI: "https://citizen.example/cb", scope: "openid", state: "c", verifier: oauth2.GenerateVerifier()}, true},
	} {
		doc := e.tokens(t, e.browser(t), tc.a)
		if _, got := doc["refresh_token"]; got != tc.want {
			t.Errorf("%s: refresh token %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRefreshOtherClientRefused(t *testing.T) {
	t.Parallel()
	e := newPeopleEnv(t)
	rt := e.tokens(t, e.browser(t), portalAuthz())["refresh_token"].(string)
	if resp, doc := e.refresh(t, "citizen-app", rt); resp.StatusCode != http.StatusBadRequest || doc["error"] != "invalid_grant" {
		t.Fatalf("another client's refresh token: %d %v", resp.StatusCode, doc)
	}
}

func TestRevokeRefreshToken(t *testing.T) {
	t.Parallel()
	e := newPeopleEnv(t)
	doc := e.tokens(t, e.browser(t), portalAuthz())
	rt := doc["refresh_token"].(string)
	resp, _ := e.call(t, PathRevoke, url.Values{"token": {rt}, "token_type_hint": {"refresh_token"}}, basic("portal", portalSecret))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if got := e.introspect(t, rt); got["active"] != false {
		t.Errorf("revoked refresh token introspects %v", got)
	}
	if got := e.introspect(t, doc["access_token"].(string)); got["active"] != false {
		t.Errorf("access token of a revoked grant introspects %v", got)
	}
	if resp, d := e.refresh(t, "portal", rt); resp.StatusCode != http.StatusBadRequest || d["error"] != "invalid_grant" {
		t.Errorf("revoked refresh token used: %d %v", resp.StatusCode, d)
	}
}
