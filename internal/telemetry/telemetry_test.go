package telemetry

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
