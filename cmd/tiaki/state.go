package main

import (
	"context"
	"fmt"
	"os"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/store/memory"
	"github.com/tiaki-nz/tiaki/internal/store/redis"
)

// sharedState is the fast-changing state the gateway and the authorization server share:
// rate-limit counters, quotas and replay caches (revocations of tokens go through the store:
// revocations.go). One node keeps it in process;
// with redis.addr set, every node shares it through Redis, and the in-process copy counts on
// alone (fallback) while Redis is unreachable and a route fails open.
type sharedState struct {
	limiter  tiaki.RateLimiter
	fallback tiaki.RateLimiter
	quotas   tiaki.QuotaCounter
	replay   tiaki.ReplayCache
	// redis is the Redis connection when redis.addr is set, nil otherwise; /readyz pings it.
	redis *redis.Store
}

func openSharedState(ctx context.Context, n *node) (*sharedState, error) {
	local := memory.New(memory.Options{})
	if n.cfg.Redis.Addr == "" {
		return &sharedState{limiter: local, quotas: local, replay: local}, nil
	}
	host, _ := os.Hostname()
	rd, err := redis.Open(ctx, redis.Options{
		Addr:       n.cfg.Redis.Addr,
		Username:   n.cfg.Redis.Username,
		Password:   n.cfg.Redis.Password,
		ClientName: "tiaki-" + host,
		Logger:     n.logger,
	})
	if err != nil {
		return nil, n.cfg.Errorf("redis.addr", "%v", fmt.Errorf("redis: %w", err))
	}
	n.closers = append(n.closers, rd.Close)
	return &sharedState{limiter: rd, fallback: local, quotas: rd, replay: rd, redis: rd}, nil
}
