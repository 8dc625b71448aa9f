package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/store/sqlite"
	"github.com/tiaki-nz/tiaki/internal/telemetry"
)

// unreachableStore is a real SQLite store whose Ping fails while down is set, standing in for
// a database server that has gone away.
type unreachableStore struct {
	tiaki.Store
	down bool
}

func (s *unreachableStore) Ping(ctx context.Context) error {
	if s.down {
		return errors.New("connection refused")
	}
	return s.Store.Ping(ctx)
}

func TestReadyzFollowsTheStore(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tiaki.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	us := &unreachableStore{Store: st}
	n := &node{store: us, logger: slog.New(slog.NewTextHandler(io.Discard, nil)), metrics: telemetry.NewMetrics("test")}
	h := n.opsHandler(false)
	status := func(path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code
	}
	if got := status("/readyz"); got != http.StatusOK {
		t.Fatalf("/readyz with the store up = %d", got)
	}
	us.down = true
	if got := status("/readyz"); got != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with the store down = %d, want 503", got)
	}
	if got := status("/healthz"); got != http.StatusOK {
		t.Fatalf("/healthz must stay 200 while only the store is down, got %d", got)
	}
	us.down = false
	if got := status("/readyz"); got != http.StatusOK {
		t.Fatalf("/readyz after the store came back = %d", got)
	}
}
