package main

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/tiaki-nz/tiaki/internal/authserver"
	"github.com/tiaki-nz/tiaki/internal/web"
)

// buildAuthServer turns the configuration into the authorization server's plain settings.
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
	}, authserver.Deps{Clients: n.store, Secrets: n.hasher, Keys: n.keys, Logger: n.logger})
	if err != nil {
		return nil, fmt.Errorf("authorization server: %w", err)
	}
	return web.SecurityHeaders(srv.Handler()), nil
}
