package authserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/tiaki-nz/tiaki/internal/web"
)

// serveRevoke is the revocation endpoint (RFC 7009), for access and refresh tokens. Any
// authenticated client may revoke its own tokens. Revoking a JWT access token or a refresh
// token revokes the grant behind it (RFC 7009 §2.1 allows revoking related tokens), so its
// access tokens introspect as inactive and are refused at userinfo from then on. Gateways that
// verify JWTs locally learn of it through Deps.Revocations: the token's jti and its grant_id
// are announced there (announceGrant).
func (s *Server) serveRevoke(w http.ResponseWriter, r *http.Request) {
	if e := readForm(w, r); e != nil {
		writeError(w, e)
		return
	}
	x := newExchange(r)
	if s.feed != nil {
		x.revokedToken = peekJWT(r.PostForm.Get("token"))
	}
	s.callEngine(w, r.WithContext(withExchange(r.Context(), x)))
}

// announceGrant tells the revocation feed that a grant was revoked, and, when the request
// revoked a JWT access token of that grant, the token's jti too. The jti comes from an
// unverified parse, but is announced only after the engine has verified the token and
// revoked its grant.
func (s *Server) announceGrant(ctx context.Context, grantID string, until time.Time) {
	if err := s.feed.Revoke(ctx, grantID, until); err != nil {
		s.log.ErrorContext(ctx, "authserver: could not announce a revoked grant", "request_id", web.RequestIDFrom(ctx),
			"grant_id", grantID, "cause", err.Error())
	}
	x := exchangeFrom(ctx)
	if x == nil || x.revokedToken == nil || x.revokedToken.GrantID != grantID || x.revokedToken.ID == "" {
		return
	}
	exp := time.Unix(x.revokedToken.Expiry, 0)
	if err := s.feed.Revoke(ctx, x.revokedToken.ID, exp); err != nil {
		s.log.ErrorContext(ctx, "authserver: could not announce a revoked token", "request_id", web.RequestIDFrom(ctx),
			"jti", x.revokedToken.ID, "cause", err.Error())
	}
}

// jwtClaims are the claims of an access token Tiaki reads without verifying the signature, to
// name what a request is about; they are trusted only once the engine has verified the token.
type jwtClaims struct {
	ID      string `json:"jti"`
	GrantID string `json:"grant_id"`
	Expiry  int64  `json:"exp"`
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
