package authserver

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/luikyv/go-oidc/pkg/goidc"
)

// keyTTL is how long a key set is reused. The engine asks for the keys on every signature and
// verification; rotation publishes a key well before it signs, so a few seconds' lag is safe.
const keyTTL = 5 * time.Second

// signatureAlgs are the JWS algorithms whose keys get use "sig" when the source leaves it out:
// the engine's introspection and revocation skip any key without it.
var signatureAlgs = []string{"ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "EdDSA"}

type keySnapshot struct {
	set     goidc.JSONWebKeySet
	idx     keyIndex // what the fast paths need of set (jwt.go)
	expires time.Time
}

// keyCache adapts Deps.Keys to the engine's JWKS function and caches the result.
type keyCache struct {
	src Keys
	now func() time.Time
	log *slog.Logger

	mu  sync.Mutex // serialises refreshes
	cur atomic.Pointer[keySnapshot]

	published atomic.Pointer[[]byte] // the last JWKS document found to hold public keys only
}

func newKeyCache(src Keys, now func() time.Time, log *slog.Logger) *keyCache {
	return &keyCache{src: src, now: now, log: log}
}

// engineJWKS is the engine's JWKS function. It returns the signing keys first, in the source's
// order (the engine signs with the first key of the algorithm), then the published public keys
// the private set lacks, so tokens signed by a retired key still introspect until they expire.
func (k *keyCache) engineJWKS(context.Context) (goidc.JSONWebKeySet, error) {
	return k.snapshot().set, nil
}

func (k *keyCache) snapshot() *keySnapshot {
	now := k.now()
	if s := k.cur.Load(); s != nil && now.Before(s.expires) {
		return s
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if s := k.cur.Load(); s != nil && now.Before(s.expires) {
		return s
	}
	set := k.load()
	s := &keySnapshot{set: set, idx: newKeyIndex(set), expires: now.Add(keyTTL)}
	k.cur.Store(s)
	return s
}

func (k *keyCache) load() goidc.JSONWebKeySet {
	private := k.src.PrivateJWKS()
	set := goidc.JSONWebKeySet{Keys: make([]goidc.JSONWebKey, 0, len(private.Keys))}
	kids := make(map[string]bool, len(private.Keys))
	for _, key := range private.Keys {
		if key.Use == "" && slices.Contains(signatureAlgs, key.Algorithm) {
			key.Use = string(goidc.KeyUsageSignature)
		}
		kids[key.KeyID] = true
		set.Keys = append(set.Keys, key)
	}
	var published jose.JSONWebKeySet
	if err := json.Unmarshal(k.src.JWKS(), &published); err != nil {
		k.log.Error("authserver: the published JWKS does not parse; retired keys cannot verify", "cause", err)
		return set
	}
	for _, key := range published.Keys {
		if kids[key.KeyID] || !key.IsPublic() {
			continue
		}
		if key.Use == "" && slices.Contains(signatureAlgs, key.Algorithm) {
			key.Use = string(goidc.KeyUsageSignature)
		}
		set.Keys = append(set.Keys, key)
	}
	return set
}

// hasPrivate reports whether a private key for alg can sign.
func (k *keyCache) hasPrivate(alg string) bool {
	for _, key := range k.snapshot().set.Keys {
		if key.Algorithm == alg && !key.IsPublic() && key.Use == string(goidc.KeyUsageSignature) {
			return true
		}
	}
	return false
}

// idTokenAlgs returns the algorithm that signs ID tokens by default and the others a client
// may choose (id_token_signed_response_alg): every algorithm a private key can sign with.
// The default is RS256 when a key allows it: OIDC Discovery §3 requires RS256 among
// id_token_signing_alg_values_supported, and OIDC Registration §2 makes it the default of
// id_token_signed_response_alg, so a relying party that names no algorithm expects it. Without
// an RS256 key (profile fapi2 forbids RS256) ID tokens are signed like access tokens.
func (k *keyCache) idTokenAlgs(accessAlg string) (goidc.SignatureAlgorithm, []goidc.SignatureAlgorithm) {
	def := goidc.SignatureAlgorithm(accessAlg)
	if k.hasPrivate(string(goidc.RS256)) {
		def = goidc.RS256
	}
	var others []goidc.SignatureAlgorithm
	for _, key := range k.snapshot().set.Keys {
		alg := goidc.SignatureAlgorithm(key.Algorithm)
		if alg != def && !slices.Contains(others, alg) && k.hasPrivate(key.Algorithm) {
			others = append(others, alg)
		}
	}
	return def, others
}

// check fails unless the keys can sign with alg and every private key has a key ID, which the
// engine's introspection needs to find the verification key.
func (k *keyCache) check(alg string) error {
	for _, key := range k.snapshot().set.Keys {
		if key.KeyID == "" {
			return fmt.Errorf("authserver: a %s key has no key ID (kid)", key.Algorithm)
		}
	}
	if !k.hasPrivate(alg) {
		return fmt.Errorf("authserver: Keys holds no private %s key with use \"sig\"", alg)
	}
	return nil
}

// privateMembers are the JWK members that carry private or symmetric key material (RFC 7518
// §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// publicOnly checks a JWKS document before it is published: it must parse, and no key may
// carry private members. The verdict for the last good document is kept, so the hot path is
// one comparison.
func (k *keyCache) publicOnly(doc []byte) error {
	if last := k.published.Load(); last != nil && string(*last) == string(doc) {
		return nil
	}
	var set struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return fmt.Errorf("authserver: the JWKS does not parse: %w", err)
	}
	for i, key := range set.Keys {
		for _, m := range privateMembers {
			if _, ok := key[m]; ok {
				return fmt.Errorf("authserver: JWKS key %d has private member %q; refusing to publish it", i, m)
			}
		}
	}
	cp := slices.Clone(doc)
	k.published.Store(&cp)
	return nil
}
