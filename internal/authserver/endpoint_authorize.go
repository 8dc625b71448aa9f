package authserver

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/luikyv/go-oidc/pkg/goidc"

	"github.com/tiaki-nz/tiaki/internal/web"
)

// Bounds on an authorization request, checked before the engine sees it.
const (
	maxAuthorizeParam = 4096 // any one parameter (a long scope list, a state, a redirect URI)
	minChallenge      = 43   // RFC 7636 §4.2: 43 to 128 characters
	maxChallenge      = 128
)

// Error codes of the authorization endpoint (RFC 6749 §4.1.2.1, OIDC Core §6.2).
const (
	codeUnsupportedResponseType = "unsupported_response_type"
	codeRequestNotSupported     = "request_not_supported"
	codeRequestURINotSupported  = "request_uri_not_supported"
)

// serveAuthorize is the authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2). It checks
// what must be right before anything is redirected, then what the engine leaves too loose,
// then lets the engine create the session and call the login policy. See
// grant_authorization_code.go for the whole flow.
func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	params, ok := s.authorizeParams(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	reg, err := s.clients.lookup(ctx, params.Get("client_id"))
	switch {
	case errors.Is(err, goidc.ErrNotFound):
		s.pages.message(w, http.StatusBadRequest, "Unknown application", "The application that sent you here is not registered with Tiaki.")
		return
	case err != nil:
		s.log.ErrorContext(ctx, "authserver: loading a client", "request_id", web.RequestIDFrom(ctx), "cause", err.Error())
		s.pages.message(w, http.StatusInternalServerError, "Something went wrong", "Tiaki could not load the application's registration.")
		return
	}
	// RFC 6749 §3.1.2.4 and RFC 9700 §2.1: an unregistered redirect URI is never redirected
	// to, or the server would become an open redirector that leaks codes.
	redirectURI := params.Get("redirect_uri")
	if redirectURI == "" || !redirectAllowed(reg.client, redirectURI) {
		s.pages.message(w, http.StatusBadRequest, "Wrong return address",
			"The application asked Tiaki to send you to an address it has not registered, so Tiaki will not.")
		return
	}
	// From here errors go back to the client (RFC 6749 §4.1.2.1), with state and iss.
	fail := func(code, desc string) {
		s.redirectError(w, r, redirectURI, params.Get("state"), code, desc)
	}
	rt := params.Get("response_type")
	switch {
	case rt == "":
		fail(codeInvalidRequest, "response_type is required")
	case rt != string(goidc.ResponseTypeCode):
		// OAuth 2.1 §4.1, OAUTH-10: no implicit or hybrid flows.
		fail(codeUnsupportedResponseType, "only response_type=code is supported")
	case !slices.Contains(reg.client.GrantTypes, string(goidc.GrantAuthorizationCode)):
		fail(codeUnauthorizedClient, "the client is not registered for the authorization code grant")
	case params.Has("request"):
		fail(codeRequestNotSupported, "request objects are not supported")
	case params.Has("request_uri"):
		fail(codeRequestURINotSupported, "request_uri is not supported")
	case params.Get("code_challenge") == "":
		// RFC 9700 §2.1.1, OAUTH-06: PKCE for every client.
		fail(codeInvalidRequest, "code_challenge is required (PKCE, RFC 7636)")
	case params.Get("code_challenge_method") != string(goidc.CodeChallengeMethodSHA256):
		// RFC 7636 §4.3: an absent method means plain, which OAuth 2.1 forbids.
		fail(codeInvalidRequest, "code_challenge_method must be S256")
	case !validChallenge(params.Get("code_challenge")):
		fail(codeInvalidRequest, "code_challenge must be 43 to 128 base64url characters (RFC 7636 §4.2)")
	case params.Has("response_mode") && params.Get("response_mode") != string(goidc.ResponseModeQuery):
		fail(codeInvalidRequest, "only response_mode=query is supported")
	case !validPrompt(params.Get("prompt")):
		fail(codeInvalidRequest, "prompt must be none alone, or any of login and consent")
	default:
		s.serveEngineStep(w, r)
	}
}

// serveAuthorizeStep serves the pages of one authorization request, at PathAuthorize/{session}.
// The engine would continue any session whose ID it is given; Tiaki first refuses a session
// that is unknown or finished, one started in another browser, and a form post without the
// session's CSRF token. (The engine refuses an expired one.)
func (s *Server) serveAuthorizeStep(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			s.pages.message(w, http.StatusBadRequest, "Something went wrong", "The form could not be read.")
			return
		}
	}
	x := newExchange(r)
	r = r.WithContext(withExchange(r.Context(), x))
	as, err := s.state.Session(r.Context(), r.PathValue("session"))
	switch {
	case errors.Is(err, goidc.ErrNotFound):
		s.pages.message(w, http.StatusNotFound, "Sign-in not found", "This sign-in does not exist or has been cleaned up.")
		return
	case err != nil:
		s.log.ErrorContext(r.Context(), "authserver: loading an authorization session", "request_id",
			web.RequestIDFrom(r.Context()), "cause", err.Error())
		s.pages.message(w, http.StatusInternalServerError, "Something went wrong", "Tiaki could not load this sign-in.")
		return
	case as.Status != goidc.StatusPending:
		s.pages.message(w, http.StatusBadRequest, "Sign-in already finished", "This sign-in has already finished.")
		return
	case !sameSecret(flowString(as, flowBrowser), digest(cookieValue(r, browserCookie))):
		s.pages.message(w, http.StatusForbidden, "Wrong browser", "This sign-in was started in another browser.")
		return
	case r.Method == http.MethodPost && !sameSecret(flowString(as, flowCSRF), r.PostFormValue("csrf_token")):
		s.pages.message(w, http.StatusForbidden, "Form expired", "The form was not sent from this sign-in's page.")
		return
	}
	s.serveEngineStep(w, r)
}

// serveEngineStep runs the engine's authorization handler and writes what it produced: a page
// of the login policy, a redirect to the client, or an error page.
func (s *Server) serveEngineStep(w http.ResponseWriter, r *http.Request) {
	x := exchangeFrom(r.Context())
	if x == nil {
		x = newExchange(r)
		r = r.WithContext(withExchange(r.Context(), x))
	}
	rec := &recorder{h: w.Header(), x: x}
	s.engine.ServeHTTP(rec, r)
	if rec.status == 0 || rec.overflow {
		if r.Context().Err() == nil {
			s.pages.message(w, http.StatusInternalServerError, "Something went wrong", "Tiaki could not finish this step.")
		}
		return
	}
	w.Header().Set("Cache-Control", "no-store") // codes in Location, CSRF tokens in pages
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
}

// renderEngineError is the engine's renderer of authorization errors it cannot redirect. It
// replaces anything the engine had begun to write with an error page.
func (s *Server) renderEngineError(w http.ResponseWriter, r *http.Request, err error) error {
	if rec, ok := w.(*recorder); ok {
		rec.reset()
		delete(rec.h, "Location")
	}
	if x := exchangeFrom(r.Context()); x != nil && x.lostRace {
		s.pages.message(w, http.StatusConflict, "Sign-in already finished", "This sign-in was finished in another window.")
		return nil
	}
	var oe goidc.Error
	if errors.As(err, &oe) && oe.Code != goidc.ErrorCodeInternalError {
		s.pages.message(w, http.StatusBadRequest, "Request not accepted",
			"Tiaki cannot accept the application's request: "+oe.Description+".")
		return nil
	}
	s.pages.message(w, http.StatusInternalServerError, "Something went wrong", "Tiaki could not finish this step.")
	return nil
}

// authorizeParams reads an authorization request's parameters (query for GET, form for POST,
// OIDC Core §3.1.2.1) and refuses, with an error page, repeated or oversized ones (RFC 6749
// §3.1: parameters must not repeat).
func (s *Server) authorizeParams(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	params := r.URL.Query()
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			s.pages.message(w, http.StatusBadRequest, "Request not accepted", "The request's form could not be read.")
			return nil, false
		}
		params = r.PostForm
	}
	for k, v := range params {
		if len(v) > 1 && k != "resource" {
			s.pages.message(w, http.StatusBadRequest, "Request not accepted", "The request repeats the parameter "+k+".")
			return nil, false
		}
		for _, one := range v {
			if len(one) > maxAuthorizeParam {
				s.pages.message(w, http.StatusBadRequest, "Request not accepted", "The request's parameter "+k+" is too long.")
				return nil, false
			}
		}
	}
	return params, true
}

// redirectError sends the browser back to the client with an error (RFC 6749 §4.1.2.1) and the
// issuer (RFC 9207 §2). redirectURI has been checked against the client's registration.
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, state, code, desc string) {
	u, err := url.Parse(redirectURI)
	if err != nil {
		s.pages.message(w, http.StatusBadRequest, "Wrong return address", "The application's return address is not valid.")
		return
	}
	q := u.Query()
	q.Set("error", code)
	q.Set("error_description", desc)
	if state != "" {
		q.Set("state", state)
	}
	q.Set("iss", s.cfg.Issuer)
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// validChallenge checks RFC 7636 §4.2: 43 to 128 characters of [A-Z] [a-z] [0-9] - . _ ~
// (an S256 challenge is 43 base64url characters).
func validChallenge(c string) bool {
	if len(c) < minChallenge || len(c) > maxChallenge {
		return false
	}
	for i := 0; i < len(c); i++ {
		switch b := c[i]; {
		case b >= 'A' && b <= 'Z', b >= 'a' && b <= 'z', b >= '0' && b <= '9', b == '-', b == '.', b == '_', b == '~':
		default:
			return false
		}
	}
	return true
}

// validPrompt checks OIDC Core §3.1.2.1: none must stand alone; select_account is not
// offered (one account per browser).
func validPrompt(p string) bool {
	values := strings.Fields(p)
	for _, v := range values {
		switch v {
		case string(goidc.PromptTypeLogin), string(goidc.PromptTypeConsent):
		case string(goidc.PromptTypeNone):
			if len(values) > 1 {
				return false
			}
		default:
			return false
		}
	}
	return true
}
