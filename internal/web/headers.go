package web

import "net/http"

// SecurityHeaders sets the response headers every Tiaki page and API response carries: HSTS
// (the listeners are HTTPS-only), nosniff, and a referrer policy that never leaks URLs with codes
// or state to third parties. Handlers set Cache-Control themselves where it matters (tokens:
// no-store, RFC 6749 §5.1).
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Strict-Transport-Security", "max-age=31536000")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}
