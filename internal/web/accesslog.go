package web

import (
	"log/slog"
	"net/http"
	"time"
)

// AccessLog logs one line per request after it is served: method, path (never the query string,
// which may carry credentials a caller misplaced), status, bytes, latency and remote address.
// The latency is a duration, which the process logger writes as "latency_ms" (telemetry), the
// name and unit of the audit stream's.
// The request ID comes from the context (see RequestID), so wrap AccessLog inside RequestID.
func AccessLog(logger *slog.Logger, listener string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := Record(w)
		next.ServeHTTP(rec, r)
		logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("listener", listener),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.Status()),
			slog.Int64("bytes", rec.Written()),
			slog.Duration("latency", time.Since(start)),
			slog.String("remote", r.RemoteAddr),
		)
	})
}
