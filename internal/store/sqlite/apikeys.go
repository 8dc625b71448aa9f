package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tiaki-nz/tiaki"
)

const (
	apiKeyColumns = `id, hash, api, name, consumer, source, created_at, expires_at, revoked_at, scopes`
	apiKeyValues  = `?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10`
	apiKeySet     = `(hash, api, name, consumer, source, created_at, expires_at, revoked_at, scopes) =
		(?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)`
	// apiKeyOrder is APIKeys' order: creation time (unset first), then ID.
	apiKeyOrder = ` ORDER BY created_at NULLS FIRST, id`
)

// CreateAPIKey inserts k; ErrConflict if the ID is taken.
func (s *Store) CreateAPIKey(ctx context.Context, k *tiaki.APIKey) error {
	args, err := apiKeyArgs(k)
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`) VALUES (`+apiKeyValues+`)`, args...)
	return writeErr(fmt.Sprintf("API key %q", k.ID), err)
}

// PutAPIKey inserts or replaces k.
func (s *Store) PutAPIKey(ctx context.Context, k *tiaki.APIKey) error {
	args, err := apiKeyArgs(k)
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`) VALUES (`+apiKeyValues+`)
		ON CONFLICT (id) DO UPDATE SET `+apiKeySet, args...)
	return writeErr(fmt.Sprintf("API key %q", k.ID), err)
}

// APIKey returns the key with the given ID, or ErrNotFound.
func (s *Store) APIKey(ctx context.Context, id string) (*tiaki.APIKey, error) {
	if err := lookupKey("API key", id); err != nil {
		return nil, err
	}
	row := s.r.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = ?`, id)
	k, err := scanAPIKey(row)
	if err != nil {
		return nil, rowErr(fmt.Sprintf("API key %q", id), err)
	}
	return k, nil
}

// APIKeys lists keys matching f, ordered by creation time then ID.
func (s *Store) APIKeys(ctx context.Context, f tiaki.APIKeyFilter) ([]tiaki.APIKey, error) {
	switch {
	case f.API == "":
		rows, err := s.r.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys`+apiKeyOrder)
		return rowsOf(rows, err, "API keys", scanAPIKey)
	case checkText("API", f.API) != nil:
		return nil, nil // no key could have been stored for it
	default:
		rows, err := s.r.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE api = ?`+apiKeyOrder, f.API)
		return rowsOf(rows, err, "API keys", scanAPIKey)
	}
}

// RevokeAPIKey marks a key revoked at time at; ErrNotFound if there is none. A revoked key
// keeps its first revocation time.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	if err := lookupKey("API key", id); err != nil {
		return err
	}
	if at.IsZero() {
		return fmt.Errorf("sqlite: revoking API key %q at the zero time: %w", id, tiaki.ErrInvalid)
	}
	t, err := timeArg("revocation time", at)
	if err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`, t, id)
	return changedOne(fmt.Sprintf("API key %q", id), res, err)
}

// APIKeysRevokedSince returns the IDs of keys revoked at or after since, oldest revocation
// first.
func (s *Store) APIKeysRevokedSince(ctx context.Context, since time.Time) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM api_keys
		WHERE revoked_at IS NOT NULL AND revoked_at >= ? ORDER BY revoked_at, id`, boundArg(since))
	return rowsOf(rows, err, "revoked API keys", func(row scanner) (*string, error) {
		var id string
		return &id, row.Scan(&id)
	})
}

// apiKeyArgs checks k and encodes it as the arguments of apiKeyColumns.
func apiKeyArgs(k *tiaki.APIKey) ([]any, error) {
	if k == nil {
		return nil, fmt.Errorf("sqlite: nil API key: %w", tiaki.ErrInvalid)
	}
	if err := checkKey("API key ID", k.ID); err != nil {
		return nil, err
	}
	if err := checkTexts(
		"API key API", k.API,
		"API key name", k.Name,
		"API key consumer", k.Consumer,
		"API key source", string(k.Source),
	); err != nil {
		return nil, err
	}
	created, err := timeArg("API key created time", k.CreatedAt)
	if err != nil {
		return nil, err
	}
	expires, err := timeArg("API key expiry time", k.ExpiresAt)
	if err != nil {
		return nil, err
	}
	revoked, err := timeArg("API key revocation time", k.RevokedAt)
	if err != nil {
		return nil, err
	}
	scopes, err := listArg("API key scope", k.Scopes)
	if err != nil {
		return nil, err
	}
	return []any{k.ID, bytesArg(k.Hash), k.API, k.Name, k.Consumer, string(k.Source),
		created, expires, revoked, scopes}, nil
}

// scanAPIKey decodes one row of apiKeyColumns.
func scanAPIKey(row scanner) (*tiaki.APIKey, error) {
	var (
		k                         tiaki.APIKey
		hash                      []byte
		created, expires, revoked sql.NullInt64
		scopes                    string
	)
	if err := row.Scan(&k.ID, &hash, &k.API, &k.Name, &k.Consumer, &k.Source, &created, &expires, &revoked, &scopes); err != nil {
		return nil, err
	}
	k.Hash = scanBytes(hash)
	k.CreatedAt, k.ExpiresAt, k.RevokedAt = scanTime(created), scanTime(expires), scanTime(revoked)
	var err error
	if k.Scopes, err = scanList("API key scopes", scopes); err != nil {
		return nil, err
	}
	return &k, nil
}
