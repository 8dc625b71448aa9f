package redis

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tiaki-nz/tiaki"
)

// breakerCooldown is how long after Redis fails to answer every call fails at once, before a
// background ping checks whether it is back. With Redis stopped under load, each request
// otherwise spent its own dial and pool wait on it (p99 308 ms measured, issue 11 item 21);
// with the breaker only the calls already in flight wait (at most ioTimeout), and the
// policies fall back (fail_open) or refuse (fail_closed) at once.
const breakerCooldown = 250 * time.Millisecond

// errBreakerOpen is what a call gets while the breaker is open.
var errBreakerOpen = fmt.Errorf("redis: not answering; retrying every %v: %w", breakerCooldown, tiaki.ErrUnavailable)

// breaker fails calls fast while Redis is unreachable. Closed, it costs one atomic load.
// Open, every call fails at once, and one background ping per cooldown checks whether Redis
// is back, so no request waits on a server that is not answering.
type breaker struct {
	openUntil atomic.Int64 // Unix nanoseconds; 0 when closed
	probing   atomic.Bool
	ping      func(ctx context.Context) error
}

// allow reports whether a call may go to Redis now. Once the cooldown has passed, the first
// caller to notice starts the background ping; callers keep failing fast until it succeeds.
func (b *breaker) allow(now time.Time) bool {
	u := b.openUntil.Load()
	if u == 0 {
		return true
	}
	if now.UnixNano() >= u && b.probing.CompareAndSwap(false, true) {
		go b.probe()
	}
	return false
}

func (b *breaker) probe() {
	defer b.probing.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	b.record(b.ping(ctx), time.Now())
}

// record notes a call's outcome: a failure to reach Redis opens the breaker (or keeps it open
// for another cooldown); any answer from Redis, even an error reply, closes it.
func (b *breaker) record(err error, now time.Time) {
	if unreachable(err) {
		b.openUntil.Store(now.Add(breakerCooldown).UnixNano())
		return
	}
	if b.openUntil.Load() != 0 {
		b.openUntil.Store(0)
	}
}

// unreachable reports whether err means Redis did not answer (connection refused or reset, a
// timeout, an exhausted pool), as opposed to an answer: a key that does not exist or an error
// reply.
func unreachable(err error) bool {
	// A caller that gave up (a client that went away) says nothing about Redis.
	if err == nil || errors.Is(err, goredis.Nil) || errors.Is(err, context.Canceled) {
		return false
	}
	var reply goredis.Error
	return !errors.As(err, &reply)
}

// guard runs one Redis call through the breaker.
func guard[T any](s *Store, call func() (T, error)) (T, error) {
	now := time.Now()
	if !s.breaker.allow(now) {
		var zero T
		return zero, errBreakerOpen
	}
	v, err := call()
	s.breaker.record(err, time.Now())
	if unreachable(err) {
		err = fmt.Errorf("%w (%w)", err, tiaki.ErrUnavailable)
	}
	return v, err
}
