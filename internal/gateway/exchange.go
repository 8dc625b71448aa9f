package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/auditlog"
	"github.com/tiaki-nz/tiaki/internal/policy"
	"github.com/tiaki-nz/tiaki/internal/web"
)

// exchange is the per-request state of the gateway and the ResponseWriter every policy and
// upstream writes through. One allocation holds the principal, room for its credentials, what
// the response was, and the audit event, so the hot path allocates for none of them.
//
// It owns the final response headers. When the response's status line is written it removes
// headers that name backend products, restores the headers policies set before the upstream
// was called, and sets the gateway's own (security headers, correlation ID, no-store once
// someone authenticated), so those win over whatever the upstream sent and survive the header
// wipe ReverseProxy does after forwarding a 1xx response.
type exchange struct {
	http.ResponseWriter
	g         *Gateway
	rt        *route // nil until a route matched
	start     time.Time
	requestID string

	p     tiaki.Principal
	creds [4]tiaki.CredentialKind
	// principal is who the request acts for once some policy authenticated it (&p, or the
	// principal an Enforce-shaped policy put in the context); nil before.
	principal *tiaki.Principal

	status  int
	written int64
	denial  *policy.Denial
	// failed marks an upstream exchange that failed or timed out (the denial says how).
	failed bool
	// cors marks a request of a route with a CORS policy that was not a preflight: its final
	// response gets the CORS headers for origin (the request's Origin header).
	cors   bool
	origin string

	// staged are the response headers policies set before the upstream was called. They are
	// kept out of the header map while the upstream answers (so ReverseProxy neither merges
	// the upstream's values into them nor clears them with a 1xx) and put back on the final
	// response. stagedBuf holds the usual few without allocating.
	staged    []stagedHeader
	stagedBuf [4]stagedHeader

	// body is the request's body once a route matched (see requestBody); nil without one.
	body *requestBody

	event auditlog.Event
}

// requestBody is the request body as the gateway passes it on: at most the route's max_body
// (past it a read fails with *http.MaxBytesError, as from http.MaxBytesReader), and noting
// whether a read failed because the route's body_timeout passed, so that an upstream exchange
// that fails for that reason is answered 408, not 504 as an upstream that is too slow. It
// takes the place of http.MaxBytesReader's allocation; a request without a body has none.
type requestBody struct {
	rc          io.ReadCloser
	limit, left int64 // bytes allowed, and still allowed; negative: no limit
	err         error // sticky, as http.MaxBytesReader's
	// timedOut may be set on the transport's goroutine and read on the handler's.
	timedOut atomic.Bool
}

func (b *requestBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if b.limit < 0 {
		n, err := b.rc.Read(p)
		b.note(err)
		return n, err
	}
	// One byte past what is left tells whether the body goes over.
	if int64(len(p))-1 > b.left {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		n, b.left = int(b.left), 0
		b.err = &http.MaxBytesError{Limit: b.limit}
		return n, b.err
	}
	b.left -= int64(n)
	b.note(err)
	return n, err
}

func (b *requestBody) note(err error) {
	if err == nil {
		return
	}
	b.err = err
	if err != io.EOF && policy.BodyTimedOut(err) {
		b.timedOut.Store(true)
	}
}

// Close implements io.Closer.
func (b *requestBody) Close() error { return b.rc.Close() }

type stagedHeader struct {
	key    string
	values []string
}

// exchangeOf finds the exchange under w, through the writers policies may have wrapped it in.
func exchangeOf(w http.ResponseWriter) *exchange {
	for range 16 {
		switch x := w.(type) {
		case *exchange:
			return x
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil
		}
	}
	return nil
}

// noteDenial records the denial that decided the request, and who was refused.
func (ex *exchange) noteDenial(r *http.Request, d *policy.Denial) {
	if ex.denial == nil {
		ex.denial = d
	}
	ex.notePrincipal(r)
}

// notePrincipal picks up a principal that a policy chained through Enforce attached to the
// request's context, which serve's own loop did not see.
func (ex *exchange) notePrincipal(r *http.Request) {
	if ex.principal == nil {
		if p := tiaki.PrincipalFrom(r.Context()); policy.Authenticated(p) {
			ex.principal = p
		}
	}
}

// toUpstream is called as the request leaves for the upstream: it stages the headers policies
// have set so far (see exchange).
func (ex *exchange) toUpstream(r *http.Request) {
	ex.notePrincipal(r)
	h := ex.ResponseWriter.Header()
	if len(h) == 0 {
		return
	}
	ex.staged = ex.stagedBuf[:0]
	for k, v := range h {
		ex.staged = append(ex.staged, stagedHeader{k, v})
	}
	clear(h)
}

// gatewayOwned are response headers the gateway sets itself (security headers, correlation ID)
// or removes because they name backend products (catalogue HTTP-11).
var gatewayOwned = []string{
	"Strict-Transport-Security", "X-Content-Type-Options", web.CorrelationHeader,
	"Server", "X-Powered-By", "X-Aspnet-Version", "X-Aspnetmvc-Version",
}

// finalHeaders makes the gateway's response headers win: security headers on every response,
// the correlation ID, the policies' staged headers, and no-store once a principal was
// authenticated (catalogue HTTP-13), so a shared cache never serves one consumer's data to
// another.
func (ex *exchange) finalHeaders() {
	h := ex.ResponseWriter.Header()
	for _, k := range gatewayOwned {
		delete(h, k)
	}
	for _, s := range ex.staged {
		h[s.key] = s.values
	}
	h["Strict-Transport-Security"] = hsts
	h["X-Content-Type-Options"] = nosniff
	if id := ex.requestID; id != "" {
		// web.RequestID usually set it already; reuse its slice rather than allocate.
		if v := h[web.CorrelationHeader]; len(v) != 1 || v[0] != id {
			h[web.CorrelationHeader] = []string{id}
		}
	}
	if ex.principal != nil {
		h["Cache-Control"] = noStore
	}
	if ex.cors {
		ex.rt.CORS.Actual(h, ex.origin)
	}
}

// WriteHeader implements http.ResponseWriter. Informational (1xx) responses pass as they are.
func (ex *exchange) WriteHeader(code int) {
	if code >= 200 && ex.status == 0 {
		ex.status = code
		ex.finalHeaders()
	}
	ex.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (ex *exchange) Write(b []byte) (int, error) {
	if ex.status == 0 {
		ex.WriteHeader(http.StatusOK)
	}
	n, err := ex.ResponseWriter.Write(b)
	ex.written += int64(n)
	return n, err
}

// FlushError lets http.ResponseController flush streamed responses (ReverseProxy does, for
// server-sent events) after the gateway's headers are in place.
func (ex *exchange) FlushError() error {
	if ex.status == 0 {
		ex.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(ex.ResponseWriter).Flush()
}

// Flush implements http.Flusher for handlers that assert it directly.
func (ex *exchange) Flush() { _ = ex.FlushError() }

// Hijack hands the connection to a protocol upgrade: ReverseProxy then writes the upstream's
// 101 on the connection itself, so the 101 is recorded here for the audit event and metrics.
func (ex *exchange) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(ex.ResponseWriter).Hijack()
	if err == nil && ex.status == 0 {
		ex.status = http.StatusSwitchingProtocols
	}
	return c, brw, err
}

// Unwrap lets http.ResponseController reach the real writer (deadlines, hijacking).
func (ex *exchange) Unwrap() http.ResponseWriter { return ex.ResponseWriter }

// Labels for requests without a route or a consumer, and for a response never written
// because the handler aborted.
const (
	noLabel      = ""
	abortedLabel = "aborted"
)

// finish records the request in the metrics and the audit log once it has been answered. It
// runs deferred, so an aborted response (ReverseProxy panics with http.ErrAbortHandler when the
// copy of a response body fails) is recorded too; the panic then goes on.
func (g *Gateway) finish(ex *exchange, r *http.Request) {
	v := recover()
	// A body a policy buffered goes back to its pool. Nobody else closes it: ReverseProxy hides
	// Close from the transport, and the server closes only the body it made. A read the
	// transport still has in flight then gets an error, never another request's bytes.
	if b, ok := r.Body.(bufferedBody); ok {
		b.Close()
	}
	if g.metrics != nil || g.audit != nil {
		g.record(ex, r, v != nil)
	}
	if v != nil {
		panic(v)
	}
}

func (g *Gateway) record(ex *exchange, r *http.Request, aborted bool) {
	latency := time.Since(ex.start)
	status := ex.status
	if status == 0 && !aborted {
		status = http.StatusOK // the handler wrote nothing: net/http sends 200
	}
	consumer := noLabel
	if ex.principal != nil {
		consumer = ex.principal.Consumer
	}
	if g.metrics != nil {
		g.metrics.observe(ex.rt, status, consumer, latency)
	}
	if g.audit == nil {
		return
	}
	e := &ex.event
	e.Type = auditlog.TypeRequest
	e.Time = g.now().Add(-latency)
	e.RequestID = ex.requestID
	e.ClientIP = g.clientIP(r)
	if p := ex.principal; p != nil {
		e.Consumer, e.Subject, e.CredentialID, e.Credentials = p.Consumer, p.Subject, p.CredentialID, p.Credentials
	}
	if ex.rt != nil {
		e.Route = ex.rt.Name
	}
	e.Method = r.Method
	e.Path = r.URL.Path
	e.Status = status
	e.Latency = latency
	switch {
	case ex.denial != nil && ex.failed:
		e.Type = auditlog.TypeUpstreamError
		e.Rule, e.Reason = ex.denial.Type, ex.denial.Reason
	case ex.denial != nil:
		e.Type = auditlog.TypeDenial
		e.Rule, e.Reason = ex.denial.Type, ex.denial.Reason
	case aborted:
		e.Type = auditlog.TypeUpstreamError
		e.Reason = "response aborted"
	}
	g.audit.Emit(e)
}

// peerIP is the connection's peer address without its port: the client IP when no proxy is
// trusted.
func peerIP(r *http.Request) string {
	a := r.RemoteAddr
	if i := strings.LastIndexByte(a, ':'); i >= 0 && !strings.Contains(a[i:], "]") {
		a = a[:i]
	}
	return strings.TrimSuffix(strings.TrimPrefix(a, "["), "]")
}
