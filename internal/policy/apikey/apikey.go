// Package apikey is the API-key authentication policy (Part B §7.3; catalogue KEY-01..KEY-08):
// the caller sends its key in a header on every request, and the gateway finds the key by its
// public ID and compares a keyed hash of the whole key in constant time. Start with New and
// Verifier.Authenticate; key.go defines the key format, Generate and Parse.
package apikey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
)

// DefaultHeader is the header that carries the key unless configured otherwise.
const DefaultHeader = "API-Key"

// CacheTTL is how long a verified key is trusted without asking the store again. It bounds how
// long a revoked key keeps working on a node (catalogue KEY-03: revocation within seconds).
const CacheTTL = 5 * time.Second

const (
	cacheSize     = 10000
	lookupTimeout = 2 * time.Second
)

// Config is one route's API-key policy.
type Config struct {
	// Header carries the key; DefaultHeader if empty. Never X- prefixed (RFC 6648, catalogue
	// KEY-08) and never Authorization, which is for authorisation credentials (KEY-09).
	Header string
	// API is the API (gateway route name) the key must be issued for.
	API string
	// Required refuses requests without a key; otherwise they pass without a principal.
	Required bool
	// OutageGrace is how long after its last successful check a key this node has seen keeps
	// working while the store cannot be reached (Kong's db_resurrect_ttl); zero: not at all.
	// Revocations this node has seen stay in force; expiry and revocation times it read are
	// honoured. At most MaxOutageGrace.
	OutageGrace time.Duration
}

// MaxOutageGrace bounds Config.OutageGrace: past it an outage is an incident, not a blip, and
// keys the store could no longer vouch for must stop working.
const MaxOutageGrace = time.Hour

// Keys finds API keys by ID (a tiaki.APIKeyStore does).
type Keys interface {
	APIKey(ctx context.Context, id string) (*tiaki.APIKey, error)
}

// Hasher checks a key against its stored keyed hash, in constant time.
type Hasher interface {
	Verify(secret string, hash []byte) bool
}

// Deps are what the policy needs from the rest of Tiaki.
type Deps struct {
	Keys   Keys
	Hasher Hasher
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Logger receives store failures; slog.Default() if nil.
	Logger *slog.Logger
}

// Verifier is the API-key policy for one route. It implements policy.Checker and
// policy.Authenticator.
type Verifier struct {
	header     string // canonical form
	api        string
	required   bool
	queryNames []string

	keys   Keys
	hasher Hasher
	now    func() time.Time
	log    *slog.Logger
	cache  *policy.Cache[keyInfo]
	grace  time.Duration

	missing, inURL, duplicate, malformed, unknown, mismatch *policy.Denial
	wrongAPI, revoked, expired, unavailable                 *policy.Denial
}

// keyInfo is what the cache keeps of a verified key: enough to admit it, nothing secret.
type keyInfo struct {
	id, consumer string
	expires      time.Time
	// verified is when the store last vouched for the key, and end when it stops being valid
	// whatever the store says later (its expiry or a scheduled revocation; zero: never):
	// together they bound what an outage lets through.
	verified, end time.Time
	// scopes the key was issued with; shared by every request it admits, never modified.
	scopes []string
}

// New validates cfg and builds the policy.
func New(cfg Config, deps Deps) (*Verifier, error) {
	header := cfg.Header
	if header == "" {
		header = DefaultHeader
	}
	if err := checkHeaderName(header); err != nil {
		return nil, fmt.Errorf("apikey: header %q: %w", header, err)
	}
	if cfg.API == "" {
		return nil, fmt.Errorf("apikey: api: the API the keys are issued for is required: %w", tiaki.ErrInvalid)
	}
	if deps.Keys == nil || deps.Hasher == nil {
		return nil, errors.New("apikey: Deps.Keys and Deps.Hasher are required")
	}
	if cfg.OutageGrace < 0 || cfg.OutageGrace > MaxOutageGrace {
		return nil, fmt.Errorf("apikey: outage grace %v: between 0 and %v: %w", cfg.OutageGrace, MaxOutageGrace, tiaki.ErrInvalid)
	}
	v := &Verifier{
		header:   http.CanonicalHeaderKey(header),
		api:      cfg.API,
		required: cfg.Required,
		keys:     deps.Keys,
		hasher:   deps.Hasher,
		now:      deps.Now,
		log:      deps.Logger,
		cache:    policy.NewCache[keyInfo](cacheSize),
		grace:    cfg.OutageGrace,
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.Default()
	}
	v.queryNames = []string{"api_key", "apikey", "api-key"}
	if h := strings.ToLower(header); h != "api-key" {
		v.queryNames = append(v.queryNames, h)
	}

	challenge := `APIKey header="` + v.header + `"`
	v.missing = &policy.Denial{Status: http.StatusUnauthorized, Type: "api-key-required",
		Title: "API key required", Detail: "Send your API key in the " + v.header + " header.",
		Challenge: challenge, Reason: "no API key"}
	v.inURL = &policy.Denial{Status: http.StatusUnauthorized, Type: "api-key-in-url",
		Title:     "API key in the URL",
		Detail:    "Send API keys in the " + v.header + " header, never in the URL. Treat this key as exposed and rotate it.",
		Challenge: challenge, Reason: "API key in the query string"}
	invalid := func(detail, reason string) *policy.Denial {
		return &policy.Denial{Status: http.StatusUnauthorized, Type: "invalid-api-key",
			Title: "Invalid API key", Detail: detail, Challenge: challenge, Reason: reason}
	}
	// Unknown, malformed and wrong keys read the same to the caller. Only a caller holding the
	// genuine key learns it was revoked, has expired or belongs to another API: those checks
	// come after the hash comparison.
	const notValid = "The API key is not valid."
	v.duplicate = invalid("Send one API key.", "several API key headers")
	v.malformed = invalid(notValid, "malformed API key")
	v.unknown = invalid(notValid, "unknown API key ID")
	v.mismatch = invalid(notValid, "API key does not match its hash")
	v.wrongAPI = invalid("The API key is not valid for this API.", "API key issued for another API")
	v.revoked = invalid("The API key has been revoked.", "API key revoked")
	v.expired = invalid("The API key has expired.", "API key expired")
	v.unavailable = &policy.Denial{Status: http.StatusServiceUnavailable, Type: "unavailable",
		Title: "Service unavailable", Detail: "The API key could not be checked; try again shortly.",
		Reason: "API key store unavailable", RetryAfter: CacheTTL}
	return v, nil
}

// checkHeaderName enforces a safe, guideline-conforming header name.
func checkHeaderName(h string) error {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Errorf("only letters, digits and hyphens: %w", tiaki.ErrInvalid)
		}
	}
	switch l := strings.ToLower(h); {
	case strings.HasPrefix(l, "x-"):
		return fmt.Errorf("custom headers must not use the X- prefix (RFC 6648): %w", tiaki.ErrInvalid)
	case l == "authorization" || l == "proxy-authorization" || l == "cookie" || l == "host":
		return fmt.Errorf("reserved header: %w", tiaki.ErrInvalid)
	}
	return nil
}

// Header returns the canonical name of the header that carries the key.
func (v *Verifier) Header() string { return v.header }

// Authenticate implements policy.Authenticator.
func (v *Verifier) Authenticate(r *http.Request, p *tiaki.Principal) (found bool, d *policy.Denial) {
	// Part C (catalogue KEY-08): keys in URLs end up in logs, histories and Referer headers.
	if v.keyInQuery(r.URL.RawQuery) {
		return true, v.inURL
	}
	vals := r.Header[v.header]
	switch len(vals) {
	case 0:
		return false, nil
	case 1:
	default:
		return true, v.duplicate
	}
	key := vals[0]
	now := v.now()
	fp := policy.Fingerprint(key)
	if k, ok := v.cache.Get(fp, now); ok {
		admit(p, k)
		return true, nil
	}
	k, d := v.verify(r.Context(), key, now)
	if d == v.unavailable {
		if info, ok := v.stale(fp, now); ok {
			admit(p, info)
			return true, nil
		}
	}
	if d != nil {
		return true, d
	}
	info := keyInfo{id: k.ID, consumer: k.Consumer, expires: k.ExpiresAt, verified: now, end: k.ExpiresAt,
		scopes: slices.Clip(slices.Clone(k.Scopes))}
	if !k.RevokedAt.IsZero() && (info.end.IsZero() || k.RevokedAt.Before(info.end)) {
		info.end = k.RevokedAt
	}
	v.cache.Put(fp, info, earliest(now.Add(CacheTTL), info.end), now)
	admit(p, info)
	return true, nil
}

// admit records a verified key in p. Its scopes are what the scope policy checks when no
// access token authorises the request; a key issued without scopes holds none, so it is
// refused on every method that requires one.
func admit(p *tiaki.Principal, k keyInfo) {
	policy.Admit(p, tiaki.CredentialAPIKey, k.consumer, k.id, k.expires)
	policy.AdmitScopes(p, tiaki.CredentialAPIKey, k.scopes)
}

// stale admits, while the store cannot be reached, a key this node verified less than the
// outage grace ago, and caches it for another CacheTTL, so that an outage costs one failed
// lookup per key every CacheTTL instead of one per request. A key Forget dropped (revoked) is
// not in the cache to be found.
func (v *Verifier) stale(fp [32]byte, now time.Time) (keyInfo, bool) {
	if v.grace <= 0 {
		return keyInfo{}, false
	}
	info, ok := v.cache.GetStale(fp, now, v.grace)
	stop := earliest(info.verified.Add(v.grace), info.end)
	if !ok || !now.Before(stop) {
		return keyInfo{}, false
	}
	v.cache.Put(fp, info, earliest(now.Add(CacheTTL), stop), now)
	return info, true
}

// earliest returns the earlier of a and b, where a zero b means no limit.
func earliest(a, b time.Time) time.Time {
	if !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// verify finds key in the store and checks it.
func (v *Verifier) verify(ctx context.Context, key string, now time.Time) (*tiaki.APIKey, *policy.Denial) {
	id, ok := Parse(key)
	if !ok {
		return nil, v.malformed
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	k, err := v.keys.APIKey(ctx, id)
	switch {
	case errors.Is(err, tiaki.ErrNotFound):
		return nil, v.unknown
	case err != nil:
		v.log.Error("apikey: key lookup failed", "key_id", id, "err", err)
		return nil, v.unavailable
	}
	// KEY-04: the store holds a keyed hash; Verify compares it in constant time.
	if !v.hasher.Verify(key, k.Hash) {
		return nil, v.mismatch
	}
	switch {
	case k.API != v.api:
		return nil, v.wrongAPI
	case !k.RevokedAt.IsZero() && !now.Before(k.RevokedAt):
		return nil, v.revoked
	case !k.Active(now):
		return nil, v.expired
	}
	return k, nil
}

// keyInQuery reports whether the raw query carries an API key: a parameter named like one, or
// any parameter whose value has the key format. A bare "key" parameter is refused only in the
// second case, because many APIs use "key" for something else.
func (v *Verifier) keyInQuery(q string) bool {
	for q != "" {
		var part string
		if i := strings.IndexAny(q, "&;"); i >= 0 {
			part, q = q[:i], q[i+1:]
		} else {
			part, q = q, ""
		}
		name, value, _ := strings.Cut(part, "=")
		if strings.ContainsAny(name, "%+") {
			if u, err := url.QueryUnescape(name); err == nil {
				name = u
			}
		}
		for _, n := range v.queryNames {
			if strings.EqualFold(name, n) {
				return true
			}
		}
		if strings.Contains(value, "%") {
			if u, err := url.QueryUnescape(value); err == nil {
				value = u
			}
		}
		if _, ok := Parse(value); ok {
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

// Forget drops cached verifications of the given key IDs, so a revocation seen on the store's
// revocation feed applies at once rather than after CacheTTL.
func (v *Verifier) Forget(ids ...string) {
	v.cache.DeleteFunc(func(k keyInfo) bool {
		for _, id := range ids {
			if k.id == id {
				return true
			}
		}
		return false
	})
}
