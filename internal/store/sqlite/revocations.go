package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tiaki-nz/tiaki"
)

// RecordRevocation stores r, keeping the later At and Until of r and any earlier record of the
// same kind and ID.
func (s *Store) RecordRevocation(ctx context.Context, r *tiaki.Revocation) error {
	args, err := revocationArgs(r)
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO token_revocations (kind, id, revoked_at, expires_at) VALUES (?1, ?2, ?3, ?4)
		ON CONFLICT (kind, id) DO UPDATE SET revoked_at = max(revoked_at, excluded.revoked_at),
			expires_at = max(expires_at, excluded.expires_at)`, args...)
	return writeErr(fmt.Sprintf("%s revocation %q", r.Kind, r.ID), err)
}

// RevocationsSince returns the revocations whose At is at or after since and whose Until is
// after it, oldest first.
func (s *Store) RevocationsSince(ctx context.Context, since time.Time) ([]tiaki.Revocation, error) {
	b := boundArg(since)
	rows, err := s.r.QueryContext(ctx, `SELECT kind, id, revoked_at, expires_at FROM token_revocations
		WHERE revoked_at >= ? AND expires_at > ? ORDER BY revoked_at, kind, id`, b, b)
	return rowsOf(rows, err, "token revocations", func(row scanner) (*tiaki.Revocation, error) {
		var r tiaki.Revocation
		var at, until sql.NullInt64
		if err := row.Scan(&r.Kind, &r.ID, &at, &until); err != nil {
			return nil, err
		}
		r.At, r.Until = scanTime(at), scanTime(until)
		return &r, nil
	})
}

// DeleteExpiredRevocations deletes the revocations whose Until is before now.
func (s *Store) DeleteExpiredRevocations(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM token_revocations WHERE expires_at < ?`, boundArg(now))
	if err != nil {
		return 0, fmt.Errorf("sqlite: deleting expired token revocations: %w", err)
	}
	return res.RowsAffected()
}

// revocationArgs checks r and encodes it as (kind, id, revoked_at, expires_at).
func revocationArgs(r *tiaki.Revocation) ([]any, error) {
	if r == nil {
		return nil, fmt.Errorf("sqlite: nil revocation: %w", tiaki.ErrInvalid)
	}
	switch r.Kind {
	case tiaki.RevokedToken, tiaki.RevokedGrant, tiaki.RevokedClient, tiaki.RevokedSubject:
	default:
		return nil, fmt.Errorf("sqlite: revocation kind %q: %w", r.Kind, tiaki.ErrInvalid)
	}
	if err := checkKey("revoked ID", r.ID); err != nil {
		return nil, err
	}
	if r.At.IsZero() || r.Until.IsZero() {
		return nil, fmt.Errorf("sqlite: revocation of %q without a time or end: %w", r.ID, tiaki.ErrInvalid)
	}
	at, err := timeArg("revocation time", r.At)
	if err != nil {
		return nil, err
	}
	until, err := timeArg("revocation end", r.Until)
	if err != nil {
		return nil, err
	}
	return []any{string(r.Kind), r.ID, at, until}, nil
}
