//go:build linux

package gateway

import (
	"crypto/tls"
	"net"
	"net/http"
	"syscall"
)

// socketProbe sends requests on one upstream connection, checking first that nothing has
// arrived on it since the last response (see upstreamConn.send), without a system call of its
// own.
//
// A request is written and its response awaited in one RawConn.Read. Its callback first peeks
// at the socket (MSG_PEEK, non-blocking): anything there, or the end of the stream, and the
// connection is stale. Otherwise the callback writes the request and returns false, and Read
// waits for the socket to become readable. That peek takes the place of the read that would
// otherwise follow the write and find nothing (the upstream has not answered yet): the same
// number of system calls as a plain write and read. Anything arriving after the peek, even
// before the write, wakes the wait; the response is then read as usual.
type socketProbe struct {
	raw  syscall.RawConn
	step func(fd uintptr) bool // made once per connection, so a request allocates nothing

	c     *upstreamConn
	req   *http.Request
	wrote bool  // step has peeked and written
	err   error // stale, or the write failed
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
	p.step = func(fd uintptr) bool {
		if p.wrote {
			return true // readable: the response has begun (or the connection failed)
		}
		p.wrote = true
		_, _, errno := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if errno != syscall.EAGAIN { // data, end of stream or an error
			p.err = &early{err: errStale}
			return true
		}
		if err := p.c.write(p.req); err != nil {
			p.err = err
			return true
		}
		return false
	}
	return p
}

// send writes req on c unless the connection is stale, and waits for the response to begin.
func (p *socketProbe) send(c *upstreamConn, req *http.Request) error {
	p.c, p.req, p.wrote, p.err = c, req, false, nil
	err := p.raw.Read(p.step)
	p.c, p.req = nil, nil
	if p.err != nil {
		return p.err
	}
	if err != nil { // the deadline passed or the context ended, before or after the write
		return &early{err: err, written: c.out.n > 0}
	}
	return nil
}
