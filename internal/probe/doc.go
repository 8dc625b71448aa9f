// Package probe is `tiaki audit`: it judges a live API and its authorization server from the
// outside against the requirement catalogue of package standard, and reports a verdict (PASS,
// FAIL, WARN or SKIP, with the reason) per check, each citing its requirement IDs and DocRef
// links.
//
// Start with Run in probe.go: it builds a session (session.go) that paces every request and TLS
// handshake under one global rate limit and one request budget, then runs the checks listed in
// checks.go in order. Each check is a small function tagged with the requirement IDs it tests,
// in a file per area (check_tls.go, check_auth.go, check_oauth.go, check_http.go,
// check_openapi.go). Reports are written as text, JSON or JUnit (report*.go).
//
// The probe imports only the standard library, the wire vocabulary of internal/oauth, the
// catalogue of internal/standard and the root package's Secret: it judges Tiaki exactly as it
// judges anyone else. It never sends a credential it was given over plain HTTP, in a URL, or to
// a server whose certificate did not verify, never sends a destructive method unless allowed,
// and never prints a secret.
package probe
