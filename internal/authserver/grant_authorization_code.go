package authserver

// The authorization code grant with PKCE (RFC 6749 §4.1, RFC 7636, OAuth 2.1 §4.1), as the
// engine runs it and Tiaki completes it:
//
//  1. serveAuthorize (endpoint_authorize.go) checks the client and the exact redirect URI
//     before anything is redirected (RFC 9700 §2.1: an unregistered one gets an error page),
//     then the request itself: response_type code only (implicit is unsupported_response_type),
//     a code_challenge with method S256 for every client (OAUTH-06, RFC 9700 §2.1.1);
//  2. the engine creates the authorization session, and the login policy (login.go) signs the
//     person in, asks for consent (consent.go) and records what was granted; the session is
//     bound to the browser that started it and refused once finished;
//  3. the engine redirects with code, state and iss (RFC 9207); the code is 256 random bits,
//     stored as its SHA-256, valid Config.CodeTTL (60 s by default);
//  4. at the token endpoint the engine checks the client, the redirect URI and the
//     code_verifier, and marks the code consumed with a compare-and-set (storage_sessions.go):
//     a second redemption, even a concurrent one, is invalid_grant and revokes the grant, so
//     the tokens the first redemption issued stop working (RFC 6749 §4.1.2);
//  5. the response carries the access token, a refresh token when grant_refresh.go allows,
//     and an ID token with nonce, auth_time, acr, amr (claims.go) and at_hash (idtoken.go).
