package web

import (
	"net/http"
	"time"
)

// BodyTimeout bounds the time a request's body takes to arrive on a net/http listener: d from
// when the handler starts to the body's last byte, and so also what the server reads and
// discards of a body the handler left (net/http drains up to 256 KiB before it answers, and
// without a deadline a client that stops sending would hold the connection for ever). A read
// past it fails with an error for which errors.Is(err, os.ErrDeadlineExceeded) holds, and the
// server closes the connection after the response. Requests without a body are untouched.
//
// The deadline is the connection's on HTTP/1.1 and the stream's on HTTP/2
// (http.ResponseController). Once the body is in it no longer matters: net/http lifts a
// connection's read deadline when it starts watching for the client going away, and an HTTP/2
// stream's deadline cuts only a body still arriving.
func BodyTimeout(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		}
		next.ServeHTTP(w, r)
	})
}
