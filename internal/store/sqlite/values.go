package sqlite

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tiaki-nz/tiaki"
)

// How Go values become column values. The same rules hold in the postgres package (see
// storetest for the contract): times are UTC microseconds, the zero time is NULL, empty
// collections read back as nil, and text is valid UTF-8 without NUL.

// maxKeyLen bounds keys (IDs, usernames), so a lookup key taken from the network cannot make
// the store do unbounded work; storetest.MaxKeyLen.
const maxKeyLen = 1024

var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// checkKey reports whether s can be a key; writes refuse bad keys with ErrInvalid.
func checkKey(what, s string) error {
	if s == "" || len(s) > maxKeyLen {
		return fmt.Errorf("sqlite: %s must be 1 to %d bytes: %w", what, maxKeyLen, tiaki.ErrInvalid)
	}
	return checkText(what, s)
}

// lookupKey is checkKey for reads and deletes: a key no write could have stored matches
// nothing, so the answer is ErrNotFound, the same as for any other unknown key.
func lookupKey(what, s string) error {
	if checkKey(what, s) != nil {
		return fmt.Errorf("sqlite: %s: %w", what, tiaki.ErrNotFound)
	}
	return nil
}

// checkText refuses what PostgreSQL would refuse, so both stores accept the same values.
// The value itself stays out of the error: it might be secret.
func checkText(what, s string) error {
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("sqlite: %s is not valid UTF-8 text without NUL: %w", what, tiaki.ErrInvalid)
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

// timeArg encodes t as Unix microseconds in UTC, or NULL for the zero time.
func timeArg(what string, t time.Time) (any, error) {
	if t.IsZero() {
		return nil, nil
	}
	t = t.UTC().Truncate(time.Microsecond)
	if t.Before(minTime) || t.After(maxTime) {
		return nil, fmt.Errorf("sqlite: %s is outside years 1 to 9999: %w", what, tiaki.ErrInvalid)
	}
	return t.UnixMicro(), nil
}

// boundArg encodes t for a comparison, clamping it into the range times are stored in.
func boundArg(t time.Time) int64 {
	switch t = t.UTC().Truncate(time.Microsecond); {
	case t.Before(minTime):
		t = minTime
	case t.After(maxTime):
		t = maxTime
	}
	return t.UnixMicro()
}

// scanTime decodes a column written by timeArg.
func scanTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// bytesArg stores empty byte strings as NULL, so nil and empty read back alike (as nil).
func bytesArg(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// scanBytes reads empty byte strings back as nil. (database/sql already copied b.)
func scanBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// listArg encodes a list as a JSON array.
func listArg(what string, l []string) (string, error) {
	for _, s := range l {
		if err := checkText(what, s); err != nil {
			return "", err
		}
	}
	if l == nil {
		l = []string{}
	}
	b, err := json.Marshal(l)
	return string(b), err
}

// scanList decodes a column written by listArg.
func scanList(what, s string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("sqlite: %s: stored value is not a JSON list: %w", what, err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// claimsArg encodes user claims as a JSON object.
func claimsArg(m map[string]any) (string, error) {
	if m == nil {
		m = map[string]any{}
	}
	b, err := json.Marshal(m)
	if err != nil || hasEscapedNUL(b) {
		return "", fmt.Errorf("sqlite: user claims must encode as JSON without NUL: %w", tiaki.ErrInvalid)
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
		return nil, fmt.Errorf("sqlite: user claims: stored value is not a JSON object: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// writeErr turns a failed insert into ErrConflict when it broke a key's uniqueness.
func writeErr(what string, err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return fmt.Errorf("sqlite: %s already exists: %w", what, tiaki.ErrConflict)
		}
	}
	return fmt.Errorf("sqlite: %s: %w", what, err)
}

// changedOne turns the result of an UPDATE or DELETE by key into ErrNotFound when no row
// matched.
func changedOne(what string, res sql.Result, err error) error {
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: %s: %w", what, tiaki.ErrNotFound)
	}
	return nil
}

// rowErr turns sql.ErrNoRows into ErrNotFound.
func rowErr(what string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", what, tiaki.ErrNotFound)
	}
	return fmt.Errorf("sqlite: %s: %w", what, err)
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}
