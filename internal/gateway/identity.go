package gateway

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tiaki-nz/tiaki"
)

// The identity assertion (catalogue AUTHN-14, LOG-03): what the upstream learns about the
// caller. Client-supplied headers of the same name are stripped, so the upstream can trust the
// header once it has verified the signature against Tiaki's JWKS.
const (
	// IdentityHeader carries the assertion to the upstream.
	IdentityHeader = "Tiaki-Identity"
	// IdentityType is the assertion's JWS "typ" (RFC 8725 §3.11: explicit typing). It keeps an
	// assertion from passing as an access token, which is signed with the same keys, and an
	// access token from passing as an assertion.
	IdentityType = "tiaki-identity+jwt"
	// DefaultIdentityLifetime is how long an assertion is valid: long enough for the upstream
	// to check it, short enough that one lifted from a backend log is soon worthless.
	DefaultIdentityLifetime = 60 * time.Second

	maxIdentityLifetime = 5 * time.Minute
	identityCacheSize   = 10000
	// maxIdentityKey bounds the cache key; principals with more (scopes, say) are signed
	// every time rather than held.
	maxIdentityKey = 1024
)

// Identity configures the assertion the gateway sends upstream.
type Identity struct {
	// Issuer is the assertion's "iss": Tiaki's issuer identifier, whose JWKS verifies it.
	Issuer string
	// Key returns the private JSON Web Key to sign with now (keys.Manager.SigningKey). Its
	// Algorithm and KeyID go into the JWS header.
	Key func() (jose.JSONWebKey, error)
	// Lifetime of an assertion; DefaultIdentityLifetime if zero.
	Lifetime time.Duration
}

// identityClaims are the assertion's claims. client_id and scope follow RFC 9068 §2.2 and RFC
// 8693 §4.2; credentials lists how the caller authenticated (tiaki.CredentialKind values).
type identityClaims struct {
	Issuer      string                 `json:"iss"`
	Audience    string                 `json:"aud"`
	Subject     string                 `json:"sub,omitempty"`
	ClientID    string                 `json:"client_id,omitempty"`
	Scope       string                 `json:"scope,omitempty"`
	Credentials []tiaki.CredentialKind `json:"credentials,omitempty"`
	ID          string                 `json:"jti,omitempty"`
	IssuedAt    int64                  `json:"iat"`
	Expiry      int64                  `json:"exp"`
}

// asserter signs identity assertions and keeps each for most of its life, so that a consumer's
// steady traffic costs one signature a minute rather than one per request. Entries are keyed by
// route, audience, consumer, subject, scopes, credential kinds and credential expiry: everything
// the claims say. The jti is the request ID of the request the assertion was first made for;
// upstreams correlate individual requests by the Request-Transaction-Id header.
type asserter struct {
	issuer string
	key    func() (jose.JSONWebKey, error)
	life   time.Duration
	now    func() time.Time

	mu    sync.RWMutex
	cache map[string]assertion
	max   int

	signerMu  sync.Mutex
	signerKID string
	signer    jose.Signer
}

type assertion struct {
	token      string
	reuseUntil time.Time
}

var errIdentity = errors.New("gateway: identity assertion could not be signed")

func newAsserter(o Identity, now func() time.Time) (*asserter, error) {
	if o.Issuer == "" || o.Key == nil {
		return nil, fmt.Errorf("gateway: identity needs an issuer and a key: %w", tiaki.ErrInvalid)
	}
	if o.Lifetime == 0 {
		o.Lifetime = DefaultIdentityLifetime
	}
	if o.Lifetime < 10*time.Second || o.Lifetime > maxIdentityLifetime {
		return nil, fmt.Errorf("gateway: identity lifetime %v: want 10s to %v: %w", o.Lifetime, maxIdentityLifetime, tiaki.ErrInvalid)
	}
	return &asserter{issuer: o.Issuer, key: o.Key, life: o.Lifetime, now: now, cache: map[string]assertion{}, max: identityCacheSize}, nil
}

// reset forgets every cached assertion (routes changed).
func (a *asserter) reset() {
	a.mu.Lock()
	clear(a.cache)
	a.mu.Unlock()
}

// assert returns the assertion for p on rt, from the cache when one is fresh.
func (a *asserter) assert(rt *route, p *tiaki.Principal, requestID string) (string, error) {
	now := a.now()
	var buf [256]byte
	k := appendIdentityKey(buf[:0], rt, p)
	cacheable := len(k) <= maxIdentityKey
	if cacheable {
		a.mu.RLock()
		c, ok := a.cache[string(k)] // no allocation: the compiler looks up without converting
		a.mu.RUnlock()
		if ok && now.Before(c.reuseUntil) {
			return c.token, nil
		}
	}
	iat := now.Truncate(time.Second)
	exp := iat.Add(a.life)
	if !p.ExpiresAt.IsZero() && p.ExpiresAt.Before(exp) {
		exp = p.ExpiresAt // never assert an identity longer than its credential lasts
	}
	tok, err := a.sign(identityClaims{
		Issuer:      a.issuer,
		Audience:    rt.audience,
		Subject:     cmp.Or(p.Subject, p.Consumer), // RFC 9068 §2.2: sub is the client when no user is involved
		ClientID:    p.Consumer,
		Scope:       strings.Join(p.Scopes, " "),
		Credentials: p.Credentials,
		ID:          requestID,
		IssuedAt:    iat.Unix(),
		Expiry:      exp.Unix(),
	})
	if err != nil {
		return "", err
	}
	// Reuse for the first three quarters of its life, so an upstream never receives one about
	// to expire.
	if reuse := iat.Add(exp.Sub(iat) * 3 / 4); cacheable && reuse.After(now) {
		a.put(string(k), assertion{token: tok, reuseUntil: reuse}, now)
	}
	return tok, nil
}

// appendIdentityKey appends the cache key of p's assertions on rt. The audience is part of it,
// so a request still finishing on a replaced route table cannot leave an assertion for the old
// upstream in the cache.
func appendIdentityKey(b []byte, rt *route, p *tiaki.Principal) []byte {
	b = append(b, rt.Name...)
	b = append(b, 0)
	b = append(b, rt.audience...)
	b = append(b, 0)
	b = append(b, p.Consumer...)
	b = append(b, 0)
	b = append(b, p.Subject...)
	b = append(b, 0)
	for _, s := range p.Scopes {
		b = append(b, s...)
		b = append(b, ' ')
	}
	b = append(b, 0)
	for _, c := range p.Credentials {
		b = append(b, c...)
		b = append(b, ' ')
	}
	b = append(b, 0)
	if !p.ExpiresAt.IsZero() {
		b = strconv.AppendInt(b, p.ExpiresAt.Unix(), 10)
	}
	return b
}

// put stores an assertion. A full cache drops its stale entries, then arbitrary ones down to
// 7/8 of the bound, so a flood of distinct principals costs an occasional sweep.
func (a *asserter) put(k string, v assertion, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cache) >= a.max {
		for key, e := range a.cache {
			if !now.Before(e.reuseUntil) {
				delete(a.cache, key)
			}
		}
		for key := range a.cache {
			if len(a.cache) < a.max-a.max/8 {
				break
			}
			delete(a.cache, key)
		}
	}
	a.cache[k] = v
}

func (a *asserter) sign(c identityClaims) (string, error) {
	s, err := a.signerNow()
	if err != nil {
		return "", err
	}
	tok, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		return "", fmt.Errorf("%w: %v", errIdentity, err)
	}
	return tok, nil
}

// signerNow returns a signer for the key that signs now, reusing it while the key is the same.
func (a *asserter) signerNow() (jose.Signer, error) {
	k, err := a.key()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errIdentity, err)
	}
	a.signerMu.Lock()
	defer a.signerMu.Unlock()
	if a.signer != nil && a.signerKID == k.KeyID {
		return a.signer, nil
	}
	if k.Algorithm == "" || k.KeyID == "" || k.IsPublic() {
		return nil, fmt.Errorf("%w: the key needs alg, kid and a private half", errIdentity)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Algorithm), Key: k},
		(&jose.SignerOptions{}).WithType(IdentityType))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errIdentity, err)
	}
	a.signer, a.signerKID = s, k.KeyID
	return s, nil
}
