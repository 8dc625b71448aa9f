package h1

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// ServeTLS accepts connections on ln, completes their TLS handshakes with conf, and serves
// HTTP/1.1 on s; connections that negotiated HTTP/2 go to h2, a net/http server (its
// Handler and TLSConfig set; it is served a listener of already-handshaken connections).
// handshakeTimeout bounds each handshake. It returns when ln fails or is closed: to stop it
// gracefully, close ln and Shutdown both servers.
func ServeTLS(ln net.Listener, conf *tls.Config, handshakeTimeout time.Duration, s *Server, h2 *http.Server) error {
	handoff := newConnListener(ln.Addr())
	go h2.Serve(handoff) // ends when h2 is shut down or handoff closes
	defer handoff.Close()
	var backoff time.Duration
	for {
		raw, err := ln.Accept()
		if err != nil {
			// As net/http: an accept that may succeed later (too many open files, a connection
			// aborted before it was accepted) is retried after a growing pause, not fatal.
			var ne net.Error
			if errors.As(err, &ne) && ne.Temporary() { //nolint:staticcheck // net/http's own test
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logger().Warn("h1: accept failed; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		go func() {
			tc := tls.Server(raw, conf)
			if handshakeTimeout > 0 {
				raw.SetDeadline(time.Now().Add(handshakeTimeout))
			}
			if err := tc.Handshake(); err != nil {
				// As net/http: a client speaking plain HTTP to this port is told so.
				var re tls.RecordHeaderError
				if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
					io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
				}
				// Routine (a TLS 1.2 client, a scanner): debug, as the other listeners log it.
				s.logger().Debug("h1: TLS handshake error", "remote", raw.RemoteAddr().String(), "err", err)
				raw.Close()
				return
			}
			raw.SetDeadline(time.Time{})
			if tc.ConnectionState().NegotiatedProtocol == "h2" {
				if !handoff.push(tc) {
					tc.Close()
				}
				return
			}
			s.ServeConn(tc)
		}()
	}
}

// looksLikeHTTP reports whether a TLS record header is the start of a plain HTTP request
// (net/http's test).
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

// connListener is a net.Listener of connections handed to it, for the HTTP/2 server.
type connListener struct {
	addr  net.Addr
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) push(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }
