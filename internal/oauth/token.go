package oauth

// TokenResponse is a successful token response (RFC 6749 §5.1), with the ID token of OpenID
// Connect Core §3.1.3.3 and the issued_token_type of RFC 8693 §2.2.1. It holds credentials:
// never log or print it.
type TokenResponse struct {
	AccessToken     string `json:"access_token"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in,omitempty"`
	RefreshToken    string `json:"refresh_token,omitempty"`
	Scope           string `json:"scope,omitempty"`
	IDToken         string `json:"id_token,omitempty"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
}

// IntrospectionResponse is a token introspection response (RFC 7662 §2.2), with the
// confirmation claim of RFC 8705 §3.2 and RFC 9449 §6.2. Only Active is required: an inactive
// token's response carries nothing else (RFC 7662 §2.2 says the server should not say why).
type IntrospectionResponse struct {
	Active    bool           `json:"active"`
	Scope     string         `json:"scope,omitempty"`
	ClientID  string         `json:"client_id,omitempty"`
	Username  string         `json:"username,omitempty"`
	TokenType string         `json:"token_type,omitempty"`
	Exp       int64          `json:"exp,omitempty"`
	Iat       int64          `json:"iat,omitempty"`
	Nbf       int64          `json:"nbf,omitempty"`
	Sub       string         `json:"sub,omitempty"`
	Aud       Audience       `json:"aud,omitempty"`
	Iss       string         `json:"iss,omitempty"`
	JTI       string         `json:"jti,omitempty"`
	Cnf       map[string]any `json:"cnf,omitempty"`
}
