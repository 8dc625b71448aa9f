package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/tiaki-nz/tiaki"
)

// Bounds on a Limit, so that the arithmetic of every implementation stays exact and cannot
// overflow.
const (
	// MaxCount bounds Limit.Rate, Limit.Burst and the events of one call.
	MaxCount = 1_000_000_000
	// maxTolerance bounds Capacity × Interval, far below the range of Unix nanoseconds.
	maxTolerance = maxNanos / 4
)

// GCRA is a tiaki.Limit in the terms of the generic cell rate algorithm (the virtual scheduling
// form of ITU-T I.371, equivalent to a token bucket): every event pushes a theoretical arrival
// time (TAT) Interval further into the future, and events are refused while that would put it
// more than Tolerance ahead of now. So a full bucket holds Capacity = Rate + Burst events, and
// refills at Rate per Per: Rate events per period, with bursts of up to Burst above it.
//
// The Redis store runs the same arithmetic in a Lua script.
type GCRA struct {
	// Interval is the time one event costs: Per / Rate.
	Interval time.Duration
	// Capacity is how many events fit at once: Rate + Burst.
	Capacity int64
	// Tolerance is Capacity × Interval.
	Tolerance time.Duration
	// Cost is the time the n events of one call cost: n × Interval.
	Cost time.Duration
}

// NewGCRA validates l and n, the events of one call, and returns their GCRA parameters. Errors
// wrap tiaki.ErrInvalid.
func NewGCRA(l tiaki.Limit, n int) (GCRA, error) {
	switch {
	case l.Rate < 1 || l.Rate > MaxCount:
		return GCRA{}, fmt.Errorf("memory: limit rate %d: must be 1 to %d: %w", l.Rate, MaxCount, tiaki.ErrInvalid)
	case l.Burst < 0 || l.Burst > MaxCount:
		return GCRA{}, fmt.Errorf("memory: limit burst %d: must be 0 to %d: %w", l.Burst, MaxCount, tiaki.ErrInvalid)
	case l.Per < time.Duration(l.Rate):
		return GCRA{}, fmt.Errorf("memory: limit %d per %v: at most one event per nanosecond: %w", l.Rate, l.Per, tiaki.ErrInvalid)
	}
	g := GCRA{Interval: l.Per / time.Duration(l.Rate), Capacity: int64(l.Rate) + int64(l.Burst)}
	if int64(g.Interval) > maxTolerance/g.Capacity {
		return GCRA{}, fmt.Errorf("memory: limit %d per %v with burst %d: period too long: %w", l.Rate, l.Per, l.Burst, tiaki.ErrInvalid)
	}
	g.Tolerance = g.Interval * time.Duration(g.Capacity)
	if n < 1 || int64(n) > g.Capacity {
		return GCRA{}, fmt.Errorf("memory: %d events: must be 1 to the limit's capacity %d: %w", n, g.Capacity, tiaki.ErrInvalid)
	}
	g.Cost = g.Interval * time.Duration(n)
	return g, nil
}

// tat is a key's theoretical arrival time in Unix nanoseconds; once past, the bucket is full
// and the entry is worthless.
type tat int64

func (t tat) expiresAt() int64 { return int64(t) }

// Allow implements tiaki.RateLimiter with GCRA. It does not allocate unless key is new.
func (s *Store) Allow(_ context.Context, key string, l tiaki.Limit, n int) (tiaki.Decision, error) {
	if err := checkKey("rate-limit key", key); err != nil {
		return tiaki.Decision{}, err
	}
	g, err := NewGCRA(l, n)
	if err != nil {
		return tiaki.Decision{}, err
	}
	now := s.now().UnixNano()
	tol, interval := int64(g.Tolerance), int64(g.Interval)
	sh := s.limits.shard(key)
	sh.mu.Lock()
	cur, ok := sh.m[key]
	if !ok || int64(cur) < now {
		cur = tat(now)
	}
	next := int64(cur) + int64(g.Cost)
	if allowAt := next - tol; allowAt > now {
		sh.mu.Unlock()
		return tiaki.Decision{
			Limit:      int(g.Capacity),
			Remaining:  int((now + tol - int64(cur)) / interval),
			RetryAfter: time.Duration(allowAt - now),
			ResetAfter: time.Duration(int64(cur) - now),
		}, nil
	}
	// The limits table evicts rather than fails, so put cannot fail here.
	_ = s.limits.put(sh, key, tat(next), now, ok)
	sh.mu.Unlock()
	return tiaki.Decision{
		Allowed:    true,
		Limit:      int(g.Capacity),
		Remaining:  int((now + tol - next) / interval),
		ResetAfter: time.Duration(next - now),
	}, nil
}
