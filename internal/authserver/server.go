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
	"github.com/luikyv/go-oidc/pkg/goidc"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/oauth"
	"github.com/tiaki-nz/tiaki/internal/revocation"
)

// Profiles the server can run under. Profile "" means ProfileBaseline.
const (
	// ProfileBaseline follows the NZ Government API guidelines Part B with OAuth 2.1 defaults.
	ProfileBaseline = "nz-baseline"
	// ProfileFAPI2 is the FAPI 2.0 Security Profile. It needs PAR and sender-constrained
	// tokens, which this server does not offer yet, so New refuses it rather than run a weaker
	// server under the FAPI name.
	ProfileFAPI2 = "fapi2"
)

// Access token formats (Config.AccessTokenFormat, tiaki.Client.AccessTokenFormat).
const (
	// FormatJWT issues RFC 9068 JWT access tokens, verifiable without a call to the server.
	FormatJWT = "jwt"
	// FormatOpaque issues tokens a client cannot read (their claims sealed, opaque.go), which
	// resource servers introspect (RFC 7662).
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
	// PathAuthorize is the authorization endpoint (RFC 6749 §3.1); the login and consent
	// pages of one request live under it, at PathAuthorize/{session}.
	PathAuthorize = "/authorize"
	// PathUserInfo is the OpenID Connect UserInfo endpoint (OIDC Core §5.3).
	PathUserInfo = "/userinfo"
	// PathLogout is the end_session_endpoint (OpenID Connect RP-Initiated Logout 1.0 §2).
	PathLogout = "/logout"
	// PathAssets serves the pages' stylesheet.
	PathAssets = "/assets/"
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
	// DefaultLoginSessionTTL is how long a person stays signed in at Tiaki (single sign-on
	// across clients) before the login page asks again.
	DefaultLoginSessionTTL = 8 * time.Hour
	// DefaultConsentTTL is how long a person's consent to a client's scopes is remembered.
	DefaultConsentTTL = 30 * 24 * time.Hour
	// DefaultAuthorizationTTL bounds one authorization request, from the redirect to the
	// login page until the code is issued.
	DefaultAuthorizationTTL = 15 * time.Minute
	// DefaultMaxLiveGrants bounds the in-process store of short-lived grants. Client-credentials
	// tokens, JWT or opaque, share one grant per client, scope set and resources, so only
	// tokens bound to a key (DPoP, certificate) or carrying authorization details fill it, at
	// about 300 bytes a grant. Past the bound, token requests get 503, never silent loss.
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
	// MaxLiveGrants bounds the in-process store of short-lived grants.
	MaxLiveGrants int
	// OutageGrace is how long clients this node has read keep working from its cache while
	// the store cannot be reached; zero: not at all.
	OutageGrace time.Duration
	// LoginSessionTTL, ConsentTTL and AuthorizationTTL: see the defaults of the same names.
	LoginSessionTTL, ConsentTTL, AuthorizationTTL time.Duration
	// LoginLimit throttles password attempts per account and per client IP (AUTHN-16: ten
	// failed logins a minute trigger throttling). Zero means DefaultLoginLimit.
	LoginLimit tiaki.Limit
}

// DefaultLoginLimit allows ten password attempts a minute per account and per client IP.
var DefaultLoginLimit = tiaki.Limit{Rate: 10, Per: time.Minute, Burst: 10}

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

// Users looks up local accounts for the login page. tiaki.UserStore satisfies it. User
// returns an error wrapping tiaki.ErrNotFound when no account has the name.
type Users interface {
	User(ctx context.Context, username string) (*tiaki.User, error)
}

// Deps are the services the server uses. Clients, Secrets, Keys and Sealer are required. Sessions and
// Users turn on the flows for people (authorization code, refresh tokens, login, consent,
// userinfo, logout) and need Limiter; without them the server offers client credentials only.
type Deps struct {
	Clients Clients
	Secrets Secrets
	Keys    Keys
	// Sessions persists authorization requests, grants behind codes and refresh tokens,
	// sign-ins and consents, shared by every node.
	Sessions tiaki.SessionStore
	// Users are the accounts the login page accepts.
	Users Users
	// Limiter throttles password attempts (required with Users).
	Limiter tiaki.RateLimiter
	// Replay remembers client assertion IDs; nil means private_key_jwt is not offered,
	// since without it an assertion could be replayed (RFC 7523 §3).
	Replay tiaki.ReplayCache
	// Revocations records every revoked access token (by jti), grant and client, and is asked
	// about every token introspected; shared through the store, so gateways that verify tokens
	// themselves refuse them within seconds. Nil means this server's memory alone.
	Revocations Revocations
	// Sealer seals opaque access tokens (opaque.go); every node must derive the same key
	// (keys.MasterKey.Sealer with OpaqueTokenLabel).
	Sealer Sealer
	// ClientIP returns the client's address for throttling; nil means the connection's peer
	// address (set it when Tiaki sits behind a trusted proxy).
	ClientIP func(*http.Request) string
	// Logger receives internal errors (with the request ID) and refusals; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock of Tiaki's own caches and stores; nil means time.Now. (The engine reads
	// the wall clock itself for token iat/exp.)
	Now func() time.Time
}

// Revocations is the node's copy of access-token revocations; revocation.List satisfies it.
type Revocations interface {
	// Revoke records r everywhere: in force here at once, on other nodes within seconds.
	Revoke(ctx context.Context, r tiaki.Revocation) error
	// Revoked reports whether a token with these claims is revoked (no I/O); subject is
	// empty when it is the client.
	Revoked(jti, grantID, clientID, subject string, issuedAt time.Time) bool
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
	state    *protocolState
	sealer   Sealer
	sealAD   []byte // the associated data of sealed tokens: the issuer
	sessions tiaki.SessionStore
	users    Users
	limiter  tiaki.RateLimiter
	replay   tiaki.ReplayCache
	// revocations are the revoked tokens, grants and clients (Deps.Revocations).
	revocations Revocations
	clientIP    func(*http.Request) string
	pages       *pages
	audience    map[string]any // the aud claim added when no resource indicator was sent
	engine      http.Handler
	metadata    []byte
	mux         *http.ServeMux
	// verified caches JWT verifications for introspection (introspect_cache.go).
	verified *verifiedCache
	// slow turns the fast paths off, so tests can compare them with the engine.
	slow bool
	// wall is the clock introspectFast judges JWT times by: the wall clock, as the engine
	// does; tests replace it.
	wall func() time.Time
}

// New validates cfg, builds the engine and returns a ready server.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Clients == nil || deps.Secrets == nil || deps.Keys == nil || deps.Sealer == nil {
		return nil, errors.New("authserver: Deps.Clients, Deps.Secrets, Deps.Keys and Deps.Sealer are required")
	}
	cfg, err := normalise(cfg)
	if err != nil {
		return nil, err
	}
	if (deps.Sessions == nil) != (deps.Users == nil) {
		return nil, errors.New("authserver: Deps.Sessions and Deps.Users go together (the flows for people need both)")
	}
	if deps.Users != nil && deps.Limiter == nil {
		return nil, errors.New("authserver: Deps.Limiter is required with Deps.Users: password attempts must be throttled (AUTHN-16)")
	}
	s := &Server{cfg: cfg, log: deps.Logger, now: deps.Now, secrets: deps.Secrets,
		sessions: deps.Sessions, users: deps.Users, limiter: deps.Limiter, replay: deps.Replay,
		revocations: deps.Revocations, sealer: deps.Sealer, sealAD: []byte(cfg.Issuer), clientIP: deps.ClientIP}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.clientIP == nil {
		s.clientIP = peerIP
	}
	if s.revocations == nil {
		s.revocations = revocation.New(nil, revocation.Options{Logger: s.log})
	}
	s.clients = newClientCache(deps.Clients, s.now, cfg.Scopes, cfg.OutageGrace)
	s.keys = newKeyCache(deps.Keys, s.now, s.log)
	if err := s.keys.check(cfg.SigningAlgorithm); err != nil {
		return nil, err
	}
	s.grants = newGrantStore(s.now, cfg.MaxLiveGrants, cfg.AccessTokenTTL+grantGrace)
	s.verified, s.wall = newVerifiedCache(), time.Now
	// The engine stamps its records with the wall clock, so the records it reads back are
	// judged by the same clock.
	s.state = &protocolState{store: s.sessions, mem: s.grants, now: time.Now, tokenTTL: cfg.AccessTokenTTL,
		refreshTTL: cfg.RefreshTokenTTL, log: s.log}
	s.state.revokeToken, s.state.revoked = s.revokeToken, s.announceGrant
	s.state.dead = func(g *goidc.Grant) bool {
		return s.revocations.Revoked("", g.ID, g.ClientID, person(g.Subject, g.ClientID), time.Unix(int64(g.CreatedAt), 0))
	}
	if s.people() {
		if s.pages, err = newPages(); err != nil {
			return nil, err
		}
	}
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

// cleanupEvery is how often Run deletes expired protocol state.
const cleanupEvery = 10 * time.Minute

// Run deletes expired authorization requests, grants, login sessions and consents from the
// session store every cleanupEvery until ctx ends (the store keeps records until told; the
// engine never deletes). Any node may run it; running it on every node is harmless.
func (s *Server) Run(ctx context.Context) {
	if s.sessions == nil {
		return
	}
	t := time.NewTicker(cleanupEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// Engine records carry wall-clock expiry times, so the wall clock decides.
			n, err := s.sessions.DeleteExpiredSessions(ctx, time.Now())
			if err != nil && ctx.Err() == nil {
				s.log.WarnContext(ctx, "authserver: deleting expired sessions", "cause", err.Error())
			} else if n > 0 {
				s.log.DebugContext(ctx, "authserver: deleted expired sessions", "count", n)
			}
		}
	}
}

// InvalidateClient drops a client from the lookup cache, so a changed or deleted client takes
// effect at once on this node rather than within the cache's few seconds.
func (s *Server) InvalidateClient(id string) { s.clients.invalidate(id) }

// people reports whether the flows for people (code, refresh, login, userinfo) are on.
func (s *Server) people() bool { return s.sessions != nil && s.users != nil }

// routes is the route table: only what is listed here reaches the engine.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathToken, s.serveToken)
	mux.HandleFunc("POST "+PathIntrospect, s.serveIntrospect)
	mux.HandleFunc("POST "+PathRevoke, s.serveRevoke)
	mux.HandleFunc("GET "+PathJWKS, s.serveJWKS)
	mux.HandleFunc("GET "+PathOIDCMetadata, s.serveMetadata)
	mux.HandleFunc("GET "+PathOAuthMetadata, s.serveMetadata) // RFC 8414 §3 (engine gap 4)
	if s.people() {
		for _, m := range []string{"GET ", "POST "} {
			mux.HandleFunc(m+PathAuthorize, s.serveAuthorize)
			mux.HandleFunc(m+PathAuthorize+"/{session}", s.serveAuthorizeStep)
			mux.HandleFunc(m+PathUserInfo, s.serveUserInfo)
			mux.HandleFunc(m+PathLogout, s.serveLogout)
		}
		mux.HandleFunc("GET "+PathAssets+"{file}", s.pages.serveAsset)
	}
	// Everything else gets a JSON error rather than the mux's text/plain (Part C HTTP-11): 405
	// with Allow for a known endpoint asked with another method, 404 otherwise.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, refuse(http.StatusMethodNotAllowed, "invalid_request", "this endpoint does not accept "+r.Method))
			return
		}
		writeError(w, refuse(http.StatusNotFound, "not_found", "no such endpoint"))
	})
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
		return cfg, errors.New("authserver: profile fapi2 needs PAR and sender-constrained tokens " +
			"(DPoP or mTLS), which this server does not offer yet")
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
		{"login session TTL", &cfg.LoginSessionTTL, DefaultLoginSessionTTL},
		{"consent TTL", &cfg.ConsentTTL, DefaultConsentTTL},
		{"authorization TTL", &cfg.AuthorizationTTL, DefaultAuthorizationTTL},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
		// The engine counts lifetimes in whole seconds.
		if *d.v < time.Second || *d.v%time.Second != 0 {
			return cfg, fmt.Errorf("authserver: %s %v must be a positive whole number of seconds", d.name, *d.v)
		}
	}
	if cfg.LoginLimit == (tiaki.Limit{}) {
		cfg.LoginLimit = DefaultLoginLimit
	}
	if cfg.LoginLimit.Rate < 1 || cfg.LoginLimit.Per <= 0 || cfg.LoginLimit.Burst < 0 {
		return cfg, fmt.Errorf("authserver: login limit %+v needs a positive rate and period", cfg.LoginLimit)
	}
	if cfg.CodeTTL > 10*time.Minute {
		// RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED."
		return cfg, fmt.Errorf("authserver: authorization code TTL %v is over 10m (RFC 6749 §4.1.2)", cfg.CodeTTL)
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
		if !oauth.ValidScope(sc) {
			return cfg, fmt.Errorf("authserver: scope %q is not an RFC 6749 §3.3 scope-token of at most %d characters", sc, oauth.MaxScopeLength)
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
