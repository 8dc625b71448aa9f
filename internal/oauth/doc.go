// Package oauth is the wire vocabulary of OAuth 2.0, OAuth 2.1 and OpenID Connect that more than
// one part of Tiaki speaks: the error response (Error), authorization-server metadata (Metadata,
// RFC 8414 and OpenID Connect Discovery), the token response (TokenResponse, RFC 6749 §5.1), the
// introspection response (IntrospectionResponse, RFC 7662 §2.2), and the names of grant types,
// response types and PKCE methods.
//
// The authorization server writes these documents and the probe reads them, so both agree on
// every field name by construction; the probe judges Tiaki with the same types it uses to judge
// anyone else. The package imports the standard library only and holds no behaviour beyond
// small helpers on the types. Start with metadata.go.
package oauth
