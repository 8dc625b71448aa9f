package telemetry

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTimers runs the throttle's scheduled reports when the test says, on a test clock.
type fakeTimers struct {
	mu      sync.Mutex
	now     time.Time
	pending []func()
}

func (f *fakeTimers) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fakeTimers) after(_ time.Duration, fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = append(f.pending, fn)
}
func (f *fakeTimers) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	run := f.pending
	f.pending = nil
	f.mu.Unlock()
	for _, fn := range run {
		fn()
	}
}

func lines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

// TestThrottle: a warning repeated thousands of times in an interval is written RepeatBurst
// times, then once more with the count at the interval's end (issue 11, item 21: 97,000 lines in 10 s
// during a database outage); other messages and lower levels are not held back.
func TestThrottle(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	clk := &fakeTimers{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	h := newThrottle(slog.NewJSONHandler(&buf, nil), 10*time.Second)
	h.state.now, h.state.after = clk.Now, clk.after
	log := slog.New(h).With("component", "gateway")

	for i := range 5000 {
		log.Error("apikey: key lookup failed", "key_id", i)
		log.Info("routine", "i", i)
	}
	log.Warn("another problem")
	got := lines(t, &buf)
	errorsSeen := 0
	for _, l := range got {
		if l["msg"] == "apikey: key lookup failed" {
			errorsSeen++
		}
	}
	if errorsSeen != RepeatBurst || len(got) != 5001+RepeatBurst {
		t.Fatalf("%d lines, %d of the repeated error; want %d and %d", len(got), errorsSeen, 5001+RepeatBurst, RepeatBurst)
	}
	buf.Reset()
	clk.advance(10 * time.Second)
	got = lines(t, &buf)
	if len(got) != 1 || got[0]["msg"] != "apikey: key lookup failed" || got[0]["repeated"] != float64(5000-RepeatBurst) ||
		got[0]["interval_ms"] != 10000.0 || got[0]["component"] != "gateway" || got[0]["key_id"] != 4999.0 {
		t.Fatalf("the interval's report: %v", got)
	}
	// After the report, the next occurrence is written at once.
	buf.Reset()
	log.Error("apikey: key lookup failed", "key_id", 1)
	if got := lines(t, &buf); len(got) != 1 || got[0]["repeated"] != nil {
		t.Errorf("first occurrence of a new interval: %v", got)
	}
	// A message seen once and never again does not hold a window for ever.
	buf.Reset()
	clk.advance(11 * time.Second)
	log.Warn("another problem")
	if got := lines(t, &buf); len(got) != 1 {
		t.Errorf("a message after a quiet interval: %v", got)
	}
}
