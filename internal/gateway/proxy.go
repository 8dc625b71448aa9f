package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
	"github.com/tiaki-nz/tiaki/internal/web"
)

// Transport tuning, from the measurements in gateway-notes.md: a large idle pool per upstream,
// pooled copy buffers, no transparent compression, HTTP/1.1 to upstreams.
const (
	dialTimeout         = 5 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
	maxIdlePerHost      = 512
	idleConnTimeout     = 90 * time.Second
	maxResponseHeader   = 1 << 20
	copyBufferSize      = 32 << 10
)

// newTransport returns the upstream transport. Environment proxies are ignored on purpose: the
// path to a backend is the route's config, not the process environment.
func newTransport(tlsConf *tls.Config) *http.Transport {
	if tlsConf == nil {
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS13}
	} else {
		tlsConf = tlsConf.Clone()
	}
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		DialContext:            dialer.DialContext,
		TLSClientConfig:        tlsConf,
		TLSHandshakeTimeout:    tlsHandshakeTimeout,
		ResponseHeaderTimeout:  MaxTimeout,
		ExpectContinueTimeout:  time.Second,
		MaxIdleConnsPerHost:    maxIdlePerHost,
		IdleConnTimeout:        idleConnTimeout,
		DisableCompression:     true,
		MaxResponseHeaderBytes: maxResponseHeader,
		ForceAttemptHTTP2:      false,
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	t.Protocols = &protocols
	return t
}

// bufferPool lends ReverseProxy its copy buffers. It pools array pointers, which fit in an
// interface without allocating, where pooling []byte would allocate on every Put.
type bufferPool struct{ p sync.Pool }

// Get implements httputil.BufferPool.
func (b *bufferPool) Get() []byte {
	if a, ok := b.p.Get().(*[copyBufferSize]byte); ok {
		return a[:]
	}
	return new([copyBufferSize]byte)[:]
}

// Put implements httputil.BufferPool.
func (b *bufferPool) Put(buf []byte) {
	if cap(buf) >= copyBufferSize {
		b.p.Put((*[copyBufferSize]byte)(buf[:copyBufferSize]))
	}
}

// newProxy builds the reverse proxy for a route with a remote upstream.
func (g *Gateway) newProxy(rt *route, transport http.RoundTripper) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:    func(pr *httputil.ProxyRequest) { g.rewrite(rt, pr) },
		Transport:  transport,
		BufferPool: &g.buffers,
		ErrorLog:   g.errorLog,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			g.proxyError(w, r, rt, err)
		},
	}
}

// rewrite turns the inbound request into the upstream one. ReverseProxy has already removed
// hop-by-hop headers and Forwarded/X-Forwarded-*; SetXForwarded sets them afresh.
func (g *Gateway) rewrite(rt *route, pr *httputil.ProxyRequest) {
	if rt.StripPrefix {
		rt.strip(pr.Out.URL) // checked in serve, so it cannot fail here
	}
	pr.SetURL(rt.Upstream)
	pr.SetXForwarded()
	inMemoryBody(pr.In, pr.Out)
	if err := g.prepareUpstream(rt, pr.Out.Header, pr.In.Context()); err != nil {
		// Rewrite cannot refuse; a context cancelled with the cause makes the transport fail
		// at once, and proxyError turns the cause into a 500. Nothing reaches the upstream
		// without its identity assertion.
		ctx, cancel := context.WithCancelCause(pr.Out.Context())
		cancel(err)
		pr.Out = pr.Out.WithContext(ctx)
	}
}

// prepareUpstream removes identities the client claims for itself and the credentials the
// upstream has no use for, and adds the correlation ID and the identity assertion.
func (g *Gateway) prepareUpstream(rt *route, h http.Header, ctx context.Context) error {
	stripIdentity(h)
	for _, k := range rt.credentials {
		delete(h, k)
	}
	id := web.RequestIDFrom(ctx)
	if id != "" {
		h[web.RequestIDHeader] = []string{id}
	}
	if g.identity != nil {
		if p := tiaki.PrincipalFrom(ctx); policy.Authenticated(p) {
			tok, err := g.identity.assert(rt, p, id)
			if err != nil {
				return err
			}
			h[IdentityHeader] = []string{tok}
		}
	}
	return nil
}

// proxied hands a request to the forwarder if it can take it (see direct), to ReverseProxy
// otherwise, staging the response headers set so far (see exchange): both add the upstream's
// values to them and clear them after forwarding a 1xx response. A protocol upgrade the route
// does not enable is removed first, so only ReverseProxy ever tunnels, and only those.
type proxied struct {
	rp  *httputil.ReverseProxy
	fwd *forwarder
}

// ServeHTTP implements http.Handler.
//
// The route's timeout starts here. The fast path applies it to the upstream connection as a
// deadline; only ReverseProxy needs it as a context, whose timer and registration with the
// server's request context cost allocations on every request.
func (p proxied) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if ex := exchangeOf(w); ex != nil {
		ex.toUpstream(r)
	}
	p.fwd.rt.upgrade(r.Header)
	deadline := time.Now().Add(p.fwd.rt.timeout)
	if direct(r) {
		p.fwd.serve(w, r, deadline)
		return
	}
	ctx, cancel := context.WithDeadline(r.Context(), deadline)
	defer cancel()
	p.rp.ServeHTTP(w, r.WithContext(ctx))
}

// bufferedBody is a request body a policy read whole into a pooled buffer (content.Body).
type bufferedBody interface {
	io.ReadCloser
	Bytes() []byte
}

// maxInMemoryBody is the largest buffered body handed upstream as a copy (see inMemoryBody).
const maxInMemoryBody = 64 << 10

// inMemoryBody gives the transport a small body that a policy already buffered as a
// bytes.Reader, the one kind it writes together with the request headers: any other body
// (ReverseProxy's own wrapper included, hence this runs in Rewrite) makes it flush the headers
// first, a second write system call to the upstream for every request with a body. The
// transport may still be writing after the response has arrived and the policy's pooled buffer
// has gone back, so it gets a copy.
func inMemoryBody(in, out *http.Request) {
	b, ok := in.Body.(bufferedBody)
	if !ok || out.Body == nil || in.ContentLength <= 0 || in.ContentLength > maxInMemoryBody {
		return
	}
	if data := b.Bytes(); int64(len(data)) == in.ContentLength {
		setBody(out, bytes.Clone(data))
	}
}

// setBody makes data out's body, in the form the transport writes with the request headers,
// and lets a retry read it again.
func setBody(out *http.Request, data []byte) {
	out.Body = io.NopCloser(bytes.NewReader(data))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	out.ContentLength = int64(len(data))
}

// proxyError answers a failed upstream exchange. The client learns only the class of failure;
// the upstream's error text, which may name hosts and products, goes to the log.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, rt *route, err error) {
	var tooLarge *http.MaxBytesError
	var netErr net.Error
	d := g.badGateway
	failed := true
	ex := exchangeOf(w)
	switch {
	case errors.Is(context.Cause(r.Context()), errIdentity):
		d, failed, err = g.serverError, false, context.Cause(r.Context())
	case ex != nil && ex.body != nil && ex.body.timedOut.Load():
		d, failed = policy.RequestTimeout, false // the client's body, not the upstream, was late
	case errors.As(err, &tooLarge):
		d, failed = rt.tooLarge, false
	case errors.Is(r.Context().Err(), context.Canceled):
		// The client went away (its connection closed, which cancels the request): not the
		// upstream's fault, whatever error the interrupted exchange returned.
		d, failed = g.clientClosed, false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(r.Context().Err(), context.DeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		d = g.timeout
	}
	// url.Error would print the upstream URL with the client's query string.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if ex != nil {
		ex.failed = failed
	}
	if d == policy.RequestTimeout {
		g.deny(w, r, d) // the client's doing: the audit event records it
		return
	}
	level, msg := slog.LevelWarn, "gateway: upstream exchange failed"
	if d == g.clientClosed {
		level, msg = slog.LevelInfo, "gateway: client closed the request"
	}
	g.log.Log(r.Context(), level, msg, "route", rt.Name, "request_id", web.RequestIDFrom(r.Context()), "status", d.Status, "err", err)
	g.deny(w, r, d)
}

// builtin serves a route whose upstream is an in-process handler, with the same header
// hygiene as a proxied request: identity headers and credentials out, correlation ID and
// identity assertion in, and the gateway's response headers winning over the handler's.
type builtin struct {
	rt *route
	h  http.Handler
	g  *Gateway
}

// ServeHTTP implements http.Handler.
func (b *builtin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), b.rt.timeout)
	defer cancel()
	out := r.Clone(ctx)
	if b.rt.StripPrefix {
		b.rt.strip(out.URL)
	}
	out.RequestURI = ""
	b.rt.upgrade(out.Header)
	for _, k := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		delete(out.Header, k)
	}
	if err := b.g.prepareUpstream(b.rt, out.Header, r.Context()); err != nil {
		b.g.log.ErrorContext(r.Context(), "gateway: identity assertion failed", "route", b.rt.Name,
			"request_id", web.RequestIDFrom(r.Context()), "err", err)
		b.g.deny(w, r, b.g.serverError)
		return
	}
	if ex := exchangeOf(w); ex != nil {
		ex.toUpstream(r)
	}
	b.h.ServeHTTP(w, out)
}

// Identity headers: what a client might send to pass itself off as someone the gateway
// authenticated (catalogue AUTHN-14). They are compared lower-cased with "_" read as "-",
// because many backends (CGI, WSGI, nginx) treat X-Consumer_Id and X-Consumer-Id alike.
var (
	identityNames = setOf(
		"x-forwarded-email", "x-forwarded-preferred-username", "x-forwarded-groups",
		"x-forwarded-access-token", "x-forwarded-client-cert", "remote-user", "x-user", "x-user-id",
		"x-userid", "x-username", "x-user-email", "x-anonymous-consumer", "x-client-id",
		"x-client-verify", "x-client-dn", "x-ssl-cert", "ssl-client-cert", "ssl-client-verify",
		"client-cert", "client-cert-chain", "x-arr-clientcert", "x-jwt-assertion", "x-jwt-payload",
		"x-userinfo", "x-id-token", "x-access-token", "x-endpoint-api-userinfo",
		"x-goog-iap-jwt-assertion", "x-principal", "x-identity",
	)
	// identityPrefixes strip whole families.
	identityPrefixes = [][]byte{
		[]byte("tiaki-"), []byte("x-consumer-"), []byte("x-forwarded-user"), []byte("x-auth-request-"),
		[]byte("x-authenticated-"), []byte("x-remote-"), []byte("x-ssl-client-"), []byte("x-client-cert"),
		[]byte("x-amzn-oidc-"), []byte("x-ms-client-principal"), []byte("x-goog-authenticated-"),
		[]byte("x-credential-"), []byte("x-apigateway-"),
	}
)

func setOf(names ...string) map[string]struct{} {
	m := make(map[string]struct{}, len(names))
	for _, n := range names {
		m[n] = struct{}{}
	}
	return m
}

// stripIdentity deletes identity headers from h without allocating.
func stripIdentity(h http.Header) {
	for k := range h {
		if identityHeader(k) {
			delete(h, k)
		}
	}
}

func identityHeader(k string) bool {
	var buf [64]byte
	n := min(len(k), len(buf))
	for i := 0; i < n; i++ {
		c := k[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == '_':
			c = '-'
		}
		buf[i] = c
	}
	s := buf[:n]
	if len(k) <= len(buf) {
		if _, ok := identityNames[string(s)]; ok {
			return true
		}
	}
	for _, p := range identityPrefixes {
		if bytes.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
