package web

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRequestIDKeepsAcceptableCallerID(t *testing.T) {
	t.Parallel()
	var seen string
	h := RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = RequestIDFrom(r.Context())
	}))
	tests := []struct {
		name, sent string
		keep       bool
	}{
		{"caller id reused", "abc-123", true},
		{"none sent", "", false},
		{"newline refused", "abc\nforged", false},
		{"too long refused", strings.Repeat("a", 65), false},
		{"quote refused", `a"b`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			if tc.sent != "" {
				req.Header.Set(RequestIDHeader, tc.sent)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Header().Get(CorrelationHeader)
			if got != seen {
				t.Fatalf("response id %q != context id %q", got, seen)
			}
			if tc.keep && got != tc.sent {
				t.Fatalf("id = %q, want caller's %q", got, tc.sent)
			}
			if !tc.keep && (got == tc.sent || len(got) != 26) {
				t.Fatalf("id = %q, want a fresh 26-char id", got)
			}
		})
	}
}

func TestAccessLogOmitsQuery(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	h := RequestID(AccessLog(logger, "test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte("hi"))
	})))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/p?api_key=SECRETVALUE", nil))
	line := buf.String()
	if strings.Contains(line, "SECRETVALUE") {
		t.Fatalf("query string logged: %s", line)
	}
	for _, want := range []string{`"status":418`, `"path":"/p"`, `"bytes":2`} {
		if !strings.Contains(line, want) {
			t.Errorf("log line lacks %s: %s", want, line)
		}
	}
}

func TestRecorderUnwrapsForResponseController(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	r := Record(rec)
	if Record(r) != r {
		t.Fatal("Record of a Recorder must return the same wrapper")
	}
	if err := http.NewResponseController(r).Flush(); err != nil {
		t.Fatalf("Flush through Recorder: %v", err)
	}
	if !rec.Flushed {
		t.Fatal("underlying writer not flushed")
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	SecurityHeaders(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	for h, want := range map[string]string{
		"Strict-Transport-Security": "max-age=31536000",
		"X-Content-Type-Options":    "nosniff",
	} {
		if got := rec.Header().Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
}
