package authserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tiaki-nz/tiaki"
)

// Profiles the server can run under. Profile "" means ProfileBaseline.
const (
	// ProfileBaseline follows the NZ Government API guidelines Part B with OAuth 2.1 defaults.
	ProfileBaseline = "nz-baseline"
	// ProfileFAPI2 is the FAPI 2.0 Security Profile. It needs private_key_jwt or mTLS client
	// authentication, PAR, PKCE and sender-constrained tokens, none of which this server offers
	// yet, so New refuses it rather than run a weaker server under the FAPI name.
	ProfileFAPI2 = "fapi2"
)

// Access token formats (Config.AccessTokenFormat, tiaki.Client.AccessTokenFormat).
const (
	// FormatJWT issues RFC 9068 JWT access tokens, verifiable without a call to the server.
	FormatJWT = "jwt"
	// FormatOpaque issues random strings that resource servers must introspect (RFC 7662).
	FormatOpaque = "opaque"
)

// Endpoint paths, relative to the issuer.
const (
	// PathToken is the token endpoint (RFC 6749 §3.2).
	PathToken = "/token"
	// PathIntrospect is the introspection endpoint (RFC 7662 §2).
	PathIntrospect = "/introspect"
	// PathRevoke is the revocation endpoint (RFC 7009 §2).
	PathRevoke = "/revoke"
	// PathJWKS serves the public signing keys (jwks_uri).
	PathJWKS = "/jwks"
	// PathOIDCMetadata is the OpenID Connect Discovery 1.0 §4 document.
	PathOIDCMetadata = "/.well-known/openid-configuration"
	// PathOAuthMetadata is the RFC 8414 §3 document, identical to the OIDC one.
	PathOAuthMetadata = "/.well-known/oauth-authorization-server"
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultAccessTokenTTL is short because a JWT cannot be recalled from a verifier that
	// checks it locally.
	DefaultAccessTokenTTL = 5 * time.Minute
	// DefaultRefreshTokenTTL bounds refresh tokens (the engine's default is never to expire).
	DefaultRefreshTokenTTL = 24 * time.Hour
	// DefaultCodeTTL is the authorization-code lifetime (FAPI 2.0 asks for at most 60 s).
	DefaultCodeTTL = time.Minute
	// DefaultSigningAlgorithm signs access tokens.
	DefaultSigningAlgorithm = "ES256"
	// DefaultMaxLiveGrants bounds the in-process grant store: at ~300 bytes a grant, about
	// 300 MB. A node issuing N tokens/s with lifetime T holds N*T grants: 1,600 tokens/s of
	// 10-minute tokens fill it. Past the bound, token requests get 503, never silent loss.
	DefaultMaxLiveGrants = 1_000_000
)

// Config is the authorization server's settings as plain values; cmd/tiaki fills it from the
// configuration file. New validates it once.
type Config struct {
	// Issuer is the issuer identifier (RFC 8414 §2): an https URL with no path, query or
	// fragment, compared exactly by clients (RFC 9207).
	Issuer string
	// Profile is ProfileBaseline (the default) or ProfileFAPI2.
	Profile string
	// AccessTokenTTL is the access-token lifetime, in whole seconds.
	AccessTokenTTL time.Duration
	// RefreshTokenTTL and CodeTTL are checked now and used when the refresh-token and
	// authorization-code grants are enabled.
	RefreshTokenTTL, CodeTTL time.Duration
	// AccessTokenFormat is FormatJWT (the default) or FormatOpaque; a client may override it.
	AccessTokenFormat string
	// SigningAlgorithm is the JWS algorithm of access tokens (RFC 9068 §2.1: asymmetric only).
	// Deps.Keys must hold a private key for it.
	SigningAlgorithm string
	// DefaultAudience is the "aud" of access tokens requested without a resource indicator
	// (RFC 9068 §2.2 requires aud). Empty means the issuer.
	DefaultAudience []string
	// Resources are the resource indicators clients may ask for (RFC 8707): the audiences of
	// the APIs behind the gateway. A requested resource outside this list is refused with
	// invalid_target; the token's aud is the resources requested.
	Resources []string
	// Scopes is the server's scope catalogue, published as scopes_supported. A client may be
	// granted only scopes that are both in its registration and in this list (the engine
	// matches requests against a server-wide list). "openid" is always added.
	Scopes []string
	// MaxLiveGrants bounds the in-process store of short-lived grants and opaque tokens.
	MaxLiveGrants int
}

// Clients looks up registered clients. tiaki.ClientStore satisfies it. Client returns an error
// wrapping tiaki.ErrNotFound when no client has the ID.
type Clients interface {
	Client(ctx context.Context, id string) (*tiaki.Client, error)
}

// Secrets checks a presented client secret against its stored keyed hash in constant time.
// keys.Hasher satisfies it.
type Secrets interface {
	Verify(secret string, hash []byte) bool
}

// Keys supplies the signing keys. keys.Manager satisfies it. PrivateJWKS holds the keys that
// sign, in preference order (the first key of an algorithm signs); JWKS is the published
// document of public keys, which may also hold retired keys whose tokens are still live.
type Keys interface {
	PrivateJWKS() jose.JSONWebKeySet
	JWKS() []byte
}

// Deps are the services the server uses. Clients, Secrets and Keys are required.
type Deps struct {
	Clients Clients
	Secrets Secrets
	Keys    Keys
	// Logger receives internal errors (with the request ID) and refusals; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock of Tiaki's own caches and stores; nil means time.Now. (The engine reads
	// the wall clock itself for token iat/exp.)
	Now func() time.Time
}

// Server is the authorization server. It is safe for concurrent use.
type Server struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	secrets  Secrets
	clients  *clientCache
	keys     *keyCache
	grants   *grantStore
	tokens   *opaqueStore
	audience map[string]any // the aud claim added when no resource indicator was sent
	engine   http.Handler
	metadata []byte
	mux      *http.ServeMux
}

// New validates cfg, builds the engine and returns a ready server.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Clients == nil || deps.Secrets == nil || deps.Keys == nil {
		return nil, errors.New("authserver: Deps.Clients, Deps.Secrets and Deps.Keys are required")
	}
	cfg, err := normalise(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: deps.Logger, now: deps.Now, secrets: deps.Secrets}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.clients = newClientCache(deps.Clients, s.now, cfg.Scopes)
	s.keys = newKeyCache(deps.Keys, s.now, s.log)
	if err := s.keys.check(cfg.SigningAlgorithm); err != nil {
		return nil, err
	}
	s.grants = newGrantStore(s.now, cfg.MaxLiveGrants, cfg.AccessTokenTTL+grantGrace)
	s.tokens = newOpaqueStore(s.now, cfg.MaxLiveGrants, cfg.AccessTokenTTL)
	if len(cfg.DefaultAudience) == 1 {
		s.audience = map[string]any{"aud": cfg.DefaultAudience[0]}
	} else {
		s.audience = map[string]any{"aud": cfg.DefaultAudience}
	}
	if s.engine, err = s.buildEngine(); err != nil {
		return nil, err
	}
	if s.metadata, err = s.buildMetadata(); err != nil {
		return nil, err
	}
	s.mux = s.routes()
	return s, nil
}

// Handler returns the HTTP handler serving every endpoint, rooted at the issuer's origin.
// Mount it behind web.RequestID so logged errors carry the request ID.
func (s *Server) Handler() http.Handler { return s.mux }

// InvalidateClient drops a client from the lookup cache, so a changed or deleted client takes
// effect at once on this node rather than within the cache's few seconds.
func (s *Server) InvalidateClient(id string) { s.clients.invalidate(id) }

// routes is the route table: only what is listed here reaches the engine.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathToken, s.serveToken)
	mux.HandleFunc("POST "+PathIntrospect, s.serveIntrospect)
	mux.HandleFunc("POST "+PathRevoke, s.serveRevoke)
	mux.HandleFunc("GET "+PathJWKS, s.serveJWKS)
	mux.HandleFunc("GET "+PathOIDCMetadata, s.serveMetadata)
	mux.HandleFunc("GET "+PathOAuthMetadata, s.serveMetadata) // RFC 8414 §3 (engine gap 4)
	return mux
}

// asymmetric lists the access-token signing algorithms Tiaki accepts: RFC 9068 §2.1 forbids
// "none", and symmetric algorithms would need the verifier to hold the signing secret.
var asymmetric = []string{"ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256"}

func normalise(cfg Config) (Config, error) {
	if err := checkIssuer(cfg.Issuer); err != nil {
		return cfg, err
	}
	switch cfg.Profile {
	case "", ProfileBaseline:
		cfg.Profile = ProfileBaseline
	case ProfileFAPI2:
		return cfg, errors.New("authserver: profile fapi2 needs private_key_jwt or mTLS, PAR, PKCE and " +
			"sender-constrained tokens, which this server does not offer yet")
	default:
		return cfg, fmt.Errorf("authserver: unknown profile %q (want %s or %s)", cfg.Profile, ProfileBaseline, ProfileFAPI2)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"access token TTL", &cfg.AccessTokenTTL, DefaultAccessTokenTTL},
		{"refresh token TTL", &cfg.RefreshTokenTTL, DefaultRefreshTokenTTL},
		{"authorization code TTL", &cfg.CodeTTL, DefaultCodeTTL},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
		// The engine counts lifetimes in whole seconds.
		if *d.v < time.Second || *d.v%time.Second != 0 {
			return cfg, fmt.Errorf("authserver: %s %v must be a positive whole number of seconds", d.name, *d.v)
		}
	}
	if cfg.AccessTokenTTL > 24*time.Hour {
		return cfg, fmt.Errorf("authserver: access token TTL %v is over 24h; use refresh tokens instead", cfg.AccessTokenTTL)
	}
	switch cfg.AccessTokenFormat {
	case "":
		cfg.AccessTokenFormat = FormatJWT
	case FormatJWT, FormatOpaque:
	default:
		return cfg, fmt.Errorf("authserver: access token format %q (want %s or %s)", cfg.AccessTokenFormat, FormatJWT, FormatOpaque)
	}
	if cfg.SigningAlgorithm == "" {
		cfg.SigningAlgorithm = DefaultSigningAlgorithm
	}
	if !slices.Contains(asymmetric, cfg.SigningAlgorithm) {
		return cfg, fmt.Errorf("authserver: signing algorithm %q (want one of %s)", cfg.SigningAlgorithm, strings.Join(asymmetric, ", "))
	}
	if len(cfg.DefaultAudience) == 0 {
		cfg.DefaultAudience = []string{cfg.Issuer}
	}
	cfg.DefaultAudience = slices.Clone(cfg.DefaultAudience)
	for _, a := range cfg.DefaultAudience {
		if a == "" {
			return cfg, errors.New("authserver: default audience has an empty value")
		}
	}
	scopes := make([]string, 0, len(cfg.Scopes))
	for _, sc := range cfg.Scopes {
		if !validScopeToken(sc) {
			return cfg, fmt.Errorf("authserver: scope %q is not an RFC 6749 §3.3 scope-token", sc)
		}
		if !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	cfg.Scopes = scopes
	if cfg.MaxLiveGrants == 0 {
		cfg.MaxLiveGrants = DefaultMaxLiveGrants
	}
	if cfg.MaxLiveGrants < 0 {
		return cfg, fmt.Errorf("authserver: max live grants %d is negative", cfg.MaxLiveGrants)
	}
	return cfg, nil
}

// checkIssuer applies RFC 8414 §2 (https, no query or fragment) and one restriction of Tiaki's:
// no path, because the endpoints are served from the origin's root.
func checkIssuer(iss string) error {
	u, err := url.Parse(iss)
	if err != nil || iss == "" {
		return fmt.Errorf("authserver: issuer %q is not a URL", iss)
	}
	switch {
	case u.Scheme != "https":
		return fmt.Errorf("authserver: issuer %q must use https (RFC 8414 §2)", iss)
	case u.Host == "" || u.User != nil:
		return fmt.Errorf("authserver: issuer %q must have a host and no user info", iss)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(iss, "?#"):
		return fmt.Errorf("authserver: issuer %q must have no query or fragment (RFC 8414 §2)", iss)
	case u.Path != "" || u.RawPath != "":
		return fmt.Errorf("authserver: issuer %q must have no path, not even a trailing slash", iss)
	}
	return nil
}

// validScopeToken reports whether s is a scope-token: 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
