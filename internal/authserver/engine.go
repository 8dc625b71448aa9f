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
// is on; the flows for people add theirs in peopleOptions.
func (s *Server) buildEngine() (http.Handler, error) {
	idTokenAlg, idTokenAlgs := s.keys.idTokenAlgs(s.cfg.SigningAlgorithm)
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
		provider.WithIDTokenSignatureAlgs(idTokenAlg, idTokenAlgs...),
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
		// Client assertions (client_assertion.go): every jti goes through the replay cache;
		// with none configured, private_key_jwt is off and any JWT ID is refused, so nothing
		// enabled later without a cache silently accepts replays.
		provider.WithJTIConsumer(s.consumeJTI),
		provider.WithJWTLifetime(int(maxAssertionLifetime.Seconds())),

		// Grants and tokens.
		provider.WithClientCredentialsGrant(),
		provider.WithGrantHandler(s.handleGrant),
		provider.WithGrantIDFunc(randomID),
		provider.WithTokenOptions(s.tokenOptions),
		provider.WithTokenClaims(s.tokenClaims),
		provider.WithOpaqueTokens(opaqueTokens{s}),
		provider.WithOpaqueTokenFunc(opaquePlaceholder),

		// RFC 7662 and RFC 7009. Revoking a JWT access token is a no-op in the engine unless
		// the grant behind it is revoked; a client-credentials grant backs exactly one token.
		provider.WithTokenIntrospection(mayIntrospect),
		provider.WithTokenRevocation(mayRevoke),
		provider.WithTokenRevocationRevokeGrantOnAccessToken(),

		// RFC 9207: iss in every authorization response, so a client talking to several
		// servers can tell which one answered (mix-up defence).
		provider.WithIssuerResponseParameter(),

		provider.WithErrorHandler(s.engineError),
	}
	if len(s.cfg.Resources) > 0 {
		// RFC 8707: a client names the API it wants a token for, and aud says so.
		opts = append(opts, provider.WithResourceIndicators(s.cfg.Resources[0], s.cfg.Resources[1:]...))
	}
	if s.replay != nil {
		opts = append(opts, provider.WithPrivateKeyJWTAuthn(assertionAlgs[0], assertionAlgs[1:]...))
	}
	if s.people() {
		opts = append(opts, s.peopleOptions()...)
	}
	p, err := provider.New(s.cfg.Issuer, s.state, s.keys.engineJWKS, opts...)
	if err != nil {
		return nil, fmt.Errorf("authserver: building the OIDC engine: %w", err)
	}
	return p.Handler(), nil
}

// peopleOptions turns on the flows for people: authorization code with PKCE, refresh tokens,
// the login and consent pages, ID tokens and userinfo claims.
func (s *Server) peopleOptions() []provider.Option {
	return []provider.Option{
		// OAuth 2.1 §4.1, RFC 9700 §2.1.1: code only (no implicit or hybrid response types)
		// and PKCE with S256 for every client, confidential ones included.
		provider.WithAuthCodeGrant(s.state, goidc.ResponseTypeCode),
		provider.WithAuthorizeEndpoint(PathAuthorize),
		provider.WithPKCERequired(goidc.CodeChallengeMethodSHA256),
		provider.WithAuthCodeLifetime(int(s.cfg.CodeTTL.Seconds())),
		provider.WithAuthCodeFunc(randomID),
		provider.WithAuthSessionLifetime(int(s.cfg.AuthorizationTTL.Seconds())),
		provider.WithAuthnSessionIDFunc(randomID),
		provider.WithPolicies(s.loginPolicy()),
		provider.WithErrorRenderer(s.renderEngineError),
		// Public clients (native and browser apps) authenticate with nothing but PKCE.
		provider.WithNoneAuthn(),

		// Refresh tokens: rotated at every use, with a lifetime (engine default: never
		// expire, no rotation), and only when grant_refresh.go says so.
		provider.WithRefreshTokenGrant(s.state),
		provider.WithRefreshTokenRotation(),
		provider.WithRefreshTokenLifetime(int(s.cfg.RefreshTokenTTL.Seconds())),
		provider.WithRefreshTokenShouldIssue(s.shouldIssueRefresh),
		provider.WithRefreshTokenFunc(randomID),

		// ID tokens and userinfo (claims.go).
		provider.WithUserInfoEndpoint(PathUserInfo),
		provider.WithIDTokenClaims(s.idTokenClaims),
		provider.WithUserInfoClaims(s.userInfoClaims),
		provider.WithClaims(goidc.ClaimSubject, supportedClaims...),
		provider.WithACRs(acrPassword),
	}
}

var (
	errRegistrationClosed = errors.New("authserver: dynamic client registration is not offered")
	errSecretMismatch     = errors.New("client secret does not match")
)

func refuseRegistration(context.Context, string) error { return errRegistrationClosed }

// randomID returns 256 random bits, base64url: the engine's codes, refresh tokens, session and
// grant IDs (its defaults are shorter, and drawn a character at a time).
func randomID(context.Context) string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms (Go 1.24+).
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// maxSecretLen bounds presented secrets before they are hashed.
const maxSecretLen = 512

// verifySecret is the engine's client-secret hook: stored holds the keyed hash (see
// toEngineClient), compared by Secrets in constant time.
func (s *Server) verifySecret(_ context.Context, stored, presented string) error {
	if stored == "" || presented == "" || len(presented) > maxSecretLen {
		return errSecretMismatch
	}
	if !s.secrets.Verify(presented, []byte(stored)) {
		return secretMismatch(presented)
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
