// Package authserver is Tiaki's OAuth 2.1 / OpenID Connect authorization server: the
// authorization endpoint with its login, consent and logout pages, and the token, UserInfo,
// introspection and revocation endpoints, the JWKS and the RFC 8414 / OIDC discovery documents.
//
// The protocol engine is github.com/luikyv/go-oidc, pinned at v0.23.0 and kept entirely behind
// this package: nothing outside it imports the engine, and every engine gap listed in
// shared/engine-notes.md is closed here, at the edge, before the engine sees a request or after
// it has written its answer.
//
// Start reading at server.go (Config, Deps, New, Handler and the route table), then engine.go
// (which engine options Tiaki turns on, and why). Each grant has a file that tells its story
// (grant_client_credentials.go, grant_authorization_code.go, grant_refresh.go), as does client
// authentication with private_key_jwt (client_assertion.go); each endpoint has its own
// (endpoint_*.go). The people-facing flow is login.go, consent.go and sso.go over the pages in
// pages/ (pages.go); claims.go and idtoken.go shape ID tokens and UserInfo. The engine's storage
// duties live in storage_memory.go (short-lived machine grants) and storage_sessions.go (codes,
// refresh tokens and authorization requests, compare-and-set in the session store);
// exchange.go carries what one request's hooks learn; errors.go is the one place protocol
// errors are rendered.
//
// The two hot paths, client credentials and the introspection of JWTs by resource servers,
// are served by Tiaki itself when the request is the common case (issueFast in
// grant_client_credentials.go, introspectFast in endpoint_introspect.go, over jwt.go and
// introspect_cache.go), with the answer the engine would give, byte for byte; anything else
// still goes to the engine. fastpath_test.go holds them to that.
package authserver
