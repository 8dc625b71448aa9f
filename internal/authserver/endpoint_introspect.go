package authserver

import "net/http"

// inactive is the answer for anything revoked, expired or unknown (RFC 7662 §2.2).
var inactive = []byte(`{"active":false}` + "\n")

// serveIntrospect is the introspection endpoint (RFC 7662), for confidential clients only:
// RFC 7662 §2.1 requires the caller to be authorized, and a public client proves nothing but
// its ID. Unknown, expired and revoked tokens answer {"active": false} (§2.2); refresh tokens
// introspect too.
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
	rec := s.runEngine(w, r)
	// A short-lived grant lives in the memory of the node that issued it, so a revocation on
	// another node reaches this one only through the revocation feed.
	if rec.ok() && s.feed != nil && s.feedRevoked(r.PostForm.Get("token")) {
		rec.body.Reset()
		rec.body.Write(inactive)
	}
	s.finishEngine(w, r, rec)
}

// feedRevoked reports whether the revocation feed names the JWT's jti or grant.
func (s *Server) feedRevoked(tok string) bool {
	c := peekJWT(tok)
	return c != nil && (c.ID != "" && s.feed.IsRevoked(c.ID) || c.GrantID != "" && s.feed.IsRevoked(c.GrantID))
}
