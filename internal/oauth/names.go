package oauth

// GrantType is a value of the token request's grant_type parameter (RFC 6749 §4) and of the
// grant_types_supported metadata field.
type GrantType string

// Grant types Tiaki issues, refuses or checks for.
const (
	GrantAuthorizationCode GrantType = "authorization_code"                              // RFC 6749 §4.1
	GrantClientCredentials GrantType = "client_credentials"                              // RFC 6749 §4.4
	GrantRefreshToken      GrantType = "refresh_token"                                   // RFC 6749 §6
	GrantDeviceCode        GrantType = "urn:ietf:params:oauth:grant-type:device_code"    // RFC 8628 §3.4
	GrantCIBA              GrantType = "urn:openid:params:grant-type:ciba"               // OpenID CIBA Core §10.1
	GrantTokenExchange     GrantType = "urn:ietf:params:oauth:grant-type:token-exchange" // RFC 8693 §2.1
	GrantJWTBearer         GrantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"     // RFC 7523 §2.1
	// GrantPassword is the resource owner password credentials grant (RFC 6749 §4.3). OAuth 2.1
	// removes it and the NZ guidelines do not recommend it (Part B Appendix C); Tiaki never
	// offers it and the probe flags servers that do.
	GrantPassword GrantType = "password"
	// GrantImplicit is not a token-endpoint grant but appears in grant_types_supported (RFC 8414
	// §2) for servers that offer response_type=token. OAuth 2.1 removes it.
	GrantImplicit GrantType = "implicit"
)

// ResponseType is a value of the authorization request's response_type parameter (RFC 6749
// §3.1.1, OAuth 2.0 Multiple Response Type Encoding Practices).
type ResponseType string

// Response types.
const (
	ResponseCode        ResponseType = "code"
	ResponseToken       ResponseType = "token"    // the implicit grant
	ResponseIDToken     ResponseType = "id_token" // OpenID Connect implicit, login only
	ResponseCodeIDToken ResponseType = "code id_token"
)

// PKCE code challenge methods (RFC 7636 §4.2). OAuth 2.1 and RFC 9700 §2.1.1 allow S256 only.
const (
	PKCES256  = "S256"
	PKCEPlain = "plain"
)

// Token types (RFC 6750, RFC 9449) as they appear in token_type.
const (
	TokenTypeBearer = "Bearer"
	TokenTypeDPoP   = "DPoP"
)

// Well-known paths of the metadata documents: RFC 8414 §3 and OpenID Connect Discovery §4.
const (
	WellKnownAuthorizationServer = "/.well-known/oauth-authorization-server"
	WellKnownOpenIDConfiguration = "/.well-known/openid-configuration"
)
