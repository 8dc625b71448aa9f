package web

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"net/http"
)

// RequestIDHeader carries the request ID. Part C asks for non-X- names (RFC 6648): the caller may
// send Request-Transaction-Id, and the response always carries Response-Correlation-Id.
const (
	RequestIDHeader   = "Request-Transaction-Id"
	CorrelationHeader = "Response-Correlation-Id"
)

type requestIDKey struct{}

// WithRequestID returns a context carrying id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom returns the request ID carried by ctx, or "".
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewRequestID returns a random 128-bit ID, 26 characters of Crockford-style base32.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms (Go 1.24+).
	return idEncoding.EncodeToString(b[:])
}

// acceptableID reports whether a caller-supplied ID is safe to reuse: short, printable ASCII
// without spaces, so it cannot forge log lines or headers.
func acceptableID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// RequestID gives every request an ID: the caller's Request-Transaction-Id when it is acceptable,
// otherwise a new one. The ID goes into the context (for logs and upstream headers) and back to the
// caller in Response-Correlation-Id (Part C; catalogue LOG-02, HTTP-08).
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !acceptableID(id) {
			id = NewRequestID()
		}
		w.Header().Set(CorrelationHeader, id)
		next.ServeHTTP(w, r.WithContext(WithRequestID(r.Context(), id)))
	})
}
