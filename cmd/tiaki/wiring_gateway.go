package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tiaki-nz/tiaki/internal/auditlog"
	"github.com/tiaki-nz/tiaki/internal/certs"
	"github.com/tiaki-nz/tiaki/internal/config"
	"github.com/tiaki-nz/tiaki/internal/demo"
	"github.com/tiaki-nz/tiaki/internal/gateway"
	"github.com/tiaki-nz/tiaki/internal/keys"
	"github.com/tiaki-nz/tiaki/internal/policy/apikey"
	"github.com/tiaki-nz/tiaki/internal/web"
)

// builtinEcho is the upstream value that selects the demo echo built into the binary.
const builtinEcho = "builtin:echo"

// Revocation polling: how often the gateway asks the store for API keys revoked since it last
// asked, so a key revoked through the CLI, the portal or another node is refused within seconds
// (KEY-03: "revoked keys refused on every node within 5 s"). The overlap covers clocks of other
// nodes that run a little behind ours.
const (
	revocationPoll    = 2 * time.Second
	revocationOverlap = 10 * time.Second
)

// maxCAFile bounds an upstream CA file read at start-up and reload.
const maxCAFile = 1 << 20

// routeSet is one generation of the gateway's routes, compiled from one configuration, with
// what those routes hold: the API-key verifiers (told about revocations) and the certificate
// reloaders of upstream client certificates (closed when the generation is replaced).
type routeSet struct {
	routes  []gateway.Route
	apiKeys []*apikey.Verifier
	// issuerClients are the HTTPS clients of trusted_issuers, by name, shared by the routes.
	issuerClients map[string]*http.Client
	closers       []func() error
}

func (s *routeSet) close() {
	if s == nil {
		return // a failed buildRoutes returns nil
	}
	for _, c := range s.closers {
		_ = c()
	}
}

// buildGateway compiles the configured APIs into the gateway and returns it as the gateway
// listener's handler. Every request is audited (to n.audit, through the LOG-04 burst
// detector), counted in the metrics, and carries a signed identity assertion upstream.
func buildGateway(_ context.Context, n *node) (http.Handler, error) {
	n.closers = append(n.closers, n.echoUp.close)
	rs, err := buildRoutes(n, n.cfg)
	if err != nil {
		return nil, err
	}
	trusted, err := web.ParseTrustedProxies(n.cfg.Gateway.TrustedProxies)
	if err != nil {
		rs.close()
		return nil, n.cfg.Errorf("gateway.trusted_proxies", "%v", err)
	}
	burst, err := auditlog.NewBurstDetector(n.audit, auditlog.BurstOptions{})
	if err != nil {
		rs.close()
		return nil, err
	}
	gw, err := gateway.New(rs.routes, gateway.Options{
		UnknownRouteStatus: n.cfg.Gateway.UnknownRouteStatus,
		Logger:             n.logger,
		Audit:              burst,
		Metrics:            n.metrics.Registry,
		Identity:           &gateway.Identity{Issuer: n.cfg.Issuer, Key: identityKey(n)},
		ClientIP: func(r *http.Request) string {
			if a := web.ClientIP(r, trusted); a.IsValid() {
				return a.String()
			}
			return ""
		},
	})
	if err != nil {
		rs.close()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	n.gateway = gw
	n.routes.Store(rs)
	n.closers = append(n.closers, func() error {
		gw.CloseIdleConnections()
		n.routes.Load().close()
		return nil
	})
	return gw, nil
}

// identityKey picks the key that signs identity assertions: ES256 when configured (small and
// fast to verify), else the first configured algorithm.
func identityKey(n *node) func() (jose.JSONWebKey, error) {
	alg := keys.ES256
	if !slices.Contains(n.cfg.Keys.Algorithms, alg) && len(n.cfg.Keys.Algorithms) > 0 {
		alg = n.cfg.Keys.Algorithms[0]
	}
	return func() (jose.JSONWebKey, error) { return n.keys.SigningKey(alg) }
}

// buildRoutes compiles cfg's APIs into routes with their policies. It is the whole of what a
// reload rebuilds, so it reports every problem at its file:line:key and builds nothing the
// gateway would have to undo: on error everything it opened is closed again.
func buildRoutes(n *node, cfg *config.Config) (_ *routeSet, err error) {
	// rs is not the named result: "return nil, err" must not make the deferred close see nil
	// (it did, and a missing file named in the configuration crashed serve and reload).
	rs := &routeSet{}
	defer func() {
		if err != nil {
			rs.close()
		}
	}()
	for i, api := range cfg.APIs {
		key := fmt.Sprintf("apis[%d]", i)
		r := gateway.Route{
			Name:               api.Name,
			Host:               api.Match.Host,
			PathPrefix:         api.Match.PathPrefix,
			StripPrefix:        api.StripPrefix,
			Methods:            api.Methods,
			Timeout:            api.Limits.Timeout.Duration,
			MaxBody:            int64(api.Limits.MaxBody),
			BodyTimeout:        api.Limits.BodyTimeout.Duration,
			ForwardCredentials: api.ForwardCredentials,
			Upgrades:           api.Upgrades,
		}
		if api.Auth.APIKeyHeader != "" {
			r.CredentialHeaders = []string{api.Auth.APIKeyHeader}
		}
		if api.Upstream == builtinEcho {
			u, err := n.echo()
			if err != nil {
				return nil, err
			}
			r.Upstream = u
			r.UpstreamTLS = certs.ClientConfig(n.pki.CAPool(), nil)
		} else {
			u, err := url.Parse(api.Upstream)
			if err != nil {
				return nil, cfg.Errorf(key+".upstream", "%v", err)
			}
			r.Upstream = u
			if r.UpstreamTLS, err = upstreamTLS(n.logger, cfg, key, api, rs); err != nil {
				return nil, err
			}
		}
		ps, err := buildPolicies(n, cfg, key, api, rs)
		if err != nil {
			return nil, err
		}
		r.Policies = ps
		if r.CORS, err = buildCORS(cfg, key, api); err != nil {
			return nil, err
		}
		rs.routes = append(rs.routes, r)
	}
	return rs, nil
}

// upstreamTLS builds the TLS client configuration of apis[i].upstream_tls: TLS 1.3 to the
// upstream, its certificate verified against the configured CA, and a client certificate for
// mutual TLS (MTLS-03) served from files that are reloaded when they change.
func upstreamTLS(logger *slog.Logger, cfg *config.Config, key string, api config.API, rs *routeSet) (*tls.Config, error) {
	u := api.UpstreamTLS
	if u == nil {
		return nil, nil
	}
	var roots *x509.CertPool
	if u.CA != "" {
		pem, err := readBounded(u.CA, maxCAFile)
		if err != nil {
			return nil, cfg.Errorf(key+".upstream_tls.ca", "%v", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, cfg.Errorf(key+".upstream_tls.ca", "%s holds no PEM certificate", u.CA)
		}
	}
	c := certs.ClientConfig(roots, nil)
	if u.Cert != "" {
		r, err := certs.NewCertReloader(u.Cert, u.Key, certs.WithLogger(logger))
		if err != nil {
			return nil, cfg.Errorf(key+".upstream_tls.cert", "%v", err)
		}
		rs.closers = append(rs.closers, r.Close)
		c.GetClientCertificate = r.GetClientCertificate
	}
	return c, nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

// watchRevokedKeys tells the current API-key verifiers about keys revoked in the store, every
// revocationPoll, until ctx ends. A store outage is logged when it starts and when it ends;
// meanwhile cached keys still expire from the verifiers' caches after apikey.CacheTTL.
func (n *node) watchRevokedKeys(ctx context.Context) {
	t := time.NewTicker(revocationPoll)
	defer t.Stop()
	since := time.Now().Add(-revocationOverlap)
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		asked := time.Now()
		qctx, cancel := context.WithTimeout(ctx, revocationPoll)
		ids, err := n.store.APIKeysRevokedSince(qctx, since)
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				n.logger.Warn("cannot read API key revocations; retrying", "err", err)
			}
			failing = true
			continue
		case failing:
			n.logger.Info("reading API key revocations again")
			failing = false
		}
		if len(ids) > 0 {
			for _, v := range n.routes.Load().apiKeys {
				v.Forget(ids...)
			}
		}
		since = asked.Add(-revocationOverlap)
	}
}

// echoUpstream is the demo echo, started the first time a configuration names builtin:echo
// and shared by every later route set.
type echoUpstream struct {
	mu  sync.Mutex
	url *url.URL
	srv *http.Server
}

// echo returns the demo echo's URL, starting it on first use.
func (n *node) echo() (*url.URL, error) {
	e := &n.echoUp
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.url == nil {
		u, srv, err := startEcho(n)
		if err != nil {
			return nil, err
		}
		e.url, e.srv = u, srv
	}
	return e.url, nil
}

// close stops the demo echo if it was started.
func (e *echoUpstream) close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srv == nil {
		return nil
	}
	return e.srv.Close()
}

// startEcho serves the demo echo upstream over TLS 1.3 on a loopback port.
func startEcho(n *node) (*url.URL, *http.Server, error) {
	// The development certificate names 127.0.0.1 whatever certificate the listeners use.
	cert, err := tls.LoadX509KeyPair(n.pki.CertFile, n.pki.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("demo echo upstream: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("demo echo upstream: %w", err)
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
	return &url.URL{Scheme: "https", Host: ln.Addr().String()}, srv, nil
}
