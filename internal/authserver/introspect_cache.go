package authserver

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/luikyv/go-oidc/pkg/goidc"
)

// Resource servers introspect the same JWT again and again, and each time the engine verifies
// its signature and decodes its claims twice. verifiedCache keeps the outcome of that work,
// keyed by the token's SHA-256 (the token itself is not kept), until the token expires. Only
// what cannot change is cached: the signature check and the claims. Everything that can change
// is checked on every call (introspectFast): the claims' time window, that the signing key is
// still published, the grant's revocation, the revocation list.

const (
	// verifiedShards spreads the cache's locks.
	verifiedShards = 16
	// maxVerified bounds the cache: at about 1.5 KB an entry, some 50 MB.
	maxVerified = 32 << 10
	// maxVerifiedTTL bounds how long a verification is kept, for a token without exp (the
	// engine issues none, but any JWT our keys signed may be presented).
	maxVerifiedTTL = 10 * time.Minute
)

// verifiedJWT is a JWT whose signature the server verified, with its claims decoded exactly as
// the engine decodes them (token.Introspect).
type verifiedJWT struct {
	claims jwt.Claims
	info   goidc.TokenInfo // shared: never written after the entry is made
	kid    string
	alg    string
	key    crypto.PublicKey // the key that verified it
	snap   *keySnapshot     // the key set it was verified under
	until  time.Time        // wall-clock time the entry may be dropped
	// answer is the last active introspection response written for it, by grant subject and
	// username (the only parts taken from the grant).
	answer atomic.Pointer[introspection]
}

// introspection is an encoded active introspection response.
type introspection struct {
	subject, username string
	body              []byte
}

// response returns the RFC 7662 §2.2 response for the token as the engine writes it (its
// TokenInfo encoder, through json.Encoder), given the live grant behind it. The encoding is
// kept for the next call with the same grant subject and username.
func (v *verifiedJWT) response(g *goidc.Grant) []byte {
	if a := v.answer.Load(); a != nil && a.subject == g.Subject && a.username == g.Username {
		return a.body
	}
	info := v.info
	info.IsActive = true
	info.Subject = g.Subject // public subject identifiers: see introspectFast
	info.Username = g.Username
	info.Type = goidc.TokenTypeBearer
	if info.Confirmation != nil && info.Confirmation.JWKThumbprint != "" {
		info.Type = goidc.TokenTypeDPoP
	}
	var buf bytes.Buffer
	buf.Grow(512)
	if err := json.NewEncoder(&buf).Encode(info); err != nil {
		return nil
	}
	v.answer.Store(&introspection{subject: g.Subject, username: g.Username, body: buf.Bytes()})
	return buf.Bytes()
}

// verifiedCache is a bounded map of verified JWTs, sharded by key.
type verifiedCache struct {
	shards [verifiedShards]verifiedShard
}

type verifiedShard struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]*verifiedJWT
}

func newVerifiedCache() *verifiedCache {
	c := &verifiedCache{}
	for i := range c.shards {
		c.shards[i].m = make(map[[sha256.Size]byte]*verifiedJWT)
	}
	return c
}

func (c *verifiedCache) shard(k *[sha256.Size]byte) *verifiedShard {
	return &c.shards[k[0]%verifiedShards]
}

// get returns the entry under k, unless it is due to be dropped.
func (c *verifiedCache) get(k *[sha256.Size]byte, now time.Time) *verifiedJWT {
	sh := c.shard(k)
	sh.mu.RLock()
	v := sh.m[*k]
	sh.mu.RUnlock()
	if v == nil || !now.Before(v.until) {
		return nil
	}
	return v
}

// put stores v under k. A full shard first drops its expired entries, then, if still full,
// an arbitrary one (map order is random): a cache miss costs a verification, nothing more.
func (c *verifiedCache) put(k *[sha256.Size]byte, v *verifiedJWT, now time.Time) {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.m) >= maxVerified/verifiedShards {
		for key, old := range sh.m {
			if !now.Before(old.until) {
				delete(sh.m, key)
			}
		}
		for key := range sh.m {
			if len(sh.m) < maxVerified/verifiedShards {
				break
			}
			delete(sh.m, key)
		}
	}
	sh.m[*k] = v
}

func (c *verifiedCache) size() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
