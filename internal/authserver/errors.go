package authserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/luikyv/go-oidc/pkg/goidc"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/web"
)

// Every protocol error leaves through writeError, whether Tiaki refused the request before the
// engine saw it or the engine refused it (finish rewrites the engine's answer). The client gets
// the RFC 6749 §5.2 code and a fixed description; the cause goes to the log only.

// Error codes (RFC 6749 §5.2, RFC 7009 §2.2.1).
const (
	codeInvalidRequest     = "invalid_request"
	codeInvalidClient      = "invalid_client"
	codeInvalidGrant       = "invalid_grant"
	codeUnauthorizedClient = "unauthorized_client"
	codeServerError        = "server_error"
	// codeUnavailable is RFC 6749 §4.1.2.1's temporarily_unavailable, used at every endpoint
	// for a dependency that cannot be reached, with Retry-After (RFC 9110 §10.2.3): unlike
	// server_error it tells the client that the same request may work shortly.
	codeUnavailable = "temporarily_unavailable"
)

// challenge answers every 401 from the token, introspection and revocation endpoints: RFC 6749
// §5.2 requires it after HTTP Basic, and RFC 9110 §15.5.2 requires a challenge on any 401.
const challenge = `Basic realm="tiaki", error="invalid_client"`

// oauthError is an error response body (RFC 6749 §5.2).
type oauthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	status      int
	retryAfter  string
}

func refuse(status int, code, description string) *oauthError {
	return &oauthError{Code: code, Description: description, status: status}
}

var errServer = oauthError{Code: codeServerError, Description: "the server could not complete the request", status: http.StatusInternalServerError}

// errUnavailable answers a request that needs a store or service that cannot be reached now.
var errUnavailable = oauthError{Code: codeUnavailable, Description: "the server cannot complete the request now; retry shortly",
	status: http.StatusServiceUnavailable, retryAfter: "5"}

// writeError writes e with the headers every error needs.
func writeError(w http.ResponseWriter, e *oauthError) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store") // RFC 6749 §5.1
	h.Set("Pragma", "no-cache")
	if e.status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", challenge)
	}
	if e.retryAfter != "" {
		h.Set("Retry-After", e.retryAfter)
	}
	body, _ := json.Marshal(e) // two strings: cannot fail
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
}

// maxEngineResponse bounds what the engine may write for one request (token responses and
// introspection answers are well under 8 KiB).
const maxEngineResponse = 64 << 10

// recorder holds the engine's response until finish has checked it. Headers go straight to
// the real response.
type recorder struct {
	h        http.Header
	status   int
	body     bytes.Buffer
	overflow bool
	x        *exchange
}

// ok reports whether the engine answered with success.
func (r *recorder) ok() bool {
	return r.status != 0 && r.status < http.StatusBadRequest && !r.overflow
}

// reset forgets what was written so far (not the headers), for an error page that replaces a
// half-written answer.
func (r *recorder) reset() {
	r.status = 0
	r.body.Reset()
	r.overflow = false
}

func (r *recorder) Header() http.Header { return r.h }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	if r.body.Len()+len(p) > maxEngineResponse {
		r.overflow = true
		return 0, errors.New("authserver: engine response too large")
	}
	return r.body.Write(p)
}

// callEngine runs the engine on r and writes its response, corrected.
func (s *Server) callEngine(w http.ResponseWriter, r *http.Request) {
	s.finishEngine(w, r, s.runEngine(w, r))
}

// runEngine runs the engine on r with a fresh exchange and keeps its answer in a recorder.
// Headers go straight to w.
func (s *Server) runEngine(w http.ResponseWriter, r *http.Request) *recorder {
	rec := &recorder{h: w.Header()}
	x := exchangeFrom(r.Context())
	if x == nil {
		x = newExchange(r)
		r = r.WithContext(withExchange(r.Context(), x))
	}
	rec.x = x
	s.engine.ServeHTTP(rec, r)
	return rec
}

// finishEngine writes the recorded answer of a back-channel endpoint: a success as it is, an
// error corrected. Either way it is token material: no-store.
func (s *Server) finishEngine(w http.ResponseWriter, r *http.Request, rec *recorder) {
	if rec.status == 0 && r.Context().Err() != nil {
		return // the caller has gone; the engine wrote nothing
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store") // RFC 6749 §5.1, RFC 7662 §4: token material
	h.Set("Pragma", "no-cache")
	if rec.ok() {
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
		return
	}
	writeError(w, correct(rec, rec.x))
}

// correct turns the engine's error response into the one the RFCs ask for.
func correct(rec *recorder, x *exchange) *oauthError {
	e := &oauthError{status: rec.status}
	if rec.overflow {
		e.status = 0
	}
	if json.Unmarshal(rec.body.Bytes(), e) != nil || e.Code == "" {
		e.Code = string(goidc.ErrorCodeInternalError)
	}
	switch {
	case x.internal != nil || errors.Is(x.cause, tiaki.ErrUnavailable):
		// A dependency failed (the store, the replay cache) where the engine can only say
		// invalid_client, invalid_grant or server_error: that is neither the client's fault nor
		// lasting.
		se := errUnavailable
		return &se
	case x.lostRace:
		// Another request redeemed the same code or refresh token first (engine-notes: single
		// use under concurrency); RFC 6749 §5.2 calls a spent grant invalid_grant.
		return refuse(http.StatusBadRequest, codeInvalidGrant, "the grant has already been used")
	case errors.Is(x.cause, errStoreFull):
		full := errServer
		full.status = http.StatusServiceUnavailable
		full.Description = "the server is at capacity; retry shortly"
		full.retryAfter = "1"
		return &full
	case e.status == 0 || e.status >= http.StatusInternalServerError || e.Code == string(goidc.ErrorCodeInternalError):
		// RFC 6749 §4.1.2.1 names it server_error; the engine says internal_error.
		se := errServer
		return &se
	case e.Code == codeUnauthorizedClient:
		// RFC 6749 §5.2: unauthorized_client is a 400; the engine sends 401 (engine gap 3).
		e.status = http.StatusBadRequest
	case e.Code == string(goidc.ErrorCodeExpiredToken) && x.grantType != string(goidc.GrantDeviceCode):
		// The engine answers a revoked grant's code with expired_token, a device-flow code
		// (RFC 8628 §3.5); for any other grant RFC 6749 §5.2 says invalid_grant.
		e.Code, e.status = codeInvalidGrant, http.StatusBadRequest
	}
	return e
}

// engineError is the engine's error hook, the only place its causes surface. Internal failures
// are logged with the request ID; refusals at debug level (invalid_client at info, since
// failed client authentication is a security signal).
func (s *Server) engineError(ctx context.Context, err error) {
	if x := exchangeFrom(ctx); x != nil && x.cause == nil {
		x.cause = err
	}
	id := web.RequestIDFrom(ctx)
	var oe goidc.Error
	if errors.As(err, &oe) && oe.Code != goidc.ErrorCodeInternalError && oe.StatusCode() < http.StatusInternalServerError {
		level := slog.LevelDebug
		if oe.Code == goidc.ErrorCodeInvalidClient {
			level = slog.LevelInfo
		}
		s.log.Log(ctx, level, "authserver: request refused", "request_id", id, "error", string(oe.Code), "cause", err.Error())
		return
	}
	s.log.ErrorContext(ctx, "authserver: internal error", "request_id", id, "cause", err.Error())
}
