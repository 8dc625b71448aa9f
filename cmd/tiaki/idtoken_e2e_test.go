package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// TestIDTokensRS256ByDefault is issue #11 item 16, through the real Main with the default
// keys.algorithms: discovery lists RS256 among the ID token algorithms (OIDC Discovery §3), a
// client that names no algorithm gets RS256 ID tokens that coreos/go-oidc verifies, a client
// configured for ES256 gets ES256, access tokens stay ES256, and `tiaki keys rotate` publishes
// the next key of both algorithms.
func TestIDTokensRS256ByDefault(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr := freePort(t)
	cfgPath, dataDir := filepath.Join(dir, "tiaki.yaml"), filepath.Join(dir, "data")
	writeAtomic(t, cfgPath, []byte(fmt.Sprintf(`
issuer: https://%s
users:
  - username: alice
    password: %s
clients:
  - id: portal
    auth_method: client_secret_basic
    secret: %s
    grant_types: [authorization_code]
    redirect_uris: [%s]
    scopes: [openid]
  - id: portal-es
    auth_method: client_secret_basic
    secret: %s
    grant_types: [authorization_code]
    redirect_uris: [%s]
    scopes: [openid]
    id_token_signed_response_alg: ES256
`, addr, alicePasswordE2E, portalSecretE2E, portalCallback, portalSecretE2E, portalCallback)))
	r := startTiaki(t, dataDir, "--config", cfgPath, "--authserver-addr", addr)
	ctx := oidc.ClientContext(context.Background(), r.client)
	provider, err := oidc.NewProvider(ctx, r.Issuer)
	if err != nil {
		t.Fatalf("discovery with go-oidc: %v", err)
	}
	var meta struct {
		IDTokenAlgs []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := provider.Claims(&meta); err != nil || !slices.Contains(meta.IDTokenAlgs, "RS256") {
		t.Fatalf("id_token_signing_alg_values_supported = %v (%v): RS256 is required (OIDC Discovery §3)", meta.IDTokenAlgs, err)
	}

	s := &asServer{running: r, provider: provider, ctx: ctx}
	for _, tc := range []struct{ client, wantAlg string }{{"portal", "RS256"}, {"portal-es", "ES256"}} {
		t.Run(tc.client, func(t *testing.T) {
			conf := &oauth2.Config{ClientID: tc.client, ClientSecret: portalSecretE2E, Endpoint: provider.Endpoint(),
				RedirectURL: portalCallback, Scopes: []string{oidc.ScopeOpenID}}
			verifier, nonce := oauth2.GenerateVerifier(), "nonce-"+tc.client
			q := s.person(t).signIn(r.Issuer, conf.AuthCodeURL("state", oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)))
			tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("code exchange: %v", err)
			}
			rawID, _ := tok.Extra("id_token").(string)
			if alg := jwsAlg(t, rawID); alg != tc.wantAlg {
				t.Errorf("ID token signed with %s, want %s", alg, tc.wantAlg)
			}
			idt, err := provider.Verifier(&oidc.Config{ClientID: tc.client, SupportedSigningAlgs: []string{tc.wantAlg}}).Verify(ctx, rawID)
			if err != nil {
				t.Fatalf("go-oidc verification with %s: %v", tc.wantAlg, err)
			}
			if idt.Nonce != nonce {
				t.Errorf("nonce %q", idt.Nonce)
			}
			if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
				t.Errorf("at_hash: %v", err)
			}
			if alg := jwsAlg(t, tok.AccessToken); alg != "ES256" {
				t.Errorf("access token signed with %s, want ES256", alg)
			}
		})
	}

	// Rotation covers both algorithms the server keeps.
	code, out, errOut := runEnv(t, "", "keys", "rotate", "--config", cfgPath, "--data", dataDir)
	if code != exitOK {
		t.Fatalf("keys rotate: %d %s", code, errOut)
	}
	for _, alg := range []string{"ES256", "RS256"} {
		if !strings.Contains(out, "published "+alg+" key") {
			t.Errorf("keys rotate did not publish a next %s key:\n%s", alg, out)
		}
	}
}

// jwsAlg returns the alg of a compact JWS's protected header.
func jwsAlg(t *testing.T, token string) string {
	t.Helper()
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.PS256, jose.EdDSA})
	if err != nil || len(jws.Signatures) != 1 {
		t.Fatalf("not a JWS: %v", err)
	}
	return jws.Signatures[0].Protected.Algorithm
}
