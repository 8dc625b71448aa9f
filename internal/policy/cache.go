package policy

import (
	"crypto/sha256"
	"sync"
	"time"
	"unsafe"
)

// Fingerprint is the SHA-256 of a credential, the key credential caches use so that no cache
// holds a usable credential. It hashes s in place, without copying it.
func Fingerprint(s string) [sha256.Size]byte {
	// sha256.Sum256 only reads its argument, so viewing the string's bytes is safe; a []byte(s)
	// conversion would allocate a copy on every request.
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// Cache remembers verified credentials for a bounded time in bounded memory, keyed by
// Fingerprint. It is safe for concurrent use.
type Cache[V any] struct {
	mu  sync.RWMutex
	m   map[[sha256.Size]byte]cacheEntry[V]
	max int
}

type cacheEntry[V any] struct {
	v     V
	until time.Time
}

// NewCache returns a cache holding at most size entries (at least 1).
func NewCache[V any](size int) *Cache[V] {
	return &Cache[V]{m: make(map[[sha256.Size]byte]cacheEntry[V]), max: max(size, 1)}
}

// Get returns the value stored under k if it is still valid at now.
func (c *Cache[V]) Get(k [sha256.Size]byte, now time.Time) (V, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// GetStale returns the value stored under k even if it expired, as long as it did so less than
// grace before now: what a credential cache may fall back on while its store is unreachable.
// Entries are removed only by DeleteFunc or when Put needs room, so one that was valid recently
// is usually still there.
func (c *Cache[V]) GetStale(k [sha256.Size]byte, now time.Time, grace time.Duration) (V, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until.Add(grace)) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Put stores v under k until the given time; nothing is stored if until is not after now.
// When the cache is full, expired entries go first, then arbitrary ones, down to 7/8 of the
// bound, so a flood of distinct credentials costs an occasional sweep rather than one per entry.
func (c *Cache[V]) Put(k [sha256.Size]byte, v V, until, now time.Time) {
	if !until.After(now) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		for key, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, key)
			}
		}
		for key := range c.m {
			if len(c.m) < c.max-c.max/8 {
				break
			}
			delete(c.m, key)
		}
	}
	c.m[k] = cacheEntry[V]{v: v, until: until}
}

// DeleteFunc removes every entry whose value matches, such as all entries for a revoked key ID.
func (c *Cache[V]) DeleteFunc(match func(V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, e := range c.m {
		if match(e.v) {
			delete(c.m, key)
		}
	}
}

// Len returns the number of entries, expired or not.
func (c *Cache[V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
