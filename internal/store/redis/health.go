package redis

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// Ping reports whether Redis answers, for readiness checks. ctx bounds the wait.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// slogLogger carries go-redis's own log lines (pool and connection trouble) into slog, so
// they reach the process log as structured records instead of plain lines in a JSON stream.
type slogLogger struct{ log *slog.Logger }

func (l slogLogger) Printf(ctx context.Context, format string, v ...any) {
	// The library logs trouble only (its level is error by default): a warning here.
	l.log.WarnContext(ctx, strings.TrimSpace(fmt.Sprintf(format, v...)), "component", "go-redis")
}

// routeLibraryLog sends go-redis's log to log. The library has one process-wide logger, so
// the most recent Open decides where it writes.
func routeLibraryLog(log *slog.Logger) { goredis.SetLogger(slogLogger{log}) }
