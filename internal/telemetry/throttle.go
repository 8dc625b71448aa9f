package telemetry

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// RepeatInterval is how often one warning or error message is written while it keeps
// happening: the first RepeatBurst occurrences at once, then one line per interval saying how
// many more there were. A database outage under load otherwise writes a line per failed request
// (97,000 in 10 s was measured, issue 11 item 21), burying the one line that matters.
const RepeatInterval = 10 * time.Second

// RepeatBurst occurrences of a message in an interval are written in full, so that a burst
// of distinct problems logged under one message (each error of a rejected configuration
// reload) is seen whole; only a flood is condensed.
const RepeatBurst = 10

// maxThrottled bounds how many distinct messages are held back at once; past it, records
// pass unthrottled rather than growing memory.
const maxThrottled = 1024

// throttle passes each warning or error message RepeatBurst times per interval and then
// reports how many more of it there were; lower levels pass untouched. Messages are compared by their
// text, which for Tiaki's logs names the event ("apikey: key lookup failed"), not the
// instance.
type throttle struct {
	next  slog.Handler
	state *throttleState // shared by every handler derived with WithAttrs or WithGroup
}

type throttleState struct {
	every time.Duration
	now   func() time.Time
	after func(time.Duration, func()) // time.AfterFunc, replaceable in tests

	mu      sync.Mutex
	windows map[string]*repeatWindow
}

// repeatWindow is one message's current interval: when it began, how many records were held
// back, and the last of them (with the handler that received it) to report the count with.
type repeatWindow struct {
	start time.Time
	seen  int // written in full this interval
	held  int
	last  slog.Record
	h     slog.Handler
}

func newThrottle(next slog.Handler, every time.Duration) *throttle {
	return &throttle{next: next, state: &throttleState{every: every, now: time.Now,
		after:   func(d time.Duration, f func()) { time.AfterFunc(d, f) },
		windows: map[string]*repeatWindow{}}}
}

func (t *throttle) Enabled(ctx context.Context, l slog.Level) bool { return t.next.Enabled(ctx, l) }

func (t *throttle) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return t.next.Handle(ctx, r)
	}
	s := t.state
	now := s.now()
	s.mu.Lock()
	w, ok := s.windows[r.Message]
	if ok && w.held == 0 && now.Sub(w.start) >= s.every {
		w.start, w.seen = now, 0 // a window ended with nothing held: this one starts the next
	}
	if ok && w.held == 0 && w.seen < RepeatBurst {
		w.seen++
		s.mu.Unlock()
		return t.next.Handle(ctx, r)
	}
	if !ok {
		if len(s.windows) >= maxThrottled {
			s.sweep(now)
		}
		if len(s.windows) < maxThrottled {
			s.windows[r.Message] = &repeatWindow{start: now, seen: 1}
		}
		s.mu.Unlock()
		return t.next.Handle(ctx, r)
	}
	if w.held == 0 {
		// The first record held back in this window schedules the report at its end.
		msg := r.Message
		s.after(w.start.Add(s.every).Sub(now), func() { s.report(msg, w) })
	}
	w.held++
	w.last, w.h = r.Clone(), t.next
	s.mu.Unlock()
	return nil
}

// report ends a message's window, writing its last held record with the count. The next
// occurrence of the message then starts a new window and is written at once.
func (s *throttleState) report(msg string, w *repeatWindow) {
	s.mu.Lock()
	if s.windows[msg] == w {
		delete(s.windows, msg)
	}
	rec, h, n := w.last, w.h, w.held
	s.mu.Unlock()
	rec.AddAttrs(slog.Int("repeated", n), slog.Int64("interval_ms", s.every.Milliseconds()))
	_ = h.Handle(context.Background(), rec)
}

// sweep forgets windows that ended with nothing held back. Called with mu held.
func (s *throttleState) sweep(now time.Time) {
	for msg, w := range s.windows {
		if w.held == 0 && now.Sub(w.start) >= s.every {
			delete(s.windows, msg)
		}
	}
}

func (t *throttle) WithAttrs(as []slog.Attr) slog.Handler {
	return &throttle{next: t.next.WithAttrs(as), state: t.state}
}

func (t *throttle) WithGroup(name string) slog.Handler {
	return &throttle{next: t.next.WithGroup(name), state: t.state}
}
