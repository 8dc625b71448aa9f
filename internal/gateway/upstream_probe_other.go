//go:build !linux

package gateway

import "net"

// socketProbe cannot peek at a socket here. A request on a connection the upstream closed is
// retried when that is safe (see retryable); bytes an upstream sends unasked on an idle
// connection are seen only when they arrived with the previous response.
type socketProbe struct{}

func newSocketProbe(net.Conn) *socketProbe { return nil }

func (*socketProbe) unusable() bool { return false }
