package main

import (
	"context"

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
