package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/tiaki-nz/tiaki"
)

// The columns of clients, in the order clientArgs and scanClient use. The ?NNN parameters
// let one argument list serve INSERT, upsert and UPDATE alike.
const (
	clientColumns = `id, name, auth_method, secret_hash, jwks, tls_subject, redirect_uris,
		grant_types, scopes, access_token_format, source, created_at, updated_at,
		id_token_signed_response_alg`
	clientValues = `?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14`
	clientSet    = `(name, auth_method, secret_hash, jwks, tls_subject, redirect_uris, grant_types,
		scopes, access_token_format, source, created_at, updated_at, id_token_signed_response_alg) =
		(?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)`
)

// CreateClient inserts c; ErrConflict if the ID is taken.
func (s *Store) CreateClient(ctx context.Context, c *tiaki.Client) error {
	args, err := clientArgs(c)
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO clients (`+clientColumns+`) VALUES (`+clientValues+`)`, args...)
	return writeErr(fmt.Sprintf("client %q", c.ID), err)
}

// PutClient inserts or replaces c.
func (s *Store) PutClient(ctx context.Context, c *tiaki.Client) error {
	args, err := clientArgs(c)
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO clients (`+clientColumns+`) VALUES (`+clientValues+`)
		ON CONFLICT (id) DO UPDATE SET `+clientSet, args...)
	return writeErr(fmt.Sprintf("client %q", c.ID), err)
}

// UpdateClient replaces an existing client; ErrNotFound if there is none.
func (s *Store) UpdateClient(ctx context.Context, c *tiaki.Client) error {
	args, err := clientArgs(c)
	if err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `UPDATE clients SET `+clientSet+` WHERE id = ?1`, args...)
	return changedOne(fmt.Sprintf("client %q", c.ID), res, err)
}

// Client returns the client with the given ID, or ErrNotFound.
func (s *Store) Client(ctx context.Context, id string) (*tiaki.Client, error) {
	if err := lookupKey("client", id); err != nil {
		return nil, err
	}
	row := s.clientByID.QueryRowContext(ctx, id)
	c, err := scanClient(row)
	if err != nil {
		return nil, rowErr(fmt.Sprintf("client %q", id), err)
	}
	return c, nil
}

// Clients lists all clients ordered by ID.
func (s *Store) Clients(ctx context.Context) ([]tiaki.Client, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+clientColumns+` FROM clients ORDER BY id`)
	return rowsOf(rows, err, "clients", scanClient)
}

// DeleteClient removes a client; ErrNotFound if there is none.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	if err := lookupKey("client", id); err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `DELETE FROM clients WHERE id = ?`, id)
	return changedOne(fmt.Sprintf("client %q", id), res, err)
}

// clientArgs checks c and encodes it as the arguments of clientColumns.
func clientArgs(c *tiaki.Client) ([]any, error) {
	if c == nil {
		return nil, fmt.Errorf("sqlite: nil client: %w", tiaki.ErrInvalid)
	}
	if err := checkKey("client ID", c.ID); err != nil {
		return nil, err
	}
	if err := checkTexts(
		"client name", c.Name,
		"client auth method", string(c.AuthMethod),
		"client TLS subject", c.TLSSubject,
		"client access token format", c.AccessTokenFormat,
		"client ID token signing algorithm", c.IDTokenSigningAlg,
		"client source", string(c.Source),
	); err != nil {
		return nil, err
	}
	redirects, err := listArg("client redirect URI", c.RedirectURIs)
	if err != nil {
		return nil, err
	}
	grants, err := listArg("client grant type", c.GrantTypes)
	if err != nil {
		return nil, err
	}
	scopes, err := listArg("client scope", c.Scopes)
	if err != nil {
		return nil, err
	}
	created, err := timeArg("client created time", c.CreatedAt)
	if err != nil {
		return nil, err
	}
	updated, err := timeArg("client updated time", c.UpdatedAt)
	if err != nil {
		return nil, err
	}
	return []any{c.ID, c.Name, string(c.AuthMethod), bytesArg(c.SecretHash), bytesArg(c.JWKS),
		c.TLSSubject, redirects, grants, scopes, c.AccessTokenFormat, string(c.Source),
		created, updated, c.IDTokenSigningAlg}, nil
}

// scanClient decodes one row of clientColumns.
func scanClient(row scanner) (*tiaki.Client, error) {
	var (
		c                         tiaki.Client
		secretHash, jwks          []byte
		redirects, grants, scopes string
		created, updated          sql.NullInt64
	)
	err := row.Scan(&c.ID, &c.Name, &c.AuthMethod, &secretHash, &jwks, &c.TLSSubject,
		&redirects, &grants, &scopes, &c.AccessTokenFormat, &c.Source, &created, &updated,
		&c.IDTokenSigningAlg)
	if err != nil {
		return nil, err
	}
	if c.RedirectURIs, err = scanList("redirect URIs", redirects); err != nil {
		return nil, err
	}
	if c.GrantTypes, err = scanList("grant types", grants); err != nil {
		return nil, err
	}
	if c.Scopes, err = scanList("scopes", scopes); err != nil {
		return nil, err
	}
	c.SecretHash, c.JWKS = scanBytes(secretHash), scanBytes(jwks)
	c.CreatedAt, c.UpdatedAt = scanTime(created), scanTime(updated)
	return &c, nil
}
