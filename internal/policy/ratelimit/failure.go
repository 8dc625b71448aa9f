package ratelimit

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tiaki-nz/tiaki"
)

// Mode says what a limit does while its counter store (Redis) fails: the configuration's
// apis[].rate_limit.on_store_error.
//
// Rate limits and quotas protect availability (THREAT-04), not access: authentication and
// authorisation never depend on them. So the default is FailOpen: a Redis outage must not
// become an outage of every API behind the gateway, which is the very denial of service the
// limits exist to prevent. With Deps.Fallback each node keeps counting on its own meanwhile,
// so the API stays throttled (up to the limit per node rather than per cluster). FailClosed
// suits an upstream that cannot survive unthrottled traffic, or quotas that are billed.
type Mode int

// The modes.
const (
	// FailOpen passes requests the store cannot count (on the fallback's counts if any).
	FailOpen Mode = iota
	// FailClosed refuses them with 503 and Retry-After.
	FailClosed
)

// ParseMode parses the configuration's "fail_open" or "fail_closed".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "fail_open":
		return FailOpen, nil
	case "fail_closed":
		return FailClosed, nil
	}
	return 0, fmt.Errorf("ratelimit: on_store_error %q: want fail_open or fail_closed: %w", s, tiaki.ErrInvalid)
}

// String returns the mode as the configuration writes it.
func (m Mode) String() string {
	switch m {
	case FailOpen:
		return "fail_open"
	case FailClosed:
		return "fail_closed"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

func (m Mode) orDefault() (Mode, error) {
	if m != FailOpen && m != FailClosed {
		return 0, fmt.Errorf("ratelimit: on_store_error %v: %w", m, tiaki.ErrInvalid)
	}
	return m, nil
}

const (
	// pauseFor is how long a policy leaves the store alone after it failed, so that while
	// Redis is down or slow requests do not each wait for its timeout.
	pauseFor = time.Second
	// logEvery bounds the error log to one line per policy per interval during an outage.
	logEvery = 10 * time.Second
)

// guard tracks a policy's store failures: it pauses use of the store after one, and logs them
// at most once per logEvery, counting the ones it left out.
type guard struct {
	mode       Mode
	what       string
	log        *slog.Logger
	now        func() time.Time
	pauseUntil atomic.Int64 // Unix ns; 0 while the store works
	lastLog    atomic.Int64
	suppressed atomic.Int64
}

func (g *guard) init(mode Mode, deps Deps, what string) {
	g.mode, g.what, g.log, g.now = mode, what, deps.Logger, deps.Now
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.now == nil {
		g.now = time.Now
	}
}

// storeUsable reports whether to ask the store; it reads the clock only after a failure.
func (g *guard) storeUsable() bool {
	until := g.pauseUntil.Load()
	if until == 0 {
		return true
	}
	if g.now().UnixNano() < until {
		return false
	}
	g.pauseUntil.CompareAndSwap(until, 0)
	return true
}

// failed records a store failure. The error comes from the store and carries no secrets; the
// counter key (which may name a consumer) is not logged.
func (g *guard) failed(err error) {
	now := g.now().UnixNano()
	g.pauseUntil.Store(now + int64(pauseFor))
	last := g.lastLog.Load()
	if last != 0 && now-last < int64(logEvery) || !g.lastLog.CompareAndSwap(last, now) {
		g.suppressed.Add(1)
		return
	}
	g.log.Error("ratelimit: counter store failed", "limit", g.what, "on_store_error", g.mode.String(),
		"paused_for", pauseFor, "failures_not_logged", g.suppressed.Swap(0), "err", err)
}
