// Package scope is the authorization policy that requires scopes per HTTP method (Part B §3.3,
// RFC 6750 §3.1 insufficient_scope). It reads the principal that authentication policies earlier
// in the pipeline established, whatever the credential: an access token's scopes, or those an
// API key was issued with. Start with New and Guard.Check.
package scope

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/oauth"
	"github.com/tiaki-nz/tiaki/internal/policy"
)

// AnyMethod keys the scopes required by methods not listed on their own.
const AnyMethod = "*"

// Config is one route's scope requirements.
type Config struct {
	// ByMethod maps an HTTP method (or AnyMethod) to the scopes a request with that method
	// needs, all of them. HEAD needs what GET needs unless listed itself. A method neither
	// listed nor covered by AnyMethod needs no scope.
	ByMethod map[string][]string
}

// Guard is the scope policy for one route. It implements policy.Checker.
type Guard struct {
	rules    map[string]*rule
	fallback *rule
	// unauthenticated answers a request that reaches the guard with no principal at all: it
	// needs to authenticate before it can be authorised.
	unauthenticated *policy.Denial
}

type rule struct {
	scopes []string
	denied *policy.Denial
}

const bearerRealm = `Bearer realm="tiaki"`

// New validates cfg and builds the policy.
func New(cfg Config) (*Guard, error) {
	g := &Guard{
		rules: make(map[string]*rule, len(cfg.ByMethod)+1),
		unauthenticated: &policy.Denial{Status: http.StatusUnauthorized, Type: "token-required",
			Title: "Access token required", Detail: "Send an access token in the Authorization header.",
			Challenge: bearerRealm, Reason: "scopes required but request not authenticated"},
	}
	for m, scopes := range cfg.ByMethod {
		method := strings.ToUpper(m)
		if method != AnyMethod && !token(method) {
			return nil, fmt.Errorf("scope: method %q: not an HTTP method: %w", m, tiaki.ErrInvalid)
		}
		if _, dup := g.rules[method]; dup {
			return nil, fmt.Errorf("scope: method %q listed twice: %w", m, tiaki.ErrInvalid)
		}
		r, err := newRule(method, scopes)
		if err != nil {
			return nil, err
		}
		if method == AnyMethod {
			g.fallback = r
			continue
		}
		g.rules[method] = r
	}
	// A HEAD request reveals what a GET would (RFC 9110 §9.3.2), so it needs the same scopes.
	if get, ok := g.rules[http.MethodGet]; ok {
		if _, ok := g.rules[http.MethodHead]; !ok {
			g.rules[http.MethodHead] = get
		}
	}
	return g, nil
}

func newRule(method string, scopes []string) (*rule, error) {
	for _, s := range scopes {
		if !oauth.ValidScope(s) {
			return nil, fmt.Errorf("scope: method %s: scope %q: not an RFC 6749 §3.3 scope token of at most %d characters: %w", method, s, oauth.MaxScopeLength, tiaki.ErrInvalid)
		}
	}
	scopes = append([]string(nil), scopes...)
	need := strings.Join(scopes, " ")
	return &rule{
		scopes: scopes,
		denied: &policy.Denial{
			Status:    http.StatusForbidden,
			Type:      "insufficient-scope",
			Title:     "Insufficient scope",
			Detail:    "This request needs the scope(s): " + need + ".",
			Challenge: bearerRealm + `, error="insufficient_scope", scope="` + need + `"`,
			Reason:    "missing scope for " + method,
		},
	}, nil
}

// token reports whether s is an RFC 9110 §5.6.2 token, the syntax of a method.
func token(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// Check implements policy.Checker.
func (g *Guard) Check(r *http.Request, p *tiaki.Principal) *policy.Denial {
	ru := g.rules[r.Method]
	if ru == nil {
		ru = g.fallback
	}
	if ru == nil || len(ru.scopes) == 0 {
		return nil
	}
	if !policy.Authenticated(p) {
		return g.unauthenticated
	}
	// A method's scopes apply to whatever credential authorised the request (issue #11): the
	// access token's scopes when a token was presented, else the API key's; a client
	// certificate alone holds none. policy.AdmitScopes keeps that order in p.Scopes.
	for _, s := range ru.scopes {
		if !p.HasScope(s) {
			return ru.denied
		}
	}
	return nil
}

// Enforce implements policy.Policy.
func (g *Guard) Enforce(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	return policy.Apply(g, w, r, next)
}
