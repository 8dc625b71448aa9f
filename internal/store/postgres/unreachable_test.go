package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tiaki-nz/tiaki"
)

// TestStoreErrUnavailable: failures to reach the server are marked tiaki.ErrUnavailable, so
// callers answer 503 and retry rather than 500 (issue 11 item 21); problems with the
// statement or data are not.
func TestStoreErrUnavailable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true},
		{"server went away", io.ErrUnexpectedEOF, true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"caller gone", context.Canceled, false},
	} {
		err := storeErr("client", tc.err)
		if got := errors.Is(err, tiaki.ErrUnavailable); got != tc.want {
			t.Errorf("%s: unavailable = %v, want %v (%v)", tc.name, got, tc.want, err)
		}
	}
}
