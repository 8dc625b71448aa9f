// Package web is the HTTP plumbing Tiaki's front ends share: request IDs, the access-log
// middleware, security headers, bounded body reading and the trusted client IP. Start with
// requestid.go.
package web
