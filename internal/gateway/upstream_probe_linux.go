//go:build linux

package gateway

import (
	"crypto/tls"
	"net"
	"syscall"
)

// socketProbe looks at an idle upstream connection's socket without reading from it: one
// non-blocking MSG_PEEK. The raw connection and the callback are made once per connection, so
// a probe allocates nothing.
type socketProbe struct {
	raw  syscall.RawConn
	peek func(fd uintptr) bool
	busy bool // the last peek found data, end of stream or an error
}

func newSocketProbe(c net.Conn) *socketProbe {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	p := &socketProbe{raw: raw}
	var b [1]byte
	p.peek = func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		p.busy = err != syscall.EAGAIN
		return true // never wait for the socket to become readable
	}
	return p
}

// unusable reports whether the upstream has written to the connection while it sat idle:
// bytes nobody asked for (a 408, a stray response, a TLS alert), or the end of the stream.
// A request sent on it would read those bytes as its response, or fail.
func (p *socketProbe) unusable() bool {
	if p == nil {
		return false
	}
	if err := p.raw.Read(p.peek); err != nil {
		return true
	}
	return p.busy
}
