package probe

import "context"

// Check is one conformance check: a small function and the requirement IDs it tests.
type Check struct {
	Name  string // stable identifier, used in JSON and JUnit reports and in docs/audit.md
	Title string // what a PASS means, in a few words
	Area  Area
	IDs   []string // catalogue IDs (package standard); the first is the one a reader should open first
	// Sends says in a few words what the check puts on the wire, for docs/audit.md.
	Sends string
	run   func(ctx context.Context, s *session) []result
}

// result is one verdict of a check, before the session attaches the requirements.
type result struct {
	subject string
	verdict Verdict
	reason  string
}

func pass(subject, format string, a ...any) result {
	return result{subject, Pass, sprintf(format, a...)}
}
func fail(subject, format string, a ...any) result {
	return result{subject, Fail, sprintf(format, a...)}
}
func warn(subject, format string, a ...any) result {
	return result{subject, Warn, sprintf(format, a...)}
}
func skip(subject, format string, a ...any) result {
	return result{subject, Skip, sprintf(format, a...)}
}

// Checks returns every check in the order a run performs them. The order matters in two places:
// checks that read what earlier checks fetched find it cached, and the throttling burst comes
// last so that a 429 it provokes cannot spoil another check.
func Checks() []Check {
	return []Check{
		// TLS, per origin (the API's and the issuer's).
		{Name: "tls13", Title: "TLS 1.3 accepted", Area: AreaTLS, IDs: []string{"TLS-01"},
			Sends: "a TLS 1.3-only handshake", run: perOrigin(checkTLS13)},
		{Name: "tls-legacy", Title: "TLS 1.0, 1.1 and 1.2 refused", Area: AreaTLS, IDs: []string{"TLS-01", "TLS-02"},
			Sends: "handshakes capped at TLS 1.2, 1.1 and 1.0", run: perOrigin(checkTLSLegacy)},
		{Name: "tls-key-exchange", Title: "Key exchange with forward secrecy only", Area: AreaTLS, IDs: []string{"TLS-04", "TTM-03"},
			Sends: "a TLS 1.3 handshake per group; a TLS 1.2 offer of RSA key exchange only", run: perOrigin(checkKeyExchange)},
		{Name: "tls-certificate", Title: "Certificate chain valid and in date", Area: AreaTLS, IDs: []string{"TLS-03"},
			Sends: "nothing new (the TLS 1.3 handshake)", run: perOrigin(checkCertificate)},
		{Name: "tls-revocation", Title: "Revocation information in the certificate", Area: AreaTLS, IDs: []string{"TLS-03"},
			Sends: "GET of the certificate's CRL, when it names one", run: perOrigin(checkRevocation)},
		{Name: "plain-http", Title: "Plain HTTP refused or redirected", Area: AreaTLS, IDs: []string{"AUTHN-15", "OAUTH-18", "KEY-06"},
			Sends: "GET over http:// with made-up Basic credentials", run: perOrigin(checkPlainHTTP)},

		// Authentication and API keys, at the API.
		{Name: "auth-required", Title: "Unauthenticated request gets 401 with a challenge", Area: AreaAuthentication, IDs: []string{"AUTHN-01", "AUTHN-04"},
			Sends: "GET without credentials", run: checkAuthRequired},
		{Name: "invalid-token", Title: "Invalid bearer token gets 401", Area: AreaAuthentication, IDs: []string{"HTTP-06", "OAUTH-04"},
			Sends: "GET with a made-up bearer token", run: checkInvalidToken},
		{Name: "basic-refused", Title: "HTTP Basic not offered or accepted", Area: AreaAuthentication, IDs: []string{"AUTHN-05", "AUTHN-13"},
			Sends: "GET with made-up Basic credentials", run: checkBasicRefused},
		{Name: "key-in-query", Title: "API key in the query string refused", Area: AreaAPIKeys, IDs: []string{"KEY-08", "HTTP-07"},
			Sends: "GET with your key in its header and a made-up key in ?api_key=", run: checkKeyInQuery},
		{Name: "key-header", Title: "API key header named without X- and not Authorization", Area: AreaAPIKeys, IDs: []string{"KEY-08", "KEY-09"},
			Sends: "nothing new (reads the challenge and the OpenAPI document)", run: checkKeyHeader},

		// The authorization server.
		{Name: "as-metadata", Title: "Metadata at both well-known paths, issuer exact", Area: AreaOAuth, IDs: []string{"OAUTH-20", "AUTHN-09"},
			Sends: "GET of both metadata documents", run: checkMetadata},
		{Name: "as-no-implicit-password", Title: "Implicit and password grants not offered", Area: AreaOAuth, IDs: []string{"OAUTH-10", "OAUTH-11", "OIDC-07"},
			Sends: "a password grant with made-up user credentials, when client credentials are given", run: checkNoImplicitPassword},
		{Name: "as-pkce", Title: "PKCE with S256 required", Area: AreaOAuth, IDs: []string{"OAUTH-09", "OAUTH-06", "PAT-08"},
			Sends: "an authorization request without a code challenge, when a client ID is given", run: checkPKCE},
		{Name: "as-iss", Title: "Issuer identified in authorization responses", Area: AreaOAuth, IDs: []string{"INT-01", "TTM-04"},
			Sends: "nothing new (metadata, the PKCE check's response)", run: checkISS},
		{Name: "as-jwks", Title: "JWKS well-formed, public keys only", Area: AreaOAuth, IDs: []string{"OIDC-03", "TTM-02", "OAUTH-20"},
			Sends: "GET of jwks_uri", run: checkJWKS},
		{Name: "as-algorithms", Title: "Only strong algorithms advertised", Area: AreaOAuth, IDs: []string{"INT-05", "INT-08", "OIDC-03"},
			Sends: "nothing new (metadata)", run: checkAlgorithms},
		{Name: "as-endpoint-auth", Title: "Introspection and revocation need client authentication", Area: AreaOAuth, IDs: []string{"OAUTH-21", "OAUTH-22"},
			Sends: "POST of a made-up token to each, without client authentication", run: checkEndpointAuth},

		// Tokens.
		{Name: "token-response", Title: "Token responses are not cached", Area: AreaTokens, IDs: []string{"OAUTH-19", "HTTP-13"},
			Sends: "a client credentials token request, when client credentials are given", run: checkTokenResponse},
		{Name: "token-lifetime", Title: "Access tokens live 60 minutes or less", Area: AreaTokens, IDs: []string{"TOKEN-07", "TOKEN-01", "TTM-05"},
			Sends: "nothing new (the token you gave or the one client credentials returned)", run: checkTokenLifetime},
		{Name: "token-in-query", Title: "Access token in the query string refused", Area: AreaTokens, IDs: []string{"TOKEN-05", "TOKEN-06"},
			Sends: "GET with the token in its header and a made-up one in ?access_token=", run: checkTokenInQuery},
		{Name: "refresh-rotation", Title: "Refresh tokens rotate and are single-use", Area: AreaTokens, IDs: []string{"TTM-05", "TOKEN-09"},
			Sends: "two refresh requests with the same refresh token, when a token response carried one", run: checkRefreshRotation},

		// Threats.
		{Name: "methods", Title: "TRACE and unknown methods refused", Area: AreaThreats, IDs: []string{"HTTP-01", "THREAT-02"},
			Sends: "TRACE and an unknown method", run: checkMethods},

		// HTTP behaviour.
		{Name: "head", Title: "HEAD response has no body", Area: AreaHTTP, IDs: []string{"HTTP-03"},
			Sends: "HEAD over a raw HTTP/1.1 connection", run: checkHead},
		{Name: "accept-406", Title: "Unsupported Accept gets 406", Area: AreaHTTP, IDs: []string{"HTTP-04"},
			Sends: "GET with Accept: application/x-tiaki-probe", run: checkAccept},
		{Name: "content-type-415", Title: "Unsupported Content-Type gets 415", Area: AreaHTTP, IDs: []string{"HTTP-05", "THREAT-07"},
			Sends: "POST text/plain (only with --allow-writes)", run: checkContentType},
		{Name: "error-bodies", Title: "Error bodies are JSON without internals or banners", Area: AreaHTTP, IDs: []string{"HTTP-11", "THREAT-11"},
			Sends: "GET of a path that does not exist", run: perOrigin(checkErrorBodies)},
		{Name: "json-valid", Title: "JSON responses are valid UTF-8 JSON", Area: AreaHTTP, IDs: []string{"HTTP-15"},
			Sends: "nothing new (every response seen)", run: checkJSONValid},
		{Name: "content-type-present", Title: "Every response with a body has a Content-Type", Area: AreaHTTP, IDs: []string{"HTTP-09"},
			Sends: "nothing new (every response seen)", run: checkContentTypePresent},
		{Name: "not-found-501", Title: "Unknown endpoint gets 501 (Part C)", Area: AreaHTTP, IDs: []string{"HTTP-10"},
			Sends: "nothing new (the unknown path)", run: perOrigin(checkNotFound)},
		{Name: "security-headers", Title: "HSTS and nosniff on every response", Area: AreaHTTP, IDs: []string{"TLS-06", "THREAT-14"},
			Sends: "nothing new (every response seen)", run: checkSecurityHeaders},
		{Name: "cache-control", Title: "Authenticated responses not stored by caches", Area: AreaHTTP, IDs: []string{"HTTP-13"},
			Sends: "GET with your credential", run: checkCacheControl},
		{Name: "correlation", Title: "Correlation ID returned", Area: AreaHTTP, IDs: []string{"HTTP-08", "LOG-02"},
			Sends: "nothing new (the unauthenticated GET carries Request-Transaction-Id)", run: checkCorrelation},
		{Name: "x-headers", Title: "No custom X- response headers", Area: AreaHTTP, IDs: []string{"HTTP-12"},
			Sends: "nothing new (every response seen)", run: checkXHeaders},
		{Name: "versioning", Title: "API version visible", Area: AreaHTTP, IDs: []string{"HTTP-14"},
			Sends: "nothing new", run: checkVersioning},

		// The OpenAPI document.
		{Name: "spec-security", Title: "Every operation secured or declared public", Area: AreaOpenAPI, IDs: []string{"AUTHN-01", "AUTHN-04", "AUTHN-08"},
			run: checkSpecSecurity},
		{Name: "spec-api-keys", Title: "API keys in a header, not in the URL or Authorization", Area: AreaOpenAPI, IDs: []string{"KEY-08", "KEY-09"},
			run: checkSpecAPIKeys},
		{Name: "spec-x-headers", Title: "No X- headers declared", Area: AreaOpenAPI, IDs: []string{"HTTP-12"},
			run: checkSpecXHeaders},
		{Name: "spec-versioning", Title: "Versioning declared", Area: AreaOpenAPI, IDs: []string{"HTTP-14"},
			run: checkSpecVersioning},
		{Name: "spec-errors", Title: "Error responses declared", Area: AreaOpenAPI, IDs: []string{"HTTP-11", "HTTP-10"},
			run: checkSpecErrors},
		{Name: "spec-safe-get", Title: "GET operations take no request body", Area: AreaOpenAPI, IDs: []string{"HTTP-02"},
			run: checkSpecSafeGet},

		// Last: the burst.
		{Name: "throttling", Title: "Throttling answers 429 with Retry-After", Area: AreaThreats, IDs: []string{"THREAT-04", "KEY-07", "AUTHN-12"},
			Sends: "a burst of GETs, never faster than --max-rps", run: checkThrottling},
	}
}
