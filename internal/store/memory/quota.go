package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/tiaki-nz/tiaki"
)

// MaxWindow bounds a quota window: fifty years is longer than any quota anyone means.
const MaxWindow = 50 * 365 * 24 * time.Hour

// window is a quota key's count in its current fixed window (Unix nanoseconds).
type window struct {
	start, end, count int64
}

func (w window) expiresAt() int64 { return w.end }

// Add implements tiaki.QuotaCounter. Windows are aligned to the Unix epoch, so a day's window
// runs from 00:00 to 24:00 UTC on every node. A key is counted in one window length: calling
// with another length restarts its count; use another key for another length.
func (s *Store) Add(_ context.Context, key string, length time.Duration, n int64) (int64, time.Time, error) {
	if err := checkKey("quota key", key); err != nil {
		return 0, time.Time{}, err
	}
	// Whole milliseconds, so that the Redis store (which counts in milliseconds) draws the same
	// window boundaries.
	if length < time.Millisecond || length > MaxWindow || length%time.Millisecond != 0 {
		return 0, time.Time{}, fmt.Errorf("memory: quota window %v: must be whole milliseconds, at least 1ms: %w", length, tiaki.ErrInvalid)
	}
	if n < 1 || n > MaxCount {
		return 0, time.Time{}, fmt.Errorf("memory: quota increment %d: must be 1 to %d: %w", n, MaxCount, tiaki.ErrInvalid)
	}
	now := s.now().UnixNano()
	start := now - now%int64(length)
	sh := s.quotas.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	w, ok := sh.m[key]
	if !ok || w.start != start {
		w = window{start: start, end: start + int64(length)}
	}
	w.count = addSat(w.count, n)
	if err := s.quotas.put(sh, key, w, now, ok); err != nil {
		return 0, time.Time{}, err
	}
	return w.count, time.Unix(0, w.end), nil
}
