// Package ratelimit is the throttling policy (Part B §11.6, catalogue THREAT-04, KEY-07,
// ARCH-02): a rate limit per client IP that runs before authentication, so floods cost the
// gateway little, and a rate limit and a quota per consumer that run after it, so one app at its
// limit does not slow another. Refusals are 429 with Retry-After; every response the policy
// passes or refuses carries RateLimit-Policy and RateLimit fields
// (draft-ietf-httpapi-ratelimit-headers).
//
// Start with New and Limiter.CheckHeader; quota.go is the per-consumer quota, fields.go the
// response fields, failure.go what happens when the shared store fails. The counting itself is
// behind tiaki.RateLimiter and tiaki.QuotaCounter (in process, or Redis across nodes).
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
	"github.com/tiaki-nz/tiaki/internal/web"
)

// Key says what a Limiter counts by.
type Key int

// What a limit counts by.
const (
	// ByIP counts per client address (an IPv6 client by its /64, the block one subscriber
	// usually holds), before authentication.
	ByIP Key = iota + 1
	// ByConsumer counts per authenticated consumer; requests without one are not counted.
	ByConsumer
)

// maxRate bounds a limit's rate and burst, as the configuration does.
const maxRate = 1_000_000_000

// Config is one route's rate limit.
type Config struct {
	// API is the route's name; every counter key includes it, so APIs never share counters.
	API string
	// By is what the limit counts by.
	By Key
	// Limit is the rate, its period and the burst above it.
	Limit tiaki.Limit
	// OnStoreError says what happens when the counter store fails; FailOpen if zero.
	OnStoreError Mode
	// TrustedProxies are the proxies whose forwarding headers name the client (ByIP only);
	// see web.ClientIP.
	TrustedProxies []netip.Prefix
}

// Deps are what the policies need from the rest of Tiaki.
type Deps struct {
	// Limiter counts rate-limited events (required by New).
	Limiter tiaki.RateLimiter
	// Fallback, if set, counts on this node alone while Limiter (a shared store) fails and the
	// mode is FailOpen, so the API stays throttled per node instead of not at all.
	Fallback tiaki.RateLimiter
	// Counter counts quota use (required by NewQuota).
	Counter tiaki.QuotaCounter
	// Logger receives store failures, at most one line per policy every logEvery; slog.Default()
	// if nil.
	Logger *slog.Logger
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Limiter is one route's rate limit by client IP or by consumer. It implements policy.Checker.
type Limiter struct {
	by        Key
	limit     tiaki.Limit
	trusted   []netip.Prefix
	store     tiaki.RateLimiter
	fallback  tiaki.RateLimiter
	guard     guard
	ipKeys    *internTable[netip.Addr]
	userKeys  *internTable[string]
	fields    fields
	refusals  refusals
	prefix    string // the API and kind part of every key
	kindLabel string // for logs and reasons
}

var (
	_ policy.Checker = (*Limiter)(nil)
	_ policy.Checker = (*Quota)(nil)
)

// New validates cfg and builds the limit.
func New(cfg Config, deps Deps) (*Limiter, error) {
	if cfg.API == "" {
		return nil, fmt.Errorf("ratelimit: API name is required: %w", tiaki.ErrInvalid)
	}
	if err := checkLimit(cfg.Limit); err != nil {
		return nil, err
	}
	if deps.Limiter == nil {
		return nil, errors.New("ratelimit: Deps.Limiter is required")
	}
	mode, err := cfg.OnStoreError.orDefault()
	if err != nil {
		return nil, err
	}
	l := &Limiter{by: cfg.By, limit: cfg.Limit, store: deps.Limiter, fallback: deps.Fallback}
	var name, per string
	switch cfg.By {
	case ByIP:
		name, per, l.kindLabel = "ip", "client address", "per-IP rate limit"
		l.trusted = append([]netip.Prefix(nil), cfg.TrustedProxies...)
		l.ipKeys = newInternTable(func(a netip.Addr) string { return l.prefix + ipKey(a) }, hashAddr)
	case ByConsumer:
		name, per, l.kindLabel = "consumer", "consumer", "per-consumer rate limit"
		l.userKeys = newInternTable(func(c string) string { return l.prefix + consumerKey(c) }, hashString)
	default:
		return nil, fmt.Errorf("ratelimit: by %d: want ByIP or ByConsumer: %w", cfg.By, tiaki.ErrInvalid)
	}
	l.prefix = cfg.API + "\x00" + name + "\x00"
	l.guard.init(mode, deps, l.kindLabel+" on API "+cfg.API)
	capacity := int64(cfg.Limit.Rate) + int64(cfg.Limit.Burst)
	l.fields = newFields(name, capacity, cfg.Limit.Per)
	l.refusals.proto = policy.Denial{
		Status: http.StatusTooManyRequests, Type: "rate-limited", Title: "Too many requests",
		Detail: "This API allows " + describeRate(cfg.Limit) + " per " + per +
			". Wait for the number of seconds in Retry-After before trying again.",
		Reason: l.kindLabel + " exceeded",
	}
	return l, nil
}

// checkLimit validates a limit as the stores will; config validation has normally refused a
// bad one already.
func checkLimit(l tiaki.Limit) error {
	switch {
	case l.Rate < 1 || l.Rate > maxRate:
		return fmt.Errorf("ratelimit: rate %d: must be 1 to %d: %w", l.Rate, maxRate, tiaki.ErrInvalid)
	case l.Burst < 0 || l.Burst > maxRate:
		return fmt.Errorf("ratelimit: burst %d: must be 0 to %d: %w", l.Burst, maxRate, tiaki.ErrInvalid)
	case l.Per < time.Duration(l.Rate) || l.Per > 366*24*time.Hour:
		return fmt.Errorf("ratelimit: %d per %v: period out of range: %w", l.Rate, l.Per, tiaki.ErrInvalid)
	}
	return nil
}

// describeRate writes a limit for people: "100 requests per minute, with bursts of 20 more".
func describeRate(l tiaki.Limit) string {
	per := l.Per.String()
	switch l.Per {
	case time.Second:
		per = "second"
	case time.Minute:
		per = "minute"
	case time.Hour:
		per = "hour"
	case 24 * time.Hour:
		per = "day"
	}
	noun := " requests per "
	if l.Rate == 1 {
		noun = " request per "
	}
	s := strconv.Itoa(l.Rate) + noun + per
	if l.Burst > 0 {
		s += ", with bursts of " + strconv.Itoa(l.Burst) + " more,"
	}
	return s
}

// ipKey is the counter key part for a client address: IPv4 addresses whole, IPv6 addresses by
// their /64, because one subscriber usually holds a whole /64 and could otherwise rotate
// through 2^64 addresses to escape the limit.
func ipKey(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// consumerKey is the counter key part for a consumer; long ones are hashed so keys stay short.
func consumerKey(c string) string {
	if len(c) <= 128 {
		return c
	}
	sum := sha256.Sum256([]byte(c))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Check implements policy.Checker. It cannot set response fields; the gateway calls
// CheckHeader when it can.
func (l *Limiter) Check(r *http.Request, p *tiaki.Principal) *policy.Denial {
	return l.CheckHeader(nil, r, p)
}

// CheckHeader counts the request and decides, like Check, and adds the RateLimit-Policy and
// RateLimit fields to h (if not nil): the response headers, on passed and refused requests
// alike (policy.Render keeps them on a refusal).
func (l *Limiter) CheckHeader(h http.Header, r *http.Request, p *tiaki.Principal) *policy.Denial {
	var key string
	switch l.by {
	case ByIP:
		a := web.ClientIP(r, l.trusted)
		if a.Is6() {
			// Mask first, so every address of a /64 shares one interned key.
			pfx, _ := a.Prefix(64)
			a = pfx.Addr()
		}
		key = l.ipKeys.get(a)
	case ByConsumer:
		if !policy.Authenticated(p) || p.Consumer == "" {
			return nil // nobody to count: the per-IP limit covers anonymous callers
		}
		key = l.userKeys.get(p.Consumer)
	}
	d, ok, denial := l.decide(r.Context(), key)
	if denial != nil {
		return denial
	}
	if !ok {
		return nil // failing open with nothing to count on
	}
	if h != nil {
		l.fields.add(h, int64(d.Remaining), d.ResetAfter)
	}
	if !d.Allowed {
		return l.refusals.get(d.RetryAfter)
	}
	return nil
}

// decide asks the store, or on its failure applies the configured mode. ok is false when
// there is no decision to report (failing open without a fallback).
func (l *Limiter) decide(ctx context.Context, key string) (d tiaki.Decision, ok bool, denial *policy.Denial) {
	if l.guard.storeUsable() {
		d, err := l.store.Allow(ctx, key, l.limit, 1)
		if err == nil {
			return d, true, nil
		}
		l.guard.failed(err)
	}
	if l.guard.mode == FailClosed {
		return d, false, unavailable
	}
	if l.fallback != nil {
		if d, err := l.fallback.Allow(ctx, key, l.limit, 1); err == nil {
			return d, true, nil
		}
	}
	return d, false, nil
}

// Enforce implements policy.Policy, with the response fields.
func (l *Limiter) Enforce(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	return enforce(l.CheckHeader, w, r, next)
}

// enforce runs a CheckHeader-shaped check as a stand-alone policy.
func enforce(check func(http.Header, *http.Request, *tiaki.Principal) *policy.Denial, w http.ResponseWriter, r *http.Request, next http.Handler) error {
	p := tiaki.PrincipalFrom(r.Context())
	if p == nil {
		p = &tiaki.Principal{}
	}
	if d := check(w.Header(), r, p); d != nil {
		return d
	}
	next.ServeHTTP(w, r)
	return nil
}

// unavailable refuses requests while the store fails and the mode is FailClosed.
var unavailable = &policy.Denial{
	Status: http.StatusServiceUnavailable, Type: "rate-limit-unavailable", Title: "Service unavailable",
	Detail: "Request limits cannot be checked right now; try again shortly.",
	Reason: "rate-limit store unavailable (on_store_error: fail_closed)", RetryAfter: time.Second,
}
