package policy

import (
	"errors"
	"net/http"

	"github.com/tiaki-nz/tiaki"
)

// Any is an authentication step that several mechanisms can satisfy: a route's
// auth.require: any (an API key or a bearer token, say). Build it with AnyOf.
type Any struct {
	auths   []Authenticator
	missing *Denial
}

// AnyOf returns a check that passes when at least one of auths authenticates the request.
//
// Every credential the request carries is checked, not only the first that passes: a request
// with a good API key and a forged bearer token is refused, because the upstream would otherwise
// receive an Authorization header nobody verified. A request with none of the credentials gets
// the first mechanism's 401 with every mechanism's challenge, one WWW-Authenticate field each
// (RFC 9110 §11.6.1). The members' own Required settings do not apply inside AnyOf.
//
// For auth.require: all, list the mechanisms one after another in the route's policies, each
// configured as required.
func AnyOf(auths ...Authenticator) (*Any, error) {
	if len(auths) == 0 {
		return nil, errors.New("policy: AnyOf needs at least one authenticator")
	}
	first := auths[0].Missing()
	missing := *first
	missing.MoreChallenges = append([]string(nil), first.MoreChallenges...)
	for _, a := range auths[1:] {
		m := a.Missing()
		if m.Challenge != "" {
			missing.MoreChallenges = append(missing.MoreChallenges, m.Challenge)
		}
		missing.MoreChallenges = append(missing.MoreChallenges, m.MoreChallenges...)
	}
	missing.Reason = "no credential for any accepted mechanism"
	return &Any{auths: append([]Authenticator(nil), auths...), missing: &missing}, nil
}

// Authenticate implements Authenticator, so AnyOf can nest.
func (a *Any) Authenticate(r *http.Request, p *tiaki.Principal) (found bool, d *Denial) {
	for _, m := range a.auths {
		ok, d := m.Authenticate(r, p)
		if d != nil {
			return true, d
		}
		found = found || ok
	}
	return found, nil
}

// Missing implements Authenticator.
func (a *Any) Missing() *Denial { return a.missing }

// Check implements Checker: one mechanism must pass, and none may fail.
func (a *Any) Check(r *http.Request, p *tiaki.Principal) *Denial {
	found, d := a.Authenticate(r, p)
	if d != nil {
		return d
	}
	if !found {
		return a.missing
	}
	return nil
}

// Enforce implements Policy.
func (a *Any) Enforce(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	return Apply(a, w, r, next)
}
