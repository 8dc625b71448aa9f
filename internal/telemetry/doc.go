// Package telemetry sets up what Tiaki tells operators about itself: structured logs (log/slog,
// text on a terminal, JSON otherwise, request IDs on every line, secrets redacted) and Prometheus
// metrics. Start with logger.go, then metrics.go.
package telemetry
