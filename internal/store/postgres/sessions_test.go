package postgres

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/tiaki-nz/tiaki"
)

// TestSessionCASUnderStricterIsolation: where the database's default isolation is stricter
// than READ COMMITTED, the losing update fails with a serialization failure instead of
// matching no row; it must still be ErrConflict, so a code stays single-use.
func TestSessionCASUnderStricterIsolation(t *testing.T) {
	t.Parallel()
	connect(t).Close(t.Context())
	for _, level := range []string{"repeatable read", "serializable"} {
		t.Run(level, func(t *testing.T) {
			t.Parallel()
			_, dsn := newSchema(t)
			s := open(t, withParam(t, dsn, "default_transaction_isolation", level))
			sess := &tiaki.Session{Kind: tiaki.SessionGrant, ID: "g", Indexes: map[string]string{"code": "c"}}
			if err := s.CreateSession(t.Context(), sess); err != nil {
				t.Fatal(err)
			}
			const n = 8
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					try := *sess
					try.Indexes = map[string]string{"refresh_token": fmt.Sprint("rt", i)}
					<-start
					errs[i] = s.UpdateSession(t.Context(), &try)
				})
			}
			close(start)
			wg.Wait()
			wins := 0
			for i, err := range errs {
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, tiaki.ErrConflict):
					t.Errorf("update %d: got %v, want nil or ErrConflict", i, err)
				}
			}
			if wins != 1 {
				t.Errorf("%d of %d concurrent updates won, want exactly 1", wins, n)
			}
		})
	}
}

// withParam adds a run-time parameter to a DSN in either of the forms pgx accepts.
func withParam(t testing.TB, dsn, key, value string) string {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " " + key + "='" + value + "'"
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("DSN does not parse as a URL")
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20") // pgx does not read '+' as a space
	return u.String()
}
