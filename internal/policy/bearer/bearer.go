// Package bearer is the OAuth 2.0 bearer-token policy: it verifies JWT access tokens (RFC 9068)
// locally against each trusted issuer's JSON Web Key Set, with a cache so the same token is
// verified once while it is valid (gateway-notes.md: verification on every request halves
// throughput). Tokens come only from the Authorization header (RFC 6750 §2.1). Start with New and
// Verifier.Authenticate; token.go checks a token, jwks.go keeps the issuers' keys.
package bearer

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
)

// Defaults and bounds.
const (
	// DefaultClockSkew tolerates clocks that disagree on exp, nbf and iat.
	DefaultClockSkew = 30 * time.Second
	// MaxCacheAge bounds how long a verified token is trusted without verifying it again, so a
	// signing key withdrawn from the JWKS stops working within this time.
	MaxCacheAge = 5 * time.Minute

	maxClockSkew = 5 * time.Minute
	maxTokenLen  = 8 << 10
	cacheSize    = 10000
	realm        = `Bearer realm="tiaki"`
)

// DefaultAlgorithms are the JWS algorithms accepted when Config.Algorithms is empty.
var DefaultAlgorithms = []string{"ES256", "PS256", "RS256", "EdDSA"}

// allowedAlgorithms are the asymmetric algorithms a resource server can verify with public keys.
// "none" and the HS* family are absent on purpose: an HMAC "signature" made with the issuer's
// public key as the secret is the classic JWT forgery.
var allowedAlgorithms = map[string]jose.SignatureAlgorithm{
	"ES256": jose.ES256, "ES384": jose.ES384, "ES512": jose.ES512,
	"PS256": jose.PS256, "PS384": jose.PS384, "PS512": jose.PS512,
	"RS256": jose.RS256, "RS384": jose.RS384, "RS512": jose.RS512,
	"EdDSA": jose.EdDSA,
}

// Issuer is an authorization server whose tokens the route accepts.
type Issuer struct {
	// Issuer is the exact "iss" value (RFC 9068 §4).
	Issuer string
	// JWKS returns the issuer's key set, for an issuer in the same process (Tiaki's own keys).
	JWKS func() []byte
	// JWKSURL is where a remote issuer publishes its key set; https only. Set it or JWKS.
	JWKSURL string
}

// Config is one route's bearer-token policy.
type Config struct {
	Issuers []Issuer
	// Audience must be among the token's "aud" values (RFC 9068 §4): a token minted for
	// another API must not work here.
	Audience string
	// Algorithms accepted; DefaultAlgorithms if empty. Never none or HS*.
	Algorithms []string
	// ClockSkew tolerated on exp, nbf and iat; DefaultClockSkew if zero.
	ClockSkew time.Duration
	// Required refuses requests without a token; otherwise they pass without a principal.
	Required bool
}

// Deps are what the policy needs from the rest of Tiaki.
type Deps struct {
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// HTTPClient fetches JWKSURL key sets; a bounded client (10 s, TLS 1.2+) if nil.
	HTTPClient *http.Client
	// Logger receives key-set fetch failures; slog.Default() if nil.
	Logger *slog.Logger
}

// Verifier is the bearer-token policy for one route. It implements policy.Checker and
// policy.Authenticator.
type Verifier struct {
	issuers  map[string]*keySource
	audience string
	algs     []jose.SignatureAlgorithm
	skew     time.Duration
	required bool
	now      func() time.Time
	log      *slog.Logger
	cache    *policy.Cache[tokenInfo]

	missing, duplicate, inURL, inForm, unavailable *policy.Denial
}

// tokenInfo is what the cache keeps of a verified token.
type tokenInfo struct {
	consumer, subject, jti string
	scopes                 []string // len == cap: shared read-only by every hit
	exp                    time.Time
}

// New validates cfg and builds the policy.
func New(cfg Config, deps Deps) (*Verifier, error) {
	if len(cfg.Issuers) == 0 {
		return nil, fmt.Errorf("bearer: at least one issuer is required: %w", tiaki.ErrInvalid)
	}
	if cfg.Audience == "" {
		return nil, fmt.Errorf("bearer: audience is required (RFC 9068 §4): %w", tiaki.ErrInvalid)
	}
	v := &Verifier{
		issuers:  make(map[string]*keySource, len(cfg.Issuers)),
		audience: cfg.Audience,
		skew:     cfg.ClockSkew,
		required: cfg.Required,
		now:      deps.Now,
		log:      deps.Logger,
		cache:    policy.NewCache[tokenInfo](cacheSize),
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.Default()
	}
	switch {
	case v.skew == 0:
		v.skew = DefaultClockSkew
	case v.skew < 0 || v.skew > maxClockSkew:
		return nil, fmt.Errorf("bearer: clock skew %v: between 0 and %v: %w", v.skew, maxClockSkew, tiaki.ErrInvalid)
	}
	names := cfg.Algorithms
	if len(names) == 0 {
		names = DefaultAlgorithms
	}
	for _, n := range names {
		alg, ok := allowedAlgorithms[n]
		if !ok {
			return nil, fmt.Errorf("bearer: algorithm %q: not an accepted asymmetric JWS algorithm: %w", n, tiaki.ErrInvalid)
		}
		v.algs = append(v.algs, alg)
	}
	client := deps.HTTPClient
	if client == nil {
		client = defaultClient()
	}
	for _, is := range cfg.Issuers {
		src, err := newKeySource(is, client, v.log)
		if err != nil {
			return nil, err
		}
		if _, dup := v.issuers[is.Issuer]; dup {
			return nil, fmt.Errorf("bearer: issuer %q listed twice: %w", is.Issuer, tiaki.ErrInvalid)
		}
		v.issuers[is.Issuer] = src
	}

	v.missing = &policy.Denial{Status: http.StatusUnauthorized, Type: "token-required",
		Title: "Access token required", Detail: "Send an access token in the Authorization header.",
		Challenge: realm, Reason: "no bearer token"}
	// RFC 6750 §3.1 would answer these with 400 invalid_request; Part B (catalogue TOKEN-05)
	// asks for 401, which also tells clients plainly that the request was not authenticated.
	v.duplicate = &policy.Denial{Status: http.StatusBadRequest, Type: "invalid-request",
		Title: "Invalid request", Detail: "Send one Authorization header.",
		Challenge: realm + `, error="invalid_request", error_description="one Authorization header"`,
		Reason:    "several Authorization headers"}
	v.inURL = &policy.Denial{Status: http.StatusUnauthorized, Type: "token-in-url",
		Title:     "Access token in the URL",
		Detail:    "Send access tokens in the Authorization header, never in the URL (RFC 6750 §2.1).",
		Challenge: realm + `, error="invalid_request", error_description="send the token in the Authorization header"`,
		Reason:    "access token in the query string"}
	v.inForm = &policy.Denial{Status: http.StatusUnauthorized, Type: "token-in-body",
		Title:     "Access token in the body",
		Detail:    "Send access tokens in the Authorization header, not in a form body (RFC 6750 §2.1).",
		Challenge: realm + `, error="invalid_request", error_description="send the token in the Authorization header"`,
		Reason:    "access token in a form body"}
	v.unavailable = &policy.Denial{Status: http.StatusServiceUnavailable, Type: "unavailable",
		Title: "Service unavailable", Detail: "The access token could not be checked; try again shortly.",
		Reason: "issuer key set unavailable", RetryAfter: minRefresh}
	return v, nil
}

// Authenticate implements policy.Authenticator.
func (v *Verifier) Authenticate(r *http.Request, p *tiaki.Principal) (found bool, d *policy.Denial) {
	// RFC 6750 §2.1 only: tokens in URLs leak through logs, histories and Referer (RFC 9700
	// §4.3.2; OAuth 2.1 forbids them), so a token anywhere else is refused, not ignored.
	if tokenInQuery(r.URL.RawQuery) {
		return true, v.inURL
	}
	if tokenInForm(r) {
		return true, v.inForm
	}
	vals := r.Header["Authorization"]
	switch len(vals) {
	case 0:
		return false, nil
	case 1:
	default:
		return true, v.duplicate
	}
	token, ok := bearerToken(vals[0])
	if !ok {
		return false, nil // another scheme (Basic, DPoP): not this mechanism's credential
	}
	if len(token) > maxTokenLen {
		return true, deniedMalformed
	}
	now := v.now()
	fp := policy.Fingerprint(token)
	info, ok := v.cache.Get(fp, now)
	if !ok {
		// Only tokens that passed this are cached, so a hit needs no second look.
		if !b64token(token) {
			return true, deniedMalformed
		}
		var d *policy.Denial
		if info, d = v.verify(r.Context(), token, now); d != nil {
			return true, d
		}
		until := now.Add(MaxCacheAge)
		if info.exp.Before(until) {
			until = info.exp
		}
		v.cache.Put(fp, info, until, now)
	}
	policy.Admit(p, tiaki.CredentialBearer, info.consumer, info.jti, info.exp)
	if p.Subject == "" {
		p.Subject = info.subject
	}
	if p.Scopes == nil {
		p.Scopes = info.scopes
	}
	return true, nil
}

// bearerToken returns the token of an Authorization: Bearer value. The scheme is
// case-insensitive (RFC 9110 §11.1).
func bearerToken(v string) (string, bool) {
	const scheme = "bearer "
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	return strings.TrimLeft(v[len(scheme):], " "), true
}

// b64token reports whether t matches RFC 6750 §2.1 b64token: 1*( ALPHA / DIGIT / "-" / "." /
// "_" / "~" / "+" / "/" ) *"=".
func b64token(t string) bool {
	if t == "" {
		return false
	}
	end := len(t)
	for end > 0 && t[end-1] == '=' {
		end--
	}
	if end == 0 {
		return false
	}
	for i := 0; i < end; i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// tokenInQuery reports whether the raw query has an access_token parameter.
func tokenInQuery(q string) bool {
	const name = "access_token"
	if !strings.Contains(q, "access") && !strings.Contains(q, "%") {
		return false // the common case, decided without splitting
	}
	for q != "" {
		var part string
		if i := strings.IndexAny(q, "&;"); i >= 0 {
			part, q = q[:i], q[i+1:]
		} else {
			part, q = q, ""
		}
		n, _, _ := strings.Cut(part, "=")
		if strings.ContainsAny(n, "%+") {
			if u, err := url.QueryUnescape(n); err == nil {
				n = u
			}
		}
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// Missing implements policy.Authenticator.
func (v *Verifier) Missing() *policy.Denial { return v.missing }

// Check implements policy.Checker.
func (v *Verifier) Check(r *http.Request, p *tiaki.Principal) *policy.Denial {
	found, d := v.Authenticate(r, p)
	if d != nil {
		return d
	}
	if !found && v.required {
		return v.missing
	}
	return nil
}

// Enforce implements policy.Policy.
func (v *Verifier) Enforce(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	return policy.Apply(v, w, r, next)
}
