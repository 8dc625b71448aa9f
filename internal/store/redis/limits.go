package redis

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/store/memory"
)

// gcraScript is memory.GCRA's arithmetic, atomically, on the server's clock (TIME), so that
// nodes with skewed clocks still share one limit. Times are microseconds since 2023-11-14
// (Unix 1.7e9 s): small enough that a Lua double holds them to 1/64 µs. ARGV are the interval,
// tolerance and cost in microseconds, possibly fractional. It returns {allowed, remaining,
// retry after µs, reset after µs}. Redis 7 replicates a script's effects, not the script, so
// reading TIME before writing is allowed.
var gcraScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = (tonumber(t[1]) - 1700000000) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local new = tat + cost
local allow_at = new - tolerance
if allow_at > now then
  return {0, math.floor((now + tolerance - tat) / interval + 1e-9), math.ceil(allow_at - now), math.ceil(tat - now)}
end
redis.call('SET', KEYS[1], string.format('%.17g', new), 'PX', math.ceil((new - now) / 1000))
return {1, math.floor((now + tolerance - new) / interval + 1e-9), 0, math.ceil(new - now)}
`)

// quotaScript adds ARGV[2] to KEYS[1] in the window of ARGV[1] milliseconds (aligned to the
// Unix epoch, on the server's clock) and sets the key to expire when the window ends. It returns
// {count, window end in Unix ms}.
var quotaScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local w = tonumber(ARGV[1])
local e = now - (now % w) + w
local c = redis.call('INCRBY', KEYS[1], ARGV[2])
redis.call('PEXPIREAT', KEYS[1], e)
return {c, e}
`)

// micros formats d as microseconds for a script argument, keeping fractions.
func micros(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'g', -1, 64)
}

// Allow implements tiaki.RateLimiter.
func (s *Store) Allow(ctx context.Context, key string, l tiaki.Limit, n int) (tiaki.Decision, error) {
	if err := checkKey("rate-limit key", key); err != nil {
		return tiaki.Decision{}, err
	}
	g, err := memory.NewGCRA(l, n)
	if err != nil {
		return tiaki.Decision{}, err
	}
	res, err := guard(s, func() ([]int64, error) {
		return gcraScript.Run(ctx, s.c, []string{s.key("rl", key)},
			micros(g.Interval), micros(g.Tolerance), micros(g.Cost)).Int64Slice()
	})
	if err != nil {
		return tiaki.Decision{}, fmt.Errorf("redis: rate limit: %w", err)
	}
	if len(res) != 4 {
		return tiaki.Decision{}, fmt.Errorf("redis: rate limit: script returned %d values", len(res))
	}
	return tiaki.Decision{
		Allowed:    res[0] == 1,
		Limit:      int(g.Capacity),
		Remaining:  int(min(max(res[1], 0), g.Capacity)),
		RetryAfter: time.Duration(max(res[2], 0)) * time.Microsecond,
		ResetAfter: time.Duration(max(res[3], 0)) * time.Microsecond,
	}, nil
}

// Add implements tiaki.QuotaCounter. Windows are aligned to the Unix epoch on the server's
// clock. A key is counted in one window length; use another key for another length.
func (s *Store) Add(ctx context.Context, key string, length time.Duration, n int64) (int64, time.Time, error) {
	if err := checkKey("quota key", key); err != nil {
		return 0, time.Time{}, err
	}
	if length < time.Millisecond || length%time.Millisecond != 0 || length > memory.MaxWindow {
		return 0, time.Time{}, fmt.Errorf("redis: quota window %v: must be whole milliseconds, at least 1ms: %w", length, tiaki.ErrInvalid)
	}
	if n < 1 || n > memory.MaxCount {
		return 0, time.Time{}, fmt.Errorf("redis: quota increment %d: must be 1 to %d: %w", n, memory.MaxCount, tiaki.ErrInvalid)
	}
	res, err := guard(s, func() ([]int64, error) {
		return quotaScript.Run(ctx, s.c, []string{s.key("q", key)}, length.Milliseconds(), n).Int64Slice()
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("redis: quota: %w", err)
	}
	if len(res) != 2 {
		return 0, time.Time{}, fmt.Errorf("redis: quota: script returned %d values", len(res))
	}
	return res[0], time.UnixMilli(res[1]), nil
}

// Consume implements tiaki.ReplayCache with SET NX PX, atomic on the server.
func (s *Store) Consume(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := checkKey("replay key", key); err != nil {
		return false, err
	}
	if ttl <= 0 {
		return false, fmt.Errorf("redis: replay ttl %v: must be positive: %w", ttl, tiaki.ErrInvalid)
	}
	// Round up to whole milliseconds: remembering an identifier a little longer is safe,
	// forgetting it early is not.
	ms := int64(math.Ceil(float64(ttl) / float64(time.Millisecond)))
	ok, err := guard(s, func() (string, error) {
		return s.c.SetArgs(ctx, s.key("jti", key), "1", goredis.SetArgs{Mode: "NX", TTL: time.Duration(ms) * time.Millisecond}).Result()
	})
	switch {
	case err == goredis.Nil:
		return false, nil
	case err != nil:
		return false, fmt.Errorf("redis: replay cache: %w", err)
	}
	return ok == "OK", nil
}
