// Package redis shares Tiaki's fast-changing state between nodes through Redis: the GCRA rate
// limiter and quota counters (each one atomic Lua script that reads the server's clock, so node
// clocks do not matter) and the replay cache (SET NX PX). It implements the same interfaces as
// internal/store/memory and passes the same conformance suite, internal/store/limitstest.
// (Revocations of access tokens are shared through the SQL store: internal/revocation.)
//
// Start with Open and Store; limits.go has the scripts.
package redis

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/store/memory"
)

// DefaultKeyPrefix starts every key and channel name when Options.KeyPrefix is empty.
const DefaultKeyPrefix = "tiaki:"

// Timeouts bound every exchange with Redis, so that a slow or unreachable server costs a
// request a fraction of a second, never a hang; the policies then fail open or closed.
const (
	dialTimeout = 2 * time.Second
	ioTimeout   = 500 * time.Millisecond
	poolTimeout = time.Second
)

// Options configure the connection.
type Options struct {
	// Addr is the server's host:port.
	Addr     string
	Username string
	Password tiaki.Secret
	// KeyPrefix starts every key (DefaultKeyPrefix if empty),
	// so several deployments or tests can share one server. At most 128 bytes.
	KeyPrefix string
	// ClientName names this node's connections in CLIENT LIST; empty for none.
	ClientName string
	// Logger receives the store's failures and go-redis's own log lines; slog.Default() if nil.
	Logger *slog.Logger
}

// Store is the Redis implementation of tiaki.RateLimiter, tiaki.QuotaCounter and
// tiaki.ReplayCache. It is safe for concurrent use. Close it when done.
type Store struct {
	c      *goredis.Client
	prefix string
	log    *slog.Logger
	close  sync.Once

	// breaker fails the request path's calls fast while Redis is unreachable.
	breaker breaker
}

var (
	_ tiaki.RateLimiter  = (*Store)(nil)
	_ tiaki.QuotaCounter = (*Store)(nil)
	_ tiaki.ReplayCache  = (*Store)(nil)
)

// Open connects to Redis. ctx bounds the whole start.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Addr == "" {
		return nil, fmt.Errorf("redis: address is required: %w", tiaki.ErrInvalid)
	}
	prefix := opts.KeyPrefix
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	if len(prefix) > 128 {
		return nil, fmt.Errorf("redis: key prefix longer than 128 bytes: %w", tiaki.ErrInvalid)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	routeLibraryLog(log)
	c := goredis.NewClient(&goredis.Options{
		Addr:         opts.Addr,
		Username:     opts.Username,
		Password:     opts.Password.Reveal(),
		ClientName:   opts.ClientName,
		DialTimeout:  dialTimeout,
		ReadTimeout:  ioTimeout,
		WriteTimeout: ioTimeout,
		PoolTimeout:  poolTimeout,
		// No retries: a command whose reply was lost may have run, and running a limiter or
		// quota script twice would count one event twice.
		MaxRetries:            -1,
		ContextTimeoutEnabled: true,
		DisableIdentity:       true,
		MaintNotificationsConfig: &maintnotifications.Config{
			Mode: maintnotifications.ModeDisabled,
		},
	})
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("redis: %s: %w", opts.Addr, err)
	}
	s := &Store{c: c, prefix: prefix, log: log}
	s.breaker.ping = func(ctx context.Context) error { return c.Ping(ctx).Err() }
	return s, nil
}

// Close closes the connections.
func (s *Store) Close() error {
	var err error
	s.close.Do(func() { err = s.c.Close() })
	return err
}

// key builds a namespaced key: the prefix, a kind ("rl", "q", "jti"), and the caller's key.
func (s *Store) key(kind, k string) string {
	return s.prefix + kind + ":" + k
}

// checkKey refuses keys the store will not hold, with the memory store's bound.
func checkKey(what, key string) error {
	if key == "" || len(key) > memory.MaxKeyLen {
		return fmt.Errorf("redis: %s must be 1 to %d bytes: %w", what, memory.MaxKeyLen, tiaki.ErrInvalid)
	}
	return nil
}

// globEscape escapes the glob metacharacters of s for SCAN MATCH.
func globEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '*', '?', '[', ']', '\\', '^', '-':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
