package authserver

import "net/http"

// serveIntrospect is the introspection endpoint (RFC 7662), for confidential clients only:
// RFC 7662 §2.1 requires the caller to be authorized, and a public client proves nothing but
// its ID. Unknown, expired and revoked tokens answer {"active": false} (§2.2).
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
	s.callEngine(w, r)
}
