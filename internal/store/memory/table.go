package memory

import (
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// ErrFull is returned when a table is at its bound and holds no entry it may drop: the replay
// cache, quotas and revocations never forget a live entry, because forgetting one would let a
// replayed assertion, an over-quota consumer or a revoked credential through.
var ErrFull = errors.New("memory: table full")

// numShards splits each table so that concurrent requests for different keys rarely wait on
// the same mutex. A power of two, so a hash picks a shard with a mask.
const numShards = 64

// sweepEvery is how often, at most, a shard is swept of expired entries when keys are added.
const sweepEvery = time.Minute

// expirer is an entry that is worthless after a point in time (Unix nanoseconds).
type expirer interface{ expiresAt() int64 }

// table is a map from key to entry, sharded by key hash with a mutex per shard, bounded in
// size. Expired entries are swept from a shard when it fills and at most once a sweepEvery
// while keys are added to it.
type table[V expirer] struct {
	seed     maphash.Seed
	perShard int
	// evict lets put drop the live entry nearest to expiry when a shard is full; otherwise put
	// fails with ErrFull.
	evict bool
	// size counts entries across shards, so readers can skip locking when the table is empty.
	size   atomic.Int64
	shards [numShards]shard[V]
}

type shard[V expirer] struct {
	mu    sync.RWMutex
	m     map[string]V
	swept int64 // Unix nanoseconds of the last sweep
	_     [24]byte
}

func newTable[V expirer](maxKeys int, evict bool) *table[V] {
	t := &table[V]{seed: maphash.MakeSeed(), perShard: max(maxKeys/numShards, 1), evict: evict}
	for i := range t.shards {
		t.shards[i].m = make(map[string]V)
	}
	return t
}

// shard returns the shard that holds key.
func (t *table[V]) shard(key string) *shard[V] {
	return &t.shards[maphash.String(t.seed, key)&(numShards-1)]
}

// put stores v under key; the caller holds the shard's write lock and says whether it found
// key there. Storing over an existing key never fails.
func (t *table[V]) put(s *shard[V], key string, v V, now int64, exists bool) error {
	if exists {
		s.m[key] = v
		return nil
	}
	if len(s.m) >= t.perShard || now-s.swept > int64(sweepEvery) {
		t.sweep(s, now)
	}
	if len(s.m) >= t.perShard {
		if !t.evict {
			return ErrFull
		}
		t.evictOne(s)
	}
	s.m[key] = v
	t.size.Add(1)
	return nil
}

// sweep drops the shard's expired entries.
func (t *table[V]) sweep(s *shard[V], now int64) {
	s.swept = now
	n := 0
	for k, v := range s.m {
		if v.expiresAt() <= now {
			delete(s.m, k)
			n++
		}
	}
	t.size.Add(int64(-n))
}

// evictOne drops, of a few entries sampled in map order (which is random), the one that
// expires first: for a rate limiter, the bucket nearest to full, whose loss matters least.
func (t *table[V]) evictOne(s *shard[V]) {
	const samples = 8
	var victim string
	first := int64(0)
	i := 0
	for k, v := range s.m {
		if e := v.expiresAt(); i == 0 || e < first {
			victim, first = k, e
		}
		if i++; i == samples {
			break
		}
	}
	if i > 0 {
		delete(s.m, victim)
		t.size.Add(-1)
	}
}

// len returns the number of entries, live or expired.
func (t *table[V]) len() int { return int(t.size.Load()) }
