package authserver

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"

	"github.com/luikyv/go-oidc/pkg/goidc"
	"github.com/luikyv/go-oidc/pkg/provider"
)

// buildEngine configures the go-oidc provider. Every option is here, each with the reason it
// is on; features of later slices (authorization code, refresh, PAR, DPoP...) add theirs here.
func (s *Server) buildEngine() (http.Handler, error) {
	alg := goidc.SignatureAlgorithm(s.cfg.SigningAlgorithm)
	idTokenAlgs := []goidc.SignatureAlgorithm{}
	if alg != goidc.RS256 && s.keys.hasPrivate(string(goidc.RS256)) {
		// OIDC Discovery expects RS256 among the ID token algorithms when a key allows it.
		idTokenAlgs = append(idTokenAlgs, goidc.RS256)
	}
	scopes := make([]goidc.Scope, 0, len(s.cfg.Scopes))
	for _, sc := range s.cfg.Scopes {
		scopes = append(scopes, goidc.NewScope(sc))
	}

	opts := []provider.Option{
		provider.WithProfile(goidc.ProfileOpenID),
		provider.WithTokenEndpoint(PathToken),
		provider.WithJWKSEndpoint(PathJWKS),
		provider.WithTokenIntrospectionEndpoint(PathIntrospect),
		provider.WithTokenRevocationEndpoint(PathRevoke),
		provider.WithIDTokenSignatureAlgs(alg, idTokenAlgs...),
		provider.WithScopes(scopes...),

		// Clients: the engine finds clients only among static ones or through its dynamic
		// registration store, so Tiaki's client cache is plugged in as that store. Registration
		// itself is never routed (see routes) and both of its hooks refuse, in case it ever is.
		provider.WithDCR(engineClients{s.clients}),
		provider.WithDCRInitialTokenValidator(refuseRegistration),

		// Client authentication: both secret methods, checked against keyed hashes (engine
		// default: only client_secret_post, compared in clear). client_secret_jwt is absent on
		// purpose: it needs the secret in clear as an HMAC key.
		provider.WithSecretBasicAuthn(),
		provider.WithSecretPostAuthn(),
		provider.WithClientSecretVerifier(s.verifySecret),
		// No enabled feature consumes JWT IDs yet (client assertions, DPoP); refusing keeps any
		// that gets enabled without a replay cache from silently accepting replays.
		provider.WithJTIConsumer(refuseJTI),

		// Grants and tokens.
		provider.WithClientCredentialsGrant(),
		provider.WithGrantHandler(s.handleGrant),
		provider.WithTokenOptions(s.tokenOptions),
		provider.WithTokenClaims(s.tokenClaims),
		provider.WithOpaqueTokens(s.tokens),
		provider.WithOpaqueTokenFunc(opaqueTokenValue),

		// RFC 7662 and RFC 7009. Revoking a JWT access token is a no-op in the engine unless
		// the grant behind it is revoked; a client-credentials grant backs exactly one token.
		provider.WithTokenIntrospection(mayIntrospect),
		provider.WithTokenRevocation(mayRevoke),
		provider.WithTokenRevocationRevokeGrantOnAccessToken(),

		// RFC 9207: published now; effective once the authorization endpoint is served.
		provider.WithIssuerResponseParameter(),

		provider.WithErrorHandler(s.engineError),
	}
	if len(s.cfg.Resources) > 0 {
		// RFC 8707: a client names the API it wants a token for, and aud says so.
		opts = append(opts, provider.WithResourceIndicators(s.cfg.Resources[0], s.cfg.Resources[1:]...))
	}
	p, err := provider.New(s.cfg.Issuer, s.grants, s.keys.engineJWKS, opts...)
	if err != nil {
		return nil, fmt.Errorf("authserver: building the OIDC engine: %w", err)
	}
	return p.Handler(), nil
}

var (
	errRegistrationClosed = errors.New("authserver: dynamic client registration is not offered")
	errNoReplayCache      = errors.New("authserver: no replay cache is configured, so JWT IDs are refused")
	errSecretMismatch     = errors.New("client secret does not match")
)

func refuseRegistration(context.Context, string) error { return errRegistrationClosed }

func refuseJTI(context.Context, string) error { return errNoReplayCache }

// maxSecretLen bounds presented secrets before they are hashed.
const maxSecretLen = 512

// verifySecret is the engine's client-secret hook: stored holds the keyed hash (see
// toEngineClient), compared by Secrets in constant time.
func (s *Server) verifySecret(_ context.Context, stored, presented string) error {
	if stored == "" || presented == "" || len(presented) > maxSecretLen {
		return errSecretMismatch
	}
	if !s.secrets.Verify(presented, []byte(stored)) {
		return errSecretMismatch
	}
	return nil
}

// mayIntrospect admits confidential clients only: a public client authenticates with nothing
// but its client_id, which anyone can send (engine default: refuse everyone).
func mayIntrospect(_ context.Context, c *goidc.Client, _ goidc.TokenInfo) bool {
	return c != nil && !c.IsPublic()
}

// mayRevoke admits every authenticated client; the engine checks that the token is the
// caller's own (RFC 7009 §2.1).
func mayRevoke(_ context.Context, c *goidc.Client) bool { return c != nil }

// opaqueTokenValue returns 256 random bits, base64url. (The engine's default draws 50
// characters one big.Int at a time: slower, for no more strength.)
func opaqueTokenValue(context.Context, *goidc.Grant) string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms (Go 1.24+).
	return base64.RawURLEncoding.EncodeToString(b[:])
}
