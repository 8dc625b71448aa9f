package authserver

import (
	"bytes"
	"net/http"

	"github.com/luikyv/go-oidc/pkg/goidc"

	"github.com/tiaki-nz/tiaki/internal/web"
)

// serveToken is the token endpoint (RFC 6749 §3.2). Tiaki checks the request's shape and
// decodes Basic credentials; the engine dispatches on grant_type (an unknown one, including
// password, is unsupported_grant_type: OAuth 2.1 removed the password grant); an ID token
// gets its at_hash (idtoken.go); finishEngine corrects the engine's errors and marks every
// answer no-store.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if e := readForm(w, r); e != nil {
		writeError(w, e)
		return
	}
	if s.issueFast(w, r) {
		return
	}
	rec := s.runEngine(w, r)
	if rec.ok() && rec.x.placeholder != "" {
		// The engine answered with its placeholder for an opaque token (opaque.go): the sealed
		// token takes its place, before at_hash is computed over it. Both are base64url and
		// quote-free, so the JSON string is replaced whole.
		body := bytes.Replace(rec.body.Bytes(), []byte(`"`+rec.x.placeholder+`"`), []byte(`"`+rec.x.sealed+`"`), 1)
		rec.body.Reset()
		rec.body.Write(body)
	}
	if rec.ok() && s.people() {
		switch goidc.GrantType(rec.x.grantType) {
		case goidc.GrantAuthorizationCode, goidc.GrantRefreshToken:
			body, err := s.withATHash(rec.body.Bytes(), rec.x.grantType == string(goidc.GrantRefreshToken))
			if err != nil {
				s.log.ErrorContext(r.Context(), "authserver: adding at_hash to the ID token", "request_id",
					web.RequestIDFrom(r.Context()), "cause", err.Error())
				e := errServer
				writeError(w, &e)
				return
			}
			rec.body.Reset()
			rec.body.Write(body)
		}
	}
	s.finishEngine(w, r, rec)
}
