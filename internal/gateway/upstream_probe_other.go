//go:build !linux

package gateway

import (
	"net"
	"net/http"
)

// socketProbe cannot peek at a socket here: bytes an upstream sends on an idle connection are
// seen only when they came with the previous response, and a request on a connection the
// upstream closed is retried when that is safe (see retryable).
type socketProbe struct{}

func newSocketProbe(net.Conn) *socketProbe { return nil }

func (*socketProbe) send(c *upstreamConn, req *http.Request) error { return c.write(req) }
