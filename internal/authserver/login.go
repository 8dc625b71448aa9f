package authserver

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/luikyv/go-oidc/pkg/goidc"

	"github.com/tiaki-nz/tiaki/internal/password"
	"github.com/tiaki-nz/tiaki/internal/web"
)

// The login policy: how a person gets from the authorization endpoint to a code. The engine
// calls authenticate when the request arrives (serveAuthorize) and again on every visit to
// PathAuthorize/{session} (serveAuthorizeStep, which has already checked that the session is
// unfinished, belongs to this browser and, for a form post, carries its CSRF token). Each call
// moves the flow on as far as it can: who is it (single sign-on, or the login form), does the
// person agree (remembered consent, or the consent page), then record what was granted.

// Keys of an authorization session's store while the flow runs.
const (
	flowBrowser   = "browser"   // SHA-256 of the browser cookie the flow is bound to
	flowCSRF      = "csrf"      // the flow's CSRF token, in its forms
	flowSubject   = "sub"       // who signed in
	flowAuthTime  = "auth_time" // when they authenticated (Unix seconds)
	flowConsented = "consented" // they allowed this request's scopes
)

// loginPolicy is the engine's only authentication policy.
func (s *Server) loginPolicy() goidc.AuthnPolicy {
	return goidc.NewPolicy("tiaki-login", func(*http.Request, *goidc.AuthnSession, *goidc.Client) bool { return true },
		s.authenticate)
}

// authenticate is the policy's step function.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, as *goidc.AuthnSession, c *goidc.Client) (goidc.Status, error) {
	if as.Store == nil {
		as.Store = map[string]any{}
	}
	if _, bound := as.Store[flowBrowser]; !bound {
		// First call, from the authorization endpoint: bind the flow to this browser.
		as.Store[flowBrowser] = digest(browserID(w, r))
		as.Store[flowCSRF] = randomID(r.Context())
	}
	if flowString(as, flowSubject) == "" {
		if st, err := s.loginStep(w, r, as, c); st != goidc.StatusSuccess {
			return st, err
		}
	}
	if consented, _ := as.Store[flowConsented].(bool); !consented {
		if st, err := s.consentStep(w, r, as, c); st != goidc.StatusSuccess {
			return st, err
		}
	}
	// What was granted, and what the ID token says about the authentication (claims.go). The
	// store becomes the grant's: flow secrets stay behind.
	sub := flowString(as, flowSubject)
	as.Subject, as.Username = sub, sub
	as.GrantedScopes = as.Scopes
	as.GrantedResources = as.Resources
	as.Store = map[string]any{
		storeAuthTime: flowInt(as, flowAuthTime),
		storeAMR:      []string{amrPassword},
		storeACR:      string(acrPassword),
	}
	return goidc.StatusSuccess, nil
}

// loginStep establishes who the person is.
func (s *Server) loginStep(w http.ResponseWriter, r *http.Request, as *goidc.AuthnSession, c *goidc.Client) (goidc.Status, error) {
	ctx := r.Context()
	prompt := strings.Fields(string(as.Prompt))
	// OIDC Core §3.1.2.1: prompt=login and max_age demand a fresh authentication.
	if !slices.Contains(prompt, string(goidc.PromptTypeLogin)) {
		if ls := s.currentLogin(ctx, r); ls != nil && s.recentEnough(as, ls.AuthTime) {
			as.Store[flowSubject], as.Store[flowAuthTime] = ls.Subject, ls.AuthTime
			return goidc.StatusSuccess, nil
		}
	}
	if slices.Contains(prompt, string(goidc.PromptTypeNone)) {
		return goidc.StatusFailure, goidc.NewError(goidc.ErrorCodeLoginRequired, "the person is not signed in")
	}
	data := pageData{Title: "Sign in", ClientName: clientName(c), Action: PathAuthorize + "/" + as.ID, CSRF: flowString(as, flowCSRF)}
	if r.Method != http.MethodPost || r.PostFormValue("step") != "login" {
		s.pages.render(w, http.StatusOK, "login.html", data, as.RedirectURI)
		return goidc.StatusPending, nil
	}
	username, pw := r.PostFormValue("username"), r.PostFormValue("password")
	data.Username = username
	ok, retry, err := s.checkPassword(ctx, r, username, pw)
	switch {
	case err != nil:
		s.log.ErrorContext(ctx, "authserver: checking a password", "request_id", web.RequestIDFrom(ctx), "cause", err.Error())
		s.pages.message(w, http.StatusServiceUnavailable, "Sign-in unavailable", "Tiaki cannot check passwords right now.")
		return goidc.StatusPending, nil
	case retry > 0:
		// AUTHN-16: throttled, with the same words whether or not the account exists.
		data.Error = "Too many sign-in attempts. Wait a minute, then try again."
		w.Header().Set("Retry-After", strconv.Itoa(int(retry.Round(time.Second).Seconds())+1))
		s.pages.render(w, http.StatusTooManyRequests, "login.html", data, as.RedirectURI)
		return goidc.StatusPending, nil
	case !ok:
		// HTTP-11: one message for an unknown account and a wrong password.
		data.Error = "The username or password is not right."
		s.log.InfoContext(ctx, "authserver: failed login", "request_id", web.RequestIDFrom(ctx), "client_id", c.ID)
		s.pages.render(w, http.StatusOK, "login.html", data, as.RedirectURI)
		return goidc.StatusPending, nil
	}
	ls, err := s.startLogin(ctx, w, r, username)
	if err != nil {
		return goidc.StatusFailure, fmt.Errorf("authserver: starting a login session: %w", err)
	}
	as.Store[flowSubject], as.Store[flowAuthTime] = ls.Subject, ls.AuthTime
	return goidc.StatusSuccess, nil
}

// recentEnough applies max_age (OIDC Core §3.1.2.1): an authentication older than max_age
// seconds does not count.
func (s *Server) recentEnough(as *goidc.AuthnSession, authTime int64) bool {
	if as.MaxAuthnAgeSecs == nil {
		return true
	}
	return s.now().Unix()-authTime <= int64(*as.MaxAuthnAgeSecs)
}

// checkPassword checks a username and password, after counting the attempt against the
// account and the client's IP (AUTHN-16). retry > 0 means throttled. An unknown or disabled
// account costs the same argon2id work as a known one, so timing tells nothing either.
func (s *Server) checkPassword(ctx context.Context, r *http.Request, username, pw string) (ok bool, retry time.Duration, err error) {
	for _, key := range []string{"tiaki:login:account:" + digest(username), "tiaki:login:ip:" + s.clientIP(r)} {
		d, err := s.limiter.Allow(ctx, key, s.cfg.LoginLimit, 1)
		if err != nil {
			return false, 0, err
		}
		if !d.Allowed {
			return false, max(d.RetryAfter, time.Second), nil
		}
	}
	if username == "" || len(username) > 255 || len(pw) > password.MaxLength {
		return false, 0, nil
	}
	hash, known := dummyHash(), false
	u, err := s.users.User(ctx, username)
	if err == nil && !u.Disabled && u.PasswordHash != "" {
		hash, known = u.PasswordHash, true
	}
	match, err := password.Verify(pw, hash)
	if err != nil {
		return false, 0, fmt.Errorf("account %q: %w", username, err)
	}
	return match && known, 0, nil
}

// dummyHash is verified against when there is no account, so both cases cost the same.
var dummyHash = sync.OnceValue(func() string {
	h, err := password.Hash(randomID(context.Background()), password.Default)
	if err != nil {
		panic(err) // only crypto/rand failing, which Go 1.24+ never reports
	}
	return h
})

// peerIP is the default Deps.ClientIP: the connection's peer address.
func peerIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

func clientName(c *goidc.Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

func flowString(as *goidc.AuthnSession, key string) string {
	v, _ := as.Store[key].(string)
	return v
}

// flowInt reads a number of the store, which JSON round trips turn into float64.
func flowInt(as *goidc.AuthnSession, key string) int64 {
	switch v := as.Store[key].(type) {
	case int64:
		return v
	case float64:
		return int64(v)
	case int:
		return int64(v)
	}
	return 0
}
