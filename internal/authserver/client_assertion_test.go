package authserver

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
)

// assertion signs a client assertion for jwt-client; edit changes its claims first.
func assertion(t testing.TB, aud string, edit func(*jwt.Claims)) string {
	t.Helper()
	key := assertionKey().private
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", key.KeyID))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c := jwt.Claims{Issuer: "jwt-client", Subject: "jwt-client", Audience: jwt.Audience{aud},
		ID: oauth2.GenerateVerifier(), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}
	if edit != nil {
		edit(&c)
	}
	tok, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func assertionForm(a string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_assertion": {a},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}}
}

func TestPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	e := newPeopleEnv(t)
	tokenURL := e.issuer + PathToken

	t.Run("accepted, once", func(t *testing.T) {
		a := assertion(t, tokenURL, nil)
		if resp, doc := e.call(t, PathToken, assertionForm(a), ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("first use: %d %v", resp.StatusCode, doc)
		}
		resp, doc := e.call(t, PathToken, assertionForm(a), "")
		if resp.StatusCode != http.StatusUnauthorized || doc["error"] != "invalid_client" || resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("replayed jti: %d %v", resp.StatusCode, doc)
		}
	})
	t.Run("audience may be the issuer", func(t *testing.T) {
		if resp, doc := e.call(t, PathToken, assertionForm(assertion(t, e.issuer, nil)), ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("%d %v", resp.StatusCode, doc)
		}
	})
	for _, tc := range []struct {
		name string
		aud  string
		edit func(*jwt.Claims)
	}{
		{"other audience", "https://other.example/token", nil},
		{"expired", tokenURL, func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(time.Now().Add(-time.Minute)) }},
		{"lives too long", tokenURL, func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(time.Now().Add(time.Hour)) }},
		{"no jti", tokenURL, func(c *jwt.Claims) { c.ID = "" }},
		{"another client's name", tokenURL, func(c *jwt.Claims) { c.Issuer, c.Subject = "billing-service", "billing-service" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, doc := e.call(t, PathToken, assertionForm(assertion(t, tc.aud, tc.edit)), "")
			if resp.StatusCode != http.StatusUnauthorized || doc["error"] != "invalid_client" {
				t.Fatalf("%d %v", resp.StatusCode, doc)
			}
		})
	}
	t.Run("replay cache down is the server's fault", func(t *testing.T) {
		e.replay.mu.Lock()
		e.replay.err = errors.New("cache down")
		e.replay.mu.Unlock()
		defer func() { e.replay.mu.Lock(); e.replay.err = nil; e.replay.mu.Unlock() }()
		resp, doc := e.call(t, PathToken, assertionForm(assertion(t, tokenURL, nil)), "")
		if resp.StatusCode != http.StatusServiceUnavailable || doc["error"] != "temporarily_unavailable" {
			t.Fatalf("%d %v", resp.StatusCode, doc)
		}
	})
}

func TestPrivateKeyJWTOffWithoutReplayCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // no Deps.Replay
	resp, doc := e.call(t, PathToken, assertionForm(assertion(t, e.issuer+PathToken, nil)), "")
	if resp.StatusCode != http.StatusUnauthorized || doc["error"] != "invalid_client" {
		t.Fatalf("%d %v", resp.StatusCode, doc)
	}
}
