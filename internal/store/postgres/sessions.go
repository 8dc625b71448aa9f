package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tiaki-nz/tiaki"
)

// Bounds on a session record, so a record built from request input cannot grow without limit;
// storetest.MaxSessionData and storetest.MaxSessionIndexes.
const (
	maxSessionData    = 1 << 20
	maxSessionIndexes = 16
)

// expiredBatch is how many expired records DeleteExpiredSessions removes per statement, so a
// purge after a long outage never holds a huge transaction (and its locks) open.
const expiredBatch = 1000

// The unique constraints of migration 0002, told apart so a conflict error says what was taken.
const (
	sessionsKey       = "sessions_pkey"
	sessionIndexesKey = "session_indexes_pkey"
)

// serializationFailure is what a concurrent update gets instead of matching no row when the
// database's default isolation is REPEATABLE READ or SERIALIZABLE: another update won.
const serializationFailure = "40001"

// sessionColumns reads a record (as s) with its index values, in one statement so both come
// from one snapshot even while another node updates the record.
const sessionColumns = `s.id, s.version, s.data, s.expires_at,
	(SELECT jsonb_object_agg(x.name, x.value) FROM session_indexes x
		WHERE x.kind = s.kind AND x.session_id = s.id)`

// CreateSession inserts sess and sets sess.Version to 1. ErrConflict if the kind and ID, or
// any index value of the same kind and name, is taken.
func (s *Store) CreateSession(ctx context.Context, sess *tiaki.Session) error {
	a, err := sessionArgsOf(sess)
	if err != nil {
		return err
	}
	// One statement, so one round trip and atomic without a transaction; the foreign key is
	// checked at the end of the statement, when the session row exists.
	_, err = s.pool.Exec(ctx, `WITH s AS (
			INSERT INTO sessions (kind, id, version, data, expires_at) VALUES ($1, $2, 1, $3, $4)
			RETURNING kind, id)
		INSERT INTO session_indexes (kind, name, value, session_id)
		SELECT s.kind, i.name, i.value, s.id FROM s, unnest($5::text[], $6::text[]) WITH ORDINALITY AS i(name, value, n)
		ORDER BY i.n`,
		a.kind, a.id, a.data, a.expires, a.names, a.values)
	if err != nil {
		return a.writeErr(err)
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
	err = s.inTx(ctx, a, func(tx pgx.Tx) error {
		// The compare-and-set: the version in the WHERE clause is what makes an authorization
		// code single-use (RFC 6749 §4.1.2) when two nodes redeem it at once. Under READ
		// COMMITTED the second UPDATE waits for the first's row lock, then re-checks the
		// WHERE clause against the committed row, finds the version moved, and matches nothing.
		err := tx.QueryRow(ctx, `UPDATE sessions SET version = version + 1, data = $3, expires_at = $4
			WHERE kind = $1 AND id = $2 AND version = $5 RETURNING version`,
			a.kind, a.id, a.data, a.expires, sess.Version).Scan(&version)
		if errors.Is(err, pgx.ErrNoRows) {
			return missOrConflict(ctx, tx, a)
		}
		if err != nil {
			return a.writeErr(err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM session_indexes WHERE kind = $1 AND session_id = $2`,
			a.kind, a.id); err != nil {
			return a.writeErr(err)
		}
		if len(a.names) == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `INSERT INTO session_indexes (kind, name, value, session_id)
			SELECT $1, i.name, i.value, $2 FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS i(name, value, n)
			ORDER BY i.n`, a.kind, a.id, a.names, a.values)
		return a.writeErr(err)
	})
	if err != nil {
		return err
	}
	sess.Version = version
	return nil
}

// inTx runs fn in a transaction and commits if it returns nil. A commit can fail with a
// serialization failure under stricter isolation, so its error is mapped like a write's.
func (s *Store) inTx(ctx context.Context, a *sessionArgs, fn func(pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return storeErr(a.what(), err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	return a.writeErr(tx.Commit(ctx))
}

// missOrConflict tells why an update matched no row: the record is gone, or its version moved.
func missOrConflict(ctx context.Context, tx pgx.Tx, a *sessionArgs) error {
	var exists bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sessions WHERE kind = $1 AND id = $2)`,
		a.kind, a.id).Scan(&exists)
	switch {
	case err != nil:
		return storeErr(a.what(), err)
	case exists:
		return fmt.Errorf("postgres: %s was updated by another request: %w", a.what(), tiaki.ErrConflict)
	default:
		return fmt.Errorf("postgres: %s: %w", a.what(), tiaki.ErrNotFound)
	}
}

// Session returns the record of that kind and ID, or ErrNotFound.
func (s *Store) Session(ctx context.Context, kind tiaki.SessionKind, id string) (*tiaki.Session, error) {
	if err := lookupSession(kind, id); err != nil {
		return nil, err
	}
	row := s.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions s
		WHERE s.kind = $1 AND s.id = $2`, string(kind), id)
	sess, err := scanSession(row, kind)
	if err != nil {
		return nil, storeErr(sessionWhat(kind), err)
	}
	return sess, nil
}

// SessionByIndex returns the record whose index name holds value, or ErrNotFound.
func (s *Store) SessionByIndex(ctx context.Context, kind tiaki.SessionKind, index, value string) (*tiaki.Session, error) {
	if err := lookupSession(kind, index, value); err != nil {
		return nil, err
	}
	row := s.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM session_indexes i
		JOIN sessions s ON s.kind = i.kind AND s.id = i.session_id
		WHERE i.kind = $1 AND i.name = $2 AND i.value = $3`, string(kind), index, value)
	sess, err := scanSession(row, kind)
	if err != nil {
		return nil, storeErr(fmt.Sprintf("%s by index %q", sessionWhat(kind), index), err)
	}
	return sess, nil
}

// DeleteSession removes a record and its index values; ErrNotFound if there is none.
func (s *Store) DeleteSession(ctx context.Context, kind tiaki.SessionKind, id string) error {
	if err := lookupSession(kind, id); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE kind = $1 AND id = $2`, string(kind), id)
	return changedOne(sessionWhat(kind), tag, err)
}

// DeleteExpiredSessions removes records whose ExpiresAt is set and before before, with their
// index values, and returns how many it removed (also when it fails part way). Nodes purging
// at the same time skip each other's rows rather than queue behind them.
func (s *Store) DeleteExpiredSessions(ctx context.Context, before time.Time) (int, error) {
	cut := boundArg(before)
	total := 0
	for {
		tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE (kind, id) IN (
			SELECT kind, id FROM sessions WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
			cut, expiredBatch)
		if err != nil {
			return total, storeErr("deleting expired sessions", err)
		}
		total += int(tag.RowsAffected())
		if tag.RowsAffected() < expiredBatch {
			return total, nil
		}
	}
}

// sessionArgs is a checked session, encoded as column values.
type sessionArgs struct {
	kind, id      string
	data, expires any
	// names and values are the indexes in name order, so concurrent writers take
	// unique-index entries in one order and cannot deadlock on them.
	names, values []string
}

// sessionArgsOf checks sess and encodes it.
func sessionArgsOf(sess *tiaki.Session) (*sessionArgs, error) {
	if sess == nil {
		return nil, fmt.Errorf("postgres: nil session: %w", tiaki.ErrInvalid)
	}
	if err := checkKey("session kind", string(sess.Kind)); err != nil {
		return nil, err
	}
	// The ID stays out of messages from here on: callers may use an unguessable ID as a handle.
	if err := checkKey("session ID", sess.ID); err != nil {
		return nil, err
	}
	if len(sess.Data) > maxSessionData {
		return nil, fmt.Errorf("postgres: session data is over %d bytes: %w", maxSessionData, tiaki.ErrInvalid)
	}
	if len(sess.Indexes) > maxSessionIndexes {
		return nil, fmt.Errorf("postgres: a session has at most %d indexes: %w", maxSessionIndexes, tiaki.ErrInvalid)
	}
	a := &sessionArgs{kind: string(sess.Kind), id: sess.ID, data: bytesArg(sess.Data),
		names: []string{}, values: []string{}}
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

// writeErr is storeErr for a write of the record, saying whether the record or one of its
// index values was taken, or another update won. It names neither the index nor its value:
// the value may be a secret's hash.
func (a *sessionArgs) writeErr(err error) error {
	var pe *pgconn.PgError
	if err == nil || !errors.As(err, &pe) {
		return storeErr(a.what(), err)
	}
	switch {
	case pe.Code == uniqueViolation && pe.ConstraintName == sessionsKey:
		return fmt.Errorf("postgres: %s with that ID already exists: %w", a.what(), tiaki.ErrConflict)
	case pe.Code == uniqueViolation && pe.ConstraintName == sessionIndexesKey:
		return fmt.Errorf("postgres: an index value of a %s already exists: %w", a.what(), tiaki.ErrConflict)
	case pe.Code == serializationFailure:
		return fmt.Errorf("postgres: %s was updated by another request: %w", a.what(), tiaki.ErrConflict)
	}
	return storeErr(a.what(), err)
}

// sessionWhat names a record of kind in errors, without its ID.
func sessionWhat(kind tiaki.SessionKind) string { return fmt.Sprintf("session of kind %q", kind) }

// lookupSession is lookupKey for a session's kind and keys (its ID, or an index name and
// value). No bad key goes into the message, which keeps it short and free of secrets.
func lookupSession(kind tiaki.SessionKind, keys ...string) error {
	for _, k := range append(keys, string(kind)) {
		if checkKey("", k) != nil {
			return fmt.Errorf("postgres: session: %w", tiaki.ErrNotFound)
		}
	}
	return nil
}

// scanSession decodes one row of sessionColumns.
func scanSession(row pgx.Row, kind tiaki.SessionKind) (*tiaki.Session, error) {
	var (
		sess    = tiaki.Session{Kind: kind}
		expires pgtype.Timestamptz
	)
	if err := row.Scan(&sess.ID, &sess.Version, &sess.Data, &expires, &sess.Indexes); err != nil {
		return nil, err
	}
	sess.Data, sess.ExpiresAt = nilIfEmpty(sess.Data), scanTime(expires)
	if len(sess.Indexes) == 0 {
		sess.Indexes = nil
	}
	return &sess, nil
}
