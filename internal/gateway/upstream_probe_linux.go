//go:build linux

package gateway

import (
	"crypto/tls"
	"net"
	"syscall"
)

// unusable reports whether an idle upstream connection has been closed by the upstream or has
// unsolicited bytes waiting (a 408, a TLS alert): one non-blocking peek at the socket. A
// request sent on such a connection would fail, and a non-idempotent one could not be retried.
func unusable(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	bad := false
	var b [1]byte
	err = raw.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		bad = rerr != syscall.EAGAIN // data, end of stream or an error: not idle any more
		return true
	})
	return bad || err != nil
}
