package ratelimit

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
)

// QuotaConfig is one route's quota per consumer (apis[].quota.per_consumer): Count requests per
// fixed Window, windows aligned to the Unix epoch (a day's quota resets at 00:00 UTC).
type QuotaConfig struct {
	// API is the route's name; every counter key includes it.
	API string
	// Count is how many requests a consumer may make per window.
	Count int64
	// Window is the window's length, whole seconds, at most a year.
	Window time.Duration
	// OnStoreError says what happens when the counter store fails; FailOpen if zero. Failing
	// open, requests are not counted against the quota while the store is down.
	OnStoreError Mode
}

// Quota is one route's quota per consumer (catalogue ARCH-02: request N+1 of a day's N gets
// 429). It implements policy.Checker. Put it after the per-consumer Limiter, so requests that
// the rate limit refuses do not use up quota.
type Quota struct {
	count    int64
	window   time.Duration
	counter  tiaki.QuotaCounter
	now      func() time.Time
	guard    guard
	keys     *internTable[string]
	fields   fields
	refusals refusals
	prefix   string
}

// NewQuota validates cfg and builds the quota; deps.Counter is required.
func NewQuota(cfg QuotaConfig, deps Deps) (*Quota, error) {
	switch {
	case cfg.API == "":
		return nil, fmt.Errorf("ratelimit: API name is required: %w", tiaki.ErrInvalid)
	case cfg.Count < 1 || cfg.Count > maxRate:
		return nil, fmt.Errorf("ratelimit: quota %d: must be 1 to %d: %w", cfg.Count, maxRate, tiaki.ErrInvalid)
	case cfg.Window < time.Second || cfg.Window%time.Second != 0 || cfg.Window > 366*24*time.Hour:
		return nil, fmt.Errorf("ratelimit: quota window %v: whole seconds, at most a year: %w", cfg.Window, tiaki.ErrInvalid)
	case deps.Counter == nil:
		return nil, errors.New("ratelimit: Deps.Counter is required")
	}
	mode, err := cfg.OnStoreError.orDefault()
	if err != nil {
		return nil, err
	}
	q := &Quota{count: cfg.Count, window: cfg.Window, counter: deps.Counter, now: deps.Now,
		prefix: cfg.API + "\x00quota\x00"}
	if q.now == nil {
		q.now = time.Now
	}
	q.keys = newInternTable(func(c string) string { return q.prefix + consumerKey(c) }, hashString)
	q.guard.init(mode, deps, "quota on API "+cfg.API)
	q.fields = newFields("quota", cfg.Count, cfg.Window)
	q.refusals.proto = policy.Denial{
		Status: http.StatusTooManyRequests, Type: "quota-exceeded", Title: "Quota exceeded",
		Detail: "This API allows " + strconv.FormatInt(cfg.Count, 10) + " requests per " + windowName(cfg.Window) +
			" per consumer. The quota renews after the number of seconds in Retry-After.",
		Reason: "quota exceeded",
	}
	return q, nil
}

func windowName(w time.Duration) string {
	switch w {
	case time.Second:
		return "second"
	case time.Minute:
		return "minute"
	case time.Hour:
		return "hour"
	case 24 * time.Hour:
		return "day"
	}
	return w.String()
}

// Check implements policy.Checker.
func (q *Quota) Check(r *http.Request, p *tiaki.Principal) *policy.Denial {
	return q.CheckHeader(nil, r, p)
}

// CheckHeader counts the request against the consumer's quota and adds the RateLimit-Policy
// and RateLimit fields to h (if not nil). Requests without a consumer are not counted.
func (q *Quota) CheckHeader(h http.Header, r *http.Request, p *tiaki.Principal) *policy.Denial {
	if !policy.Authenticated(p) || p.Consumer == "" {
		return nil
	}
	if !q.guard.storeUsable() {
		return q.storeDown()
	}
	count, resetAt, err := q.counter.Add(r.Context(), q.keys.get(p.Consumer), q.window, 1)
	if err != nil {
		q.guard.failed(err)
		return q.storeDown()
	}
	over := count > q.count
	if h == nil && !over {
		return nil // no need to read the clock
	}
	reset := resetAt.Sub(q.now())
	if h != nil {
		q.fields.add(h, q.count-count, reset)
	}
	if over {
		return q.refusals.get(reset)
	}
	return nil
}

func (q *Quota) storeDown() *policy.Denial {
	if q.guard.mode == FailClosed {
		return unavailable
	}
	return nil
}

// Enforce implements policy.Policy, with the response fields.
func (q *Quota) Enforce(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	return enforce(q.CheckHeader, w, r, next)
}
