// Package bearer is the OAuth 2.0 access-token policy. It verifies JWT access tokens (RFC 9068)
// locally against each trusted issuer's JSON Web Key Set, and opaque tokens by introspection
// (RFC 7662), with a cache so the same token is checked once while it is valid
// (gateway-notes.md: verification on every request halves throughput). Tokens come only from
// the Authorization header (RFC 6750 §2.1), with the Bearer or the DPoP scheme.
//
// Sender-constrained tokens are held to their key: a token with cnf.jkt needs a DPoP proof made
// with that key (RFC 9449), a token with cnf.x5t#S256 needs the connection's client certificate
// (RFC 8705), and a revoked token's jti is refused on every request, cache hits included.
//
// Start with New and Verifier.Authenticate; token.go checks a JWT, jwks.go keeps the issuers'
// keys, introspect.go asks an issuer about opaque tokens, binding.go and dpop.go check the
// sender constraint, request.go reads the credential out of the request.
package bearer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
)

// Defaults and bounds.
const (
	// DefaultClockSkew tolerates clocks that disagree on exp, nbf and iat: a few seconds, so
	// an expired token is not kept alive for long (issue 11 item 14: it was 30 s).
	DefaultClockSkew = 5 * time.Second
	// MaxClockSkew bounds Config.ClockSkew.
	MaxClockSkew = time.Minute
	// MaxCacheAge bounds how long a verified token is trusted without verifying it again, so a
	// signing key withdrawn from the JWKS stops working within this time.
	MaxCacheAge = 5 * time.Minute

	maxTokenLen = 8 << 10
	cacheSize   = 10000
	realm       = `Bearer realm="tiaki"`
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

// Issuer is an authorization server whose tokens the route accepts. It needs a key set (JWKS or
// JWKSURL) for JWT access tokens, an introspection endpoint (IntrospectionURL or Introspect) for
// opaque ones, or both. A JWT from an issuer without a key set is introspected.
type Issuer struct {
	// Issuer is the exact "iss" value (RFC 9068 §4).
	Issuer string
	// JWKS returns the issuer's key set, for an issuer in the same process (Tiaki's own keys).
	JWKS func() []byte
	// JWKSURL is where a remote issuer publishes its key set; https only. Set it or JWKS.
	JWKSURL string

	// IntrospectionURL is the issuer's RFC 7662 endpoint; https only. The gateway authenticates
	// to it as ClientID with ClientSecret (client_secret_basic, RFC 7662 §2.1 requires some
	// client authentication).
	IntrospectionURL string
	// ClientID is the gateway's client ID at the introspection endpoint.
	ClientID string
	// ClientSecret is the gateway's client secret there; it never reaches a log or error.
	ClientSecret tiaki.Secret
	// Introspect answers introspection in process (Tiaki's own authorization server): it
	// returns the RFC 7662 §2.2 response document for token, exactly as the endpoint would,
	// so one parser checks both. Set it or IntrospectionURL.
	Introspect func(ctx context.Context, token string) ([]byte, error)
	// OpaquePrefix, when set, marks this issuer's opaque tokens (Tiaki's start "tiaki_at_"):
	// tokens with it are introspected here and nowhere else, and the issuer is not the route's
	// introspecting issuer for other opaque tokens, which may then be another's.
	OpaquePrefix string

	// Discover finds what JWKSURL and IntrospectionURL leave empty in the issuer's metadata
	// (RFC 8414, OpenID Connect Discovery), fetched when first needed and again hourly, so an
	// issuer that is down when the gateway starts does not stop it. Introspection is
	// discovered only when ClientID is set.
	Discover bool
	// HTTPClient fetches this issuer's metadata and key set and calls its introspection
	// endpoint (to trust a private CA, say); Deps.HTTPClient if nil.
	HTTPClient *http.Client
}

// Config is one route's access-token policy.
type Config struct {
	Issuers []Issuer
	// Audience must be among the token's "aud" values (RFC 9068 §4): a token minted for
	// another API must not work here.
	Audience string
	// Algorithms accepted for JWT access tokens; DefaultAlgorithms if empty. Never none or HS*.
	Algorithms []string
	// ClockSkew tolerated on exp, nbf and iat (gateway.clock_leeway); DefaultClockSkew if
	// zero, at most MaxClockSkew.
	ClockSkew time.Duration
	// Required refuses requests without a token; otherwise they pass without a principal.
	Required bool

	// IntrospectionTTL is how long an issuer's "active" answer is trusted; never past the
	// token's exp. DefaultIntrospectionTTL if zero, at most MaxCacheAge. It is also how long a
	// revoked opaque token without a jti keeps working here.
	IntrospectionTTL time.Duration

	// DPoPAlgorithms are the JWS algorithms accepted for DPoP proofs; DefaultDPoPAlgorithms if
	// empty. DPoP is accepted only when Deps.ReplayCache is set.
	DPoPAlgorithms []string
	// DPoPWindow is how far a proof's iat may be from now, either way; DefaultDPoPWindow if
	// zero.
	DPoPWindow time.Duration
	// RequireBinding refuses tokens that are not sender-constrained (no cnf claim), for routes
	// that accept only DPoP- or certificate-bound tokens (FAPI 2.0 Security Profile §5.3.4).
	RequireBinding bool
}

// Deps are what the policy needs from the rest of Tiaki.
type Deps struct {
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// HTTPClient fetches JWKSURL key sets and calls introspection endpoints; a bounded client
	// (10 s, TLS 1.2+, https redirects only) if nil.
	HTTPClient *http.Client
	// Logger receives key-set and introspection failures; slog.Default() if nil.
	Logger *slog.Logger
	// Revocations, when set, is asked on every request (cache hits included) whether the
	// token, its grant or its client was revoked, so a revoked token stops working here as
	// soon as this node learns of the revocation. revocation.List satisfies it.
	Revocations Revocations
	// ReplayCache records DPoP proof jti values so each proof is used once (RFC 9449 §11.1).
	// Without it the DPoP scheme is refused: a proof that could be replayed proves nothing.
	ReplayCache tiaki.ReplayCache
}

// Revocations is the node's copy of access-token revocations: no I/O, asked on every request.
type Revocations interface {
	// Revoked reports whether a token with this jti, grant, client and subject (empty when
	// the subject is the client), issued at issuedAt, was revoked.
	Revoked(jti, grantID, clientID, subject string, issuedAt time.Time) bool
}

// Verifier is the access-token policy for one route. It implements policy.Checker and
// policy.Authenticator.
type Verifier struct {
	issuers        map[string]*trustedIssuer
	introspector   *introspector // the one issuer that introspects unmarked opaque tokens, if any
	prefixed       []prefixedIntrospector
	audience       string
	algs           []jose.SignatureAlgorithm
	skew           time.Duration
	introspectTTL  time.Duration
	required       bool
	requireBinding bool
	now            func() time.Time
	log            *slog.Logger
	revocations    Revocations
	dpop           *proofChecker // nil: DPoP not accepted
	cache          *policy.Cache[tokenInfo]
	refused        *policy.Cache[*policy.Denial] // introspection's negative answers

	missing, duplicate, inURL, inForm, unavailable *policy.Denial
	noDPoP, boundAsBearer, unbound                 *policy.Denial
	asDPoP                                         map[*policy.Denial]*policy.Denial
}

// prefixedIntrospector introspects the opaque tokens that start with prefix (Issuer.OpaquePrefix).
type prefixedIntrospector struct {
	prefix string
	intro  *introspector
}

// introspectorFor returns who introspects token when it is not a JWT the route verifies itself.
func (v *Verifier) introspectorFor(token string) *introspector {
	for _, p := range v.prefixed {
		if strings.HasPrefix(token, p.prefix) {
			return p.intro
		}
	}
	return v.introspector
}

// trustedIssuer is one trusted issuer: its key set, its introspection endpoint, or both.
type trustedIssuer struct {
	name       string
	keys       *keySource
	introspect *introspector
}

// tokenInfo is what the cache keeps of a verified token.
type tokenInfo struct {
	consumer, subject, jti string
	// grant is the token's grant_id (Tiaki's claim) and iat its issue time, for revocation
	// by grant and by client.
	grant  string
	iat    time.Time
	scopes []string // len == cap: shared read-only by every hit
	exp    time.Time
	// jkt and x5t are the token's cnf members (RFC 9449 §6, RFC 8705 §3.1), empty when the
	// token is not bound that way.
	jkt, x5t string
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
		issuers:        make(map[string]*trustedIssuer, len(cfg.Issuers)),
		audience:       cfg.Audience,
		skew:           cfg.ClockSkew,
		introspectTTL:  cfg.IntrospectionTTL,
		required:       cfg.Required,
		requireBinding: cfg.RequireBinding,
		now:            deps.Now,
		log:            deps.Logger,
		revocations:    deps.Revocations,
		cache:          policy.NewCache[tokenInfo](cacheSize),
		refused:        policy.NewCache[*policy.Denial](cacheSize),
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
	case v.skew < 0 || v.skew > MaxClockSkew:
		return nil, fmt.Errorf("bearer: clock skew %v: between 0 and %v: %w", v.skew, MaxClockSkew, tiaki.ErrInvalid)
	}
	switch {
	case v.introspectTTL == 0:
		v.introspectTTL = DefaultIntrospectionTTL
	case v.introspectTTL < 0 || v.introspectTTL > MaxCacheAge:
		return nil, fmt.Errorf("bearer: introspection TTL %v: between 0 and %v: %w", v.introspectTTL, MaxCacheAge, tiaki.ErrInvalid)
	}
	var err error
	if v.algs, err = algorithms(cfg.Algorithms, DefaultAlgorithms); err != nil {
		return nil, err
	}
	client := deps.HTTPClient
	if client == nil {
		client = defaultClient()
	}
	for _, is := range cfg.Issuers {
		iss, err := newIssuer(is, client, v.log)
		if err != nil {
			return nil, err
		}
		if _, dup := v.issuers[is.Issuer]; dup {
			return nil, fmt.Errorf("bearer: issuer %q listed twice: %w", is.Issuer, tiaki.ErrInvalid)
		}
		switch {
		case iss.introspect != nil && is.OpaquePrefix != "":
			v.prefixed = append(v.prefixed, prefixedIntrospector{prefix: is.OpaquePrefix, intro: iss.introspect})
		case iss.introspect != nil:
			// An opaque token names no issuer; with two introspecting issuers the gateway would
			// have to send every token to both, handing one issuer's tokens to the other.
			if v.introspector != nil {
				return nil, fmt.Errorf("bearer: issuers %q and %q both introspect; a route may have one: %w",
					v.introspector.issuer, is.Issuer, tiaki.ErrInvalid)
			}
			v.introspector = iss.introspect
		}
		v.issuers[is.Issuer] = iss
	}
	if deps.ReplayCache != nil {
		if v.dpop, err = newProofChecker(cfg, deps.ReplayCache); err != nil {
			return nil, err
		}
	} else if len(cfg.DPoPAlgorithms) > 0 || cfg.DPoPWindow != 0 {
		return nil, errors.New("bearer: DPoP settings need Deps.ReplayCache (RFC 9449 §11.1: proofs are single-use)")
	}
	v.buildDenials()
	return v, nil
}

// algorithms maps JWS algorithm names to go-jose's, refusing any that is not asymmetric.
func algorithms(names, defaults []string) ([]jose.SignatureAlgorithm, error) {
	if len(names) == 0 {
		names = defaults
	}
	out := make([]jose.SignatureAlgorithm, 0, len(names))
	for _, n := range names {
		alg, ok := allowedAlgorithms[n]
		if !ok {
			return nil, fmt.Errorf("bearer: algorithm %q: not an accepted asymmetric JWS algorithm: %w", n, tiaki.ErrInvalid)
		}
		out = append(out, alg)
	}
	return out, nil
}

func newIssuer(is Issuer, client *http.Client, log *slog.Logger) (*trustedIssuer, error) {
	if is.Issuer == "" {
		return nil, fmt.Errorf("bearer: issuer: the issuer identifier is required: %w", tiaki.ErrInvalid)
	}
	if is.HTTPClient != nil {
		client = is.HTTPClient
	}
	var disc *discovery
	if is.Discover {
		var err error
		if disc, err = newDiscovery(is.Issuer, client); err != nil {
			return nil, fmt.Errorf("bearer: issuer %q: %v: %w", is.Issuer, err, tiaki.ErrInvalid)
		}
	}
	hasKeys := is.JWKS != nil || is.JWKSURL != "" || disc != nil
	hasIntrospection := is.Introspect != nil || is.IntrospectionURL != "" || disc != nil && is.ClientID != ""
	if !hasKeys && !hasIntrospection {
		return nil, fmt.Errorf("bearer: issuer %q: set a key set (JWKS or JWKSURL), introspection (Introspect or IntrospectionURL) or Discover: %w", is.Issuer, tiaki.ErrInvalid)
	}
	iss := &trustedIssuer{name: is.Issuer}
	var err error
	if hasKeys {
		if iss.keys, err = newKeySource(is, client, disc, log); err != nil {
			return nil, err
		}
	}
	if hasIntrospection {
		if iss.introspect, err = newIntrospector(is, client, disc); err != nil {
			return nil, err
		}
	}
	return iss, nil
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
	s, token := credentials(vals[0])
	switch {
	case s == schemeNone:
		return false, nil // another scheme (Basic): not this mechanism's credential
	case s == schemeDPoP && v.dpop == nil:
		return true, v.noDPoP
	case len(token) > maxTokenLen:
		return true, v.refuse(s, deniedMalformed)
	}
	now := v.now()
	info, d := v.lookup(r.Context(), token, now)
	if d != nil {
		return true, v.refuse(s, d)
	}
	// Checked on cache hits too: Revoked reads a local copy, so this costs a few map lookups
	// and a revoked token stops here as soon as this node learns of the revocation.
	if v.revocations != nil && v.revocations.Revoked(info.jti, info.grant, info.consumer, info.subject, info.iat) {
		return true, v.refuse(s, deniedRevoked)
	}
	if d := v.bind(r, s, token, &info, now); d != nil {
		return true, d
	}
	kind := tiaki.CredentialBearer
	if s == schemeDPoP {
		kind = tiaki.CredentialDPoP
	}
	policy.Admit(p, kind, info.consumer, info.jti, info.exp)
	if info.x5t != "" && !slices.Contains(p.Credentials, tiaki.CredentialMTLS) {
		// RFC 8705 §3: the connection's certificate proved possession of the token.
		p.Credentials = append(p.Credentials, tiaki.CredentialMTLS)
	}
	if p.Subject == "" {
		p.Subject = info.subject
	}
	policy.AdmitScopes(p, kind, info.scopes) // the token's scopes, not an API key's, decide
	return true, nil
}

// lookup returns what is known of token: from the cache, or by verifying or introspecting it.
func (v *Verifier) lookup(ctx context.Context, token string, now time.Time) (tokenInfo, *policy.Denial) {
	fp := policy.Fingerprint(token)
	if info, ok := v.cache.Get(fp, now); ok {
		return info, nil
	}
	if v.introspector != nil || len(v.prefixed) > 0 {
		if d, ok := v.refused.Get(fp, now); ok {
			return tokenInfo{}, d
		}
	}
	// Only tokens that passed this are cached, so a hit needs no second look.
	if !b64token(token) {
		return tokenInfo{}, deniedMalformed
	}
	info, intro, d := v.verify(ctx, token, now)
	if intro != nil {
		return v.introspect(ctx, intro, token, fp, now)
	}
	if d != nil {
		return tokenInfo{}, d
	}
	until := now.Add(MaxCacheAge)
	if info.exp.Before(until) {
		until = info.exp
	}
	v.cache.Put(fp, info, until, now)
	return info, nil
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

// buildDenials makes the denials that depend on the configuration, once.
func (v *Verifier) buildDenials() {
	v.missing = &policy.Denial{Status: http.StatusUnauthorized, Type: "token-required",
		Title: "Access token required", Detail: "Send an access token in the Authorization header.",
		Challenge: realm, Reason: "no bearer token"}
	if v.dpop != nil {
		// RFC 9449 §7.1: a resource server that accepts DPoP says so, with the algorithms.
		v.missing.MoreChallenges = []string{v.dpop.realm}
	}
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
		Reason: "issuer key set or introspection unavailable", RetryAfter: minRefresh}
	v.noDPoP = &policy.Denial{Status: http.StatusUnauthorized, Type: "dpop-not-accepted",
		Title: "DPoP not accepted", Detail: "This API does not accept DPoP-bound access tokens.",
		Challenge: realm + `, error="invalid_request", error_description="this API does not accept the DPoP scheme"`,
		Reason:    "DPoP scheme on a route without a replay cache"}
	// RFC 9449 §7.2: a DPoP-bound token presented as a bearer token is refused, or stealing it
	// would be enough to use it.
	v.boundAsBearer = invalidToken("the access token is bound to a DPoP key; send it with the DPoP scheme and a proof",
		"DPoP-bound token presented as a bearer token")
	if v.dpop != nil {
		v.boundAsBearer.MoreChallenges = []string{v.dpop.realm}
	}
	v.unbound = invalidToken("this API accepts only sender-constrained access tokens", "token has no cnf")

	// The same refusals in the DPoP scheme's words, for requests that used it (RFC 9449 §7.1).
	v.asDPoP = map[*policy.Denial]*policy.Denial{}
	if v.dpop != nil {
		for _, d := range append(tokenDenials(), v.unbound) {
			c := *d
			c.Challenge = v.dpop.realm + strings.TrimPrefix(d.Challenge, realm)
			v.asDPoP[d] = &c
		}
	}
}

// refuse returns d in the words of the scheme the request used.
func (v *Verifier) refuse(s scheme, d *policy.Denial) *policy.Denial {
	if s == schemeDPoP {
		if x, ok := v.asDPoP[d]; ok {
			return x
		}
	}
	return d
}
