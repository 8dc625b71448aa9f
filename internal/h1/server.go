// Package h1 serves HTTP/1.1 for the gateway listener: a connection loop on net/http's own
// request parser (http.ReadRequest) that hands every request to an ordinary http.Handler with
// an *http.Request and an http.ResponseWriter, so policies and the proxy are unchanged.
//
// It exists for speed. net/http's server spends a goroutine, a read system call and a context
// per request on noticing that a client went away, and more on its response machinery; in a
// spike (bench/experiments/h1loop) the same proxy cost a quarter less CPU per request, with a
// p99 a quarter lower, on this loop. What it gives up: a client that disconnects while its
// request runs is noticed only once the request has run for watchAfter (half a second; see
// watch.go), not at once; and a request's context is its connection's, cancelled when the
// connection ends or the client goes away rather than when the handler returns (and without
// http.ServerContextKey).
//
// ServeTLS is where to start: it takes the gateway's TLS listener, serves HTTP/1.1 here and
// hands connections that negotiated HTTP/2 to a net/http server. server.go holds the
// connection loop; response.go the ResponseWriter and the wire format of responses; watch.go
// the background read that notices a client leaving during a slow request.
package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves HTTP/1.1 connections its caller accepted. The zero value is not usable; set
// Handler at least.
type Server struct {
	Handler http.Handler
	// ReadHeaderTimeout bounds reading a request's header; IdleTimeout the wait for the next
	// request on a kept-alive connection (ReadHeaderTimeout when zero). Zero means no limit.
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// BodyTimeout bounds reading a request's body, from the first read of it (the handler's,
	// or the server's own of what the handler left) to its last byte, unless the handler set
	// a read deadline first (http.ResponseController.SetReadDeadline), as the gateway does for
	// a route's limits.body_timeout. Past it a read of the body fails with an error for which
	// errors.Is(err, os.ErrDeadlineExceeded) holds, and the connection closes after the
	// response. Zero means no limit.
	BodyTimeout time.Duration
	// MaxHeaderBytes bounds the request line and header (http.DefaultMaxHeaderBytes when zero).
	MaxHeaderBytes int
	// Logger receives handler panics; slog.Default() when nil.
	Logger *slog.Logger

	mu       sync.Mutex
	conns    map[*conn]struct{}
	shutdown atomic.Bool
	gone     chan struct{} // signalled whenever a connection ends, for Shutdown
}

// Connection states, moved between with compare-and-swap so Shutdown never closes a
// connection in the middle of a request.
const (
	stateIdle int32 = iota
	stateActive
	stateClosed
)

type conn struct {
	s      *Server
	rwc    net.Conn
	state  atomic.Int32
	cr     connReader       // the connection, and what a background read took from it
	lr     io.LimitedReader // bounds the header while one is read; unbounded otherwise
	br     *bufio.Reader
	bw     *bufio.Writer
	ctx    context.Context
	cancel context.CancelFunc // ends ctx: when the connection ends, or the client went away
	body   *requestBody       // the running request's, for the watch (guarded by cr.mu's ordering)
	tls    *tls.ConnectionState
	addr   string
	// lastPost is set after a POST, whose body some clients follow with a stray CRLF.
	lastPost bool
	// readDeadline is set while the connection may have a read deadline, which the loop
	// clears when it sets none itself; writeDeadline when a handler set a write deadline
	// (ResponseController), which ends with its request.
	readDeadline  bool
	writeDeadline bool
	// linger is set when the connection closes with a request body left unread.
	linger bool
}

// noLimit is the header reader's limit while a body or nothing is being read.
const noLimit = 1<<63 - 1

// maxDrain is how much of an unread request body is read and discarded after the handler, to
// keep the connection; past it the connection is closed (net/http's figure).
const maxDrain = 256 << 10

// lingerDelay is how long a connection closed with a request body unread goes on being read
// from, after its write side is closed, before it is closed (net/http's rstAvoidanceDelay).
const lingerDelay = 500 * time.Millisecond

// ServeConn serves HTTP/1.1 requests on c until the client closes it, an error, or Shutdown.
// It closes c when it returns, unless a handler hijacked it. A *tls.Conn must have finished
// its handshake.
func (s *Server) ServeConn(c net.Conn) {
	cn := &conn{s: s, rwc: c, addr: c.RemoteAddr().String()}
	cn.cr.c = cn
	cn.lr.R, cn.lr.N = &cn.cr, noLimit
	cn.br = bufio.NewReaderSize(&cn.lr, 4<<10)
	cn.bw = bufio.NewWriterSize(c, 4<<10)
	if tc, ok := c.(*tls.Conn); ok {
		cs := tc.ConnectionState()
		cn.tls = &cs
	}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), http.LocalAddrContextKey, c.LocalAddr()))
	cn.ctx, cn.cancel = ctx, cancel
	if !s.track(cn, true) {
		c.Close()
		cancel()
		return
	}
	hijacked := cn.serve()
	cancel()
	if !hijacked {
		if cn.linger {
			cn.lingerClose()
		}
		c.Close()
	}
	s.track(cn, false)
}

// track adds or removes a connection; it refuses new ones once Shutdown has begun.
func (s *Server) track(c *conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		s.conns = map[*conn]struct{}{}
		s.gone = make(chan struct{}, 1)
	}
	if !add {
		delete(s.conns, c)
		select {
		case s.gone <- struct{}{}:
		default:
		}
		return true
	}
	if s.shutdown.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

// serve is the connection loop. It reports whether a handler hijacked the connection.
func (c *conn) serve() (hijacked bool) {
	s := c.s
	maxHeader := int64(s.MaxHeaderBytes)
	if maxHeader <= 0 {
		maxHeader = http.DefaultMaxHeaderBytes
	}
	idle := s.IdleTimeout
	if idle == 0 {
		idle = s.ReadHeaderTimeout
	}
	for first := true; ; first = false {
		// Wait for the request's first byte under the idle timeout (the header timeout for a
		// connection's first request, as net/http does), then read the header under its own.
		wait := idle
		if first {
			wait = s.ReadHeaderTimeout
		}
		switch {
		case wait > 0:
			c.rwc.SetReadDeadline(time.Now().Add(wait))
			c.readDeadline = true
		case c.readDeadline:
			c.rwc.SetReadDeadline(time.Time{})
			c.readDeadline = false
		}
		if c.lastPost {
			// Some clients send a stray CRLF after a POST body (net/http skips it too).
			for b, err := c.br.Peek(1); err == nil && (b[0] == '\r' || b[0] == '\n'); b, err = c.br.Peek(1) {
				c.br.Discard(1)
			}
		}
		if _, err := c.br.Peek(1); err != nil {
			return false
		}
		if !c.state.CompareAndSwap(stateIdle, stateActive) {
			return false // Shutdown closed it
		}
		if d := s.ReadHeaderTimeout; d > 0 && !first {
			c.rwc.SetReadDeadline(time.Now().Add(d))
			c.readDeadline = true
		}
		// The limit counts what the buffer has already read ahead, as net/http's does.
		c.lr.N = maxHeader + 4096 - int64(c.br.Buffered())
		// A target in any form but origin-form ("/path") has its header captured as it is
		// read: http.ReadRequest replaces the Host header with the target's authority, and
		// net/http's server checks the header (see hostFields).
		var raw *capture
		if !c.originForm() {
			raw = c.capture()
		}
		req, err := http.ReadRequest(c.br)
		headerTooBig := c.lr.N <= 0
		c.lr.N = noLimit
		var hosts []string
		if raw != nil {
			c.lr.R = &c.cr
			if err == nil {
				hosts, err = hostFields(raw.buf)
			}
		}
		if err != nil {
			c.badRequest(err, headerTooBig)
			return false
		}
		// The header's deadline stays on the connection while the handler runs: nothing reads
		// the connection until the body is read, which first puts the body's deadline in its
		// place (requestBody.armDeadline), or the watch starts, which lifts it (watch.go).
		if req.Body != http.NoBody {
			c.readDeadline = true // the body's deadline may be set
		}
		if code, msg := invalidRequest(req, hosts); code != 0 {
			c.writeError(code, msg)
			return false
		}
		h := s.Handler
		if req.Method == http.MethodOptions && req.RequestURI == "*" {
			// As net/http's server (unless DisableGeneralOptionsHandler): "OPTIONS *" asks
			// about the server, not a resource (RFC 9110 §9.3.7), and is answered here.
			h = globalOptions
		}
		c.lastPost = req.Method == http.MethodPost
		keep, hijacked := c.serveRequest(req, h)
		if hijacked {
			return true
		}
		if c.writeDeadline {
			// A handler's deadlines end with its request, as with net/http (a read deadline
			// is replaced or cleared when the loop begins again).
			c.writeDeadline = false
			c.rwc.SetWriteDeadline(time.Time{})
		}
		if !keep || s.shutdown.Load() || !c.state.CompareAndSwap(stateActive, stateIdle) {
			return false
		}
	}
}

// serveRequest runs the handler for req and finishes its response. keep is false when the
// connection must close after it.
func (c *conn) serveRequest(req *http.Request, h http.Handler) (keep, hijacked bool) {
	req.RemoteAddr = c.addr
	req.TLS = c.tls
	req = req.WithContext(c.ctx)
	w := newResponse(c, req)
	if req.Header.Get("Expect") != "" {
		// Any expectation but 100-continue is refused, with a body or without, as by net/http.
		if !expectsContinue(req) {
			w.closeAfter = true
			w.WriteHeader(http.StatusExpectationFailed)
			w.finish()
			return false, false
		}
		// RFC 9110 §15.2: no 1xx to an HTTP/1.0 client.
		w.body.expect = w.body.rc != nil && req.ProtoAtLeast(1, 1)
	}
	c.body = &w.body
	c.cr.arm()
	ok := c.runHandler(h, w, req)
	c.cr.disarm()
	c.body = nil
	if w.hijacked {
		return false, true
	}
	w.body.Close() // reads from a Transport still holding it fail; the drains read beneath it
	if !ok {
		return false, false
	}
	if err := w.finish(); err != nil {
		return false, false
	}
	if w.closeAfter {
		return false, false
	}
	return c.drain(&w.body), false
}

// runHandler calls the handler, turning a panic into a closed connection (and a log line
// unless it is http.ErrAbortHandler), as net/http does. It reports whether the handler
// returned normally.
func (c *conn) runHandler(h http.Handler, w *response, req *http.Request) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			ok = false
			if v != http.ErrAbortHandler {
				c.s.logger().Error("h1: handler panic", "remote", c.addr, "panic", v, "stack", string(debug.Stack()))
			}
			if !w.hijacked {
				w.abort()
			}
		}
	}()
	h.ServeHTTP(w, req)
	return true
}

// drain reads what the handler left of the request body, so the next request can be read
// from where it starts, and reports whether it did. As net/http does, it gives up on a body
// the client was told to wait for (100-continue not sent), one with more than maxDrain left
// (before reading any of it, when its length is declared) and one that fails to read; the
// connection closes instead.
func (c *conn) drain(b *requestBody) bool {
	if b.rc == nil {
		return true
	}
	waiting, eof, left := b.state()
	switch {
	case waiting:
		return false
	case eof:
		return true
	case left > maxDrain:
		c.linger = true
		return false
	}
	b.armDeadline()
	n, err := io.CopyN(io.Discard, b.rc, maxDrain+1)
	if n > maxDrain || errors.Is(err, os.ErrDeadlineExceeded) {
		// A body past its deadline may yet arrive: linger, so that it does not reset the
		// connection before the client has read the response.
		c.linger = true
		return false
	}
	return err == io.EOF
}

// lingerClose half-closes a connection whose client may still be sending a body the server
// did not read, and reads and discards for a moment before it is closed: closing a socket
// with unread data resets the connection, and the reset can destroy the response before the
// client has read it (RFC 9112 §9.6; net/http's closeWriteAndWait).
func (c *conn) lingerClose() {
	if cw, ok := c.rwc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.rwc.SetReadDeadline(time.Now().Add(lingerDelay))
	io.Copy(io.Discard, c.rwc) // until the client closes, or the delay
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// badRequest answers a request that could not be read, as net/http's server does: 431 for a
// header past the limit, 501 for a transfer coding it does not know, 400 otherwise; nothing
// for a connection that simply closed or timed out.
func (c *conn) badRequest(err error, headerTooBig bool) {
	switch {
	case headerTooBig:
		c.writeError(http.StatusRequestHeaderFieldsTooLarge, "")
		c.linger = true // the client may still be sending it
	case clientGone(err):
	case isUnsupportedTE(err):
		c.writeError(http.StatusNotImplemented, "Unsupported transfer encoding")
	default:
		c.writeError(http.StatusBadRequest, "")
	}
}

// clientGone reports whether a request could not be read because the connection closed,
// failed or timed out, which net/http's server answers with nothing (its
// isCommonNetReadError). Other errors, an unparsable target among them (*url.Error, which is
// a net.Error too), are the client's and get 400.
func clientGone(err error) bool {
	if err == io.EOF {
		return true
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return true
	}
	oe, ok := err.(*net.OpError)
	return ok && oe.Op == "read"
}

// writeError writes a plain-text error response, with net/http's body, and leaves the
// connection to be closed.
func (c *conn) writeError(code int, msg string) {
	text := itoa(code) + " " + http.StatusText(code)
	if msg != "" {
		text += ": " + msg
	}
	c.rwc.SetWriteDeadline(time.Now().Add(time.Second))
	c.bw.WriteString("HTTP/1.1 " + itoa(code) + " " + http.StatusText(code) +
		"\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: " + itoa(len(text)) + "\r\n\r\n" + text)
	c.bw.Flush()
}

// Shutdown stops the server gracefully: no new connections, idle ones closed now, busy ones
// closed after their current response. It waits for them all until ctx ends, then closes
// what is left and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown.Store(true)
	if s.gone == nil {
		s.gone = make(chan struct{}, 1)
	}
	s.mu.Unlock()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		s.mu.Lock()
		n := len(s.conns)
		for c := range s.conns {
			if c.state.CompareAndSwap(stateIdle, stateClosed) {
				c.rwc.Close()
			}
		}
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		case <-s.gone:
		case <-t.C:
		}
	}
}

// Close closes every connection at once.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutdown.Store(true)
	for c := range s.conns {
		c.state.Store(stateClosed)
		c.rwc.Close()
	}
	return nil
}
