package authserver

import "net/http"

// serveRevoke is the revocation endpoint (RFC 7009). Any authenticated client may revoke its
// own tokens. Revoking a JWT access token revokes the grant behind it, so the token
// introspects as inactive from then on (gateways that verify JWTs locally keep accepting it
// until it expires: keep access tokens short).
func (s *Server) serveRevoke(w http.ResponseWriter, r *http.Request) {
	if e := readForm(w, r); e != nil {
		writeError(w, e)
		return
	}
	s.callEngine(w, r)
}
