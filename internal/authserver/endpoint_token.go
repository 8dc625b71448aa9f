package authserver

import "net/http"

// serveToken is the token endpoint (RFC 6749 §3.2). Tiaki checks the request's shape and
// decodes Basic credentials; the engine dispatches on grant_type (an unknown one, including
// password, is unsupported_grant_type: OAuth 2.1 removed the password grant); callEngine
// corrects the engine's errors and marks every answer no-store.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if e := readForm(w, r); e != nil {
		writeError(w, e)
		return
	}
	s.callEngine(w, r)
}
