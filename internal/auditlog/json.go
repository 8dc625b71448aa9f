package auditlog

import (
	"context"
	"io"
	"log/slog"
	"time"
)

// TimeFormat is how events write their time: RFC 3339 in UTC with milliseconds (LOG-05 asks
// for accurate timestamps; one fixed zone and width keeps lines sortable as text).
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// JSONSink writes each event as one JSON object per line, through a slog JSON handler of its
// own: the audit stream is separate from the process log, so it can go to its own file or
// collector and keep its own retention.
//
// A line looks like
//
//	{"time":"2026-05-01T02:03:04.567Z","level":"INFO","msg":"gateway.denial","request_id":"…",
//	 "client_ip":"203.0.113.9","route":"payments","method":"GET","path":"/payments/1",
//	 "status":401,"latency_ms":0.21,"rule":"invalid-api-key","reason":"unknown API key ID"}
//
// with "msg" holding the event type, empty fields left out, and "credentials" (the mechanisms
// that authenticated the request) space-separated like OAuth scopes: "api_key bearer".
type JSONSink struct {
	h slog.Handler
}

// NewJSONSink returns a sink writing to w. Writes are serialised; w need not be safe for
// concurrent use.
func NewJSONSink(w io.Writer) *JSONSink {
	return &JSONSink{h: slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: utcMillis})}
}

// utcMillis rewrites the record's time in TimeFormat.
func utcMillis(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
		return slog.String(slog.TimeKey, a.Value.Time().UTC().Format(TimeFormat))
	}
	return a
}

// Emit implements Sink.
func (s *JSONSink) Emit(e *Event) {
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	level := slog.LevelInfo
	if e.Type == TypeAuthFailuresBurst || e.Type == TypeUpstreamError {
		level = slog.LevelWarn
	}
	rec := slog.NewRecord(t, level, e.Type, 0)
	str := func(k, v string) {
		if v != "" {
			rec.AddAttrs(slog.String(k, v))
		}
	}
	str("request_id", e.RequestID)
	str("client_ip", e.ClientIP)
	str("consumer", e.Consumer)
	str("subject", e.Subject)
	str("credential_id", e.CredentialID)
	if len(e.Credentials) > 0 {
		// Space-separated, as OAuth writes scopes: cheaper than a JSON array through
		// encoding/json on every request, and as easy to split.
		var buf [64]byte
		b := buf[:0]
		for i, c := range e.Credentials {
			if i > 0 {
				b = append(b, ' ')
			}
			b = append(b, c...)
		}
		rec.AddAttrs(slog.String("credentials", string(b)))
	}
	str("route", e.Route)
	str("method", e.Method)
	str("path", e.Path)
	if e.Status != 0 {
		rec.AddAttrs(slog.Int("status", e.Status))
	}
	if e.Latency > 0 {
		rec.AddAttrs(slog.Float64("latency_ms", float64(e.Latency.Microseconds())/1000))
	}
	str("rule", e.Rule)
	str("reason", e.Reason)
	if e.Count > 0 {
		rec.AddAttrs(slog.Int("count", e.Count), slog.Float64("window_s", e.Window.Seconds()))
	}
	// A failing audit stream must not fail the request; the handler reports nothing useful
	// to do about it here.
	_ = s.h.Handle(context.Background(), rec)
}
