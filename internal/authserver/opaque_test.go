package authserver

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// TestOpaqueTokensOfPeople: with opaque access tokens, the engine's flows for people (code,
// refresh) return sealed tokens too: the token carries what the engine decided for it (a
// refresh narrowing the scope), at_hash is computed over the sealed value, introspection
// reports the person, and a refresh-token reuse makes the family's opaque tokens inactive.
func TestOpaqueTokensOfPeople(t *testing.T) {
	t.Parallel()
	e := newPeopleEnv(t, func(c *Config) { c.AccessTokenFormat = FormatOpaque })
	first := e.tokens(t, e.browser(t), portalAuthz())
	at1 := first["access_token"].(string)
	if !strings.HasPrefix(at1, opaquePrefix) || e.srv.open(at1) == nil {
		t.Fatalf("access token %.20s...: not a sealed token", at1)
	}
	claims := verifyJWT(t, e, first["id_token"].(string))
	if want, _ := halfHash(at1, "ES256"); claims["at_hash"] != want {
		t.Errorf("at_hash %v, want %v (over the sealed token)", claims["at_hash"], want)
	}
	got := e.introspect(t, at1)
	if got["active"] != true || got["sub"] != "alice" || got["client_id"] != "portal" ||
		!strings.Contains(got["scope"].(string), "payments:read") {
		t.Fatalf("introspection: %v", got)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}, "scope": {"payments:read"}}
	resp, second := e.call(t, PathToken, form, e.clientAuth(form, "portal"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d %v", resp.StatusCode, second)
	}
	at2 := second["access_token"].(string)
	if got := e.introspect(t, at2); got["active"] != true || got["scope"] != "payments:read" {
		t.Errorf("narrowed refresh: %v, want scope payments:read", got)
	}
	// Reuse of the first refresh token revokes the family.
	if resp, doc := e.refresh(t, "portal", first["refresh_token"].(string)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("reuse: %d %v", resp.StatusCode, doc)
	}
	for _, tok := range []string{at1, at2} {
		if got := e.introspect(t, tok); got["active"] != false {
			t.Errorf("opaque token of a revoked family: %v", got)
		}
	}
}

// FuzzOpenSealed: open accepts only what seal made, byte for byte, and gives back the claims
// sealed; any other input, including a sealed token with one byte changed, opens to nothing.
func FuzzOpenSealed(f *testing.F) {
	e := newEnv(f)
	c := &sealedClaims{ClientID: "demo-client", Subject: "demo-client", Scope: "payments:read", GrantID: "cc_x",
		ID: "0b5f0c5e-0000-4000-8000-000000000000", IssuedAt: 1, Expiry: 2}
	tok, err := e.srv.seal(c)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add(opaquePrefix)
	f.Add(opaquePrefix + "AAAA")
	f.Add(tok[:len(tok)-1] + "A")
	f.Fuzz(func(t *testing.T, s string) {
		got := e.srv.open(s)
		if s == tok {
			if got == nil || !reflect.DeepEqual(got, c) {
				t.Fatalf("the sealed token opened to %+v", got)
			}
			return
		}
		if got != nil {
			t.Fatalf("%q opened to %+v", s, got)
		}
	})
}
