package bearer

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tiaki-nz/tiaki/internal/policy"
)

// Denials for tokens that fail. Each is built once; the description is safe to show (RFC 6750
// §3: error_description is for developers) and holds no quote or backslash.
var (
	deniedMalformed = invalidToken("the access token is malformed or uses an algorithm this API does not accept", "malformed token or refused alg")
	deniedType      = invalidToken("the token is not a JWT access token", "typ is not at+jwt or JWT")
	deniedIssuer    = invalidToken("the token issuer is not trusted here", "unknown issuer")
	deniedKey       = invalidToken("the token signing key is unknown", "unknown signing key")
	deniedSignature = invalidToken("the token signature is invalid", "signature does not verify")
	deniedClaims    = invalidToken("the access token lacks required claims", "missing exp or client_id")
	deniedExpired   = invalidToken("the access token has expired", "token expired")
	deniedNotYet    = invalidToken("the access token is not valid yet", "nbf or iat in the future")
	deniedAudience  = invalidToken("the access token is not for this API", "audience mismatch")
	deniedRevoked   = invalidToken("the access token has been revoked", "token revoked")
	deniedInactive  = invalidToken("the access token is not active", "introspection: not active")
	deniedCertBound = invalidToken("the access token is bound to a client certificate this connection did not present",
		"certificate-bound token without its certificate")
	deniedBinding = invalidToken("the access token is bound by a confirmation method this API does not support",
		"cnf without jkt or x5t#S256")
)

// tokenDenials lists the refusals of the token itself, which a request made with the DPoP
// scheme receives in that scheme's words.
func tokenDenials() []*policy.Denial {
	return []*policy.Denial{deniedMalformed, deniedType, deniedIssuer, deniedKey, deniedSignature,
		deniedClaims, deniedExpired, deniedNotYet, deniedAudience, deniedRevoked, deniedInactive, deniedCertBound, deniedBinding}
}

func invalidToken(description, reason string) *policy.Denial {
	return &policy.Denial{
		Status:    http.StatusUnauthorized,
		Type:      "invalid-token",
		Title:     "Invalid access token",
		Detail:    "The access token was refused: " + description + ".",
		Challenge: realm + `, error="invalid_token", error_description="` + description + `"`,
		Reason:    reason,
	}
}

// claims are the RFC 9068 §2.2 claims Tiaki reads beyond the registered ones.
type claims struct {
	ClientID string        `json:"client_id"`
	Scope    string        `json:"scope"`
	GrantID  string        `json:"grant_id"`
	Cnf      *confirmation `json:"cnf"`
}

// verify checks a token that is not in the cache and returns what the cache keeps of it, or
// the introspector to ask when the token is not a JWT this route can verify itself.
func (v *Verifier) verify(ctx context.Context, token string, now time.Time) (tokenInfo, *introspector, *policy.Denial) {
	// The allow-list of algorithms is enforced while parsing: none and HS* never get as far
	// as a key (RFC 8725 §3.1).
	tok, err := jwt.ParseSigned(token, v.algs)
	if err != nil || len(tok.Headers) != 1 {
		// Not a JWT we could verify: an opaque token, for the issuer that introspects. What
		// it says is the issuer's answer, not ours, so a forged JWT gains nothing there.
		if i := v.introspectorFor(token); i != nil {
			return tokenInfo{}, i, nil
		}
		return tokenInfo{}, nil, deniedMalformed
	}
	h := tok.Headers[0]
	// The issuer decides which keys to try, so it is read before the signature is checked;
	// it is compared again, exactly, once verified (RFC 9068 §4).
	var unverified struct {
		Issuer string `json:"iss"`
	}
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return tokenInfo{}, nil, deniedMalformed
	}
	iss := v.issuers[unverified.Issuer]
	if iss == nil {
		return tokenInfo{}, nil, deniedIssuer
	}
	if iss.keys == nil {
		return tokenInfo{}, iss.introspect, nil
	}
	if !accessTokenType(h.ExtraHeaders[jose.HeaderType]) {
		return tokenInfo{}, nil, deniedType
	}
	keys, err := iss.keys.keys(ctx, h.KeyID, now)
	if err != nil {
		return tokenInfo{}, nil, v.unavailable
	}
	if len(keys) == 0 {
		return tokenInfo{}, nil, deniedKey
	}
	var std jwt.Claims
	var extra claims
	verified := false
	for _, k := range keys {
		// RFC 8725 §3.1: a key is used only with the algorithm it was published for.
		if k.Algorithm != "" && k.Algorithm != h.Algorithm {
			continue
		}
		if tok.Claims(k.Key, &std, &extra) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return tokenInfo{}, nil, deniedSignature
	}
	// RFC 9068 §2.2: exp and client_id are required; exp also bounds how long the cache may
	// keep the token.
	if std.Expiry == nil || extra.ClientID == "" {
		return tokenInfo{}, nil, deniedClaims
	}
	err = std.ValidateWithLeeway(jwt.Expected{
		Issuer:      iss.name,
		AnyAudience: jwt.Audience{v.audience},
		Time:        now,
	}, v.skew)
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrExpired):
		return tokenInfo{}, nil, deniedExpired
	case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return tokenInfo{}, nil, deniedNotYet
	case errors.Is(err, jwt.ErrInvalidAudience):
		return tokenInfo{}, nil, deniedAudience
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return tokenInfo{}, nil, deniedIssuer
	default:
		return tokenInfo{}, nil, deniedMalformed
	}
	info := tokenInfo{
		consumer: extra.ClientID,
		jti:      std.ID,
		grant:    extra.GrantID,
		scopes:   slices.Clip(strings.Fields(extra.Scope)),
		exp:      std.Expiry.Time(),
	}
	if std.IssuedAt != nil {
		info.iat = std.IssuedAt.Time()
	}
	if extra.Cnf != nil {
		if !extra.Cnf.known() {
			return tokenInfo{}, nil, deniedBinding
		}
		info.jkt, info.x5t = extra.Cnf.JKT, extra.Cnf.X5T
	}
	if std.Subject != extra.ClientID {
		info.subject = std.Subject
	}
	return info, nil, nil
}

// accessTokenType accepts typ at+jwt (RFC 9068 §2.1, also in its media-type form) and, for
// issuers that predate RFC 9068, JWT. A missing typ is refused, so an ID token or another JWT
// from the same issuer cannot pass as an access token.
func accessTokenType(typ any) bool {
	s, _ := typ.(string)
	return strings.EqualFold(s, "at+jwt") || strings.EqualFold(s, "application/at+jwt") || strings.EqualFold(s, "JWT")
}
