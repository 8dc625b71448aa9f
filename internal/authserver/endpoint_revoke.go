package authserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tiaki-nz/tiaki/internal/web"
)

// serveRevoke is the revocation endpoint (RFC 7009), for access and refresh tokens. Any
// authenticated client may revoke its own tokens.
//
// What is revoked depends on the token (RFC 7009 §2.1 allows revoking related tokens):
//   - a JWT access token of a client-credentials grant: that token alone. Its grant is shared
//     by the client's other tokens with the same scopes (sharedGrantID), so the token's jti is
//     recorded instead (revokeToken): introspection and userinfo refuse it until it expires,
//     and Deps.Revocations announces the jti to gateways that verify JWTs locally;
//   - a refresh token, or an access token of a person's grant or of an opaque token: the grant
//     behind it, so its other tokens introspect inactive and are refused at userinfo too; the
//     grant_id (and the jti of a JWT) are announced on Deps.Revocations (announceGrant).
func (s *Server) serveRevoke(w http.ResponseWriter, r *http.Request) {
	if e := readForm(w, r); e != nil {
		writeError(w, e)
		return
	}
	x := newExchange(r)
	x.revokedToken = peekJWT(r.PostForm.Get("token"))
	s.callEngine(w, r.WithContext(withExchange(r.Context(), x)))
}

// errRevokeShared is returned when a shared grant is to be revoked other than through one of its
// JWTs at the revocation endpoint: revoking it would revoke every token of the client.
var errRevokeShared = errors.New("authserver: a shared client-credentials grant is revoked one token (jti) at a time")

// revokeToken is called, in place of revoking grantID, when the engine revokes a JWT access token
// of a shared grant: it records the token's jti as revoked until the token expires, locally and
// on the revocation feed. The engine has by then verified the token (signature, issuer, expiry,
// and that it belongs to the calling client), which is what makes the jti, read from an
// unverified parse of the same token, trustworthy.
func (s *Server) revokeToken(ctx context.Context, grantID string) error {
	x := exchangeFrom(ctx)
	if x == nil || x.revokedToken == nil || x.revokedToken.GrantID != grantID || x.revokedToken.ID == "" ||
		x.revokedToken.Expiry <= 0 {
		return errRevokeShared
	}
	jti, exp := x.revokedToken.ID, time.Unix(x.revokedToken.Expiry, 0)
	if err := s.revokedJTIs.add(jti, exp); err != nil {
		return err // errStoreFull: 503 with Retry-After (correct)
	}
	if s.feed != nil {
		if err := s.feed.Revoke(ctx, jti, exp); err != nil {
			s.log.ErrorContext(ctx, "authserver: could not announce a revoked token", "request_id", web.RequestIDFrom(ctx),
				"jti", jti, "cause", err.Error())
		}
	}
	return nil
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

// tokenRevoked reports whether tok is a JWT whose jti was revoked here (revokedJTIs) or whose
// jti or grant the revocation feed names: the checks the engine cannot make itself.
func (s *Server) tokenRevoked(tok string) bool {
	if s.feed == nil && !s.revokedJTIs.used() {
		return false
	}
	c := peekJWT(tok)
	return c != nil && (s.revokedJTIs.has(c.ID) || s.feed != nil && s.feedNames(c.ID, c.GrantID))
}

// maxRevokedJTIs bounds the revoked-token list: at about 150 bytes an entry, some 15 MB. Each
// entry is one revocation request by an authenticated client and lives only until its token
// expires; past the bound, revocation answers 503 with Retry-After rather than forget one.
const maxRevokedJTIs = 100_000

// jtiDenylist holds the jti of each revoked JWT whose grant is shared, until the token expires
// (by the wall clock, which the token's exp is written in).
type jtiDenylist struct {
	m *ttlMap[struct{}]
	// inUse is set by the first add, so that lookups cost nothing until a token is revoked.
	inUse atomic.Bool
}

func newJTIDenylist(max int) *jtiDenylist {
	return &jtiDenylist{m: newTTLMap[struct{}](time.Now, max)}
}

// add records jti as revoked until exp (and grantGrace after, as the grant store does); a token
// already expired needs no entry.
func (d *jtiDenylist) add(jti string, exp time.Time) error {
	ttl := time.Until(exp) + grantGrace
	if ttl <= 0 {
		return nil
	}
	d.inUse.Store(true)
	return d.m.put(jti, struct{}{}, ttl)
}

// has reports whether jti was revoked and its token may still be live.
func (d *jtiDenylist) has(jti string) bool {
	if jti == "" || !d.inUse.Load() {
		return false
	}
	_, ok := d.m.get(jti)
	return ok
}

func (d *jtiDenylist) used() bool { return d.inUse.Load() }

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
