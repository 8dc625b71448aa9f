// Package authserver is Tiaki's OAuth 2.1 / OpenID Connect authorization server: the token,
// introspection and revocation endpoints, the JWKS and the RFC 8414 / OIDC discovery documents.
//
// The protocol engine is github.com/luikyv/go-oidc, pinned at v0.23.0 and kept entirely behind
// this package: nothing outside it imports the engine, and every engine gap listed in
// shared/engine-notes.md is closed here, at the edge, before the engine sees a request or after
// it has written its answer.
//
// Start reading at server.go (Config, Deps, New, Handler and the route table), then engine.go
// (which engine options Tiaki turns on, and why). Each endpoint and grant has its own file:
// endpoint_token.go, endpoint_introspect.go, endpoint_revoke.go, endpoint_discovery.go,
// endpoint_jwks.go and grant_client_credentials.go. The engine's storage duties live in
// storage_*.go; errors.go is the one place protocol errors are rendered.
package authserver
