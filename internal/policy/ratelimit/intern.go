package ratelimit

import (
	"hash/maphash"
	"net/netip"
	"sync"
)

// Bounds of an intern table.
const (
	internShards   = 16
	internPerShard = 4096
)

// internTable remembers the counter key built for each client address or consumer, so the
// request path finds it with a map lookup instead of building (and allocating) the string on
// every request. It is bounded: a full shard is emptied and refilled, which costs a flood of
// distinct addresses one allocation per request and nothing more.
type internTable[K comparable] struct {
	build  func(K) string
	hash   func(maphash.Seed, K) uint64
	seed   maphash.Seed
	shards [internShards]struct {
		mu sync.RWMutex
		m  map[K]string
	}
}

func newInternTable[K comparable](build func(K) string, hash func(maphash.Seed, K) uint64) *internTable[K] {
	t := &internTable[K]{build: build, hash: hash, seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].m = make(map[K]string)
	}
	return t
}

// get returns the key for k, building it on first use.
func (t *internTable[K]) get(k K) string {
	s := &t.shards[t.hash(t.seed, k)%internShards]
	s.mu.RLock()
	v, ok := s.m[k]
	s.mu.RUnlock()
	if ok {
		return v
	}
	v = t.build(k)
	s.mu.Lock()
	if len(s.m) >= internPerShard {
		clear(s.m)
	}
	s.m[k] = v
	s.mu.Unlock()
	return v
}

func hashString(seed maphash.Seed, s string) uint64 { return maphash.String(seed, s) }

// hashAddr hashes an address's 16 bytes without allocating.
func hashAddr(seed maphash.Seed, a netip.Addr) uint64 {
	b := a.As16()
	var h maphash.Hash
	h.SetSeed(seed)
	_, _ = h.Write(b[:])
	return h.Sum64()
}
