package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tiaki-nz/tiaki"
)

const userColumns = `username, password_hash, claims, disabled, source, created_at, updated_at`

// PutUser inserts or replaces u.
func (s *Store) PutUser(ctx context.Context, u *tiaki.User) error {
	args, err := userArgs(u)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (username) DO UPDATE SET
		(password_hash, claims, disabled, source, created_at, updated_at) = ($2, $3, $4, $5, $6, $7)`, args...)
	return storeErr(fmt.Sprintf("user %q", u.Username), err)
}

// User returns the user with the given username, or ErrNotFound.
func (s *Store) User(ctx context.Context, username string) (*tiaki.User, error) {
	if err := lookupKey("user", username); err != nil {
		return nil, err
	}
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE username = $1`, username))
	if err != nil {
		return nil, storeErr(fmt.Sprintf("user %q", username), err)
	}
	return u, nil
}

// Users lists all users ordered by username.
func (s *Store) Users(ctx context.Context) ([]tiaki.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY username`)
	return rowsOf(rows, err, "users", scanUser)
}

// DeleteUser removes a user; ErrNotFound if there is none.
func (s *Store) DeleteUser(ctx context.Context, username string) error {
	if err := lookupKey("user", username); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM users WHERE username = $1`, username)
	return changedOne(fmt.Sprintf("user %q", username), tag, err)
}

// userArgs checks u and encodes it as the arguments of userColumns.
func userArgs(u *tiaki.User) ([]any, error) {
	if u == nil {
		return nil, fmt.Errorf("postgres: nil user: %w", tiaki.ErrInvalid)
	}
	if err := checkKey("username", u.Username); err != nil {
		return nil, err
	}
	if err := checkTexts("user password hash", u.PasswordHash, "user source", string(u.Source)); err != nil {
		return nil, err
	}
	claims, err := claimsArg(u.Claims)
	if err != nil {
		return nil, err
	}
	created, err := timeArg("user created time", u.CreatedAt)
	if err != nil {
		return nil, err
	}
	updated, err := timeArg("user updated time", u.UpdatedAt)
	if err != nil {
		return nil, err
	}
	return []any{u.Username, u.PasswordHash, claims, u.Disabled, string(u.Source), created, updated}, nil
}

// scanUser decodes one row of userColumns.
func scanUser(row pgx.Row) (*tiaki.User, error) {
	var (
		u                tiaki.User
		claims           string
		created, updated pgtype.Timestamptz
	)
	if err := row.Scan(&u.Username, &u.PasswordHash, &claims, &u.Disabled, &u.Source, &created, &updated); err != nil {
		return nil, err
	}
	var err error
	if u.Claims, err = scanClaims(claims); err != nil {
		return nil, err
	}
	u.CreatedAt, u.UpdatedAt = scanTime(created), scanTime(updated)
	return &u, nil
}
