//go:build !linux

package gateway

import "net"

// unusable cannot peek at a socket here; a failed request on a stale connection is retried
// when that is safe (see retryable).
func unusable(net.Conn) bool { return false }
