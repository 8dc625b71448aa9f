package authserver

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

// userinfo calls the UserInfo endpoint with an Authorization header value.
func (e *testEnv) userinfo(t testing.TB, authorization string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.issuer+PathUserInfo, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return e.do(t, req)
}

func TestUserInfoClaimsByScope(t *testing.T) {
	t.Parallel()
	e := newPeopleEnv(t)
	for _, tc := range []struct {
		scope string
		want  map[string]any
	}{
		{"openid", map[string]any{"sub": "alice"}},
		{"openid email", map[string]any{"sub": "alice", "email": "alice@example.govt.nz", "email_verified": true}},
		{"openid profile", map[string]any{"sub": "alice", "name": "Aroha alice"}},
	} {
		a := portalAuthz()
		a.scope = tc.scope
		doc := e.tokens(t, e.browser(t), a)
		resp, got := e.userinfo(t, "Bearer "+doc["access_token"].(string))
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: %d %v", tc.scope, resp.StatusCode, got)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: claims (-want +got):\n%s", tc.scope, diff)
		}
	}
}

func TestUserInfoRefusals(t *testing.T) {
	t.Parallel()
	e := newPeopleEnv(t)
	doc := e.tokens(t, e.browser(t), portalAuthz())
	at := doc["access_token"].(string)
	noOpenID := e.tokens(t, e.browser(t), authz{clientID: "web-app", redirectURI: "https://web.example/cb",
		scope: "payments:read", state: "w", verifier: oauth2.GenerateVerifier()})["access_token"].(string)
	machine := e.token(t, "billing-service", billingSecret, "payments:read")
	revoked := e.tokens(t, e.browser(t), portalAuthz())["access_token"].(string)
	if resp, _ := e.call(t, PathRevoke, url.Values{"token": {revoked}}, basic("portal", portalSecret)); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}

	tests := []struct {
		name, authorization string
		status              int
		challenge           string
	}{
		{"no token", "", 401, `Bearer realm="tiaki"`},
		{"wrong scheme", "Basic " + at, 401, `Bearer realm="tiaki", error="invalid_token", error_description="a Bearer access token is required"`},
		{"garbage", "Bearer not-a-token", 401, `Bearer realm="tiaki", error="invalid_token", error_description="the access token is not active"`},
		{"revoked", "Bearer " + revoked, 401, `Bearer realm="tiaki", error="invalid_token", error_description="the access token was revoked"`},
		{"no openid scope", "Bearer " + noOpenID, 403, `Bearer realm="tiaki", error="insufficient_scope", error_description="the access token was not granted the openid scope", scope="openid"`},
		{"machine token", "Bearer " + machine, 403, `Bearer realm="tiaki", error="insufficient_scope", error_description="the access token was not granted the openid scope", scope="openid"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := e.userinfo(t, tc.authorization)
			if resp.StatusCode != tc.status || resp.Header.Get("WWW-Authenticate") != tc.challenge {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tc.status, tc.challenge)
			}
		})
	}
	t.Run("token in the query", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, e.issuer+PathUserInfo+"?access_token="+at, nil)
		if resp, doc := e.do(t, req); resp.StatusCode != http.StatusBadRequest || doc["error"] != "invalid_request" {
			t.Fatalf("%d %v", resp.StatusCode, doc)
		}
	})
}
