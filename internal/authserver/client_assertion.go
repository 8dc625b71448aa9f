package authserver

import (
	"context"
	"errors"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/luikyv/go-oidc/pkg/goidc"
)

// Client authentication with private_key_jwt (RFC 7523 §2.2, OIDC Core §9), as the engine runs
// it and Tiaki completes it:
//
//  1. the client signs a JWT with iss = sub = its client_id, aud = the token endpoint or the
//     issuer, a jti and an exp, with a key in its registered JWKS;
//  2. the engine verifies the signature with the client's key (asymmetric algorithms only),
//     the issuer, subject and audience, and that exp is at most maxAssertionLifetime away;
//  3. consumeJTI makes each assertion single-use (RFC 7523 §3: "the authorization server MAY
//     ensure that JWTs are not replayed by maintaining the set of used jti values"; Tiaki
//     does, always) through Deps.Replay, shared by every node.

// maxAssertionLifetime bounds how far in the future a client assertion's exp may be, and so
// how long its jti must be remembered.
const maxAssertionLifetime = 5 * time.Minute

// replayMargin keeps a jti a little past the longest life an assertion can have.
const replayMargin = time.Minute

// assertionAlgs are the signature algorithms accepted on client assertions: asymmetric only
// (client_secret_jwt, which needs the secret in clear, is not offered).
var assertionAlgs = []goidc.SignatureAlgorithm{goidc.ES256, goidc.PS256, goidc.RS256, goidc.ES384, goidc.ES512, goidc.PS384, goidc.PS512}

var (
	errNoReplayCache = errors.New("authserver: no replay cache is configured, so JWT IDs are refused")
	errReplayed      = errors.New("the client assertion's jti was already used")
	errBadJTI        = errors.New("the client assertion's jti is empty or too long")
)

// maxJTILen bounds a jti before it reaches the replay cache.
const maxJTILen = 256

// consumeJTI is the engine's JWT-ID hook: it records jti for the client the request names and
// refuses one seen before. The key is namespaced by client, so one client cannot spend
// another's IDs.
func (s *Server) consumeJTI(ctx context.Context, jti string) error {
	if s.replay == nil {
		return errNoReplayCache
	}
	if jti == "" || len(jti) > maxJTILen {
		return errBadJTI
	}
	x := exchangeFrom(ctx)
	client := ""
	if x != nil {
		client = x.clientID
	}
	fresh, err := s.replay.Consume(ctx, "tiaki:client-assertion:"+client+":"+jti, maxAssertionLifetime+replayMargin)
	if err != nil {
		if x != nil {
			x.internal = err // the engine would call this invalid_client
		}
		return err
	}
	if !fresh {
		return errReplayed
	}
	return nil
}

// assertionIssuer returns the iss of a client assertion without verifying it (the engine does
// that), to name the client a request claims to be when it sends no client_id.
func assertionIssuer(assertion string) string {
	if len(assertion) > maxFormBytes {
		return ""
	}
	tok, err := jwt.ParseSigned(assertion, assertionAlgs)
	if err != nil {
		return ""
	}
	var c struct {
		Issuer string `json:"iss"`
	}
	if tok.UnsafeClaimsWithoutVerification(&c) != nil || len(c.Issuer) > maxClientIDLen {
		return ""
	}
	return c.Issuer
}
