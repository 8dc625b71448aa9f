package tiaki

import (
	"context"
	"time"
)

// The shared, fast-changing state of a running Tiaki: rate-limit counters, quotas and replay
// caches. One node keeps it in process (internal/store/memory); several nodes share it through
// Redis (internal/store/redis). Both pass one conformance suite. (Revocations of access tokens
// are recorded in the store and polled by every node: revocation.go, internal/revocation.)

// Limit is a rate: Rate events per Per, with bursts of up to Burst above the steady rate.
type Limit struct {
	Rate  int
	Per   time.Duration
	Burst int
}

// Decision is a rate limiter's answer, with what the RateLimit response headers need.
type Decision struct {
	Allowed bool
	// Limit is the number of requests the window allows (RateLimit-Limit).
	Limit int
	// Remaining requests before refusal (RateLimit-Remaining).
	Remaining int
	// RetryAfter is how long to wait before a refused request may succeed (Retry-After).
	RetryAfter time.Duration
	// ResetAfter is when the limiter is back to a full burst (RateLimit-Reset).
	ResetAfter time.Duration
}

// RateLimiter decides whether an event for a key is within its limit (GCRA or token bucket).
type RateLimiter interface {
	// Allow records n events for key under l if they fit, and says whether they did.
	Allow(ctx context.Context, key string, l Limit, n int) (Decision, error)
}

// QuotaCounter counts events per key in fixed windows (a day, a month).
type QuotaCounter interface {
	// Add adds n to key's count in the window of length window containing now, and returns the
	// new count and when the window ends.
	Add(ctx context.Context, key string, window time.Duration, n int64) (count int64, resetAt time.Time, err error)
}

// ReplayCache remembers identifiers that may be used once (a client assertion's or DPoP proof's
// jti), each for at least its lifetime.
type ReplayCache interface {
	// Consume records key for ttl and reports true if it was not already recorded; false means
	// a replay. It is atomic: of two concurrent calls with one key, exactly one gets true.
	Consume(ctx context.Context, key string, ttl time.Duration) (fresh bool, err error)
}
