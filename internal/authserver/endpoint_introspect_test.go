package authserver

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestIntrospection(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	other := newEnv(t) // same client IDs, different signing key
	live := env.token(t, "demo-client", demoSecret, "payments:read")
	opaque := env.token(t, "opaque-client", demoSecret, "")
	foreign := other.token(t, "demo-client", demoSecret, "")
	caller := basic("billing-service", billingSecret)

	tests := []struct {
		name       string
		token      string
		auth       string
		wantStatus int
		want       map[string]any
	}{
		{"live JWT", live, caller, 200, map[string]any{
			"active": true, "client_id": "demo-client", "sub": "demo-client", "scope": "payments:read",
			"iss": env.issuer, "aud": env.issuer, "token_type": "Bearer",
		}},
		{"live opaque token", opaque, caller, 200, map[string]any{
			"active": true, "client_id": "opaque-client", "sub": "opaque-client", "scope": "payments:read",
			"iss": env.issuer, "aud": env.issuer, "token_type": "Bearer", "grant_id": grantOfOpaque(t, env, opaque),
		}},
		{"garbage", "not-a-token", caller, 200, map[string]any{"active": false}},
		{"JWT signed by another server", foreign, caller, 200, map[string]any{"active": false}},
		{"no client authentication", live, "", 401, map[string]any{"error": "invalid_client"}},
		{"wrong secret", live, basic("billing-service", "guess"), 401, map[string]any{"error": "invalid_client"}},
		{"public client", live, basic("citizen-app", ""), 401, map[string]any{"error": "invalid_client"}},
		{"public client by form", live, "", 401, map[string]any{"error": "invalid_client"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			form := url.Values{"token": {tc.token}}
			if tc.name == "public client by form" {
				form.Set("client_id", "citizen-app")
			}
			resp, doc := env.call(t, PathIntrospect, form, tc.auth)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%v)", resp.StatusCode, tc.wantStatus, doc)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			if doc["active"] == true {
				for _, k := range []string{"exp", "iat"} {
					if _, ok := doc[k].(float64); !ok {
						t.Errorf("%s missing from %v", k, doc)
					}
				}
			}
			ignore := cmpopts.IgnoreMapEntries(func(k string, _ any) bool {
				return k == "exp" || k == "iat" || k == "nbf" || k == "jti" || k == "error_description"
			})
			if diff := cmp.Diff(tc.want, doc, ignore); diff != "" {
				t.Errorf("introspection (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSharedGrantOnAnotherNode: a client-credentials token, JWT or opaque, introspects active
// on a node that never saw its grant (another server with the same keys, sealer and store),
// and inactive there once revoked on the issuing node and the revocation has reached it.
func TestSharedGrantOnAnotherNode(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	caller := basic("billing-service", billingSecret)
	for _, tc := range []struct{ client, secret string }{{"demo-client", demoSecret}, {"opaque-client", demoSecret}} {
		tok := env.token(t, tc.client, tc.secret, "")
		// The issuing node forgets its grants, as another node never knew them.
		env.clock.Advance(10*time.Minute + grantGrace)
		env.srv.grants.m.touch("", 0) // drops expired entries
		if n := env.srv.grants.m.size(); n != 0 {
			t.Fatalf("%d grants left", n)
		}
		if _, doc := env.call(t, PathIntrospect, url.Values{"token": {tok}}, caller); doc["active"] != true {
			t.Fatalf("%s: token of a grant this node does not hold: %v, want active", tc.client, doc)
		}
		if resp, _ := env.call(t, PathRevoke, url.Values{"token": {tok}}, basic(tc.client, tc.secret)); resp.StatusCode != 200 {
			t.Fatalf("%s: revoke: %d", tc.client, resp.StatusCode)
		}
		if _, doc := env.call(t, PathIntrospect, url.Values{"token": {tok}}, caller); doc["active"] != false {
			t.Errorf("%s: revoked token: %v, want inactive", tc.client, doc)
		}
	}
}

func TestRevocation(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	caller := basic("billing-service", billingSecret)
	tests := []struct {
		name, id, secret string
	}{
		{"JWT", "demo-client", demoSecret},
		{"opaque", "opaque-client", demoSecret},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tok := env.token(t, tc.id, tc.secret, "")
			keep := env.token(t, tc.id, tc.secret, "")

			// Another client may not revoke it.
			resp, doc := env.call(t, PathRevoke, url.Values{"token": {tok}}, caller)
			if resp.StatusCode < 400 {
				t.Fatalf("revocation by another client: %d %v", resp.StatusCode, doc)
			}
			if _, doc := env.call(t, PathIntrospect, url.Values{"token": {tok}}, caller); doc["active"] != true {
				t.Fatalf("token inactive after a refused revocation: %v", doc)
			}

			resp, doc = env.call(t, PathRevoke, url.Values{"token": {tok}, "token_type_hint": {"access_token"}}, basic(tc.id, tc.secret))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("revoke: %d %v", resp.StatusCode, doc)
			}
			if _, doc := env.call(t, PathIntrospect, url.Values{"token": {tok}}, caller); doc["active"] != false {
				t.Errorf("revoked token introspects %v, want inactive", doc)
			}
			if _, doc := env.call(t, PathIntrospect, url.Values{"token": {keep}}, caller); doc["active"] != true {
				t.Errorf("another token of the same client introspects %v, want active", doc)
			}
			// RFC 7009 §2.2: revoking an unknown or revoked token is not an error.
			for _, again := range []string{tok, "unknown"} {
				if resp, doc := env.call(t, PathRevoke, url.Values{"token": {again}}, basic(tc.id, tc.secret)); resp.StatusCode != http.StatusOK {
					t.Errorf("revoke %q: %d %v", again, resp.StatusCode, doc)
				}
			}
		})
	}
}

// grantOfOpaque is the grant_id sealed in an opaque token.
func grantOfOpaque(t *testing.T, env *testEnv, tok string) string {
	t.Helper()
	c := env.srv.open(tok)
	if c == nil {
		t.Fatalf("%.20s... does not open", tok)
	}
	return c.GrantID
}
