package authserver

import (
	"net/http"

	"github.com/tiaki-nz/tiaki/internal/web"
)

// jwksMaxAge lets verifiers cache the key set. It must stay well under the time a new key is
// published before it signs (internal/keys), so every verifier knows a key before meeting it.
const jwksMaxAge = "public, max-age=300"

// serveJWKS publishes the public keys (RFC 7517 §5) from Deps.Keys, after checking the
// document holds no private key material.
func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request) {
	doc := s.keys.src.JWKS()
	if err := s.keys.publicOnly(doc); err != nil {
		s.log.ErrorContext(r.Context(), "authserver: not publishing the JWKS",
			"request_id", web.RequestIDFrom(r.Context()), "cause", err.Error())
		e := errServer
		writeError(w, &e)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", jwksMaxAge)
	_, _ = w.Write(doc)
}
