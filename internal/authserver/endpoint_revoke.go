package authserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/revocation"
	"github.com/tiaki-nz/tiaki/internal/web"
)

// serveRevoke is the revocation endpoint (RFC 7009), for access and refresh tokens. Any
// authenticated client may revoke its own tokens.
//
// What is revoked depends on the token (RFC 7009 §2.1 allows revoking related tokens):
//   - an access token (JWT or opaque) of a client-credentials grant: that token alone. Its
//     grant is shared by the client's other tokens with the same scopes (sharedGrantID), so
//     the token's jti is recorded instead (revokeToken) on Deps.Revocations: introspection,
//     userinfo and every gateway node refuse it until it expires;
//   - a refresh token, or an access token of a person's grant: the grant behind it, so its
//     other tokens are refused too; the grant_id is recorded on Deps.Revocations
//     (announceGrant).
func (s *Server) serveRevoke(w http.ResponseWriter, r *http.Request) {
	if e := readForm(w, r); e != nil {
		writeError(w, e)
		return
	}
	x := newExchange(r)
	x.revokedToken = peekToken(s, r.PostForm.Get("token"))
	s.callEngine(w, r.WithContext(withExchange(r.Context(), x)))
}

// errRevokeShared is returned when a shared grant is to be revoked other than through one of its
// JWTs at the revocation endpoint: revoking it would revoke every token of the client.
var errRevokeShared = errors.New("authserver: a shared client-credentials grant is revoked one token (jti) at a time")

// revokeToken is called, in place of revoking grantID, when the engine revokes an access token
// of a shared grant (a JWT or an opaque token): it records the token's jti as revoked until the
// token expires, here and for every node (Deps.Revocations). The engine has by then checked the
// token (signature or seal, issuer, expiry, and that it belongs to the calling client), which
// is what makes the jti, read from the same token, trustworthy.
func (s *Server) revokeToken(ctx context.Context, grantID string) error {
	x := exchangeFrom(ctx)
	if x == nil || x.revokedToken == nil || x.revokedToken.GrantID != grantID || x.revokedToken.ID == "" ||
		x.revokedToken.Expiry <= 0 {
		return errRevokeShared
	}
	r := tiaki.Revocation{Kind: tiaki.RevokedToken, ID: x.revokedToken.ID, At: time.Now(),
		Until: time.Unix(x.revokedToken.Expiry, 0)}
	if err := s.revocations.Revoke(ctx, r); err != nil {
		if errors.Is(err, revocation.ErrFull) {
			return errStoreFull // 503 with Retry-After
		}
		return err
	}
	return nil
}

// announceGrant records that a grant was revoked, so every node refuses its access tokens
// (JWTs included, which gateways verify themselves) until they have expired.
func (s *Server) announceGrant(ctx context.Context, grantID string, until time.Time) {
	r := tiaki.Revocation{Kind: tiaki.RevokedGrant, ID: grantID, At: time.Now(), Until: until}
	if err := s.revocations.Revoke(ctx, r); err != nil {
		s.log.ErrorContext(ctx, "authserver: could not record a revoked grant; other nodes may accept its tokens until they expire",
			"request_id", web.RequestIDFrom(ctx), "grant_id", grantID, "cause", err.Error())
	}
}

// tokenRevoked reports whether tok is an access token (JWT or opaque) that the revocation list
// names: the checks the engine cannot make itself.
func (s *Server) tokenRevoked(tok string) bool {
	c := peekToken(s, tok)
	return c != nil && s.revocations.Revoked(c.ID, c.GrantID, c.ClientID, person(c.Subject, c.ClientID), time.Unix(c.IssuedAt, 0))
}

// jwtClaims are the claims of an access token Tiaki reads without verifying the signature, to
// name what a request is about; they are trusted only once the engine has verified the token.
type jwtClaims struct {
	ID       string       `json:"jti"`
	GrantID  string       `json:"grant_id"`
	ClientID string       `json:"client_id"`
	Subject  string       `json:"sub"`
	Scope    string       `json:"scope"`
	Audience jwt.Audience `json:"aud"`
	IssuedAt int64        `json:"iat"`
	Expiry   int64        `json:"exp"`
	// resources are an opaque token's resource indicators (its aud when it has any).
	resources []string
}

// peekToken reads the claims of an access token: a JWT's without verifying it (peekJWT), an
// opaque token's once opened (which authenticates them).
func peekToken(s *Server, tok string) *jwtClaims {
	if isSealed(tok) {
		c := s.open(tok)
		if c == nil {
			return nil
		}
		return c.claims()
	}
	return peekJWT(tok)
}

// maxTokenLen bounds a token before it is parsed.
const maxTokenLen = 16 << 10

// peekJWT reads the claims of a compact JWS without verifying it, or returns nil when tok is
// not one.
func peekJWT(tok string) *jwtClaims {
	if len(tok) > maxTokenLen || strings.Count(tok, ".") != 2 {
		return nil
	}
	_, rest, _ := strings.Cut(tok, ".")
	payload, _, _ := strings.Cut(rest, ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil
	}
	var c jwtClaims
	if json.Unmarshal(raw, &c) != nil {
		return nil
	}
	return &c
}
