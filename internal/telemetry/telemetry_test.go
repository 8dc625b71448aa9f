package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/web"
)

func TestLoggerRedactsAndAddsRequestID(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger, err := NewLogger(&buf, LogOptions{Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := web.WithRequestID(context.Background(), "req-1")
	logger.InfoContext(ctx, "hello",
		"client_secret", "s3cr3t-value",
		"password", "hunter2",
		"value", tiaki.Secret("typed-secret"),
		"client_id", "demo-client")
	out := buf.String()
	for _, leak := range []string{"s3cr3t-value", "hunter2", "typed-secret"} {
		if strings.Contains(out, leak) {
			t.Errorf("secret %q reached the log: %s", leak, out)
		}
	}
	for _, want := range []string{`"request_id":"req-1"`, `"client_id":"demo-client"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s: %s", want, out)
		}
	}
}

func TestLoggerRejectsBadOptions(t *testing.T) {
	t.Parallel()
	if _, err := NewLogger(io.Discard, LogOptions{Level: "loud"}); err == nil {
		t.Error("bad level accepted")
	}
	if _, err := NewLogger(io.Discard, LogOptions{Format: "xml"}); err == nil {
		t.Error("bad format accepted")
	}
}

func TestMetricsCountRequests(t *testing.T) {
	t.Parallel()
	m := NewMetrics("test")
	h := m.Instrument("gateway", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
	}))
	for range 3 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`tiaki_http_requests_total{code="404",listener="gateway"} 3`,
		`tiaki_build_info{version="test"} 1`,
		`process_`, `go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestLoggerOneKeyOneUnit: a request_id given by the caller is not added again from the
// context, keys repeated by With or by the call appear once (the first wins), and durations
// are float milliseconds under *_ms, with times in the audit stream's format.
func TestLoggerOneKeyOneUnit(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger, err := NewLogger(&buf, LogOptions{Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := web.WithRequestID(context.Background(), "req-ctx")
	logger.InfoContext(ctx, "explicit", "request_id", "req-ctx", "grace", 30*time.Second)
	logger.With("route", "a").InfoContext(ctx, "with", "route", "b", "latency", 1500*time.Microsecond, "msg", "shadow", "wait_ms", 2*time.Millisecond)
	logger.WithGroup("g").InfoContext(ctx, "grouped", "d", time.Second)
	want := []map[string]any{
		{"level": "INFO", "msg": "explicit", "request_id": "req-ctx", "grace_ms": 30000.0},
		{"level": "INFO", "msg": "with", "route": "a", "request_id": "req-ctx", "latency_ms": 1.5, "wait_ms": 2.0},
		{"level": "INFO", "msg": "grouped", "g": map[string]any{"d_ms": 1000.0, "request_id": "req-ctx"}},
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	timeRE := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	for i, line := range lines {
		if n := strings.Count(line, `"request_id"`); n != 1 {
			t.Errorf("line %d has request_id %d times: %s", i, n, line)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, line)
		}
		if ts, _ := got["time"].(string); !timeRE.MatchString(ts) {
			t.Errorf("line %d: time %q is not RFC 3339 UTC with milliseconds", i, got["time"])
		}
		delete(got, "time")
		if diff := cmp.Diff(want[i], got); diff != "" {
			t.Errorf("line %d (-want +got):\n%s", i, diff)
		}
	}
}
