package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/config"
	"github.com/tiaki-nz/tiaki/internal/password"
)

// syncDeclared makes the store agree with what the configuration declares: clients and users
// from the file are created or updated, ones the file no longer declares are removed (records
// created at run time through the CLI or portal are left alone), and the demo API key exists when
// the demo is on.
func syncDeclared(ctx context.Context, n *node) error {
	now := time.Now().UTC()
	if err := syncClients(ctx, n, now); err != nil {
		return err
	}
	if err := syncUsers(ctx, n, now); err != nil {
		return err
	}
	if n.cfg.Demo {
		key, id, err := demoAPIKey(n.master)
		if err != nil {
			return err
		}
		k := &tiaki.APIKey{ID: id, Hash: n.hasher.Hash(key), API: demoAPI, Name: "demo key",
			Consumer: "demo-app", Scopes: demoKeyScopes, Source: tiaki.SourceConfig, CreatedAt: now}
		if old, err := n.store.APIKey(ctx, id); err == nil {
			k.CreatedAt, k.RevokedAt = old.CreatedAt, old.RevokedAt // a revoked demo key stays revoked
		}
		if err := n.store.PutAPIKey(ctx, k); err != nil {
			return fmt.Errorf("demo API key: %w", err)
		}
	}
	return nil
}

func syncClients(ctx context.Context, n *node, now time.Time) error {
	declared := map[string]bool{}
	for _, c := range n.cfg.Clients {
		declared[c.ID] = true
		rec := clientRecord(c, n, now)
		if old, err := n.store.Client(ctx, c.ID); err == nil {
			rec.CreatedAt = old.CreatedAt
		} else if !errors.Is(err, tiaki.ErrNotFound) {
			return err
		}
		if err := n.store.PutClient(ctx, rec); err != nil {
			return fmt.Errorf("client %s: %w", c.ID, err)
		}
	}
	existing, err := n.store.Clients(ctx)
	if err != nil {
		return err
	}
	for _, c := range existing {
		if c.Source == tiaki.SourceConfig && !declared[c.ID] {
			if err := n.store.DeleteClient(ctx, c.ID); err != nil && !errors.Is(err, tiaki.ErrNotFound) {
				return err
			}
			if err := revokeClientTokens(ctx, n.store, n.cfg, c.ID); err != nil {
				return err
			}
			n.logger.Info("removed client no longer declared in the configuration", "client_id", c.ID)
		}
	}
	return nil
}

func clientRecord(c config.Client, n *node, now time.Time) *tiaki.Client {
	rec := &tiaki.Client{
		ID:                c.ID,
		Name:              c.Name,
		AuthMethod:        c.AuthMethod,
		JWKS:              c.JWKS,
		TLSSubject:        c.TLSSubject,
		RedirectURIs:      c.RedirectURIs,
		GrantTypes:        c.GrantTypes,
		Scopes:            c.Scopes,
		AccessTokenFormat: c.AccessTokenFormat,
		IDTokenSigningAlg: c.IDTokenSignedResponseAlg,
		Source:            tiaki.SourceConfig,
		CreatedAt:         now,
		UpdatedAt:         now,
	}
	if !c.Secret.IsZero() {
		rec.SecretHash = n.hasher.Hash(c.Secret.Reveal())
	}
	return rec
}

func syncUsers(ctx context.Context, n *node, now time.Time) error {
	declared := map[string]bool{}
	for _, u := range n.cfg.Users {
		declared[u.Username] = true
		rec := &tiaki.User{Username: u.Username, Claims: u.Claims, Source: tiaki.SourceConfig, CreatedAt: now, UpdatedAt: now}
		old, err := n.store.User(ctx, u.Username)
		switch {
		case err == nil:
			rec.CreatedAt = old.CreatedAt
			// argon2id is slow on purpose: keep the stored hash when the password is unchanged.
			if ok, _ := password.Verify(u.Password.Reveal(), old.PasswordHash); ok {
				rec.PasswordHash = old.PasswordHash
			}
		case !errors.Is(err, tiaki.ErrNotFound):
			return err
		}
		if rec.PasswordHash == "" {
			if rec.PasswordHash, err = password.Hash(u.Password.Reveal(), password.Default); err != nil {
				return fmt.Errorf("user %s: %w", u.Username, err)
			}
		}
		if err := n.store.PutUser(ctx, rec); err != nil {
			return fmt.Errorf("user %s: %w", u.Username, err)
		}
	}
	existing, err := n.store.Users(ctx)
	if err != nil {
		return err
	}
	for _, u := range existing {
		if u.Source == tiaki.SourceConfig && !declared[u.Username] {
			if err := n.store.DeleteUser(ctx, u.Username); err != nil && !errors.Is(err, tiaki.ErrNotFound) {
				return err
			}
		}
	}
	return nil
}
