package authserver

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/luikyv/go-oidc/pkg/goidc"
)

// bearerRealm names the protected resource in userinfo challenges (RFC 6750 §3).
const bearerRealm = `Bearer realm="tiaki"`

// serveUserInfo is the UserInfo endpoint (OIDC Core §5.3): the claims the access token's
// scopes release (claims.go). The engine answers; Tiaki closes engine gap 2 by sending the
// RFC 6750 §3 challenge with every refusal, and takes the token from the Authorization header
// only (RFC 6750 §2.1; form and query tokens leak into logs and histories).
func (s *Server) serveUserInfo(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			writeBearerError(w, http.StatusBadRequest, codeInvalidRequest, "the request body is not a valid form", "")
			return
		}
	}
	if r.URL.Query().Has("access_token") || r.PostForm.Has("access_token") {
		writeBearerError(w, http.StatusBadRequest, codeInvalidRequest, "send the access token in the Authorization header", "")
		return
	}
	auth := r.Header.Values("Authorization")
	if len(auth) == 0 {
		// RFC 6750 §3.1: a request without credentials gets a challenge without an error code.
		writeBearerError(w, http.StatusUnauthorized, "", "", "")
		return
	}
	scheme, token, _ := strings.Cut(auth[0], " ")
	if len(auth) > 1 || !strings.EqualFold(scheme, "Bearer") || token == "" || len(auth[0]) > maxTokenLen {
		writeBearerError(w, http.StatusUnauthorized, string(goidc.ErrorCodeInvalidToken), "a Bearer access token is required", "")
		return
	}
	if s.tokenRevoked(strings.TrimSpace(token)) {
		writeBearerError(w, http.StatusUnauthorized, string(goidc.ErrorCodeInvalidToken), "the access token was revoked", "")
		return
	}
	rec := s.runEngine(w, r)
	w.Header().Set("Cache-Control", "no-store") // personal data
	if rec.ok() {
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
		return
	}
	e := correct(rec, rec.x)
	switch e.Code {
	case string(goidc.ErrorCodeInvalidToken):
		writeBearerError(w, http.StatusUnauthorized, e.Code, "the access token is not active", "")
	case string(goidc.ErrorCodeAccessDenied):
		// The token lacks openid: RFC 6750 §3.1 insufficient_scope, 403, naming the scope.
		writeBearerError(w, http.StatusForbidden, "insufficient_scope", "the access token was not granted the openid scope", "openid")
	case codeServerError:
		writeError(w, e)
	default:
		writeBearerError(w, http.StatusBadRequest, codeInvalidRequest, e.Description, "")
	}
}

// writeBearerError answers a resource request with the RFC 6750 §3 challenge and JSON body.
func writeBearerError(w http.ResponseWriter, status int, code, desc, scope string) {
	challenge := bearerRealm
	if code != "" {
		challenge += `, error="` + code + `"`
	}
	if desc != "" {
		challenge += `, error_description="` + strings.ReplaceAll(desc, `"`, `'`) + `"`
	}
	if scope != "" {
		challenge += `, scope="` + scope + `"`
	}
	h := w.Header()
	h.Set("WWW-Authenticate", challenge)
	h.Set("Cache-Control", "no-store")
	if code == "" {
		w.WriteHeader(status)
		return
	}
	h.Set("Content-Type", "application/json")
	body, _ := json.Marshal(oauthError{Code: code, Description: desc}) // strings: cannot fail
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
