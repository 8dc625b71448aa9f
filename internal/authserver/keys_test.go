package authserver

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/go-jose/go-jose/v4"
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
