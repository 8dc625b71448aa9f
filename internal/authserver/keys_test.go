package authserver

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/luikyv/go-oidc/pkg/goidc"
)

// TestKeyRotation: after the signing key changes, new tokens use the new key and tokens signed
// by the retired key, still in the published JWKS, keep introspecting as active.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	caller := basic("billing-service", billingSecret)
	old := env.token(t, "demo-client", demoSecret, "")

	next := newFakeKeys(t, "es256-2")
	published := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{next.private.Keys[0].Public(), env.keys.private.Keys[0].Public()}}
	doc, err := json.Marshal(published)
	if err != nil {
		t.Fatal(err)
	}
	env.keys.mu.Lock()
	env.keys.private = next.private
	env.keys.public = doc
	env.keys.mu.Unlock()
	env.clock.Advance(keyTTL)

	fresh := env.token(t, "demo-client", demoSecret, "")
	if kid := kidOf(t, fresh); kid != "es256-2" {
		t.Errorf("new token signed by %q, want es256-2", kid)
	}
	for name, tok := range map[string]string{"retired key": old, "new key": fresh} {
		if _, doc := env.call(t, PathIntrospect, url.Values{"token": {tok}}, caller); doc["active"] != true {
			t.Errorf("token signed by the %s introspects %v, want active", name, doc)
		}
	}
}

// TestKeysWithoutUse: the engine skips keys without use "sig" when verifying; Tiaki fills it in.
func TestKeysWithoutUse(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.keys.mu.Lock()
	env.keys.private.Keys[0].Use = ""
	env.keys.mu.Unlock()
	env.clock.Advance(keyTTL)
	tok := env.token(t, "demo-client", demoSecret, "")
	if _, doc := env.call(t, PathIntrospect, url.Values{"token": {tok}}, basic("billing-service", billingSecret)); doc["active"] != true {
		t.Errorf("introspection = %v, want active", doc)
	}
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Header.KeyID
}

// testRSAKey is one RSA-2048 key per test binary: generating one takes a while under -race.
var testRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// newDefaultFakeKeys holds what keys.Manager keeps by default (keys.algorithms [ES256, RS256]):
// an ES256 key for access tokens and an RS256 key for ID tokens.
func newDefaultFakeKeys(t testing.TB) *fakeKeys {
	t.Helper()
	k := newFakeKeys(t, "es256-1")
	rs := jose.JSONWebKey{Key: testRSAKey(), KeyID: "rs256-1", Algorithm: "RS256", Use: "sig"}
	k.private.Keys = append(k.private.Keys, rs)
	pub, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k.private.Keys[0].Public(), rs.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	k.public = pub
	return k
}

// TestIDTokenAlgs is issue #11 item 16 at the unit level: with an RS256 key, ID tokens default
// to RS256 (OIDC Registration §2) and the other keys' algorithms stay on offer; without one,
// ID tokens are signed like access tokens.
func TestIDTokenAlgs(t *testing.T) {
	t.Parallel()
	now := func() time.Time { return time.Unix(1e9, 0) }
	for _, tc := range []struct {
		name       string
		keys       Keys
		wantDef    goidc.SignatureAlgorithm
		wantOthers []goidc.SignatureAlgorithm
	}{
		{"ES256 and RS256", newDefaultFakeKeys(t), goidc.RS256, []goidc.SignatureAlgorithm{goidc.ES256}},
		{"ES256 only (fapi2 without RS256)", newFakeKeys(t, "es"), goidc.ES256, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			def, others := newKeyCache(tc.keys, now, discardLogger()).idTokenAlgs("ES256")
			if def != tc.wantDef || !slices.Equal(others, tc.wantOthers) {
				t.Errorf("idTokenAlgs = %s %v, want %s %v", def, others, tc.wantDef, tc.wantOthers)
			}
		})
	}
}
