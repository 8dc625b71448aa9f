package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tiaki-nz/tiaki"
)

// Bounds on a session record, so a record built from request input cannot grow without limit;
// storetest.MaxSessionData and storetest.MaxSessionIndexes.
const (
	maxSessionData    = 1 << 20
	maxSessionIndexes = 16
)

// expiredBatch is how many expired records DeleteExpiredSessions removes per transaction. The
// store has one writer, so a long purge in one transaction would hold up every token request
// behind it; batches let other writes in between.
const expiredBatch = 1000

// sessionColumns reads a record (as s) with its index values as a JSON object, in one
// statement so both come from one snapshot even while another connection updates the record.
const sessionColumns = `s.id, s.version, s.data, s.expires_at,
	(SELECT json_group_object(x.name, x.value) FROM session_indexes x
		WHERE x.kind = s.kind AND x.session_id = s.id)`

// The queries behind lookups, updates and the purge; TestSessionQueriesUseIndexes checks that
// none of them scans a table.
const (
	sessionByID    = `SELECT ` + sessionColumns + ` FROM sessions s WHERE s.kind = ? AND s.id = ?`
	sessionByIndex = `SELECT ` + sessionColumns + ` FROM session_indexes i
		JOIN sessions s ON s.kind = i.kind AND s.id = i.session_id
		WHERE i.kind = ? AND i.name = ? AND i.value = ?`
	deleteSessionIndexes = `DELETE FROM session_indexes WHERE kind = ? AND session_id = ?`
	deleteExpired        = `DELETE FROM sessions WHERE rowid IN (
		SELECT rowid FROM sessions WHERE expires_at IS NOT NULL AND expires_at < ? LIMIT ?)`
)

// CreateSession inserts sess and sets sess.Version to 1. ErrConflict if the kind and ID, or
// any index value of the same kind and name, is taken.
func (s *Store) CreateSession(ctx context.Context, sess *tiaki.Session) error {
	a, err := sessionArgsOf(sess)
	if err != nil {
		return err
	}
	err = s.inTx(ctx, a.what(), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (kind, id, version, data, expires_at)
			VALUES (?, ?, 1, ?, ?)`, a.kind, a.id, a.data, a.expires)
		if err != nil {
			return writeErr(a.what()+" with that ID", err)
		}
		return a.insertIndexes(ctx, tx)
	})
	if err != nil {
		return err
	}
	sess.Version = 1
	return nil
}

// UpdateSession replaces the stored record if its version equals sess.Version, and its index
// values as a whole, then sets sess.Version to the new version. ErrConflict when another
// update won or an index value is taken; ErrNotFound when there is no such record.
func (s *Store) UpdateSession(ctx context.Context, sess *tiaki.Session) error {
	a, err := sessionArgsOf(sess)
	if err != nil {
		return err
	}
	var version int64
	err = s.inTx(ctx, a.what(), func(tx *sql.Tx) error {
		// The compare-and-set: the version in the WHERE clause is what makes an
		// authorization code single-use (RFC 6749 §4.1.2) when two redemptions race.
		err := tx.QueryRowContext(ctx, `UPDATE sessions SET version = version + 1, data = ?, expires_at = ?
			WHERE kind = ? AND id = ? AND version = ? RETURNING version`,
			a.data, a.expires, a.kind, a.id, sess.Version).Scan(&version)
		if errors.Is(err, sql.ErrNoRows) {
			return missOrConflict(ctx, tx, a)
		}
		if err != nil {
			return writeErr(a.what(), err)
		}
		if _, err := tx.ExecContext(ctx, deleteSessionIndexes, a.kind, a.id); err != nil {
			return writeErr(a.what(), err)
		}
		return a.insertIndexes(ctx, tx)
	})
	if err != nil {
		return err
	}
	sess.Version = version
	return nil
}

// missOrConflict tells why an update matched no row: the record is gone, or its version moved.
func missOrConflict(ctx context.Context, tx *sql.Tx, a *sessionArgs) error {
	var exists bool
	err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sessions WHERE kind = ? AND id = ?)`,
		a.kind, a.id).Scan(&exists)
	switch {
	case err != nil:
		return fmt.Errorf("sqlite: %s: %w", a.what(), err)
	case exists:
		return fmt.Errorf("sqlite: %s was updated by another request: %w", a.what(), tiaki.ErrConflict)
	default:
		return fmt.Errorf("sqlite: %s: %w", a.what(), tiaki.ErrNotFound)
	}
}

// Session returns the record of that kind and ID, or ErrNotFound.
func (s *Store) Session(ctx context.Context, kind tiaki.SessionKind, id string) (*tiaki.Session, error) {
	if err := lookupSession(kind, id); err != nil {
		return nil, err
	}
	row := s.r.QueryRowContext(ctx, sessionByID, string(kind), id)
	sess, err := scanSession(row, kind)
	if err != nil {
		return nil, rowErr(sessionWhat(kind), err)
	}
	return sess, nil
}

// SessionByIndex returns the record whose index name holds value, or ErrNotFound.
func (s *Store) SessionByIndex(ctx context.Context, kind tiaki.SessionKind, index, value string) (*tiaki.Session, error) {
	if err := lookupSession(kind, index, value); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("%s by index %q", sessionWhat(kind), index)
	row := s.r.QueryRowContext(ctx, sessionByIndex, string(kind), index, value)
	sess, err := scanSession(row, kind)
	if err != nil {
		return nil, rowErr(what, err)
	}
	return sess, nil
}

// DeleteSession removes a record and its index values; ErrNotFound if there is none.
func (s *Store) DeleteSession(ctx context.Context, kind tiaki.SessionKind, id string) error {
	if err := lookupSession(kind, id); err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE kind = ? AND id = ?`, string(kind), id)
	return changedOne(sessionWhat(kind), res, err)
}

// DeleteExpiredSessions removes records whose ExpiresAt is set and before before, with their
// index values, and returns how many it removed (also when it fails part way).
func (s *Store) DeleteExpiredSessions(ctx context.Context, before time.Time) (int, error) {
	cut := boundArg(before)
	total := 0
	for {
		res, err := s.w.ExecContext(ctx, deleteExpired, cut, expiredBatch)
		if err != nil {
			return total, fmt.Errorf("sqlite: deleting expired sessions: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("sqlite: deleting expired sessions: %w", err)
		}
		total += int(n)
		if n < expiredBatch {
			return total, nil
		}
	}
}

// inTx runs fn in a write transaction (BEGIN IMMEDIATE: see Store.w) and commits if it
// returns nil.
func (s *Store) inTx(ctx context.Context, what string, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return nil
}

// sessionArgs is a checked session, encoded as column values.
type sessionArgs struct {
	kind, id      string
	data, expires any
	// names and values are the indexes in name order, so concurrent writers take unique-index
	// entries in one order.
	names, values []string
}

// sessionArgsOf checks sess and encodes it.
func sessionArgsOf(sess *tiaki.Session) (*sessionArgs, error) {
	if sess == nil {
		return nil, fmt.Errorf("sqlite: nil session: %w", tiaki.ErrInvalid)
	}
	if err := checkKey("session kind", string(sess.Kind)); err != nil {
		return nil, err
	}
	// The ID stays out of messages from here on: callers may use an unguessable ID as a handle.
	if err := checkKey("session ID", sess.ID); err != nil {
		return nil, err
	}
	if len(sess.Data) > maxSessionData {
		return nil, fmt.Errorf("sqlite: session data is over %d bytes: %w", maxSessionData, tiaki.ErrInvalid)
	}
	if len(sess.Indexes) > maxSessionIndexes {
		return nil, fmt.Errorf("sqlite: a session has at most %d indexes: %w", maxSessionIndexes, tiaki.ErrInvalid)
	}
	a := &sessionArgs{kind: string(sess.Kind), id: sess.ID, data: bytesArg(sess.Data)}
	for _, name := range slices.Sorted(maps.Keys(sess.Indexes)) {
		if err := checkKey("session index name", name); err != nil {
			return nil, err
		}
		if err := checkKey("session index value", sess.Indexes[name]); err != nil {
			return nil, err
		}
		a.names = append(a.names, name)
		a.values = append(a.values, sess.Indexes[name])
	}
	var err error
	if a.expires, err = timeArg("session expiry time", sess.ExpiresAt); err != nil {
		return nil, err
	}
	return a, nil
}

// what names the record in errors.
func (a *sessionArgs) what() string { return sessionWhat(tiaki.SessionKind(a.kind)) }

// insertIndexes adds the record's index values in one statement.
func (a *sessionArgs) insertIndexes(ctx context.Context, tx *sql.Tx) error {
	if len(a.names) == 0 {
		return nil
	}
	rows := make([]string, len(a.names))
	args := make([]any, 0, 4*len(a.names))
	for i := range a.names {
		rows[i] = "(?, ?, ?, ?)"
		args = append(args, a.kind, a.names[i], a.values[i], a.id)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO session_indexes (kind, name, value, session_id) VALUES `+
		strings.Join(rows, ", "), args...)
	// The message names neither the index nor its value: the value may be a secret's hash.
	return writeErr("an index value of a "+a.what(), err)
}

// sessionWhat names a record of kind in errors, without its ID.
func sessionWhat(kind tiaki.SessionKind) string { return fmt.Sprintf("session of kind %q", kind) }

// lookupSession is lookupKey for a session's kind and keys (its ID, or an index name and
// value). No bad key goes into the message, which keeps it short and free of secrets.
func lookupSession(kind tiaki.SessionKind, keys ...string) error {
	for _, k := range append(keys, string(kind)) {
		if checkKey("", k) != nil {
			return fmt.Errorf("sqlite: session: %w", tiaki.ErrNotFound)
		}
	}
	return nil
}

// scanSession decodes one row of sessionColumns.
func scanSession(row scanner, kind tiaki.SessionKind) (*tiaki.Session, error) {
	var (
		sess    = tiaki.Session{Kind: kind}
		expires sql.NullInt64
		indexes sql.NullString
	)
	if err := row.Scan(&sess.ID, &sess.Version, &sess.Data, &expires, &indexes); err != nil {
		return nil, err
	}
	sess.Data, sess.ExpiresAt = scanBytes(sess.Data), scanTime(expires)
	if indexes.Valid {
		if err := json.Unmarshal([]byte(indexes.String), &sess.Indexes); err != nil {
			return nil, fmt.Errorf("stored index values are not a JSON object: %w", err)
		}
	}
	if len(sess.Indexes) == 0 {
		sess.Indexes = nil
	}
	return &sess, nil
}
