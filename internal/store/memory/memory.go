// Package memory keeps Tiaki's fast-changing shared state in process, for a single node: a GCRA
// rate limiter, fixed-window quota counters and a replay cache (the interfaces in the root
// package's limits.go). Every table is sharded with a mutex per shard,
// bounded in size and swept of expired entries, and reads an injectable clock.
//
// Start with Store and New, then limiter.go. internal/store/redis provides the same across
// nodes; internal/store/limitstest is the suite both pass.
package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/tiaki-nz/tiaki"
)

// DefaultMaxKeys bounds each table when Options.MaxKeys is zero: a few tens of megabytes at most.
const DefaultMaxKeys = 1 << 18

// MaxKeyLen bounds keys and IDs, so that one call cannot make the store hold an arbitrarily
// large string. Longer keys are refused with tiaki.ErrInvalid.
const MaxKeyLen = 1024

// Options configure a Store.
type Options struct {
	// MaxKeys bounds the number of keys each table (limits, quotas, replay cache)
	// holds; DefaultMaxKeys if zero. A full rate-limit table drops the bucket nearest to full;
	// the others refuse new keys with ErrFull rather than forget a live entry.
	MaxKeys int
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Store is the in-process implementation of tiaki.RateLimiter, tiaki.QuotaCounter and
// tiaki.ReplayCache. It is safe for concurrent use.
type Store struct {
	now    func() time.Time
	limits *table[tat]
	quotas *table[window]
	replay *table[expiry]
}

var (
	_ tiaki.RateLimiter  = (*Store)(nil)
	_ tiaki.QuotaCounter = (*Store)(nil)
	_ tiaki.ReplayCache  = (*Store)(nil)
)

// New returns an empty Store.
func New(opts Options) *Store {
	n := opts.MaxKeys
	if n <= 0 {
		n = DefaultMaxKeys
	}
	s := &Store{
		now:    opts.Now,
		limits: newTable[tat](n, true),
		quotas: newTable[window](n, false),
		replay: newTable[expiry](n, false),
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// expiry is an entry that is only a deadline (Unix nanoseconds).
type expiry int64

func (e expiry) expiresAt() int64 { return int64(e) }

// checkKey refuses keys the store will not hold.
func checkKey(what, key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("memory: %s must be 1 to %d bytes: %w", what, MaxKeyLen, tiaki.ErrInvalid)
	}
	return nil
}

// Consume implements tiaki.ReplayCache.
func (s *Store) Consume(_ context.Context, key string, ttl time.Duration) (bool, error) {
	if err := checkKey("replay key", key); err != nil {
		return false, err
	}
	if ttl <= 0 {
		return false, fmt.Errorf("memory: replay ttl %v: must be positive: %w", ttl, tiaki.ErrInvalid)
	}
	now := s.now().UnixNano()
	sh := s.replay.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[key]
	if ok && int64(e) > now {
		return false, nil
	}
	if err := s.replay.put(sh, key, expiry(addSat(now, int64(ttl))), now, ok); err != nil {
		return false, err
	}
	return true, nil
}

// addSat adds two non-negative nanosecond counts without overflowing.
func addSat(a, b int64) int64 {
	if b > 0 && a > maxNanos-b {
		return maxNanos
	}
	return a + b
}

const maxNanos = int64(^uint64(0) >> 1)
