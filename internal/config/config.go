package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/tiaki-nz/tiaki"
)

// Config is the whole configuration file. Field tags name the YAML keys; docs/configuration.md
// describes each one. Build a Config with Load, Parse or Default: they apply defaults and
// validate, so a *Config they return is ready to use.
type Config struct {
	// Issuer is the authorization server's issuer identifier (RFC 8414 §2, RFC 9207).
	Issuer string `yaml:"issuer" json:"issuer"`
	// Profile is the security profile: "nz-baseline" or "fapi2".
	Profile string   `yaml:"profile" json:"profile"`
	Demo    bool     `yaml:"demo" json:"demo"`
	Log     Log      `yaml:"log" json:"log"`
	Listen  Listen   `yaml:"listen" json:"listen"`
	TLS     TLS      `yaml:"tls" json:"tls"`
	Store   Store    `yaml:"store" json:"store"`
	Redis   Redis    `yaml:"redis" json:"redis"`
	Keys    Keys     `yaml:"keys" json:"keys"`
	Tokens  Tokens   `yaml:"tokens" json:"tokens"`
	Gateway Gateway  `yaml:"gateway" json:"gateway"`
	Users   []User   `yaml:"users" json:"users"`
	Clients []Client `yaml:"clients" json:"clients"`
	APIs    []API    `yaml:"apis" json:"apis"`
	// TrustedIssuers are authorization servers besides this one whose tokens APIs may accept.
	TrustedIssuers []TrustedIssuer `yaml:"trusted_issuers" json:"trusted_issuers,omitempty"`

	// Path is the file the configuration came from, as given to Load or Parse
	// ("default.yaml" for Default). Error messages start with it.
	Path string `yaml:"-" json:"-"`

	pos map[string]int  // key path -> line of the key in Path
	set map[string]bool // key paths given a non-null value; defaults fill the others
}

// Log configures the process log.
type Log struct {
	Level  string `yaml:"level" json:"level"`   // debug | info | warn | error
	Format string `yaml:"format" json:"format"` // auto | text | json
}

// SlogLevel returns Level as a slog.Level.
func (l Log) SlogLevel() slog.Level {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(l.Level)); err != nil {
		return slog.LevelInfo
	}
	return lv
}

// Listen holds the address ("host:port") of each listener.
type Listen struct {
	AuthServer string `yaml:"authserver" json:"authserver"`
	Gateway    string `yaml:"gateway" json:"gateway"`
	Ops        string `yaml:"ops" json:"ops"`
}

// TLS names the certificate files. Paths are absolute once loaded (relative paths are resolved
// against the configuration file's directory). Empty Cert and Key mean the development CA.
type TLS struct {
	Cert     string `yaml:"cert" json:"cert"`
	Key      string `yaml:"key" json:"key"`
	ClientCA string `yaml:"client_ca" json:"client_ca"`
	CRL      string `yaml:"crl" json:"crl"`
}

// Store selects the database.
type Store struct {
	Driver string `yaml:"driver" json:"driver"` // sqlite | postgres
	// DSN is the SQLite database file (empty: cmd/tiaki picks <data dir>/tiaki.db) or the
	// PostgreSQL connection string. It is a Secret because connection strings carry passwords.
	DSN tiaki.Secret `yaml:"dsn" json:"dsn"`
	// OutageGrace is how long credentials a node has verified keep working from its caches
	// while the store cannot be reached.
	OutageGrace Duration `yaml:"outage_grace" json:"outage_grace"`
}

// Redis configures the optional shared state for many nodes; empty Addr means in process.
type Redis struct {
	Addr     string       `yaml:"addr" json:"addr"`
	Username string       `yaml:"username" json:"username"`
	Password tiaki.Secret `yaml:"password" json:"password"`
}

// Keys configures the token signing keys.
type Keys struct {
	Algorithms  []string `yaml:"algorithms" json:"algorithms"`
	RotateEvery Duration `yaml:"rotate_every" json:"rotate_every"`
	// Prepublish is how long a new key sits in the JWKS before it signs, so that verifiers
	// which cache the JWKS already hold it when the first token signed with it arrives.
	Prepublish Duration `yaml:"prepublish" json:"prepublish"`
}

// Tokens configures token lifetimes and format.
type Tokens struct {
	AccessTokenTTL       Duration `yaml:"access_token_ttl" json:"access_token_ttl"`
	RefreshTokenTTL      Duration `yaml:"refresh_token_ttl" json:"refresh_token_ttl"`
	AuthorizationCodeTTL Duration `yaml:"authorization_code_ttl" json:"authorization_code_ttl"`
	AccessTokenFormat    string   `yaml:"access_token_format" json:"access_token_format"` // jwt | opaque
}

// Gateway holds settings of the gateway as a whole (per-API settings are in API).
type Gateway struct {
	// UnknownRouteStatus answers requests that match no API: 404 or 501.
	UnknownRouteStatus int `yaml:"unknown_route_status" json:"unknown_route_status"`
	// TrustedProxies lists the CIDR prefixes of proxies whose Forwarded/X-Forwarded-For
	// headers are believed; the client IP is never taken from anyone else.
	TrustedProxies []string `yaml:"trusted_proxies" json:"trusted_proxies"`
	// ClockLeeway is how far past exp (and before nbf or iat) an access token is still
	// accepted, for clocks that disagree; between 1s and 60s, 5s by default. An API may set
	// its own (auth.oauth2.clock_leeway).
	ClockLeeway Duration `yaml:"clock_leeway" json:"clock_leeway"`
}

// User is a local account for the built-in login page.
type User struct {
	Username string         `yaml:"username" json:"username"`
	Password tiaki.Secret   `yaml:"password" json:"password"`
	Claims   map[string]any `yaml:"claims" json:"claims"`
}

// Client is an OAuth client declared in the file; cmd/tiaki writes it to the store at start-up.
type Client struct {
	ID         string           `yaml:"id" json:"id"`
	Name       string           `yaml:"name" json:"name"`
	AuthMethod tiaki.AuthMethod `yaml:"auth_method" json:"auth_method"`
	Secret     tiaki.Secret     `yaml:"secret" json:"secret"`
	// JWKS is the client's public JSON Web Key Set, converted from YAML to JSON.
	JWKS json.RawMessage `yaml:"jwks" json:"jwks,omitempty"`
	// TLSSubject is the certificate subject DN for tls_client_auth (RFC 8705 §2.1.2).
	TLSSubject        string   `yaml:"tls_subject" json:"tls_subject,omitempty"`
	RedirectURIs      []string `yaml:"redirect_uris" json:"redirect_uris"`
	GrantTypes        []string `yaml:"grant_types" json:"grant_types"`
	Scopes            []string `yaml:"scopes" json:"scopes"`
	AccessTokenFormat string   `yaml:"access_token_format" json:"access_token_format,omitempty"` // "" | jwt | opaque
	// IDTokenSignedResponseAlg is the JWS algorithm of the client's ID tokens (OIDC Registration
	// §2), one of keys.algorithms; empty means the server's default (RS256 when kept).
	IDTokenSignedResponseAlg string `yaml:"id_token_signed_response_alg" json:"id_token_signed_response_alg,omitempty"`
}

// API is one API the gateway protects.
type API struct {
	Name        string `yaml:"name" json:"name"`
	Upstream    string `yaml:"upstream" json:"upstream"` // http(s) URL or "builtin:echo"
	Match       Match  `yaml:"match" json:"match"`
	StripPrefix bool   `yaml:"strip_prefix" json:"strip_prefix"`
	// OpenAPI is the path of the API's OpenAPI document (absolute once loaded); empty for none.
	OpenAPI             string    `yaml:"openapi" json:"openapi"`
	ValidateResponses   bool      `yaml:"validate_responses" json:"validate_responses"`
	Auth                Auth      `yaml:"auth" json:"auth"`
	Methods             []string  `yaml:"methods" json:"methods"`
	RateLimit           RateLimit `yaml:"rate_limit" json:"rate_limit"`
	Quota               Quota     `yaml:"quota" json:"quota"`
	Limits              Limits    `yaml:"limits" json:"limits"`
	InjectionProtection string    `yaml:"injection_protection" json:"injection_protection"` // off | standard | strict
	// Consumes lists the media types request bodies may have (415 otherwise, Part C) and
	// Produces the ones responses may have (406 when Accept allows none of them). Routes with an
	// OpenAPI document take both from it instead.
	Consumes []string `yaml:"consumes" json:"consumes"`
	Produces []string `yaml:"produces" json:"produces"`
	// ForwardCredentials passes the caller's Authorization, DPoP and API key headers to the
	// upstream. Off by default: the upstream learns who called from the signed identity
	// assertion, and never holds a credential it could leak.
	ForwardCredentials bool `yaml:"forward_credentials" json:"forward_credentials"`
	// Upgrades lists the protocols a request may switch to through the gateway (RFC 9110
	// §7.8): only websocket, none by default. Other upgrades are removed from requests.
	Upgrades []string `yaml:"upgrades" json:"upgrades,omitempty"`
	// UpstreamTLS configures TLS to an https upstream; nil means the system roots and no
	// client certificate.
	UpstreamTLS *UpstreamTLS `yaml:"upstream_tls" json:"upstream_tls,omitempty"`
	// CORS lets browser applications on other origins call the API; nil (the default) means
	// no cross-origin access.
	CORS *CORS `yaml:"cors" json:"cors,omitempty"`
}

// CORS is an API's cross-origin resource sharing policy (internal/policy/cors): which origins'
// scripts may call it, with which methods and headers.
type CORS struct {
	// AllowOrigins are exact origins ("https://app.example.govt.nz"), subdomain patterns
	// ("https://*.example.govt.nz") or "*" (any origin; not with AllowCredentials).
	AllowOrigins []string `yaml:"allow_origins" json:"allow_origins"`
	// AllowMethods default to the API's methods.
	AllowMethods []string `yaml:"allow_methods" json:"allow_methods"`
	// AllowHeaders default to Content-Type and the API's credential headers.
	AllowHeaders     []string `yaml:"allow_headers" json:"allow_headers"`
	ExposeHeaders    []string `yaml:"expose_headers" json:"expose_headers,omitempty"`
	AllowCredentials bool     `yaml:"allow_credentials" json:"allow_credentials"`
	// MaxAge is how long browsers may cache a preflight's answer; 0 sends none.
	MaxAge Duration `yaml:"max_age" json:"max_age"`
}

// UpstreamTLS is how the gateway connects to an https upstream: the CA that issued the
// upstream's certificate, and the client certificate the gateway presents (MTLS-03). Paths are
// absolute once loaded; the certificate files are reloaded when they change.
type UpstreamTLS struct {
	CA   string `yaml:"ca" json:"ca,omitempty"`     // PEM CA certificates; empty: the system roots
	Cert string `yaml:"cert" json:"cert,omitempty"` // PEM client certificate chain; needs key
	Key  string `yaml:"key" json:"key,omitempty"`   // its private key; needs cert
}

// Match selects the requests routed to an API.
type Match struct {
	Host       string `yaml:"host" json:"host,omitempty"` // empty: any host
	PathPrefix string `yaml:"path_prefix" json:"path_prefix"`
}

// Auth says how callers of an API authenticate.
type Auth struct {
	APIKey       string  `yaml:"api_key" json:"api_key"` // required | optional | off
	APIKeyHeader string  `yaml:"api_key_header" json:"api_key_header,omitempty"`
	OAuth2       *OAuth2 `yaml:"oauth2" json:"oauth2,omitempty"` // nil: no bearer tokens
	MTLS         string  `yaml:"mtls" json:"mtls"`               // required | optional | off
	// MTLSConsumer names the client-certificate field that identifies the consumer:
	// subject_cn | san_dns | san_uri; subject_cn when mtls is not off.
	MTLSConsumer string `yaml:"mtls_consumer" json:"mtls_consumer,omitempty"`
	// Require is "all" (every configured mechanism must pass) or "any" (one suffices).
	Require string `yaml:"require" json:"require"`
}

// Mechanisms counts the authentication mechanisms configured (API key, OAuth 2.0, mTLS).
func (a Auth) Mechanisms() int {
	n := 0
	if a.APIKey != "off" {
		n++
	}
	if a.OAuth2 != nil {
		n++
	}
	if a.MTLS != "off" {
		n++
	}
	return n
}

// OAuth2 configures bearer-token access to an API.
type OAuth2 struct {
	// Audience is the resource indicator (RFC 8707) tokens for this API must carry in "aud".
	Audience string `yaml:"audience" json:"audience"`
	// Scopes maps an HTTP method to the scopes a token needs for it; methods absent need none.
	Scopes map[string][]string `yaml:"scopes" json:"scopes,omitempty"`
	// Issuers names the authorization servers whose tokens the API accepts: "self" (this
	// Tiaki, the default) and names from trusted_issuers.
	Issuers []string `yaml:"issuers" json:"issuers"`
	// ClockLeeway replaces gateway.clock_leeway for this API when set.
	ClockLeeway Duration `yaml:"clock_leeway" json:"clock_leeway,omitempty"`
}

// RateLimit throttles an API; zero rates mean no limit.
type RateLimit struct {
	PerConsumer Rate `yaml:"per_consumer" json:"per_consumer"`
	Burst       int  `yaml:"burst" json:"burst"`
	PerIP       Rate `yaml:"per_ip" json:"per_ip"`
	// OnStoreError is what the limits and the quota do while the shared counter store (Redis)
	// fails: "fail_open" (the default; each node counts on its own meanwhile) or "fail_closed"
	// (503). See policy/ratelimit.Mode for why open is the default.
	OnStoreError string `yaml:"on_store_error" json:"on_store_error"`
}

// Quota caps an API's use over a longer period; zero means no quota.
type Quota struct {
	PerConsumer Rate `yaml:"per_consumer" json:"per_consumer"`
}

// Limits bounds each request.
type Limits struct {
	MaxBody ByteSize `yaml:"max_body" json:"max_body"`
	// BodyTimeout bounds the time the request body takes to arrive (408 after it).
	BodyTimeout Duration `yaml:"body_timeout" json:"body_timeout"`
	Timeout     Duration `yaml:"timeout" json:"timeout"`
}

// Position returns where key (a path like "tls.cert" or "apis[2].openapi") was written. For a
// key absent from the file it returns the line of the nearest enclosing key that is present, and
// line 0 if there is none. cmd/tiaki uses it to name file:line:key when, say, a certificate
// file named in the config cannot be read.
func (c *Config) Position(key string) (file string, line int) {
	return c.Path, c.lineOf(key)
}

// Errorf returns an *Error located at key, for problems found after loading (a file that
// cannot be read, a port already in use).
func (c *Config) Errorf(key, format string, args ...any) error {
	return &Error{File: c.Path, Line: c.lineOf(key), Key: key, Msg: fmt.Sprintf(format, args...)}
}

// lineOf finds the line of key or of its nearest present ancestor.
func (c *Config) lineOf(key string) int {
	for k := key; k != ""; k = parentKey(k) {
		if line, ok := c.pos[k]; ok {
			return line
		}
	}
	return 0
}

// parentKey strips the last component of a key path: "a[0].b" -> "a[0]" -> "a" -> "".
func parentKey(key string) string {
	i := strings.LastIndexAny(key, ".[")
	if i < 0 {
		return ""
	}
	return key[:i]
}
