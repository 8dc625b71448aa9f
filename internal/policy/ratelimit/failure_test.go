package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/store/memory"
)

// downStore is a counter store that has gone away (Redis unreachable).
type downStore struct{ calls atomic.Int64 }

var errDown = errors.New("dial tcp 127.0.0.1:6379: connection refused")

func (s *downStore) Allow(context.Context, string, tiaki.Limit, int) (tiaki.Decision, error) {
	s.calls.Add(1)
	return tiaki.Decision{}, errDown
}

func (s *downStore) Add(context.Context, string, time.Duration, int64) (int64, time.Time, error) {
	s.calls.Add(1)
	return 0, time.Time{}, errDown
}

func TestStoreFailureModes(t *testing.T) {
	t.Parallel()
	limit := tiaki.Limit{Rate: 1, Per: time.Hour}
	tests := []struct {
		name     string
		mode     Mode
		fallback bool
		want     []int // status of successive requests; 0 passes
		counted  bool  // whether RateLimit fields are sent
	}{
		{"fail closed refuses with 503", FailClosed, false, []int{503, 503}, false},
		{"fail open passes uncounted", FailOpen, false, []int{0, 0, 0}, false},
		{"fail open counts on the node's fallback", FailOpen, true, []int{0, 429}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv()
			deps := Deps{Limiter: &downStore{}, Now: e.clk.Now, Logger: slog.New(slog.DiscardHandler)}
			if tc.fallback {
				deps.Fallback = e.store
			}
			l, err := New(Config{API: "demo", By: ByIP, Limit: limit, OnStoreError: tc.mode}, deps)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range tc.want {
				o := check(l, request("203.0.113.9:1"), &tiaki.Principal{})
				if o.Status != want || (o.State != nil) != tc.counted {
					t.Fatalf("request %d: %+v, want status %d, counted %v", i+1, o, want, tc.counted)
				}
				if want == 503 && o.RetryAfter != time.Second {
					t.Fatalf("503 without Retry-After: %+v", o)
				}
			}
		})
	}
}

func TestQuotaStoreFailureModes(t *testing.T) {
	t.Parallel()
	for mode, want := range map[Mode]int{FailOpen: 0, FailClosed: 503} {
		e := newEnv()
		q, err := NewQuota(QuotaConfig{API: "demo", Count: 1, Window: time.Hour, OnStoreError: mode},
			Deps{Counter: &downStore{}, Now: e.clk.Now, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if o := check(q, request("203.0.113.9:1"), principal("app-a")); o.Status != want || o.State != nil {
				t.Errorf("%v: %+v, want status %d and no fields", mode, o, want)
			}
		}
	}
}

// An outage costs one store call per pause and one log line per interval, not one per request;
// the log names the policy and the cause but no consumer or key.
func TestStoreFailurePausesAndLogsOncePerInterval(t *testing.T) {
	t.Parallel()
	e := newEnv()
	var logs bytes.Buffer
	store := &downStore{}
	l, err := New(Config{API: "demo", By: ByConsumer, Limit: tiaki.Limit{Rate: 5, Per: time.Second}},
		Deps{Limiter: store, Now: e.clk.Now, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	r, p := request("203.0.113.9:1"), principal("app-secretive")
	for range 100 {
		_ = l.Check(r, p)
	}
	if n := store.calls.Load(); n != 1 {
		t.Errorf("%d store calls during the pause, want 1", n)
	}
	e.clk.Advance(pauseFor)
	for range 100 {
		_ = l.Check(r, p)
	}
	if n := store.calls.Load(); n != 2 {
		t.Errorf("%d store calls after the pause, want 2", n)
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 {
		t.Errorf("%d log lines within %v, want 1:\n%s", n, logEvery, logs.String())
	}
	e.clk.Advance(logEvery)
	_ = l.Check(r, p)
	out := logs.String()
	if n := strings.Count(out, "\n"); n != 2 || !strings.Contains(out, "failures_not_logged=1") {
		t.Errorf("after %v: want a second line counting the one left out:\n%s", logEvery, out)
	}
	if !strings.Contains(out, "per-consumer rate limit on API demo") || !strings.Contains(out, "connection refused") || strings.Contains(out, "secretive") {
		t.Errorf("log line should name the limit and cause, not the consumer:\n%s", out)
	}
}

func TestChecksAllocateNothing(t *testing.T) {
	e := newEnv()
	ip, _ := New(Config{API: "demo", By: ByIP, Limit: tiaki.Limit{Rate: 1_000_000, Per: time.Second}}, e.deps())
	consumer, _ := New(Config{API: "demo", By: ByConsumer, Limit: tiaki.Limit{Rate: 1_000_000, Per: time.Second}}, e.deps())
	quota, _ := NewQuota(QuotaConfig{API: "demo", Count: 1_000_000_000, Window: 24 * time.Hour}, e.deps())
	r4, r6, p := request("203.0.113.9:1"), request("[2001:db8::1]:1"), principal("app-a")
	run := func() {
		_ = ip.Check(r4, p)
		_ = ip.Check(r6, p)
		_ = consumer.Check(r4, p)
		_ = quota.Check(r4, p)
	}
	run()
	if n := testing.AllocsPerRun(200, run); n != 0 {
		t.Errorf("Check allocates %v times per request on the passing path", n)
	}
	// Refused: the denial is shared, so refusals cost nothing either.
	tight, _ := New(Config{API: "demo", By: ByIP, Limit: tiaki.Limit{Rate: 1, Per: time.Hour}}, e.deps())
	_ = tight.Check(r4, p)
	_ = tight.Check(r4, p)
	if n := testing.AllocsPerRun(200, func() { _ = tight.Check(r4, p) }); n != 0 {
		t.Errorf("Check allocates %v times per refused request", n)
	}
	// With response fields: one allocation per policy.
	h := http.Header{}
	if n := testing.AllocsPerRun(200, func() {
		clear(h)
		_ = ip.CheckHeader(h, r4, p)
		_ = consumer.CheckHeader(h, r4, p)
		_ = quota.CheckHeader(h, r4, p)
	}); n > 3 {
		t.Errorf("CheckHeader allocates %v times for three policies, want at most 3", n)
	}
}

// BenchmarkPolicies runs the per-IP and per-consumer limits and the quota of one route on the
// in-process store, as the gateway does per request.
func BenchmarkPolicies(b *testing.B) {
	store := memory.New(memory.Options{}) // on the real clock
	deps := Deps{Limiter: store, Counter: store}
	ip, _ := New(Config{API: "demo", By: ByIP, Limit: tiaki.Limit{Rate: 1_000_000_000, Per: time.Second}}, deps)
	consumer, _ := New(Config{API: "demo", By: ByConsumer, Limit: tiaki.Limit{Rate: 1_000_000_000, Per: time.Second}}, deps)
	quota, _ := NewQuota(QuotaConfig{API: "demo", Count: 1_000_000_000, Window: time.Second}, deps)
	r, p := request("203.0.113.9:1"), principal("app-a")
	b.Run("Check", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = ip.Check(r, p)
			_ = consumer.Check(r, p)
		}
	})
	b.Run("CheckWithQuota", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = ip.Check(r, p)
			_ = consumer.Check(r, p)
			_ = quota.Check(r, p)
		}
	})
	b.Run("CheckHeader", func(b *testing.B) {
		b.ReportAllocs()
		h := http.Header{}
		for b.Loop() {
			clear(h)
			_ = ip.CheckHeader(h, r, p)
			_ = consumer.CheckHeader(h, r, p)
		}
	})
}
