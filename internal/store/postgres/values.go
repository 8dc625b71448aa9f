package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tiaki-nz/tiaki"
)

// How Go values become column values. The same rules hold in the sqlite package (see
// storetest for the contract): times are UTC microseconds, the zero time is NULL, empty
// collections read back as nil, and text is valid UTF-8 without NUL.

// maxKeyLen bounds keys (IDs, usernames), so a lookup key taken from the network cannot make
// the store do unbounded work; storetest.MaxKeyLen.
const maxKeyLen = 1024

// The range of times stored: timestamptz reaches further, but the sqlite store does not, and
// both must accept the same values.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// checkKey reports whether s can be a key; writes refuse bad keys with ErrInvalid.
func checkKey(what, s string) error {
	if s == "" || len(s) > maxKeyLen {
		return fmt.Errorf("postgres: %s must be 1 to %d bytes: %w", what, maxKeyLen, tiaki.ErrInvalid)
	}
	return checkText(what, s)
}

// lookupKey is checkKey for reads and deletes: a key no write could have stored matches
// nothing, so the answer is ErrNotFound, the same as for any other unknown key, rather than
// the server's encoding error.
func lookupKey(what, s string) error {
	if checkKey(what, s) != nil {
		return fmt.Errorf("postgres: %s: %w", what, tiaki.ErrNotFound)
	}
	return nil
}

// checkText refuses what PostgreSQL's text type refuses. The value itself stays out of the
// error: it might be secret.
func checkText(what, s string) error {
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("postgres: %s is not valid UTF-8 text without NUL: %w", what, tiaki.ErrInvalid)
	}
	return nil
}

// checkTexts is checkText for pairs of (what, value).
func checkTexts(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := checkText(pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// timeArg encodes t in UTC to the microsecond (truncated here, not rounded by the server), or
// NULL for the zero time.
func timeArg(what string, t time.Time) (any, error) {
	if t.IsZero() {
		return nil, nil
	}
	t = t.UTC().Truncate(time.Microsecond)
	if t.Before(minTime) || t.After(maxTime) {
		return nil, fmt.Errorf("postgres: %s is outside years 1 to 9999: %w", what, tiaki.ErrInvalid)
	}
	return t, nil
}

// boundArg encodes t for a comparison, clamping it into the range times are stored in.
func boundArg(t time.Time) time.Time {
	switch t = t.UTC().Truncate(time.Microsecond); {
	case t.Before(minTime):
		return minTime
	case t.After(maxTime):
		return maxTime
	}
	return t
}

// scanTime decodes a column written by timeArg.
func scanTime(v pgtype.Timestamptz) time.Time {
	if !v.Valid || v.InfinityModifier != pgtype.Finite {
		return time.Time{}
	}
	return v.Time.UTC()
}

// bytesArg stores empty byte strings as NULL, so nil and empty read back alike (as nil).
func bytesArg(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// nilIfEmpty reads empty byte strings and lists back as nil.
func nilIfEmpty[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return s
}

// listArg checks a list for a text[] column, which is NOT NULL: nil becomes empty.
func listArg(what string, l []string) ([]string, error) {
	for _, s := range l {
		if err := checkText(what, s); err != nil {
			return nil, err
		}
	}
	if l == nil {
		return []string{}, nil
	}
	return l, nil
}

// claimsArg encodes user claims as JSON text for the jsonb column.
func claimsArg(m map[string]any) (string, error) {
	if m == nil {
		m = map[string]any{}
	}
	b, err := json.Marshal(m)
	// jsonb refuses \u0000; refuse it here, as the sqlite store does.
	if err != nil || hasEscapedNUL(b) {
		return "", fmt.Errorf("postgres: user claims must encode as JSON without NUL: %w", tiaki.ErrInvalid)
	}
	return string(b), nil
}

// hasEscapedNUL reports whether JSON text b holds a NUL character, which encoding/json
// writes as \u0000. It steps over each escape, so an escaped backslash followed by the text
// "u0000" is not mistaken for one.
func hasEscapedNUL(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if bytes.HasPrefix(b[i+1:], []byte("u0000")) {
			return true
		}
		i++
	}
	return false
}

// scanClaims decodes a column written by claimsArg.
func scanClaims(s string) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("postgres: user claims: stored value is not a JSON object: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// SQLSTATE codes the store maps to Tiaki's error kinds
// (https://www.postgresql.org/docs/current/errcodes-appendix.html).
const (
	uniqueViolation       = "23505"
	characterNotAllowed   = "22021" // invalid byte sequence for the encoding (NUL, bad UTF-8)
	untranslatableChar    = "22P05"
	datetimeFieldOverflow = "22008"
)

// storeErr wraps err, mapping a unique violation to ErrConflict and values the server
// refused to ErrInvalid (the checks above should have caught them first).
func storeErr(what string, err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case uniqueViolation:
			return fmt.Errorf("postgres: %s already exists: %w", what, tiaki.ErrConflict)
		case characterNotAllowed, untranslatableChar, datetimeFieldOverflow:
			return fmt.Errorf("postgres: %s: %s: %w", what, pe.Message, tiaki.ErrInvalid)
		}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", what, tiaki.ErrNotFound)
	}
	if unreachable(err) {
		return fmt.Errorf("postgres: %s: %w (%w)", what, err, tiaki.ErrUnavailable)
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}

// unreachable reports whether err means the server could not be reached or went away (so
// the same call may work later), as opposed to a problem with the statement or the data.
func unreachable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false // the caller gave up; the server may be fine
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08, connection exception; 57P01-03, the server shutting down or starting.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// changedOne turns the result of an UPDATE or DELETE by key into ErrNotFound when no row
// matched.
func changedOne(what string, tag pgconn.CommandTag, err error) error {
	if err != nil {
		return storeErr(what, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s: %w", what, tiaki.ErrNotFound)
	}
	return nil
}
