package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tiaki-nz/tiaki"
)

const signingKeyColumns = `id, algorithm, public_jwk, sealed_private, created_at, active_at, retired_at, expires_at`

// PutSigningKey inserts or replaces k.
func (s *Store) PutSigningKey(ctx context.Context, k *tiaki.SigningKey) error {
	args, err := signingKeyArgs(k)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (id) DO UPDATE SET
		(algorithm, public_jwk, sealed_private, created_at, active_at, retired_at, expires_at) =
		($2, $3, $4, $5, $6, $7, $8)`, args...)
	return storeErr(fmt.Sprintf("signing key %q", k.ID), err)
}

// SigningKeys lists all keys ordered by creation time, oldest first (then by ID, so keys made
// in the same microsecond keep a stable order).
func (s *Store) SigningKeys(ctx context.Context) ([]tiaki.SigningKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys
		ORDER BY created_at NULLS FIRST, id`)
	return rowsOf(rows, err, "signing keys", scanSigningKey)
}

// DeleteSigningKey removes a key; ErrNotFound if there is none.
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	if err := lookupKey("signing key", id); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM signing_keys WHERE id = $1`, id)
	return changedOne(fmt.Sprintf("signing key %q", id), tag, err)
}

// signingKeyArgs checks k and encodes it as the arguments of signingKeyColumns.
func signingKeyArgs(k *tiaki.SigningKey) ([]any, error) {
	if k == nil {
		return nil, fmt.Errorf("postgres: nil signing key: %w", tiaki.ErrInvalid)
	}
	if err := checkKey("signing key ID", k.ID); err != nil {
		return nil, err
	}
	if err := checkText("signing key algorithm", k.Algorithm); err != nil {
		return nil, err
	}
	args := []any{k.ID, k.Algorithm, bytesArg(k.PublicJWK), bytesArg(k.SealedPrivate)}
	for _, t := range []struct {
		what string
		at   time.Time
	}{
		{"signing key created time", k.CreatedAt},
		{"signing key active time", k.ActiveAt},
		{"signing key retired time", k.RetiredAt},
		{"signing key expiry time", k.ExpiresAt},
	} {
		v, err := timeArg(t.what, t.at)
		if err != nil {
			return nil, err
		}
		args = append(args, v)
	}
	return args, nil
}

// scanSigningKey decodes one row of signingKeyColumns.
func scanSigningKey(row pgx.Row) (*tiaki.SigningKey, error) {
	var (
		k                                 tiaki.SigningKey
		created, active, retired, expires pgtype.Timestamptz
	)
	if err := row.Scan(&k.ID, &k.Algorithm, &k.PublicJWK, &k.SealedPrivate, &created, &active, &retired, &expires); err != nil {
		return nil, err
	}
	k.PublicJWK, k.SealedPrivate = nilIfEmpty(k.PublicJWK), nilIfEmpty(k.SealedPrivate)
	k.CreatedAt, k.ActiveAt = scanTime(created), scanTime(active)
	k.RetiredAt, k.ExpiresAt = scanTime(retired), scanTime(expires)
	return &k, nil
}
