package auditlog

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// lineRecorder records each Write it gets, to check only whole lines are passed on.
type lineRecorder struct {
	mu     sync.Mutex
	writes []string
}

func (r *lineRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, string(p))
	return len(p), nil
}

func (r *lineRecorder) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.writes, "")
}

func TestLineBufferPassesWholeLinesAndFlushes(t *testing.T) {
	t.Parallel()
	rec := &lineRecorder{}
	b := NewLineBuffer(rec, 64, time.Hour)
	var want bytes.Buffer
	for i := 0; i < 50; i++ {
		line := strings.Repeat("x", i%20) + "\n"
		want.WriteString(line)
		if _, err := b.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if rec.all() != want.String() {
		t.Fatal("lines lost or reordered")
	}
	for _, w := range rec.writes {
		if !strings.HasSuffix(w, "\n") || len(w) > 64 {
			t.Fatalf("write of %d bytes not made of whole lines within the buffer: %q", len(w), w)
		}
	}
}

func TestLineBufferFlushesOnInterval(t *testing.T) {
	t.Parallel()
	rec := &lineRecorder{}
	b := NewLineBuffer(rec, 4096, 10*time.Millisecond)
	defer b.Close()
	b.Write([]byte("event\n"))
	deadline := time.Now().Add(5 * time.Second)
	for rec.all() != "event\n" {
		if time.Now().After(deadline) {
			t.Fatal("not flushed within the interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLineBufferPassesOversizedLinesThrough(t *testing.T) {
	t.Parallel()
	rec := &lineRecorder{}
	b := NewLineBuffer(rec, 8, time.Hour)
	b.Write([]byte("ab\n"))
	b.Write([]byte("0123456789\n"))
	b.Close()
	if got := rec.all(); got != "ab\n0123456789\n" {
		t.Fatalf("got %q", got)
	}
}
