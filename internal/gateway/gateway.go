// Package gateway is Tiaki's API gateway: it matches each request to a route, enforces the
// route's method list, size and time limits and policies, and proxies what passes to the
// upstream with httputil.ReverseProxy. Start with New and Gateway.ServeHTTP; route.go holds the
// Route type and the route table, proxy.go the upstream side, forward.go its fast path for the
// common request (ReverseProxy serves the rest), upstream.go the transport (synchronous on
// pooled connections for the common request, http.Transport for the rest),
// exchange.go the per-request state and response writer (final headers, audit event),
// identity.go the signed identity assertion sent upstream, metrics.go the Prometheus
// collectors.
//
// The cheapest checks run first, so abuse costs little: path sanity, route match, method,
// body size, then the route's policies (authentication, then authorization), then the proxy.
// Every refusal is a *policy.Denial written by policy.Render. Route tables are compiled once and
// swapped atomically, so a configuration reload never blocks or tears a request.
//
// Response headers a policy sets before the upstream is called (RateLimit headers, say) are
// kept aside while the upstream answers and put on the final response, winning over the
// upstream's values of the same names; the gateway's own headers win over both.
package gateway

import (
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/auditlog"
	"github.com/tiaki-nz/tiaki/internal/policy"
	"github.com/tiaki-nz/tiaki/internal/web"
)

// Options configure a Gateway.
type Options struct {
	// UnknownRouteStatus answers requests no route matches: 404 (the default) or 501, which
	// Part C asks for (catalogue HTTP-10).
	UnknownRouteStatus int
	// Logger receives upstream failures and internal errors; slog.Default() if nil.
	Logger *slog.Logger
	// Audit receives one event per request once it has been answered: auditlog.TypeRequest,
	// TypeDenial or TypeUpstreamError (catalogue LOG-01, LOG-03, LOG-05). None if nil.
	Audit auditlog.Sink
	// Metrics, when set, gets the gateway's collectors: tiaki_gateway_requests_total by route,
	// status code and consumer, and tiaki_gateway_request_duration_seconds by route.
	Metrics prometheus.Registerer
	// Identity, when set, signs the identity assertion every authenticated request carries to
	// its upstream in the Tiaki-Identity header.
	Identity *Identity
	// ClientIP returns the caller's address for audit events; the connection's peer address
	// if nil. Pass the trusted-proxy-aware function when the gateway sits behind proxies.
	ClientIP func(*http.Request) string
	// Now is the clock of identity assertions and audit events; time.Now if nil.
	Now func() time.Time
}

// Gateway serves API traffic for a table of routes. It is safe for concurrent use, including
// Swap while serving.
type Gateway struct {
	table     atomic.Pointer[table]
	log       *slog.Logger
	errorLog  *log.Logger
	transport *syncTransport // shared by routes without UpstreamTLS, across swaps
	buffers   bufferPool
	withID    http.Handler
	audit     auditlog.Sink
	metrics   *metrics
	identity  *asserter
	clientIP  func(*http.Request) string
	now       func() time.Time

	unknown, badPath, serverError, badGateway, timeout, clientClosed *policy.Denial
}

// StatusClientClosedRequest is nginx's 499: the client closed the request before the response.
// The audit line and the metrics carry it, never 504: the upstream did not fail.
const StatusClientClosedRequest = 499

// Header values every response shares; len == cap, so nobody's Add writes into them.
var (
	hsts    = []string{"max-age=31536000"}
	nosniff = []string{"nosniff"}
	noStore = []string{"no-store"}
)

// New compiles routes and returns a gateway serving them.
func New(routes []Route, opts Options) (*Gateway, error) {
	g := &Gateway{log: opts.Logger, transport: newSyncTransport(nil), audit: opts.Audit, clientIP: opts.ClientIP, now: opts.Now}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.clientIP == nil {
		g.clientIP = peerIP
	}
	if opts.Identity != nil {
		a, err := newAsserter(*opts.Identity, g.now)
		if err != nil {
			return nil, err
		}
		g.identity = a
	}
	g.errorLog = slog.NewLogLogger(g.log.Handler(), slog.LevelWarn)
	switch opts.UnknownRouteStatus {
	case 0, http.StatusNotFound:
		g.unknown = &policy.Denial{Status: http.StatusNotFound, Type: "not-found", Title: "Not found",
			Detail: "No API is published at this address.", Reason: "no route matches"}
	case http.StatusNotImplemented:
		g.unknown = &policy.Denial{Status: http.StatusNotImplemented, Type: "not-implemented", Title: "Not implemented",
			Detail: "No API is published at this address.", Reason: "no route matches"}
	default:
		return nil, fmt.Errorf("gateway: unknown route status %d: 404 or 501: %w", opts.UnknownRouteStatus, tiaki.ErrInvalid)
	}
	g.badPath = &policy.Denial{Status: http.StatusBadRequest, Type: "bad-path", Title: "Bad request",
		Detail: "The request path is not in canonical form.", Reason: "dot segment, encoded slash or control character in path"}
	g.serverError = &policy.Denial{Status: http.StatusInternalServerError, Type: "server-error",
		Title: "Internal server error", Reason: "policy failed"}
	g.badGateway = &policy.Denial{Status: http.StatusBadGateway, Type: "bad-gateway", Title: "Bad gateway",
		Detail: "The API's backend could not be reached.", Reason: "upstream unreachable or failed"}
	g.timeout = &policy.Denial{Status: http.StatusGatewayTimeout, Type: "gateway-timeout", Title: "Gateway timeout",
		Detail: "The API's backend did not answer in time.", Reason: "upstream timed out"}
	// nginx's 499: no client receives it, but the audit line and the metrics say what happened.
	g.clientClosed = &policy.Denial{Status: StatusClientClosedRequest, Type: "client-closed-request",
		Title: "Client closed request", Reason: "client closed the request"}
	g.withID = web.RequestID(http.HandlerFunc(g.serve))
	if opts.Metrics != nil {
		g.metrics = newMetrics()
	}
	if err := g.Swap(routes); err != nil {
		return nil, err
	}
	// Collectors are registered once the routes are known to compile, so a refused
	// configuration leaves the registry as it was.
	if g.metrics != nil {
		if err := g.metrics.register(opts.Metrics); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// Swap compiles routes and, if they are valid, makes them the routes served. Requests already
// in flight finish on the table they started with. On error the current routes stay.
func (g *Gateway) Swap(routes []Route) error {
	t, err := g.compile(routes)
	if err != nil {
		return err
	}
	if old := g.table.Swap(t); old != nil {
		for _, tr := range old.owned {
			tr.CloseIdleConnections()
		}
	}
	if g.identity != nil {
		// An upstream's URL, and so the audience of its assertions, may have changed.
		g.identity.reset()
	}
	return nil
}

// CloseIdleConnections closes idle upstream connections (at shutdown, and in tests).
func (g *Gateway) CloseIdleConnections() {
	g.transport.CloseIdleConnections()
	if t := g.table.Load(); t != nil {
		for _, tr := range t.owned {
			tr.CloseIdleConnections()
		}
	}
}

func (g *Gateway) compile(routes []Route) (*table, error) {
	t := &table{hosts: map[string]map[string]*route{}, anyHost: map[string]*route{}}
	names := map[string]bool{}
	for i, r := range routes {
		rt, err := compileRoute(r)
		if err != nil {
			return nil, fmt.Errorf("gateway: route %d (%q): %w", i, r.Name, err)
		}
		if names[rt.Name] {
			return nil, fmt.Errorf("gateway: route %q: name used twice: %w", rt.Name, tiaki.ErrInvalid)
		}
		names[rt.Name] = true
		byPrefix := t.anyHost
		if rt.host != "" {
			if byPrefix = t.hosts[rt.host]; byPrefix == nil {
				byPrefix = map[string]*route{}
				t.hosts[rt.host] = byPrefix
			}
		}
		if other := byPrefix[rt.prefix]; other != nil {
			return nil, fmt.Errorf("gateway: route %q: host %q and prefix %q already belong to route %q: %w",
				rt.Name, rt.host, rt.prefix, other.Name, tiaki.ErrInvalid)
		}
		byPrefix[rt.prefix] = rt
		if g.metrics != nil {
			rt.latency = g.metrics.duration.WithLabelValues(rt.Name)
		}

		var upstream http.Handler
		if rt.UpstreamHandler != nil {
			upstream = &builtin{rt: rt, h: rt.UpstreamHandler, g: g}
		} else {
			tr := g.transport
			if rt.UpstreamTLS != nil {
				tr = newSyncTransport(rt.UpstreamTLS)
				t.owned = append(t.owned, tr)
			}
			upstream = proxied{rp: g.newProxy(rt, tr), fwd: &forwarder{g: g, rt: rt, t: tr}}
		}
		// Leading checkers run in serve's loop; from the first policy that must wrap the
		// exchange on, the rest are chained through Enforce.
		n := 0
		for ; n < len(rt.Policies); n++ {
			c, ok := rt.Policies[n].(policy.Checker)
			if !ok {
				break
			}
			rt.checks = append(rt.checks, c)
		}
		for j := len(rt.Policies) - 1; j >= n; j-- {
			upstream = &step{p: rt.Policies[j], next: upstream, g: g}
		}
		rt.next = upstream
	}
	return t, nil
}

// ServeHTTP implements http.Handler. Requests without a request ID (web.RequestID not in
// front) get one here.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if web.RequestIDFrom(r.Context()) == "" {
		g.withID.ServeHTTP(w, r)
		return
	}
	g.serve(w, r)
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) {
	ex := &exchange{ResponseWriter: w, g: g, start: time.Now(), requestID: web.RequestIDFrom(r.Context())}
	defer g.finish(ex, r)

	path := r.URL.Path
	if path == "" || path[0] != '/' { // "OPTIONS *", CONNECT authority form
		g.deny(ex, r, g.unknown)
		return
	}
	if dotSegments(path) {
		g.deny(ex, r, g.badPath)
		return
	}
	rt := g.table.Load().match(r.Host, path)
	if rt == nil {
		g.deny(ex, r, g.unknown)
		return
	}
	ex.rt = rt
	body := r.Body != nil && r.Body != http.NoBody
	if body {
		// From here the body's arrival is bounded, the drain before any refusal included. The
		// listener enforces the deadline: the connection's on HTTP/1.1, the stream's on HTTP/2.
		var deadline time.Time // none
		if rt.bodyTimeout > 0 {
			deadline = ex.start.Add(rt.bodyTimeout)
		}
		_ = http.NewResponseController(w).SetReadDeadline(deadline)
	}
	if rt.CORS != nil && g.crossOrigin(ex, r, rt) {
		return
	}
	if bit := methodBit(r.Method); rt.methods&bit == 0 {
		if bit == mOptions {
			// RFC 9110 §9.3.7: the gateway knows the route's methods; no need to ask upstream.
			h := ex.Header()
			h["Allow"] = rt.allow
			h["Content-Length"] = []string{"0"}
			ex.WriteHeader(http.StatusNoContent)
			return
		}
		g.deny(ex, r, rt.notAllowed)
		return
	}
	if rt.StripPrefix && r.URL.RawPath != "" {
		if u := *r.URL; !rt.strip(&u) {
			g.deny(ex, r, g.badPath)
			return
		}
	}

	if body {
		if rt.maxBody >= 0 && r.ContentLength > rt.maxBody {
			g.deny(ex, r, rt.tooLarge)
			return
		}
		ex.body = &requestBody{rc: r.Body, limit: rt.maxBody, left: rt.maxBody}
		r.Body = ex.body
	}

	ctx := r.Context()
	if len(rt.checks) > 0 {
		prev := tiaki.PrincipalFrom(ctx)
		if prev != nil {
			ex.p = *prev
			ex.p.Scopes = slices.Clip(prev.Scopes)
		}
		ex.p.Credentials = append(ex.creds[:0], ex.p.Credentials...)
		for _, c := range rt.checks {
			var d *policy.Denial
			if hc, ok := c.(policy.HeaderChecker); ok {
				d = hc.CheckHeader(ex.ResponseWriter.Header(), r, &ex.p)
			} else {
				d = c.Check(r, &ex.p)
			}
			if d != nil {
				if policy.Authenticated(&ex.p) {
					ex.principal = &ex.p // who was refused, for the audit event
				}
				g.deny(ex, r, d)
				return
			}
		}
		if policy.Authenticated(&ex.p) && (prev == nil || len(ex.p.Credentials) != len(prev.Credentials)) {
			ex.principal = &ex.p
			ctx = tiaki.WithPrincipal(ctx, &ex.p)
		}
	}
	if ctx != r.Context() {
		r = r.WithContext(ctx)
	}
	rt.next.ServeHTTP(ex, r)
}

// crossOrigin answers a CORS preflight for rt, before the method allow-list and every policy
// (browsers send preflights without credentials), and reports whether it did. Any other request
// is marked so that its response, whoever writes it, gets the CORS headers (finalHeaders).
func (g *Gateway) crossOrigin(ex *exchange, r *http.Request, rt *route) bool {
	h := ex.Header()
	preflight, d := rt.CORS.Preflight(h, r)
	switch {
	case preflight && d != nil:
		g.deny(ex, r, d)
	case preflight:
		h["Content-Length"] = []string{"0"}
		ex.WriteHeader(http.StatusNoContent)
	default:
		ex.cors = true
		if o := r.Header["Origin"]; len(o) == 1 {
			ex.origin = o[0]
		}
	}
	return preflight
}

// deny renders d and records it for the audit event (the first denial of a request is the
// one that decided it).
func (g *Gateway) deny(w http.ResponseWriter, r *http.Request, d *policy.Denial) {
	name := ""
	if ex := exchangeOf(w); ex != nil {
		ex.noteDenial(r, d)
		if ex.rt != nil {
			name = ex.rt.Name
		}
	}
	if g.log.Enabled(r.Context(), slog.LevelDebug) {
		g.log.DebugContext(r.Context(), "gateway: denied", "route", name, "status", d.Status,
			"type", d.Type, "reason", d.Reason, "request_id", web.RequestIDFrom(r.Context()))
	}
	policy.Render(w, r, d)
}

// step runs one Enforce-shaped policy and renders what it returns.
type step struct {
	p    policy.Policy
	next http.Handler
	g    *Gateway
}

// ServeHTTP implements http.Handler.
func (s *step) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	err := s.p.Enforce(w, r, s.next)
	if err == nil {
		return
	}
	var d *policy.Denial
	if errors.As(err, &d) {
		s.g.deny(w, r, d)
		return
	}
	s.g.log.ErrorContext(r.Context(), "gateway: policy failed", "request_id", web.RequestIDFrom(r.Context()), "err", err)
	s.g.deny(w, r, s.g.serverError)
}
