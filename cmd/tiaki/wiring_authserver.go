package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/authserver"
	"github.com/tiaki-nz/tiaki/internal/web"
)

// buildAuthServer turns the configuration into the authorization server's plain settings and
// gives it its stores: clients, users, sessions and signing keys from the store; the password
// throttle and the client-assertion replay cache from the shared state; the revocation list
// (revocations.go).
func buildAuthServer(n *node) (http.Handler, error) {
	cfg := n.cfg
	alg := "ES256" // ~20× cheaper to sign than RSA-2048; PS256 stays available
	if !slices.Contains(cfg.Keys.Algorithms, alg) {
		alg = cfg.Keys.Algorithms[0]
	}
	var scopes, resources []string
	for _, c := range cfg.Clients {
		scopes = append(scopes, c.Scopes...)
	}
	for _, a := range cfg.APIs {
		if a.Auth.OAuth2 != nil {
			resources = append(resources, a.Auth.OAuth2.Audience)
			for _, ss := range a.Auth.OAuth2.Scopes {
				scopes = append(scopes, ss...)
			}
		}
	}
	slices.Sort(scopes)
	trusted, err := web.ParseTrustedProxies(cfg.Gateway.TrustedProxies)
	if err != nil {
		return nil, cfg.Errorf("gateway.trusted_proxies", "%v", err)
	}
	// The password throttle and the client-assertion replay cache are the node's shared state
	// (state.go: in process, or Redis across nodes); revocations go through the store to every
	// node's list, which the gateway asks too. A throttle that cannot answer refuses the
	// sign-in.
	deps := authserver.Deps{
		Clients: n.store, Secrets: n.hasher, Keys: n.keys, Logger: n.logger, Users: n.store,
		Limiter: n.shared.limiter, Replay: n.shared.replay, Revocations: n.revocations,
		// Opaque access tokens are sealed under a key every node derives from the shared
		// master key, so any node opens any token and none stores them.
		Sealer: n.master.Sealer(authserver.OpaqueTokenLabel),
		// Password attempts are throttled per client IP (AUTHN-16), taken from forwarding
		// headers only when the peer is a trusted proxy.
		ClientIP: func(r *http.Request) string {
			if a := web.ClientIP(r, trusted); a.IsValid() {
				return a.String()
			}
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				return r.RemoteAddr
			}
			return host
		},
	}
	if ss, ok := n.store.(tiaki.SessionStore); ok {
		deps.Sessions = ss
	} else {
		deps.Users = nil // without a session store the server offers client credentials only
		n.logger.Warn("the store keeps no sessions: authorization code, refresh tokens and login are off")
	}
	srv, err := authserver.New(authserver.Config{
		Issuer:            cfg.Issuer,
		Profile:           cfg.Profile,
		AccessTokenTTL:    cfg.Tokens.AccessTokenTTL.Duration,
		RefreshTokenTTL:   cfg.Tokens.RefreshTokenTTL.Duration,
		CodeTTL:           cfg.Tokens.AuthorizationCodeTTL.Duration,
		AccessTokenFormat: cfg.Tokens.AccessTokenFormat,
		SigningAlgorithm:  alg,
		Scopes:            slices.Compact(scopes),
		Resources:         resources,
		OutageGrace:       cfg.Store.OutageGrace.Duration,
	}, deps)
	if err != nil {
		return nil, fmt.Errorf("authorization server: %w", err)
	}
	n.auth.Store(srv)
	ctx, stop := context.WithCancel(context.Background())
	go srv.Run(ctx) // deletes expired sessions
	n.closers = append(n.closers, func() error { stop(); return nil })
	return web.SecurityHeaders(srv.Handler()), nil
}
