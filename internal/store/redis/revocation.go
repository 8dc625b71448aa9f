package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Subscriber timing.
const (
	// healthEvery is how long the subscriber waits for a message before it pings the server;
	// an unanswered ping within another healthEvery replaces the connection. A connection that
	// died silently is noticed within two of these, and the reload on resubscribing recovers
	// every announcement missed meanwhile.
	healthEvery = 3 * time.Second
	// reloadTimeout bounds one full reload of the revocations.
	reloadTimeout = 10 * time.Second
	maxBackoff    = 5 * time.Second
	scanCount     = 500
)

// revokeScript records a revocation until ARGV[1] (Unix ms) unless a later one is recorded,
// and announces it on the channel ARGV[2] with the message ARGV[3].
var revokeScript = goredis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]))
if not cur or cur < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[1])
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`)

// Revoke implements tiaki.RevocationFeed: a key per revoked ID that expires at until (so a
// node that was away finds it when it reloads), and a message to every subscribed node. This
// node's own copy is updated at once.
func (s *Store) Revoke(ctx context.Context, id string, until time.Time) error {
	if err := checkKey("revoked id", id); err != nil {
		return err
	}
	if !until.After(time.Now()) {
		return nil // the credential has expired anyway
	}
	// This node's copy first, so that it refuses the credential even if Redis fails.
	ms := until.UnixMilli() + 1 // round up: never forget early
	errLocal := s.revoked.Revoke(ctx, id, time.UnixMilli(ms))
	msg := strconv.FormatInt(ms, 10) + " " + id
	if err := revokeScript.Run(ctx, s.c, []string{s.key("rv", id)}, ms, s.channel, msg).Err(); err != nil {
		return fmt.Errorf("redis: revoke: %w", err)
	}
	return errLocal
}

// IsRevoked implements tiaki.RevocationFeed from this node's copy, without I/O.
func (s *Store) IsRevoked(id string) bool { return s.revoked.IsRevoked(id) }

// listen keeps a subscription to the revocation channel until ctx ends, replacing it when it
// fails. ready is closed once the first full load has finished.
func (s *Store) listen(ctx context.Context, ready chan struct{}) {
	defer close(s.done)
	var once sync.Once
	loaded := func() { once.Do(func() { close(ready) }) }
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		healthy, err := s.subscribe(ctx, loaded)
		if ctx.Err() != nil {
			return
		}
		if healthy {
			backoff = 100 * time.Millisecond
		}
		s.log.Warn("redis: revocation subscription failed; resubscribing", "retry_in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// subscribe holds one subscription until it fails. Whenever the server confirms the
// subscription (the first time, and again after go-redis reconnects by itself) it reloads every
// recorded revocation, so announcements published while this node was not listening are not
// lost. Subscribing before loading means none can fall between the two. healthy reports
// whether a load succeeded.
func (s *Store) subscribe(ctx context.Context, loaded func()) (healthy bool, err error) {
	ps := s.c.Subscribe(ctx, s.channel)
	defer ps.Close()
	// Let Close interrupt a blocked receive; if Close came first, ctx is already done.
	s.mu.Lock()
	s.sub = ps
	s.mu.Unlock()
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, healthEvery)
		if err != nil {
			var ne net.Error
			if !pinged && errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
				if err := ps.Ping(ctx); err != nil {
					return healthy, err
				}
				pinged = true
				continue
			}
			return healthy, err
		}
		pinged = false
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			if err := s.reload(ctx); err != nil {
				return healthy, err
			}
			healthy = true
			loaded()
		case *goredis.Message:
			s.apply(m.Payload)
		}
	}
}

// reload copies every recorded revocation into this node's copy.
func (s *Store) reload(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, reloadTimeout)
	defer cancel()
	base := s.prefix + "rv:"
	match := globEscape(base) + "*"
	var cursor uint64
	for {
		keys, next, err := s.c.Scan(ctx, cursor, match, scanCount).Result()
		if err != nil {
			return fmt.Errorf("redis: loading revocations: %w", err)
		}
		if len(keys) > 0 {
			vals, err := s.c.MGet(ctx, keys...).Result()
			if err != nil {
				return fmt.Errorf("redis: loading revocations: %w", err)
			}
			for i, v := range vals {
				str, ok := v.(string)
				if !ok || i >= len(keys) {
					continue // expired since the scan
				}
				ms, err := strconv.ParseInt(str, 10, 64)
				if err != nil {
					continue
				}
				s.keep(strings.TrimPrefix(keys[i], base), ms)
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// apply records one announcement: "<until in Unix ms> <id>".
func (s *Store) apply(payload string) {
	msStr, id, ok := strings.Cut(payload, " ")
	if !ok {
		return
	}
	ms, err := strconv.ParseInt(msStr, 10, 64)
	if err != nil {
		return
	}
	s.keep(id, ms)
}

// keep adds a revocation to this node's copy.
func (s *Store) keep(id string, untilMS int64) {
	if err := s.revoked.Revoke(context.Background(), id, time.UnixMilli(untilMS)); err != nil {
		// Only a full table or an invalid ID can fail; log without the ID, which may be a
		// token identifier.
		s.log.Error("redis: cannot keep a revocation locally", "err", err)
	}
}
