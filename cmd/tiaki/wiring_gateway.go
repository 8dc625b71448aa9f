package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/tiaki-nz/tiaki/internal/certs"
	"github.com/tiaki-nz/tiaki/internal/config"
	"github.com/tiaki-nz/tiaki/internal/demo"
	"github.com/tiaki-nz/tiaki/internal/gateway"
	"github.com/tiaki-nz/tiaki/internal/policy"
	"github.com/tiaki-nz/tiaki/internal/policy/apikey"
	"github.com/tiaki-nz/tiaki/internal/policy/bearer"
	"github.com/tiaki-nz/tiaki/internal/policy/scope"
)

// builtinEcho is the upstream value that selects the demo echo built into the binary.
const builtinEcho = "builtin:echo"

// buildGateway compiles the configured APIs into the gateway's route table. An API whose
// upstream is builtin:echo gets the demo echo, served over TLS 1.3 on a loopback port with the
// development certificate, so the demo crosses a real upstream hop like any backend.
func buildGateway(ctx context.Context, n *node) (http.Handler, error) {
	var echoURL *url.URL
	var routes []gateway.Route
	for i, api := range n.cfg.APIs {
		key := fmt.Sprintf("apis[%d]", i)
		r := gateway.Route{
			Name:        api.Name,
			Host:        api.Match.Host,
			PathPrefix:  api.Match.PathPrefix,
			StripPrefix: api.StripPrefix,
			Methods:     api.Methods,
			Timeout:     api.Limits.Timeout.Duration,
			MaxBody:     int64(api.Limits.MaxBody),
		}
		if api.Upstream == builtinEcho {
			if echoURL == nil {
				u, err := startEcho(n)
				if err != nil {
					return nil, err
				}
				echoURL = u
			}
			r.Upstream = echoURL
			r.UpstreamTLS = certs.ClientConfig(n.pki.CAPool(), nil)
		} else {
			u, err := url.Parse(api.Upstream)
			if err != nil {
				return nil, n.cfg.Errorf(key+".upstream", "%v", err)
			}
			r.Upstream = u
		}
		ps, err := buildPolicies(n, key, api)
		if err != nil {
			return nil, err
		}
		r.Policies = ps
		warnUnenforced(n, key, api)
		routes = append(routes, r)
	}
	gw, err := gateway.New(routes, gateway.Options{UnknownRouteStatus: n.cfg.Gateway.UnknownRouteStatus, Logger: n.logger})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	n.closers = append(n.closers, func() error { gw.CloseIdleConnections(); return nil })
	return gw, nil
}

// buildPolicies builds an API's authentication and authorisation policies, in the order of the
// gateway request flow (ARCHITECTURE.md): authenticate, then check scopes.
func buildPolicies(n *node, key string, api config.API) ([]policy.Policy, error) {
	requireAll := api.Auth.Require != "any"
	var auths []policy.Authenticator
	var checks []policy.Policy
	if api.Auth.APIKey != "off" {
		v, err := apikey.New(apikey.Config{Header: api.Auth.APIKeyHeader, API: api.Name,
			Required: requireAll && api.Auth.APIKey == "required"},
			apikey.Deps{Keys: n.store, Hasher: n.hasher, Logger: n.logger})
		if err != nil {
			return nil, n.cfg.Errorf(key+".auth", "%v", err)
		}
		auths = append(auths, v)
		checks = append(checks, v)
	}
	if o := api.Auth.OAuth2; o != nil {
		v, err := bearer.New(bearer.Config{
			Issuers:  []bearer.Issuer{{Issuer: n.cfg.Issuer, JWKS: n.keys.JWKS}},
			Audience: o.Audience,
			Required: requireAll,
		}, bearer.Deps{Logger: n.logger})
		if err != nil {
			return nil, n.cfg.Errorf(key+".auth.oauth2", "%v", err)
		}
		auths = append(auths, v)
		checks = append(checks, v)
	}
	if api.Auth.MTLS == "required" {
		return nil, n.cfg.Errorf(key+".auth.mtls", "per-route mTLS is not enforced by this build yet; refusing to start rather than let requests through unchecked")
	}
	var ps []policy.Policy
	switch {
	case !requireAll && len(auths) > 0:
		anyOf, err := policy.AnyOf(auths...)
		if err != nil {
			return nil, n.cfg.Errorf(key+".auth", "%v", err)
		}
		ps = append(ps, anyOf)
	default:
		ps = append(ps, checks...)
	}
	if o := api.Auth.OAuth2; o != nil && len(o.Scopes) > 0 {
		g, err := scope.New(scope.Config{ByMethod: o.Scopes})
		if err != nil {
			return nil, n.cfg.Errorf(key+".auth.oauth2.scopes", "%v", err)
		}
		ps = append(ps, g)
	}
	return ps, nil
}

// warnUnenforced says loudly which configured protections this build does not enforce yet, so
// nobody believes a setting protects them when it does not.
func warnUnenforced(n *node, key string, api config.API) {
	var missing []string
	if !api.RateLimit.PerConsumer.IsZero() || !api.RateLimit.PerIP.IsZero() {
		missing = append(missing, "rate_limit")
	}
	if !api.Quota.PerConsumer.IsZero() {
		missing = append(missing, "quota")
	}
	if api.OpenAPI != "" {
		missing = append(missing, "openapi")
	}
	if api.InjectionProtection != "off" {
		missing = append(missing, "injection_protection")
	}
	if api.Auth.MTLS == "optional" {
		missing = append(missing, "auth.mtls")
	}
	if len(missing) > 0 {
		n.logger.Warn("configured protections not enforced by this build yet", "api", api.Name, "key", key, "settings", missing)
	}
}

// startEcho serves the demo echo upstream over TLS 1.3 on a loopback port.
func startEcho(n *node) (*url.URL, error) {
	// The development certificate names 127.0.0.1 whatever certificate the listeners use.
	cert, err := tls.LoadX509KeyPair(n.pki.CertFile, n.pki.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("demo echo upstream: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo echo upstream: %w", err)
	}
	srv := &http.Server{
		Handler: demo.Echo(),
		TLSConfig: certs.ServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return &cert, nil
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.logger.Error("demo echo upstream stopped", "err", err)
		}
	}()
	n.closers = append(n.closers, srv.Close)
	return &url.URL{Scheme: "https", Host: ln.Addr().String()}, nil
}
