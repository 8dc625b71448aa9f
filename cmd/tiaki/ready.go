package main

import (
	"context"
	"net/http"
	"strings"
	"sync"

	"github.com/tiaki-nz/tiaki/internal/config"
)

// readiness checks every dependency the node is configured with, at once, and returns the
// /readyz status and body: a first line "ready", "degraded" or "not ready", then one line per
// dependency. The store is always needed. Redis (when redis.addr is set) is needed when some
// API's rate limit or quota fails closed (on_store_error: fail_closed): those requests are
// refused while it is down. Otherwise the node stays ready and says "degraded": the limits
// fail open and each node counts on its own, requests that need the shared replay cache
// (DPoP proofs, client assertions) are refused, and revocations announced by other nodes
// arrive once Redis is back.
func (n *node) readiness(ctx context.Context) (status int, body string) {
	var storeErr, redisErr error
	var wg sync.WaitGroup
	wg.Go(func() { storeErr = n.store.Ping(ctx) })
	if n.shared != nil && n.shared.redis != nil {
		wg.Go(func() { redisErr = n.shared.redis.Ping(ctx) })
	}
	wg.Wait()

	state := "ready"
	lines := []string{"store: ok"}
	if storeErr != nil {
		n.logger.WarnContext(ctx, "not ready: store unreachable", "err", storeErr)
		state, lines[0] = "not ready", "store: unreachable"
	}
	switch {
	case n.shared == nil || n.shared.redis == nil:
	case redisErr == nil:
		lines = append(lines, "redis: ok")
	case n.redisFailsClosed.Load():
		n.logger.WarnContext(ctx, "not ready: redis unreachable", "err", redisErr)
		state = "not ready"
		lines = append(lines, "redis: unreachable (rate limits fail closed)")
	default:
		n.logger.WarnContext(ctx, "degraded: redis unreachable; rate limits fail open", "err", redisErr)
		if state == "ready" {
			state = "degraded"
		}
		lines = append(lines, "redis: unreachable (degraded: rate limits fail open)")
	}
	status = http.StatusOK
	if state == "not ready" {
		status = http.StatusServiceUnavailable
	}
	return status, state + "\n" + strings.Join(lines, "\n") + "\n"
}

// redisFailsClosed reports whether any API of cfg refuses requests while Redis is down: one
// with a rate limit or quota whose on_store_error is fail_closed.
func redisFailsClosed(cfg *config.Config) bool {
	for _, a := range cfg.APIs {
		limited := !a.RateLimit.PerConsumer.IsZero() || !a.RateLimit.PerIP.IsZero() || !a.Quota.PerConsumer.IsZero()
		if limited && a.RateLimit.OnStoreError == "fail_closed" {
			return true
		}
	}
	return false
}
