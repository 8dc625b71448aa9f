package tiaki

import "time"

// AuthMethod is how an OAuth client proves who it is at the token endpoint (RFC 7591 §2
// token_endpoint_auth_method values).
type AuthMethod string

// Client authentication methods Tiaki offers. client_secret_jwt is absent on purpose: it needs
// the secret in clear as an HMAC key, and Tiaki stores only keyed hashes of secrets.
const (
	AuthSecretBasic   AuthMethod = "client_secret_basic"
	AuthSecretPost    AuthMethod = "client_secret_post"
	AuthPrivateKeyJWT AuthMethod = "private_key_jwt"
	AuthTLSClient     AuthMethod = "tls_client_auth"
	AuthNone          AuthMethod = "none"
)

// UsesSecret reports whether clients of this method authenticate with a shared secret.
func (m AuthMethod) UsesSecret() bool { return m == AuthSecretBasic || m == AuthSecretPost }

// Valid reports whether m is one of the methods Tiaki offers.
func (m AuthMethod) Valid() bool {
	switch m {
	case AuthSecretBasic, AuthSecretPost, AuthPrivateKeyJWT, AuthTLSClient, AuthNone:
		return true
	}
	return false
}

// Source says where a record came from: declared in the config file (and so rewritten at every
// start), or created at run time through the CLI, portal or admin API.
type Source string

// Record sources.
const (
	SourceConfig  Source = "config"
	SourceRuntime Source = "runtime"
)

// Client is a registered OAuth client.
type Client struct {
	ID         string
	Name       string
	AuthMethod AuthMethod
	// SecretHash is the keyed hash of the client secret (see keys.Hasher); empty for clients
	// that do not use a secret. The secret itself is never stored.
	SecretHash []byte
	// JWKS holds the client's public keys as a JSON Web Key Set, for private_key_jwt.
	JWKS []byte
	// TLSSubject is the certificate subject DN expected for tls_client_auth.
	TLSSubject   string
	RedirectURIs []string
	GrantTypes   []string
	Scopes       []string
	// AccessTokenFormat overrides the server default: "jwt" or "opaque"; empty means default.
	AccessTokenFormat string
	// IDTokenSigningAlg is the client's id_token_signed_response_alg (OIDC Registration §2):
	// the JWS algorithm of its ID tokens; empty means the server's default (RS256 when an RS256
	// key is kept).
	IDTokenSigningAlg string
	Source            Source
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// Public reports whether the client cannot keep a secret (RFC 6749 §2.1).
func (c *Client) Public() bool { return c.AuthMethod == AuthNone }
