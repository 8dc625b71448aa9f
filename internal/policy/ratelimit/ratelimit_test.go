package ratelimit

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
	"github.com/tiaki-nz/tiaki/internal/store/memory"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// env is a memory store and a clock shared by the policies under test.
type env struct {
	clk   *clock
	store *memory.Store
}

func newEnv() env {
	c := newClock()
	return env{clk: c, store: memory.New(memory.Options{Now: c.Now})}
}

func (e env) deps() Deps { return Deps{Limiter: e.store, Counter: e.store, Now: e.clk.Now} }

func request(remote string) *http.Request {
	r := httptest.NewRequest("GET", "/demo/x", nil)
	r.RemoteAddr = remote
	return r
}

func principal(consumer string) *tiaki.Principal {
	p := &tiaki.Principal{}
	policy.Admit(p, tiaki.CredentialAPIKey, consumer, "key-"+consumer, time.Time{})
	return p
}

// outcome is what a check did, as the client would see it.
type outcome struct {
	Status     int // 0: passed
	RetryAfter time.Duration
	Policy     []string
	State      []string
}

func check(c interface {
	CheckHeader(http.Header, *http.Request, *tiaki.Principal) *policy.Denial
}, r *http.Request, p *tiaki.Principal) outcome {
	h := http.Header{}
	d := c.CheckHeader(h, r, p)
	o := outcome{Policy: h[policyField], State: h[stateField]}
	if d != nil {
		o.Status, o.RetryAfter = d.Status, d.RetryAfter
	}
	return o
}

func TestPerIPLimit(t *testing.T) {
	t.Parallel()
	e := newEnv()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	l, err := New(Config{API: "demo", By: ByIP, Limit: tiaki.Limit{Rate: 2, Per: time.Minute, Burst: 1}, TrustedProxies: trusted}, e.deps())
	if err != nil {
		t.Fatal(err)
	}
	pol := []string{`"ip";q=3;w=60`}
	steps := []struct {
		name   string
		remote string
		xff    string
		want   outcome
	}{
		{"first", "203.0.113.9:1", "", outcome{Policy: pol, State: []string{`"ip";r=2;t=30`}}},
		{"second", "203.0.113.9:2", "", outcome{Policy: pol, State: []string{`"ip";r=1;t=60`}}},
		{"burst", "203.0.113.9:3", "", outcome{Policy: pol, State: []string{`"ip";r=0;t=90`}}},
		{"refused", "203.0.113.9:4", "", outcome{Status: 429, RetryAfter: 30 * time.Second, Policy: pol, State: []string{`"ip";r=0;t=90`}}},
		{"spoofed XFF from an untrusted peer is ignored", "203.0.113.9:5", "198.51.100.1", outcome{Status: 429, RetryAfter: 30 * time.Second, Policy: pol, State: []string{`"ip";r=0;t=90`}}},
		{"another address", "203.0.113.10:1", "", outcome{Policy: pol, State: []string{`"ip";r=2;t=30`}}},
		{"behind a trusted proxy, the forwarded client counts", "10.0.0.2:1", "198.51.100.1", outcome{Policy: pol, State: []string{`"ip";r=2;t=30`}}},
		{"same forwarded client refused", "10.0.0.3:1", "203.0.113.9", outcome{Status: 429, RetryAfter: 30 * time.Second, Policy: pol, State: []string{`"ip";r=0;t=90`}}},
		{"an IPv6 /64 is one client", "[2001:db8:1:2::1]:1", "", outcome{Policy: pol, State: []string{`"ip";r=2;t=30`}}},
		{"same /64", "[2001:db8:1:2:ffff::9]:1", "", outcome{Policy: pol, State: []string{`"ip";r=1;t=60`}}},
		{"another /64", "[2001:db8:1:3::1]:1", "", outcome{Policy: pol, State: []string{`"ip";r=2;t=30`}}},
	}
	for _, s := range steps {
		r := request(s.remote)
		if s.xff != "" {
			r.Header.Set("X-Forwarded-For", s.xff)
		}
		if diff := cmp.Diff(s.want, check(l, r, &tiaki.Principal{})); diff != "" {
			t.Fatalf("%s (-want +got):\n%s", s.name, diff)
		}
	}
	// Waiting Retry-After is enough.
	e.clk.Advance(30 * time.Second)
	if d := l.Check(request("203.0.113.9:1"), &tiaki.Principal{}); d != nil {
		t.Fatalf("after Retry-After: %v", d)
	}
}

func TestPerConsumerLimit(t *testing.T) {
	t.Parallel()
	e := newEnv()
	limit := tiaki.Limit{Rate: 1, Per: time.Hour}
	demo, err := New(Config{API: "demo", By: ByConsumer, Limit: limit}, e.deps())
	if err != nil {
		t.Fatal(err)
	}
	other, err := New(Config{API: "other", By: ByConsumer, Limit: limit}, e.deps())
	if err != nil {
		t.Fatal(err)
	}
	r := request("203.0.113.9:1")
	steps := []struct {
		name   string
		l      *Limiter
		p      *tiaki.Principal
		status int
		counts bool
	}{
		{"anonymous requests are not counted", demo, &tiaki.Principal{}, 0, false},
		{"app A", demo, principal("app-a"), 0, true},
		{"app A again is refused", demo, principal("app-a"), 429, true},
		// Catalogue KEY-07: key A at its limit gets 429 while key B on the same API gets 200.
		{"app B is not affected", demo, principal("app-b"), 0, true},
		{"APIs do not share counters", other, principal("app-a"), 0, true},
		{"a very long consumer name", demo, principal(strings.Repeat("c", 5000)), 0, true},
	}
	for _, s := range steps {
		o := check(s.l, r, s.p)
		if o.Status != s.status || (o.State != nil) != s.counts {
			t.Fatalf("%s: %+v, want status %d, counted %v", s.name, o, s.status, s.counts)
		}
	}
}

func TestQuota(t *testing.T) {
	t.Parallel()
	e := newEnv() // one minute before midnight UTC
	q, err := NewQuota(QuotaConfig{API: "demo", Count: 2, Window: 24 * time.Hour}, e.deps())
	if err != nil {
		t.Fatal(err)
	}
	r := request("203.0.113.9:1")
	pol := []string{`"quota";q=2;w=86400`}
	for i, want := range []outcome{
		{Policy: pol, State: []string{`"quota";r=1;t=60`}},
		{Policy: pol, State: []string{`"quota";r=0;t=60`}},
		{Status: 429, RetryAfter: time.Minute, Policy: pol, State: []string{`"quota";r=0;t=60`}},
	} {
		if diff := cmp.Diff(want, check(q, r, principal("app-a"))); diff != "" {
			t.Fatalf("request %d (-want +got):\n%s", i+1, diff)
		}
	}
	if o := check(q, r, principal("app-b")); o.Status != 0 {
		t.Fatalf("another consumer: %+v", o)
	}
	if o := check(q, r, &tiaki.Principal{}); o.Status != 0 || o.State != nil {
		t.Fatalf("anonymous: %+v, want not counted", o)
	}
	e.clk.Advance(time.Minute) // a new day
	if o := check(q, r, principal("app-a")); o.Status != 0 {
		t.Fatalf("next day: %+v", o)
	}
}

func TestRouteWithEveryLimitWritesEachField(t *testing.T) {
	t.Parallel()
	e := newEnv()
	ip, _ := New(Config{API: "demo", By: ByIP, Limit: tiaki.Limit{Rate: 10, Per: time.Second}}, e.deps())
	consumer, _ := New(Config{API: "demo", By: ByConsumer, Limit: tiaki.Limit{Rate: 100, Per: time.Minute, Burst: 20}}, e.deps())
	quota, _ := NewQuota(QuotaConfig{API: "demo", Count: 1000, Window: time.Hour}, e.deps())
	h := http.Header{}
	r, p := request("203.0.113.9:1"), principal("app-a")
	for _, c := range []interface {
		CheckHeader(http.Header, *http.Request, *tiaki.Principal) *policy.Denial
	}{ip, consumer, quota} {
		if d := c.CheckHeader(h, r, p); d != nil {
			t.Fatal(d)
		}
	}
	want := http.Header{
		policyField: {`"ip";q=10;w=1`, `"consumer";q=120;w=60`, `"quota";q=1000;w=3600`},
		stateField:  {`"ip";r=9;t=1`, `"consumer";r=119;t=1`, `"quota";r=999;t=60`},
	}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	// A header added downstream must not write into a slice another response shares.
	h.Add(policyField, "x")
	h2 := http.Header{}
	_ = ip.CheckHeader(h2, r, p)
	if got := h2[policyField]; len(got) != 1 || got[0] != `"ip";q=10;w=1` {
		t.Errorf("shared field value changed: %q", got)
	}
}

func TestEnforceRendersFieldsOnBothOutcomes(t *testing.T) {
	t.Parallel()
	e := newEnv()
	l, _ := New(Config{API: "demo", By: ByIP, Limit: tiaki.Limit{Rate: 1, Per: time.Minute}}, e.deps())
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	serve := func() *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := request("203.0.113.9:1")
		if err := l.Enforce(w, r, next); err != nil {
			var d *policy.Denial
			if !errors.As(err, &d) {
				t.Fatal(err)
			}
			policy.Render(w, r, d)
		}
		return w
	}
	ok := serve()
	if ok.Code != http.StatusNoContent || ok.Header().Get("RateLimit") != `"ip";r=0;t=60` || ok.Header().Get("RateLimit-Policy") != `"ip";q=1;w=60` {
		t.Errorf("passed: %d %v", ok.Code, ok.Header())
	}
	refused := serve()
	if refused.Code != http.StatusTooManyRequests || refused.Header().Get("Retry-After") != "60" ||
		refused.Header().Get("RateLimit") != `"ip";r=0;t=60` || refused.Header().Get("RateLimit-Policy") != `"ip";q=1;w=60` {
		t.Errorf("refused: %d %v", refused.Code, refused.Header())
	}
	if body := refused.Body.String(); !strings.Contains(body, `"type":"`+policy.TypeBase+`rate-limited"`) || !strings.Contains(body, "1 request per minute per client address") {
		t.Errorf("refusal body: %s", body)
	}
}

func TestRefusalsAreSharedPerSecond(t *testing.T) {
	t.Parallel()
	var rs refusals
	rs.proto = policy.Denial{Status: 429}
	a, b := rs.get(1500*time.Millisecond), rs.get(2*time.Second)
	if a != b || a.RetryAfter != 2*time.Second {
		t.Errorf("1.5s and 2s: %p %v, %p %v; want one denial with 2s", a, a.RetryAfter, b, b.RetryAfter)
	}
	if c := rs.get(66 * time.Second); c.RetryAfter != 66*time.Second || a.RetryAfter != 2*time.Second {
		t.Errorf("a colliding slot changed an earlier denial: %v, %v", c.RetryAfter, a.RetryAfter)
	}
	if d := rs.get(0); d.RetryAfter != time.Second {
		t.Errorf("zero wait: Retry-After %v, want at least 1s", d.RetryAfter)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	e := newEnv()
	ok := tiaki.Limit{Rate: 10, Per: time.Minute}
	limits := []struct {
		name string
		cfg  Config
		deps Deps
	}{
		{"no API", Config{By: ByIP, Limit: ok}, e.deps()},
		{"no key kind", Config{API: "a", Limit: ok}, e.deps()},
		{"zero rate", Config{API: "a", By: ByIP, Limit: tiaki.Limit{Per: time.Minute}}, e.deps()},
		{"negative burst", Config{API: "a", By: ByIP, Limit: tiaki.Limit{Rate: 1, Per: time.Minute, Burst: -1}}, e.deps()},
		{"no period", Config{API: "a", By: ByIP, Limit: tiaki.Limit{Rate: 1}}, e.deps()},
		{"unknown mode", Config{API: "a", By: ByIP, Limit: ok, OnStoreError: 7}, e.deps()},
		{"no store", Config{API: "a", By: ByIP, Limit: ok}, Deps{}},
	}
	for _, tc := range limits {
		if _, err := New(tc.cfg, tc.deps); err == nil {
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
	quotas := []struct {
		name string
		cfg  QuotaConfig
		deps Deps
	}{
		{"no API", QuotaConfig{Count: 1, Window: time.Hour}, e.deps()},
		{"zero count", QuotaConfig{API: "a", Window: time.Hour}, e.deps()},
		{"sub-second window", QuotaConfig{API: "a", Count: 1, Window: 1500 * time.Millisecond}, e.deps()},
		{"no counter", QuotaConfig{API: "a", Count: 1, Window: time.Hour}, Deps{}},
	}
	for _, tc := range quotas {
		if _, err := NewQuota(tc.cfg, tc.deps); err == nil {
			t.Errorf("%s: NewQuota succeeded", tc.name)
		}
	}
}

func TestParseMode(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]Mode{"fail_open": FailOpen, "fail_closed": FailClosed} {
		if got, err := ParseMode(s); err != nil || got != want || got.String() != s {
			t.Errorf("ParseMode(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseMode("open"); !errors.Is(err, tiaki.ErrInvalid) {
		t.Errorf("ParseMode(open) error %v, want ErrInvalid", err)
	}
}
