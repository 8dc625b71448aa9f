// Package policy is the contract every gateway policy meets, the Denial a policy returns instead
// of writing an error itself, and Render, the one place a denial becomes an HTTP response (RFC
// 9457 problem details). Start with Policy and Checker below, then denial.go.
//
// A route's pipeline is compiled once, when config loads. Policies that decide on the request
// alone (authentication, scopes, limits) implement Checker: the gateway runs them in order in a
// plain loop, threading one principal through, before anything is proxied; that costs no
// allocation per policy. Policies that must wrap the exchange (response validation) keep the
// general Enforce shape and are chained after the checks. CORS is neither: see CrossOrigin.
//
// The packages under policy/ (apikey, bearer, scope, ...) each provide one policy; none imports
// the gateway.
package policy

import (
	"net/http"
	"slices"
	"time"

	"github.com/tiaki-nz/tiaki"
)

// Policy is one step of a route's pipeline. Enforce either calls next (possibly with a derived
// request) and returns nil, or returns an error without writing a response: a *Denial for a
// refusal the client should see, anything else for an internal failure (the client sees 500 and
// the cause is logged with the request ID).
type Policy interface {
	Enforce(w http.ResponseWriter, r *http.Request, next http.Handler) error
}

// Checker is a policy that decides on the request alone, before the upstream is called.
//
// Check may record an authenticated credential in p (authentication) or read p (authorization).
// p is never nil; it carries no credentials until some checker authenticated the request. Check
// must not keep p or r after it returns. A returned *Denial may be shared between requests and
// must be treated as read-only.
type Checker interface {
	Policy
	Check(r *http.Request, p *tiaki.Principal) *Denial
}

// HeaderChecker is a Checker that also sets response headers on requests it lets through (the
// RateLimit fields of a rate limiter, say). The gateway calls CheckHeader instead of Check when a
// checker has it; h is the response's header map, written before the upstream answers.
type HeaderChecker interface {
	Checker
	CheckHeader(h http.Header, r *http.Request, p *tiaki.Principal) *Denial
}

// CrossOrigin is a route's CORS policy (policy/cors). It is not a step of the pipeline: the
// gateway consults it for every request of the route, first, because a CORS preflight must be
// answered before the method allow-list and authentication (browsers send preflights without
// credentials), and the CORS headers belong on every response of the route, denials included,
// so that a browser application can read a 401 or a 429.
type CrossOrigin interface {
	// Preflight reports whether r is a CORS preflight request. For one that may proceed it
	// sets the answer's headers on h (the response's header map) and returns nil, and the
	// gateway answers 204; for one that may not it returns the denial to render, having set
	// nothing. For any other request it returns (false, nil) and sets nothing.
	Preflight(h http.Header, r *http.Request) (preflight bool, d *Denial)
	// Actual sets on h, the final header map of the response to a request that was not a
	// preflight, the CORS headers for origin (the request's Origin, "" if none), replacing any
	// the upstream sent. It is called once, as the status line is written.
	Actual(h http.Header, origin string)
}

// Authenticator is one authentication mechanism (API key, bearer token, ...), so that
// combinators such as AnyOf can tell "no credential of this kind" from "a bad credential".
type Authenticator interface {
	// Authenticate looks for this mechanism's credential in r. found reports whether r carries
	// one at all; when it does, Authenticate returns nil after recording it in p, or a denial
	// when the credential fails. A request without the credential gives (false, nil).
	Authenticate(r *http.Request, p *tiaki.Principal) (found bool, d *Denial)
	// Missing is the denial for a request without this mechanism's credential: 401 with the
	// bare challenge asking for it (RFC 6750 §3.1: no error code when none was offered).
	Missing() *Denial
}

// Authenticated reports whether some mechanism has authenticated the request p belongs to.
func Authenticated(p *tiaki.Principal) bool { return p != nil && len(p.Credentials) > 0 }

// Admit records in p one credential that passed. The first mechanism to pass names the consumer
// and the credential ID; later ones only add their kind to Credentials (and a nearer expiry), so
// "API key then bearer token" keeps the key's consumer.
func Admit(p *tiaki.Principal, kind tiaki.CredentialKind, consumer, credentialID string, expires time.Time) {
	if p.Consumer == "" {
		p.Consumer = consumer
	}
	if p.CredentialID == "" {
		p.CredentialID = credentialID
	}
	if !expires.IsZero() && (p.ExpiresAt.IsZero() || expires.Before(p.ExpiresAt)) {
		p.ExpiresAt = expires
	}
	p.Credentials = append(p.Credentials, kind)
}

// AdmitScopes records in p the scopes of the credential of kind that Admit just recorded, so
// that the scope policy judges the credential that authorises the request. An access token's
// scopes replace any an API key set (the token is OAuth's authorisation credential; a key or
// certificate beside it identifies the application); an API key's scopes count only when no
// token was admitted before it. A client certificate carries no scopes: do not call this for
// one. scopes is kept, not copied, and must not be modified afterwards.
func AdmitScopes(p *tiaki.Principal, kind tiaki.CredentialKind, scopes []string) {
	if kind == tiaki.CredentialBearer || kind == tiaki.CredentialDPoP {
		p.Scopes = scopes
		return
	}
	for _, c := range p.Credentials {
		if c == tiaki.CredentialBearer || c == tiaki.CredentialDPoP {
			return
		}
	}
	p.Scopes = scopes
}

// Apply runs c as a stand-alone Policy: it checks r against the principal already in the
// request's context (if any), and calls next with the extended principal. Checkers implement
// Enforce with it; the gateway calls Check directly and attaches the principal once.
func Apply(c Checker, w http.ResponseWriter, r *http.Request, next http.Handler) error {
	var p tiaki.Principal
	prev := tiaki.PrincipalFrom(r.Context())
	if prev != nil {
		// Copy, clipping the slices, so appends never write into the earlier principal.
		p = *prev
		p.Credentials = slices.Clip(prev.Credentials)
		p.Scopes = slices.Clip(prev.Scopes)
	}
	if d := c.Check(r, &p); d != nil {
		return d
	}
	if prev == nil && !Authenticated(&p) || prev != nil && len(p.Credentials) == len(prev.Credentials) {
		next.ServeHTTP(w, r)
		return nil
	}
	next.ServeHTTP(w, r.WithContext(tiaki.WithPrincipal(r.Context(), &p)))
	return nil
}
