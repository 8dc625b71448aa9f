package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tiaki-nz/tiaki"
)

// RecordRevocation stores r, keeping the later At and Until of r and any earlier record of the
// same kind and ID.
func (s *Store) RecordRevocation(ctx context.Context, r *tiaki.Revocation) error {
	args, err := revocationArgs(r)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO token_revocations (kind, id, revoked_at, expires_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (kind, id) DO UPDATE SET
			revoked_at = greatest(token_revocations.revoked_at, excluded.revoked_at),
			expires_at = greatest(token_revocations.expires_at, excluded.expires_at)`, args...)
	return storeErr(fmt.Sprintf("%s revocation %q", r.Kind, r.ID), err)
}

// RevocationsSince returns the revocations whose At is at or after since and whose Until is
// after it, oldest first.
func (s *Store) RevocationsSince(ctx context.Context, since time.Time) ([]tiaki.Revocation, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, id, revoked_at, expires_at FROM token_revocations
		WHERE revoked_at >= $1 AND expires_at > $1 ORDER BY revoked_at, kind, id`, boundArg(since))
	return rowsOf(rows, err, "token revocations", func(row pgx.Row) (*tiaki.Revocation, error) {
		var r tiaki.Revocation
		var kind string
		var at, until pgtype.Timestamptz
		if err := row.Scan(&kind, &r.ID, &at, &until); err != nil {
			return nil, err
		}
		r.Kind, r.At, r.Until = tiaki.RevocationKind(kind), scanTime(at), scanTime(until)
		return &r, nil
	})
}

// DeleteExpiredRevocations deletes the revocations whose Until is before now.
func (s *Store) DeleteExpiredRevocations(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM token_revocations WHERE expires_at < $1`, boundArg(now))
	if err != nil {
		return 0, storeErr("expired token revocations", err)
	}
	return tag.RowsAffected(), nil
}

// revocationArgs checks r and encodes it as (kind, id, revoked_at, expires_at).
func revocationArgs(r *tiaki.Revocation) ([]any, error) {
	if r == nil {
		return nil, fmt.Errorf("postgres: nil revocation: %w", tiaki.ErrInvalid)
	}
	switch r.Kind {
	case tiaki.RevokedToken, tiaki.RevokedGrant, tiaki.RevokedClient, tiaki.RevokedSubject:
	default:
		return nil, fmt.Errorf("postgres: revocation kind %q: %w", r.Kind, tiaki.ErrInvalid)
	}
	if err := checkKey("revoked ID", r.ID); err != nil {
		return nil, err
	}
	if r.At.IsZero() || r.Until.IsZero() {
		return nil, fmt.Errorf("postgres: revocation of %q without a time or end: %w", r.ID, tiaki.ErrInvalid)
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
