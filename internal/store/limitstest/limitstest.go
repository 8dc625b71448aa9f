// Package limitstest is the conformance suite for implementations of the root package's
// limits interfaces (tiaki.RateLimiter, tiaki.QuotaCounter and tiaki.ReplayCache):
// internal/store/memory on one node and internal/store/redis across nodes both pass it. Start with Run; each check is one function below it.
package limitstest

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki"
)

// Node is one node's view of the shared state.
type Node interface {
	tiaki.RateLimiter
	tiaki.QuotaCounter
	tiaki.ReplayCache
}

// Cluster is what one check runs against: two nodes that share state (for an in-process
// implementation, the same instance twice), empty when handed over, and their clock.
type Cluster struct {
	A, B Node
	// Now is the nodes' clock.
	Now func() time.Time
	// Advance moves the nodes' clock forward. Nil for implementations on real time (Redis uses
	// its server's clock): the suite then sleeps, keeping every wait short.
	Advance func(time.Duration)
}

// wait lets d pass on the cluster's clock.
func (c Cluster) wait(d time.Duration) {
	if d <= 0 {
		return
	}
	if c.Advance != nil {
		c.Advance(d)
		return
	}
	time.Sleep(d)
}

// realTime reports whether the cluster runs on a clock the suite cannot stop, so that
// checks must allow for time passing between calls.
func (c Cluster) realTime() bool { return c.Advance == nil }

// Run runs every check, each in parallel on a fresh cluster from newCluster. newCluster must
// register its own cleanup with t.Cleanup.
func Run(t *testing.T, newCluster func(t *testing.T) Cluster) {
	checks := []struct {
		name string
		fn   func(t *testing.T, c Cluster)
	}{
		{"LimiterExactUnderConcurrency", limiterExact},
		{"LimiterBurstAndDecision", limiterBurst},
		{"LimiterRefills", limiterRefills},
		{"LimiterCostOfSeveralEvents", limiterCost},
		{"LimiterUnevenInterval", limiterUneven},
		{"LimiterKeysAreIndependent", limiterKeys},
		{"LimiterRefusesInvalidInput", limiterInvalid},
		{"QuotaCountsAcrossNodes", quotaCounts},
		{"QuotaWindowRollsOver", quotaRolls},
		{"QuotaRefusesInvalidInput", quotaInvalid},
		{"ReplayExactlyOnceUnderConcurrency", replayOnce},
		{"ReplayForgetsAfterTTL", replayTTL},
	}
	for _, ch := range checks {
		t.Run(ch.name, func(t *testing.T) {
			t.Parallel()
			ch.fn(t, newCluster(t))
		})
	}
}

// node alternates between the cluster's nodes.
func (c Cluster) node(i int) Node {
	if i%2 == 0 {
		return c.A
	}
	return c.B
}

func near(got, want, slack time.Duration) bool { return got >= want-slack && got <= want+slack }

// limiterExact: 1000 concurrent events against a limit of 100 with no burst, over a period far
// longer than the test, admit exactly 100, and the admitted ones see each Remaining once.
func limiterExact(t *testing.T, c Cluster) {
	l := tiaki.Limit{Rate: 100, Per: time.Hour}
	const calls = 1000
	var (
		wg        sync.WaitGroup
		allowed   atomic.Int64
		mu        sync.Mutex
		remaining = map[int]int{}
		errs      = make(chan error, calls)
	)
	for i := range calls {
		wg.Go(func() {
			d, err := c.node(i).Allow(t.Context(), "exact", l, 1)
			if err != nil {
				errs <- err
				return
			}
			if !d.Allowed {
				if d.RetryAfter <= 0 || d.RetryAfter > 36*time.Second || d.Remaining != 0 {
					errs <- errors.New("refusal with a bad decision")
				}
				return
			}
			allowed.Add(1)
			mu.Lock()
			remaining[d.Remaining]++
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := allowed.Load(); got != 100 {
		t.Fatalf("allowed %d of %d calls, want exactly 100", got, calls)
	}
	for r := range 100 {
		if remaining[r] != 1 {
			t.Fatalf("Remaining %d seen %d times among allowed calls, want once: %v", r, remaining[r], remaining)
		}
	}
}

// limiterBurst: a limit of 10 per hour with a burst of 5 admits 15 at once, counting down,
// then refuses with Retry-After one interval (6 minutes).
func limiterBurst(t *testing.T, c Cluster) {
	l := tiaki.Limit{Rate: 10, Per: time.Hour, Burst: 5}
	const interval = 6 * time.Minute
	for i := range 15 {
		d, err := c.node(i).Allow(t.Context(), "burst", l, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Allowed || d.Limit != 15 || d.Remaining != 14-i || d.RetryAfter != 0 || !near(d.ResetAfter, time.Duration(i+1)*interval, time.Second) {
			t.Fatalf("call %d: %+v, want allowed, limit 15, remaining %d, reset after %v", i+1, d, 14-i, time.Duration(i+1)*interval)
		}
	}
	d, err := c.B.Allow(t.Context(), "burst", l, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || d.Limit != 15 || d.Remaining != 0 || !near(d.RetryAfter, interval, time.Second) || !near(d.ResetAfter, 15*interval, time.Second) {
		t.Fatalf("call 16: %+v, want refused, remaining 0, retry after %v, reset after %v", d, interval, 15*interval)
	}
}

// limiterRefills: after a refusal, waiting Retry-After is enough.
func limiterRefills(t *testing.T, c Cluster) {
	l := tiaki.Limit{Rate: 10, Per: time.Second} // one event per 100ms
	n := 0
	var d tiaki.Decision
	for {
		var err error
		d, err = c.node(n).Allow(t.Context(), "refill", l, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Allowed {
			break
		}
		if n++; n > 12 {
			t.Fatalf("still allowed after %d calls with a capacity of 10", n)
		}
	}
	if n < 10 || n > 10 && !c.realTime() {
		t.Fatalf("allowed %d calls, want 10", n)
	}
	if d.RetryAfter <= 0 || d.RetryAfter > 100*time.Millisecond {
		t.Fatalf("RetryAfter = %v, want (0, 100ms]", d.RetryAfter)
	}
	slack := time.Duration(0)
	if c.realTime() {
		slack = 10 * time.Millisecond
	}
	c.wait(d.RetryAfter + slack)
	if d, err := c.B.Allow(t.Context(), "refill", l, 1); err != nil || !d.Allowed {
		t.Fatalf("after waiting RetryAfter: %+v, %v; want allowed", d, err)
	}
}

// limiterCost: n events at once cost n.
func limiterCost(t *testing.T, c Cluster) {
	l := tiaki.Limit{Rate: 5, Per: time.Hour}
	steps := []struct {
		n         int
		allowed   bool
		remaining int
	}{{3, true, 2}, {3, false, 2}, {2, true, 0}, {1, false, 0}}
	for i, s := range steps {
		d, err := c.node(i).Allow(t.Context(), "cost", l, s.n)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed != s.allowed || d.Remaining != s.remaining {
			t.Fatalf("step %d (n=%d): %+v, want allowed %v, remaining %d", i, s.n, d, s.allowed, s.remaining)
		}
		if !d.Allowed && !near(d.RetryAfter, 12*time.Minute, time.Second) {
			t.Fatalf("step %d: RetryAfter %v, want one interval (12m)", i, d.RetryAfter)
		}
	}
}

// limiterUneven: an interval that is no whole number of microseconds (an hour / 7) counts
// exactly too.
func limiterUneven(t *testing.T, c Cluster) {
	l := tiaki.Limit{Rate: 7, Per: time.Hour}
	for i := range 8 {
		d, err := c.node(i).Allow(t.Context(), "uneven", l, 1)
		if err != nil {
			t.Fatal(err)
		}
		if want := i < 7; d.Allowed != want || want && d.Remaining != 6-i {
			t.Fatalf("call %d: %+v, want allowed %v, remaining %d", i+1, d, want, 6-i)
		}
	}
}

// limiterKeys: keys do not share buckets, and both nodes share each key's bucket.
func limiterKeys(t *testing.T, c Cluster) {
	l := tiaki.Limit{Rate: 1, Per: time.Hour}
	for _, step := range []struct {
		node    Node
		key     string
		allowed bool
	}{{c.A, "k1", true}, {c.B, "k1", false}, {c.B, "k2", true}, {c.A, "k2", false}, {c.A, "k1", false}} {
		d, err := step.node.Allow(t.Context(), step.key, l, 1)
		if err != nil || d.Allowed != step.allowed {
			t.Fatalf("Allow(%s) = %+v, %v; want allowed %v", step.key, d, err, step.allowed)
		}
	}
}

func limiterInvalid(t *testing.T, c Cluster) {
	ok := tiaki.Limit{Rate: 10, Per: time.Minute}
	tests := []struct {
		name string
		key  string
		l    tiaki.Limit
		n    int
	}{
		{"zero rate", "k", tiaki.Limit{Per: time.Minute}, 1},
		{"negative rate", "k", tiaki.Limit{Rate: -1, Per: time.Minute}, 1},
		{"zero period", "k", tiaki.Limit{Rate: 1}, 1},
		{"negative burst", "k", tiaki.Limit{Rate: 1, Per: time.Minute, Burst: -1}, 1},
		{"more than one per nanosecond", "k", tiaki.Limit{Rate: 10, Per: 5}, 1},
		{"absurd period", "k", tiaki.Limit{Rate: 1, Per: 1 << 62, Burst: 10}, 1},
		{"zero events", "k", ok, 0},
		{"more events than capacity", "k", ok, 11},
		{"empty key", "", ok, 1},
		{"huge key", strings.Repeat("k", 1025), ok, 1},
	}
	for _, tc := range tests {
		if _, err := c.A.Allow(t.Context(), tc.key, tc.l, tc.n); !errors.Is(err, tiaki.ErrInvalid) {
			t.Errorf("%s: error %v, want ErrInvalid", tc.name, err)
		}
	}
}

// quotaCounts: counts add up across nodes within one window aligned to the epoch.
func quotaCounts(t *testing.T, c Cluster) {
	ctx := t.Context()
	n, reset, err := c.A.Add(ctx, "q", time.Hour, 1)
	if err != nil || n != 1 {
		t.Fatalf("Add = %d, %v; want 1", n, err)
	}
	if reset.UnixMilli()%time.Hour.Milliseconds() != 0 {
		t.Errorf("window ends at %v, not on an hour", reset)
	}
	if until := reset.Sub(c.Now()); until <= 0 || until > time.Hour+time.Second {
		t.Errorf("window ends in %v, want within the hour", until)
	}
	n, reset2, err := c.B.Add(ctx, "q", time.Hour, 4)
	if err != nil || n != 5 || !reset2.Equal(reset) {
		t.Fatalf("second Add on the other node = %d, %v, %v; want 5 in the same window", n, reset2, err)
	}
	if n, _, err := c.B.Add(ctx, "q2", time.Hour, 1); err != nil || n != 1 {
		t.Fatalf("other key = %d, %v; want 1", n, err)
	}
}

// quotaRolls: a new window starts from zero.
func quotaRolls(t *testing.T, c Cluster) {
	const length = 200 * time.Millisecond
	ctx := t.Context()
	if _, _, err := c.A.Add(ctx, "roll", length, 3); err != nil {
		t.Fatal(err)
	}
	n, reset, err := c.B.Add(ctx, "roll", length, 1)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 && !c.realTime() {
		t.Fatalf("count %d, want 4", n)
	}
	c.wait(reset.Sub(c.Now()) + 10*time.Millisecond)
	n, reset2, err := c.A.Add(ctx, "roll", length, 1)
	if err != nil || n != 1 || !reset2.After(reset) {
		t.Fatalf("Add after the window = %d, %v (was %v), %v; want 1 in a later window", n, reset2, reset, err)
	}
}

func quotaInvalid(t *testing.T, c Cluster) {
	tests := []struct {
		name   string
		key    string
		window time.Duration
		n      int64
	}{
		{"zero window", "k", 0, 1},
		{"negative window", "k", -time.Hour, 1},
		{"sub-millisecond window", "k", 1500 * time.Microsecond, 1},
		{"zero increment", "k", time.Hour, 0},
		{"negative increment", "k", time.Hour, -3},
		{"empty key", "", time.Hour, 1},
		{"huge key", strings.Repeat("k", 1025), time.Hour, 1},
	}
	for _, tc := range tests {
		if _, _, err := c.A.Add(t.Context(), tc.key, tc.window, tc.n); !errors.Is(err, tiaki.ErrInvalid) {
			t.Errorf("%s: error %v, want ErrInvalid", tc.name, err)
		}
	}
}

// replayOnce: of 32 concurrent uses of one identifier on two nodes, exactly one is fresh.
func replayOnce(t *testing.T, c Cluster) {
	var (
		wg    sync.WaitGroup
		fresh atomic.Int64
		errs  = make(chan error, 32)
	)
	for i := range 32 {
		wg.Go(func() {
			ok, err := c.node(i).Consume(t.Context(), "jti-1", time.Minute)
			if err != nil {
				errs <- err
			}
			if ok {
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := fresh.Load(); got != 1 {
		t.Fatalf("%d of 32 concurrent uses were fresh, want exactly 1", got)
	}
	if ok, err := c.B.Consume(t.Context(), "jti-2", time.Minute); err != nil || !ok {
		t.Fatalf("another identifier: fresh %v, %v; want fresh", ok, err)
	}
}

// replayTTL: an identifier is remembered for its TTL, then forgotten.
func replayTTL(t *testing.T, c Cluster) {
	ctx := t.Context()
	const ttl = 150 * time.Millisecond
	if ok, err := c.A.Consume(ctx, "short", ttl); err != nil || !ok {
		t.Fatalf("first use: %v, %v", ok, err)
	}
	if ok, err := c.B.Consume(ctx, "short", ttl); err != nil || ok {
		t.Fatalf("replay within the TTL: fresh %v, %v; want a replay", ok, err)
	}
	c.wait(ttl + 50*time.Millisecond)
	if ok, err := c.B.Consume(ctx, "short", ttl); err != nil || !ok {
		t.Fatalf("after the TTL: fresh %v, %v; want fresh", ok, err)
	}
	for _, bad := range []time.Duration{0, -time.Second} {
		if _, err := c.A.Consume(ctx, "k", bad); !errors.Is(err, tiaki.ErrInvalid) {
			t.Errorf("ttl %v: error %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := c.A.Consume(ctx, "", time.Minute); !errors.Is(err, tiaki.ErrInvalid) {
		t.Errorf("empty key: error %v, want ErrInvalid", err)
	}
}
