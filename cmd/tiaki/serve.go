package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/auditlog"
	"github.com/tiaki-nz/tiaki/internal/authserver"
	"github.com/tiaki-nz/tiaki/internal/certs"
	"github.com/tiaki-nz/tiaki/internal/config"
	"github.com/tiaki-nz/tiaki/internal/gateway"
	"github.com/tiaki-nz/tiaki/internal/h1"
	"github.com/tiaki-nz/tiaki/internal/keys"
	"github.com/tiaki-nz/tiaki/internal/revocation"
	"github.com/tiaki-nz/tiaki/internal/store/postgres"
	"github.com/tiaki-nz/tiaki/internal/store/sqlite"
	"github.com/tiaki-nz/tiaki/internal/telemetry"
	"github.com/tiaki-nz/tiaki/internal/web"
)

// shutdownGrace bounds how long a stopping server waits for requests in flight.
const shutdownGrace = 30 * time.Second

type serveFlags struct {
	authserverAddr, gatewayAddr, opsAddr string
	// pprof mounts Go's profiler on the ops listener (loopback by default), for measuring.
	pprof bool
}

func (m *Main) serveCommand(g *globals) *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the authorization server, the gateway and the ops endpoints",
		Long: `Run Tiaki. With no configuration file (no --config and no ./tiaki.yaml) it starts on the
embedded default: SQLite and generated development certificates and keys in the data directory,
a demo API behind the gateway, a demo client, user and API key; it prints where everything is
and how to try it. SIGTERM or SIGINT stops it gracefully, finishing requests in flight.

SIGHUP, or a change of the configuration file (checked every 2 seconds), reloads the
configuration: the new file is validated and every API's route and policies are built before
the gateway switches to them, without dropping a connection. A file with errors is logged with
each file:line: key: problem and the running configuration keeps serving. Settings outside
apis (listeners, TLS, store, issuer, keys, clients, users) are reported as needing a restart.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return m.serve(cmd.Context(), g, f)
		},
	}
	cmd.Flags().StringVar(&f.authserverAddr, "authserver-addr", "", "override listen.authserver (host:port)")
	cmd.Flags().StringVar(&f.gatewayAddr, "gateway-addr", "", "override listen.gateway (host:port)")
	cmd.Flags().StringVar(&f.opsAddr, "ops-addr", "", "override listen.ops (host:port)")
	cmd.Flags().BoolVar(&f.pprof, "pprof", false, "serve Go's profiler at /debug/pprof/ on the ops listener")
	return cmd
}

// node is one running Tiaki: everything serve builds, in the order it builds it.
type node struct {
	cfg      *config.Config
	embedded bool
	dataDir  string
	logger   *slog.Logger
	master   *keys.MasterKey
	hasher   *keys.Hasher
	store    tiaki.Store
	keys     *keys.Manager
	pki      *certs.DevPKI
	tlsCert  *certs.CertReloader
	// clientAuth verifies client certificates (chain and CRL) when tls.client_ca is set.
	clientAuth *certs.ClientAuth
	metrics    *telemetry.Metrics
	// audit receives the security events (auditlog), as JSON lines on stderr.
	audit auditlog.Sink
	// gateway serves API traffic; routes is the generation of routes it serves now, replaced
	// whole by a configuration reload.
	gateway *gateway.Gateway
	routes  atomic.Pointer[routeSet]
	echoUp  echoUpstream
	// shared holds rate limits, quotas and replay caches (memory or Redis).
	shared *sharedState
	// revocations are the revoked access tokens, grants and clients (revocations.go); auth is
	// the authorization server, which the gateway asks about opaque tokens.
	revocations *revocation.List
	auth        atomic.Pointer[authserver.Server]
	closers     []func() error

	// redisFailsClosed is set while the configuration has an API that refuses requests when
	// Redis is down, so /readyz says not ready rather than degraded (ready.go).
	redisFailsClosed atomic.Bool
}

func (m *Main) serve(ctx context.Context, g *globals, f *serveFlags) (err error) {
	n := &node{}
	defer func() {
		for i := len(n.closers) - 1; i >= 0; i-- {
			_ = n.closers[i]()
		}
	}()
	if n.dataDir, err = g.ensureDataDir(); err != nil {
		return err
	}
	// A new master key is saved only once the store is known to hold nothing made under
	// another (bindMasterKey, below).
	var masterSrc keys.MasterKeySource
	if n.master, masterSrc, err = keys.FindMasterKey(n.dataDir, m.Getenv); err != nil {
		return err
	}
	n.cfg, n.embedded, err = g.loadConfig(func() (config.Demo, error) { return demoSecrets(n.master) })
	if err != nil {
		return err
	}
	applyOverrides(n.cfg, f)
	rl := newReloader(n, f) // notes the file as loaded, so a change from now on is seen
	if n.logger, err = telemetry.NewLogger(m.Stderr, telemetry.LogOptions{Level: n.cfg.Log.Level, Format: n.cfg.Log.Format}); err != nil {
		return err
	}
	n.hasher = keys.NewHasher(n.master)
	n.metrics = telemetry.NewMetrics(tiakiVersion())
	// The audit stream is its own JSON logger, apart from the process log's level and format,
	// so it can be routed and kept on its own terms.
	auditOut := auditlog.NewLineBuffer(m.Stderr, 64<<10, 200*time.Millisecond)
	n.closers = append(n.closers, auditOut.Close)
	n.audit = auditlog.NewJSONSink(auditOut)

	if n.store, err = openStore(ctx, n.cfg, n.dataDir); err != nil {
		return err
	}
	n.closers = append(n.closers, n.store.Close)
	if err := bindMasterKey(ctx, n.store, n.master, masterSrc); err != nil {
		return err
	}
	if n.shared, err = openSharedState(ctx, n); err != nil {
		return err
	}
	n.redisFailsClosed.Store(redisFailsClosed(n.cfg))

	if n.pki, err = certs.EnsureDevPKI(n.dataDir, time.Now()); err != nil {
		return err
	}
	if n.tlsCert, err = serverCert(n.cfg, n.pki, n.logger); err != nil {
		return err
	}
	n.closers = append(n.closers, n.tlsCert.Close)
	if n.clientAuth, err = clientAuth(n.cfg, n.logger); err != nil {
		return err
	}
	if n.clientAuth != nil {
		n.closers = append(n.closers, n.clientAuth.Close)
	}

	// Bind every listener before building the front ends, so that on the embedded default the
	// issuer can name the port really bound (tests ask for port 0).
	authLn, err := net.Listen("tcp", n.cfg.Listen.AuthServer)
	if err != nil {
		return fmt.Errorf("listen.authserver: %w", err)
	}
	n.closers = append(n.closers, authLn.Close)
	gwLn, err := net.Listen("tcp", n.cfg.Listen.Gateway)
	if err != nil {
		return fmt.Errorf("listen.gateway: %w", err)
	}
	n.closers = append(n.closers, gwLn.Close)
	opsLn, err := net.Listen("tcp", n.cfg.Listen.Ops)
	if err != nil {
		return fmt.Errorf("listen.ops: %w", err)
	}
	n.closers = append(n.closers, opsLn.Close)
	if n.embedded {
		n.cfg.Issuer = "https://" + authLn.Addr().String()
	}

	n.keys = keys.NewManager(n.store, n.master, keys.Options{
		Algorithms:       n.cfg.Keys.Algorithms,
		RotateEvery:      n.cfg.Keys.RotateEvery.Duration,
		Prepublish:       n.cfg.Keys.Prepublish.Duration,
		MaxTokenLifetime: n.cfg.Tokens.AccessTokenTTL.Duration + 5*time.Minute,
		Logger:           n.logger,
	})
	if err := n.keys.Ensure(ctx); err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	if err := syncDeclared(ctx, n); err != nil {
		return err
	}

	startRevocations(n)
	authHandler, err := buildAuthServer(n)
	if err != nil {
		return err
	}
	gwHandler, err := buildGateway(ctx, n)
	if err != nil {
		return err
	}

	// The gateway's HTTP/1.1 is served by h1 (a quarter less CPU per request than net/http's
	// server); its net/http server serves the connections that negotiate HTTP/2.
	gw := n.httpServer("gateway", gwHandler, n.serverTLS())
	gwH1 := gatewayH1(gw, n.logger)
	servers := []*http.Server{
		n.httpServer("authserver", authHandler, n.serverTLS()),
		gw,
		n.httpServer("ops", n.opsHandler(f.pprof), nil),
	}
	errc := make(chan error, len(servers))
	var stopping atomic.Bool
	for i, ln := range []net.Listener{authLn, gwLn, opsLn} {
		go func(s *http.Server, ln net.Listener) {
			var err error
			switch {
			case s == gw:
				err = h1.ServeTLS(ln, s.TLSConfig, s.ReadHeaderTimeout, gwH1, s)
				if stopping.Load() && errors.Is(err, net.ErrClosed) {
					err = http.ErrServerClosed
				}
			case s.TLSConfig != nil:
				err = s.ServeTLS(ln, "", "")
			default:
				err = s.Serve(ln)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}(servers[i], ln)
	}
	go n.keys.Run(ctx)
	// SIGHUP reloads the configuration, as does a change of the file. Notify is on even with
	// the embedded default, where there is nothing to reload, because SIGHUP's default action
	// would stop the process. The reloader and the revocation poller stop, and are waited
	// for, before anything they use is closed.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	bg, stopBackground := context.WithCancel(ctx)
	var background sync.WaitGroup
	defer func() {
		stopBackground()
		background.Wait()
	}()
	background.Go(func() { n.watchRevokedKeys(bg) })
	background.Go(func() { rl.run(bg, hup) })

	ep := Endpoints{
		AuthServer: authLn.Addr().String(),
		Gateway:    gwLn.Addr().String(),
		Ops:        opsLn.Addr().String(),
		Issuer:     n.cfg.Issuer,
		DataDir:    n.dataDir,
		CAFile:     n.pki.CAFile,
	}
	n.logger.Info("tiaki serving", "authserver", ep.AuthServer, "gateway", ep.Gateway, "ops", ep.Ops,
		"issuer", ep.Issuer, "data", ep.DataDir, "store", n.cfg.Store.Driver, "version", tiakiVersion())
	printBanner(m.Stdout, n, ep)
	if m.Ready != nil {
		m.Ready(ep)
	}

	var serveErr error
	select {
	case <-ctx.Done():
		n.logger.Info("shutting down: finishing requests in flight", "grace", shutdownGrace)
	case serveErr = <-errc:
		n.logger.Error("listener failed; shutting down", "err", serveErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	// The gateway's listener is h1's, which net/http's Shutdown does not know of.
	stopping.Store(true)
	gwLn.Close()
	h1done := make(chan struct{})
	go func() {
		if err := gwH1.Shutdown(sctx); err != nil {
			n.logger.Warn("shutdown incomplete", "listener", "gateway", "err", err)
		}
		close(h1done)
	}()
	defer func() { <-h1done }()
	done := make(chan struct{})
	for _, s := range servers {
		go func(s *http.Server) {
			if err := s.Shutdown(sctx); err != nil {
				n.logger.Warn("shutdown incomplete", "err", err)
			}
			done <- struct{}{}
		}(s)
	}
	for range servers {
		<-done
	}
	n.logger.Info("stopped")
	return serveErr
}

func applyOverrides(cfg *config.Config, f *serveFlags) {
	if f.authserverAddr != "" {
		cfg.Listen.AuthServer = f.authserverAddr
	}
	if f.gatewayAddr != "" {
		cfg.Listen.Gateway = f.gatewayAddr
	}
	if f.opsAddr != "" {
		cfg.Listen.Ops = f.opsAddr
	}
}

// openStore opens the configured store, applying migrations.
func openStore(ctx context.Context, cfg *config.Config, dataDir string) (tiaki.Store, error) {
	switch cfg.Store.Driver {
	case "postgres":
		st, err := postgres.Open(ctx, cfg.Store.DSN.Reveal())
		if err != nil {
			return nil, fmt.Errorf("store (postgres): %w", err)
		}
		return st, nil
	default:
		path := cfg.Store.DSN.Reveal()
		if path == "" {
			path = filepath.Join(dataDir, "tiaki.db")
		}
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("store (sqlite): %w", err)
		}
		return st, nil
	}
}

// formBodyTimeout bounds the time a request body takes to arrive on the authorization server
// and ops listeners. Their bodies are small forms and JSON documents (64 KiB at most at the
// token endpoint), which take well under a second on any working link; 10 s (as long as a
// header may take) leaves room for a slow one and bounds what a client that stops sending can
// hold. The gateway bounds bodies per API instead (limits.body_timeout).
const formBodyTimeout = 10 * time.Second

// httpServer wraps h with the plumbing every listener shares and bounds what a client can make
// the server hold: header size and the time to send headers, a body and to sit idle.
func (n *node) httpServer(name string, h http.Handler, tlsConf *tls.Config) *http.Server {
	if name != "gateway" {
		// The gateway writes an audit event per request (consumer, route, status, latency),
		// which is its access log; a second line per request would double the logging cost.
		h = web.AccessLog(n.logger, name, h)
		// The gateway sets each route's own body deadline (and h1 a default for the rest).
		h = web.BodyTimeout(formBodyTimeout, h)
	}
	h = web.RequestID(n.metrics.Instrument(name, h))
	return &http.Server{
		Handler:           h,
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		// TLS handshake failures (a TLS 1.2 client, a scanner) are routine: debug level.
		ErrorLog: slog.NewLogLogger(n.logger.Handler(), slog.LevelDebug),
	}
}

// gatewayH1 is the gateway's HTTP/1.1 server, with the handler, limits and timeouts of its
// net/http server. Its body timeout bounds requests the gateway refuses before a route
// matched; a route's limits.body_timeout replaces it.
func gatewayH1(s *http.Server, logger *slog.Logger) *h1.Server {
	return &h1.Server{
		Handler:           s.Handler,
		ReadHeaderTimeout: s.ReadHeaderTimeout,
		IdleTimeout:       s.IdleTimeout,
		BodyTimeout:       gateway.DefaultBodyTimeout,
		MaxHeaderBytes:    s.MaxHeaderBytes,
		Logger:            logger,
	}
}

// serverTLS is the TLS 1.3 configuration of an HTTPS listener. With tls.client_ca set, a client
// certificate is requested and, when presented, verified against the CA and CRL during the
// handshake (a revoked one fails it); routes and clients that require one check it later.
func (n *node) serverTLS() *tls.Config {
	c := certs.ServerConfig(n.tlsCert.GetCertificate)
	if n.clientAuth != nil {
		n.clientAuth.Apply(c, certs.Request)
	}
	return c
}

// opsHandler serves /healthz, /readyz and /metrics on the plain-HTTP loopback ops listener,
// and Go's profiler under /debug/pprof/ when asked to.
func (n *node) opsHandler(withPprof bool) http.Handler {
	mux := http.NewServeMux()
	if withPprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		status, body := n.readiness(ctx)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})
	mux.Handle("GET /metrics", n.metrics.Handler())
	return mux
}
