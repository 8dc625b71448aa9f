package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/authserver"
	"github.com/tiaki-nz/tiaki/internal/config"
	"github.com/tiaki-nz/tiaki/internal/revocation"
)

// startRevocations gives the node its copy of the access-token revocations (revocation.List):
// recorded in the store by the authorization server of any node and by the CLI (client
// delete, secret rotation), polled from it every revocation.DefaultPoll, and asked by the
// authorization server and every route's bearer policy about every token. A client revocation
// also drops the client from the authorization server's cache, so a deleted client or a
// rotated secret stops working here within the poll.
func startRevocations(n *node) {
	n.revocations = revocation.New(n.store, revocation.Options{Logger: n.logger, OnClient: func(id string) {
		if a := n.auth.Load(); a != nil {
			a.InvalidateClient(id)
		}
	}})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.revocations.Run(ctx, revocation.DefaultPoll)
	}()
	n.closers = append(n.closers, func() error { stop(); <-done; return nil })
}

// revokeClientTokens records that every token issued to client id until now is revoked: its
// access tokens (JWT and opaque) at every gateway node and its grants' refresh tokens, within
// a poll of every running node. Used when a client is deleted (CLI or configuration) and when
// its secret is rotated with --revoke-tokens.
func revokeClientTokens(ctx context.Context, store tiaki.RevocationStore, cfg *config.Config, id string) error {
	now := time.Now()
	longest := max(cfg.Tokens.AccessTokenTTL.Duration, cfg.Tokens.RefreshTokenTTL.Duration)
	if longest <= 0 {
		longest = authserver.DefaultRefreshTokenTTL
	}
	r := &tiaki.Revocation{Kind: tiaki.RevokedClient, ID: id, At: now, Until: now.Add(longest + time.Minute)}
	if err := store.RecordRevocation(ctx, r); err != nil {
		return fmt.Errorf("revoking the tokens of client %s: %w", id, err)
	}
	return nil
}
