package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"time"
)

// syncTransport is the upstream RoundTripper for the common request: HTTP/1.1, no protocol
// upgrade, and a body that is already in memory (or none). It writes the request and reads the
// response on the calling goroutine over a pooled connection, with net/http's own wire code
// (Request.Write, ReadResponse). http.Transport hands every request to two goroutines per
// connection (a writer and a reader) and back; on a gateway pinned to one CPU those hand-offs
// and their allocations cost more than the proxying itself (gateway-notes.md measured a
// synchronous client at about 1.3× the throughput).
//
// Everything else goes to the fallback http.Transport: upgrades (it hands back the raw
// connection), and bodies still streaming from the client, which need writing and reading at
// once (an upstream may answer before it has read the whole body).
type syncTransport struct {
	fallback *http.Transport
	tlsConf  *tls.Config // for https upstreams: TLS 1.3, the route's roots and client certificate if set
	dialer   net.Dialer

	mu   sync.Mutex
	idle map[connKey][]*upstreamConn // most recently used last
}

// connKey names an upstream: connections to it are interchangeable. The URL's host is the
// key as it stands (a port or not), so finding a pooled connection allocates nothing.
type connKey struct{ scheme, host string }

// upstreamConn is one keep-alive connection to an upstream.
type upstreamConn struct {
	key      connKey
	conn     net.Conn
	limit    limitedReader // bounds the response header (maxResponseHeader)
	out      countingWriter
	br       *bufio.Reader
	bw       *bufio.Writer
	idleFrom time.Time
	reused   bool
	tls      bool
	probe    *socketProbe // nil where sockets cannot be peeked at
}

// maxInformational bounds the 1xx responses read before the final one, as http.Transport does.
const maxInformational = 5

func newSyncTransport(tlsConf *tls.Config) *syncTransport {
	fallback := newTransport(tlsConf)
	return &syncTransport{
		fallback: fallback,
		tlsConf:  fallback.TLSClientConfig,
		dialer:   net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second},
		idle:     map[connKey][]*upstreamConn{},
	}
}

// CloseIdleConnections closes every idle connection, the fallback's too.
func (t *syncTransport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[connKey][]*upstreamConn{}
	t.mu.Unlock()
	for _, conns := range idle {
		for _, c := range conns {
			c.conn.Close()
		}
	}
	t.fallback.CloseIdleConnections()
}

// RoundTrip implements http.RoundTripper. 1xx responses other than 100 go to the request's
// httptrace.ClientTrace, as http.Transport delivers them (ReverseProxy forwards them so).
func (t *syncTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !synchronous(req) {
		return t.fallback.RoundTrip(req)
	}
	var informational func(int, http.Header) error
	if trace := httptrace.ContextClientTrace(req.Context()); trace != nil && trace.Got1xxResponse != nil {
		informational = func(code int, h http.Header) error { return trace.Got1xxResponse(code, textproto.MIMEHeader(h)) }
	}
	deadline, _ := req.Context().Deadline()
	return t.send(req, deadline, informational)
}

// send is RoundTrip on the synchronous path, with 1xx responses other than 100 given to
// informational (if not nil). The exchange, the response body included, must be over by
// deadline (none if zero); cancelling the request's context ends it early.
func (t *syncTransport) send(req *http.Request, deadline time.Time, informational func(code int, h http.Header) error) (*http.Response, error) {
	key := connKey{req.URL.Scheme, req.URL.Host}
	for attempt := 0; ; attempt++ {
		c, err := t.conn(req.Context(), deadline, key, req.URL)
		if err != nil {
			return nil, err
		}
		resp, err := t.exchange(c, req, deadline, informational)
		if err == nil {
			return resp, nil
		}
		c.conn.Close()
		if errors.Is(err, errStale) && c.reused && req.Context().Err() == nil {
			// Nothing was sent: take the next connection as if this one had not been pooled.
			// The pool only shrinks meanwhile, so this ends with a dialled connection.
			attempt--
			continue
		}
		if attempt > 0 || !c.reused || !retryable(req, err) || req.Context().Err() != nil {
			if e, ok := err.(*early); ok {
				err = e.err
			}
			return nil, err
		}
		if req.GetBody != nil {
			if req.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
	}
}

// retryable reports whether a request that failed on a kept-alive connection may be sent
// again on a new one, by http.Transport's rule: when none of it reached the upstream, or when
// the upstream sent nothing back and the request is idempotent (RFC 9110 §9.2.2), since the
// upstream most likely closed the connection while it sat idle.
func retryable(req *http.Request, err error) bool {
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return false // an upstream too slow is not a connection gone stale
	}
	if errors.Is(err, errNothingWritten) {
		return true
	}
	if !errors.Is(err, errNothingRead) {
		return false
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	_, key := req.Header["Idempotency-Key"]
	_, xkey := req.Header["X-Idempotency-Key"]
	return key || xkey
}

// synchronous reports whether req can take the synchronous path.
func synchronous(req *http.Request) bool {
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return false
	}
	if _, ok := req.Header["Upgrade"]; ok {
		return false
	}
	if req.Trailer != nil {
		return false
	}
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// Failures before the upstream could have acted on the request: nothing of it was written, or
// nothing of a response was read.
var (
	errNothingWritten = errors.New("gateway: upstream connection failed before the request was sent")
	errNothingRead    = errors.New("gateway: upstream connection failed before a response")
)

// errStale is a pooled connection found, before anything was written on it, to be closed by
// the upstream or to hold bytes nobody asked for (see upstreamConn.send).
var errStale = errors.New("gateway: pooled upstream connection closed, or holding bytes nobody asked for")

// early is a failure before the upstream sent a byte of response; RoundTrip returns the error
// it holds.
type early struct {
	err     error
	written bool
}

func (e *early) Error() string { return e.err.Error() }
func (e *early) Unwrap() error { return e.err }
func (e *early) Is(target error) bool {
	return target == errNothingRead || target == errNothingWritten && !e.written
}

// exchange writes req on c and reads the response's status and headers. The body is read by
// the caller through the returned response; the connection goes back to the pool once the
// body has been read to its end.
func (t *syncTransport) exchange(c *upstreamConn, req *http.Request, deadline time.Time, informational func(int, http.Header) error) (*http.Response, error) {
	ctx := req.Context()
	// The deadline and the context's cancellation become the connection's: a read or write
	// then fails at once, wherever it is. Without a deadline, the wait for the response header
	// is still bounded by MaxTimeout (http.Transport's ResponseHeaderTimeout); the body is not.
	bounded := !deadline.IsZero()
	headerDeadline := deadline
	if !bounded || time.Until(deadline) > MaxTimeout {
		headerDeadline = time.Now().Add(MaxTimeout)
	}
	c.conn.SetDeadline(headerDeadline)
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*http.Response, error) {
		stop()
		return nil, err
	}

	c.out.n = 0
	if err := c.send(req); err != nil {
		return fail(err)
	}
	c.limit.n = maxResponseHeader
	var resp *http.Response
	for n1xx := 0; ; n1xx++ {
		var err error
		if _, err = c.br.Peek(1); err != nil {
			if n1xx == 0 {
				return fail(&early{err: err, written: true})
			}
			return fail(err)
		}
		if resp, err = http.ReadResponse(c.br, req); err != nil {
			return fail(err)
		}
		code := resp.StatusCode
		if code < 100 || code >= 200 || code == http.StatusSwitchingProtocols {
			break
		}
		if n1xx == maxInformational {
			return fail(errors.New("gateway: too many 1xx responses from the upstream"))
		}
		// 100 Continue was the server's to send the client; others (103 Early Hints) go on.
		if code != http.StatusContinue && informational != nil {
			if err := informational(code, resp.Header); err != nil {
				return fail(err)
			}
		}
	}
	c.limit.n = -1
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// Not asked for (synchronous excludes upgrades): nothing to read or reuse.
		return fail(errors.New("gateway: unrequested protocol switch from the upstream"))
	}
	if !bounded {
		c.conn.SetDeadline(time.Time{})
	} else if !headerDeadline.Equal(deadline) {
		c.conn.SetDeadline(deadline)
	}
	keep := !resp.Close && !req.Close
	resp.Body = &upstreamBody{ReadCloser: resp.Body, t: t, c: c, stop: stop, keep: keep}
	return resp, nil
}

// upstreamBody is a response body on a pooled connection: read to its end, it returns the
// connection to the pool; closed early, it closes the connection.
type upstreamBody struct {
	io.ReadCloser
	t    *syncTransport
	c    *upstreamConn
	stop func() bool
	keep bool
	done bool
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.finish(err == io.EOF)
	}
	return n, err
}

func (b *upstreamBody) Close() error {
	if !b.done {
		b.finish(false)
	}
	return nil
}

// finish gives the connection back (complete is true when the body was read to its end) or
// closes it.
func (b *upstreamBody) finish(complete bool) {
	b.done = true
	cancelled := !b.stop() // the context ended and may have set a past deadline
	if complete && b.keep && !cancelled && b.c.br.Buffered() == 0 {
		b.t.put(b.c)
		return
	}
	b.c.conn.Close()
}

// conn returns an idle connection to the upstream, or dials one.
func (t *syncTransport) conn(ctx context.Context, deadline time.Time, key connKey, u *url.URL) (*upstreamConn, error) {
	now := time.Now()
	t.mu.Lock()
	for conns := t.idle[key]; len(conns) > 0; conns = t.idle[key] {
		c := conns[len(conns)-1]
		conns[len(conns)-1] = nil
		t.idle[key] = conns[:len(conns)-1]
		idle := now.Sub(c.idleFrom)
		if idle >= idleConnTimeout {
			c.conn.Close()
			continue
		}
		t.mu.Unlock()
		if c.held() {
			c.conn.Close()
			t.mu.Lock()
			continue
		}
		c.reused = true
		return c, nil
	}
	t.mu.Unlock()
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	return t.dial(ctx, key, u)
}

func (t *syncTransport) dial(ctx context.Context, key connKey, u *url.URL) (*upstreamConn, error) {
	addr := canonicalAddr(u)
	conn, err := t.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "https" {
		conf := t.tlsConf.Clone()
		if conf.ServerName == "" {
			conf.ServerName = u.Hostname()
		}
		conf.NextProtos = []string{"http/1.1"}
		tc := tls.Client(conn, conf)
		hctx, cancel := context.WithTimeout(ctx, tlsHandshakeTimeout)
		err = tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			conn.Close()
			return nil, err
		}
		conn = tc
	}
	c := &upstreamConn{key: key, conn: conn, tls: u.Scheme == "https", probe: newSocketProbe(conn)}
	c.limit = limitedReader{r: conn, n: -1}
	c.br = bufio.NewReaderSize(&c.limit, 4<<10)
	c.out.w = conn
	c.bw = bufio.NewWriterSize(&c.out, 4<<10)
	return c, nil
}

// send writes req on the connection. Bytes an upstream sends on a connection while it sits in
// the pool (a stray second response, a late 408, a TLS alert) would otherwise be read as the
// next request's response, another client's answer (http.Transport drops such a connection:
// "Unsolicited response received on idle HTTP channel"); so would an upstream's close go
// unnoticed until a request had been sent, and a POST could then not be retried. On Linux,
// socketProbe.send checks the socket first, at no cost in system calls, and finding anything
// fails with errStale before a byte is written; elsewhere stray bytes are seen only when they
// came with the previous response (finish).
//
// A connection just dialled is not checked: nothing can be pending on it but what its TLS
// handshake left (session tickets), which the response's read consumes. Bytes still in flight
// when the request goes out cannot be told from its response; http.Transport has the same
// window.
func (c *upstreamConn) send(req *http.Request) error {
	if c.probe != nil && c.reused {
		return c.probe.send(c, req)
	}
	return c.write(req)
}

// write writes req and flushes it.
func (c *upstreamConn) write(req *http.Request) error {
	if err := req.Write(c.bw); err != nil {
		return &early{err: err, written: c.out.n > 0}
	}
	if err := c.bw.Flush(); err != nil {
		return &early{err: err, written: c.out.n > 0}
	}
	return nil
}

// held reports whether crypto/tls holds bytes of a TLS connection that arrived after the
// response it last carried: records read from the socket together with that response's, which
// neither finish's look at the buffer nor a peek at the socket can see. No system call: a read
// deadline in the past makes the read fail at once rather than wait on the socket, and
// crypto/tls treats that timeout as temporary. Post-handshake messages (session tickets) are
// consumed on the way and are not application data.
func (c *upstreamConn) held() bool {
	if !c.tls {
		return false
	}
	c.conn.SetReadDeadline(time.Unix(1, 0))
	_, err := c.br.Peek(1)
	c.conn.SetReadDeadline(time.Time{})
	ne, ok := errors.AsType[net.Error](err)
	return !ok || !ne.Timeout() // data, end of stream or a failure
}

// put returns a connection to the idle pool, closing the oldest past maxIdlePerHost.
func (t *syncTransport) put(c *upstreamConn) {
	c.conn.SetDeadline(time.Time{})
	c.idleFrom = time.Now()
	t.mu.Lock()
	conns := append(t.idle[c.key], c)
	var evict *upstreamConn
	if len(conns) > maxIdlePerHost {
		evict = conns[0]
		conns = append(conns[:0], conns[1:]...)
	}
	t.idle[c.key] = conns
	t.mu.Unlock()
	if evict != nil {
		evict.conn.Close()
	}
}

// countingWriter counts the bytes written through it: whether any of a request reached the
// connection decides whether it may be retried.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// limitedReader fails reads once n bytes have been read, while n >= 0: it bounds the
// response header the way http.Transport's MaxResponseHeaderBytes does.
type limitedReader struct {
	r io.Reader
	n int64 // negative: no limit
}

var errHeaderTooLarge = errors.New("gateway: upstream response header too large")

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return l.r.Read(p)
	}
	if l.n == 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// canonicalAddr is u's host with the scheme's default port when it has none.
func canonicalAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(u.Hostname(), "["), "]"), port)
}
