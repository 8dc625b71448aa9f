package authserver

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/luikyv/go-oidc/pkg/goidc"
)

// inactive is the answer for anything revoked, expired or unknown (RFC 7662 §2.2).
var inactive = []byte(`{"active":false}` + "\n")

// serveIntrospect is the introspection endpoint (RFC 7662), for confidential clients only:
// RFC 7662 §2.1 requires the caller to be authorized, and a public client proves nothing but
// its ID. Unknown, expired and revoked tokens answer {"active": false} (§2.2); refresh tokens
// introspect too. JWTs from a client authenticated by secret take introspectFast; everything
// else goes to the engine.
func (s *Server) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	if e := readForm(w, r); e != nil {
		writeError(w, e)
		return
	}
	// The engine asks mayIntrospect only about active tokens; refuse public clients up front
	// so they learn nothing about inactive ones either.
	if reg, err := s.clients.lookup(r.Context(), clientID(r)); err == nil && reg.client.Public() {
		writeError(w, refuse(http.StatusUnauthorized, codeInvalidClient, "public clients may not introspect tokens"))
		return
	}
	if s.introspectSealedFast(w, r) || s.introspectFast(w, r) {
		return
	}
	x := newExchange(r)
	x.revokedToken = peekToken(s, r.PostForm.Get("token"))
	rec := s.runEngine(w, r.WithContext(withExchange(r.Context(), x)))
	// The engine knows revoked grants only: a revoked token of a shared grant is known by its
	// jti (revokeToken), a deleted client's tokens by the client, and a revocation made on
	// another node reaches this one through the revocation list.
	tok := r.PostForm.Get("token")
	switch {
	case !rec.ok():
	case isSealed(tok) && !bytes.Equal(rec.body.Bytes(), inactive):
		// An opaque token of Tiaki's, the caller authenticated by the engine: the answer is
		// the one introspectSealedFast gives, whoever asks.
		body, err := s.introspectSealed(r.Context(), tok)
		if err != nil {
			s.engineError(r.Context(), err)
			e := errServer
			writeError(w, &e)
			return
		}
		rec.body.Reset()
		rec.body.Write(body)
	case s.tokenRevoked(tok):
		rec.body.Reset()
		rec.body.Write(inactive)
	}
	s.finishEngine(w, r, rec)
}

// introspectSealedFast answers the introspection of an opaque token of Tiaki's (opaque.go) for
// a confidential caller that secretClient authenticates; anything else goes on.
func (s *Server) introspectSealedFast(w http.ResponseWriter, r *http.Request) bool {
	tok := r.PostForm.Get("token")
	if s.slow || !formRequest(r) || !isSealed(tok) {
		return false
	}
	reg, ok := s.secretClient(r)
	if !ok || reg.engine.IsPublic() {
		return false
	}
	body, err := s.introspectSealed(r.Context(), tok)
	if err != nil {
		return false // the engine's path reports it
	}
	if r.Context().Err() != nil {
		return true
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store") // RFC 7662 §4: token material
	h.Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return true
}

// introspectFast answers the introspection of a JWT exactly as the engine and serveIntrospect
// would (token.Introspect), with the signature check and claim decoding cached in
// verifiedCache. It serves only a caller that secretClient authenticates and that is
// confidential (mayIntrospect), and returns false, having written nothing, for anything else:
// opaque and refresh tokens, other client authentication, any failure the engine would report
// as an error.
//
// What can change is checked on every call, never cached: the claims' exp, nbf and iat
// against the wall clock (the engine's clock for JWTs), that the signing key is still
// published for signatures, that the grant still exists and is not revoked (a shared grant is
// rebuilt from the token when this node does not hold it), and the revocation list (the
// token's jti, its grant, client or person, revoked on any node).
func (s *Server) introspectFast(w http.ResponseWriter, r *http.Request) bool {
	tok := r.PostForm.Get("token")
	if s.slow || !formRequest(r) || len(tok) > maxTokenLen || !isJWS(tok) {
		return false
	}
	reg, ok := s.secretClient(r)
	// Subjects are public identifiers (the engine's default, and Tiaki sets no other): a client
	// asking for pairwise ones would need the engine's pairwise computation.
	if !ok || reg.engine.IsPublic() || reg.engine.SubIdentifierType != "" {
		return false
	}
	now := s.wall()
	v := s.verify(tok, now)
	body := inactive
	// As token.Introspect: the issuer, and exp, nbf and iat with no leeway.
	if v != nil && v.claims.ValidateWithLeeway(jwt.Expected{Issuer: s.cfg.Issuer, Time: now}, 0) == nil {
		g, err := s.state.Grant(r.Context(), v.info.GrantID)
		if errors.Is(err, goidc.ErrNotFound) {
			// A shared grant another node issued: rebuilt from the verified token.
			if sg := sharedGrantOf(v.info.GrantID, &jwtClaims{GrantID: v.info.GrantID, ClientID: v.info.ClientID,
				Subject: v.claims.Subject, Scope: v.info.Scopes, Audience: []string(v.claims.Audience)}); sg != nil {
				g, err = sg, nil
			}
		}
		switch {
		case errors.Is(err, goidc.ErrNotFound):
		case err != nil:
			return false // the engine logs it and answers server_error
		case g.RevokedAt != 0:
		case s.revocations.Revoked(v.claims.ID, v.info.GrantID, v.info.ClientID, person(v.claims.Subject, v.info.ClientID), issuedAt(v.claims)):
		default:
			if body = v.response(g); body == nil {
				return false
			}
		}
	}
	if r.Context().Err() != nil {
		return true // the caller has gone (the engine writes nothing either)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store") // RFC 7662 §4: token material
	h.Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return true
}

// issuedAt is a JWT's iat, or the zero time.
func issuedAt(c jwt.Claims) time.Time {
	if c.IssuedAt == nil {
		return time.Time{}
	}
	return c.IssuedAt.Time()
}

// verify returns tok verified and decoded as the engine does it, from the cache when the key
// that verified it is still published for signatures, or nil when the engine would find the
// token inactive before looking at its claims or grant.
func (s *Server) verify(tok string, now time.Time) *verifiedJWT {
	sum := sha256.Sum256([]byte(tok))
	snap := s.keys.snapshot()
	if v := s.verified.get(&sum, now); v != nil && (v.snap == snap || snap.idx.verifiable(v.kid, v.alg, v.key)) {
		return v
	}
	// As token.Introspect: the algorithms of the signature keys, one header with a kid, the
	// first key with that kid, published for signatures.
	parsed, err := jwt.ParseSigned(tok, snap.idx.sigAlgs)
	if err != nil || len(parsed.Headers) != 1 || parsed.Headers[0].KeyID == "" {
		return nil
	}
	hdr := parsed.Headers[0]
	key, ok := snap.idx.verifiers[hdr.KeyID]
	if !ok || key.Use != string(goidc.KeyUsageSignature) {
		return nil
	}
	v := &verifiedJWT{kid: hdr.KeyID, alg: hdr.Algorithm, key: key.Key, snap: snap}
	if err := parsed.Claims(key.Key, &v.claims, &v.info); err != nil {
		return nil
	}
	v.until = now.Add(maxVerifiedTTL)
	if exp := v.claims.Expiry; exp != nil && exp.Time().Before(v.until) {
		v.until = exp.Time().Add(time.Second)
	}
	if now.Before(v.until) {
		s.verified.put(&sum, v, now)
	}
	return v
}
