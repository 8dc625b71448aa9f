package config

import (
	_ "embed"
	"fmt"
	"path/filepath"
	"time"

	"github.com/tiaki-nz/tiaki"
)

// Defaults, applied to every key the file leaves out (so an empty file is a valid
// configuration: one node, loopback only, development TLS).
const (
	DefaultIssuer         = "https://127.0.0.1:8443"
	DefaultProfile        = "nz-baseline"
	DefaultAuthServerAddr = "127.0.0.1:8443"
	DefaultGatewayAddr    = "127.0.0.1:8444"
	DefaultOpsAddr        = "127.0.0.1:9090"
	DefaultAPIKeyHeader   = "API-Key"
	DefaultMaxBody        = ByteSize(1 << 20)
	// DefaultOutageGrace rides out a database restart or failover (typically well under a
	// minute) without refusing callers the gateway already knows.
	DefaultOutageGrace = 5 * time.Minute
	// DefaultBodyTimeout is limits.body_timeout's default: a 1 MiB body (DefaultMaxBody) in
	// this time takes some 35 KB/s, which a poor mobile link still manages, and a client that
	// stalls holds a connection no longer than a slow upstream may (limits.timeout's 30s).
	DefaultBodyTimeout = 30 * time.Second
	// MaxBodyTimeout is the longest limits.body_timeout (large uploads on slow links).
	MaxBodyTimeout = time.Hour
	// MaxTimeout is the longest limits.timeout: the gateway's bound on a route's upstream
	// exchange (gateway.MaxTimeout; a test in cmd/tiaki keeps the two equal).
	MaxTimeout = 5 * time.Minute
)

// applyDefaults fills every key the file left out or left empty (null). A key given a value
// keeps it, even a zero one: "authorization_code_ttl: 0s" must fail validation, not silently
// become 60s, and "prepublish: 0s" means no pre-publication.
func (c *Config) applyDefaults() {
	d := defaulter{c.set}
	setDefault(d, "issuer", &c.Issuer, DefaultIssuer)
	setDefault(d, "profile", &c.Profile, DefaultProfile)
	setDefault(d, "log.level", &c.Log.Level, "info")
	setDefault(d, "log.format", &c.Log.Format, "auto")
	setDefault(d, "listen.authserver", &c.Listen.AuthServer, DefaultAuthServerAddr)
	setDefault(d, "listen.gateway", &c.Listen.Gateway, DefaultGatewayAddr)
	setDefault(d, "listen.ops", &c.Listen.Ops, DefaultOpsAddr)
	setDefault(d, "store.driver", &c.Store.Driver, "sqlite")
	setDefault(d, "store.outage_grace", &c.Store.OutageGrace, Duration{DefaultOutageGrace})
	// ES256 signs access tokens (cheap to sign and verify). RS256 is there for ID tokens: OIDC
	// Discovery §3 has id_token_signing_alg_values_supported include it, and OIDC Registration
	// §2 makes it a client's default. FAPI 2.0 (§5.4.1) forbids RS256, so fapi2 keeps PS256.
	algs := []string{"ES256", "RS256"}
	if c.Profile == "fapi2" {
		algs = []string{"PS256", "ES256"}
	}
	setDefault(d, "keys.algorithms", &c.Keys.Algorithms, algs)
	setDefault(d, "keys.rotate_every", &c.Keys.RotateEvery, Duration{720 * time.Hour})
	setDefault(d, "keys.prepublish", &c.Keys.Prepublish, Duration{time.Hour})
	setDefault(d, "tokens.access_token_ttl", &c.Tokens.AccessTokenTTL, Duration{10 * time.Minute})
	setDefault(d, "tokens.refresh_token_ttl", &c.Tokens.RefreshTokenTTL, Duration{24 * time.Hour})
	setDefault(d, "tokens.authorization_code_ttl", &c.Tokens.AuthorizationCodeTTL, Duration{60 * time.Second})
	setDefault(d, "tokens.access_token_format", &c.Tokens.AccessTokenFormat, "jwt")
	setDefault(d, "gateway.unknown_route_status", &c.Gateway.UnknownRouteStatus, 404)
	setDefault(d, "gateway.clock_leeway", &c.Gateway.ClockLeeway, Duration{DefaultClockLeeway})
	for i := range c.APIs {
		c.APIs[i].applyDefaults(d, indexKey("apis", i))
	}
}

// Bounds of gateway.clock_leeway and auth.oauth2.clock_leeway.
const (
	// DefaultClockLeeway tolerates clocks a few seconds apart without keeping expired tokens
	// alive for long (issue 11 item 14: it was 30 s).
	DefaultClockLeeway = 5 * time.Second
	// MaxClockLeeway bounds it: past a minute, expiry means little.
	MaxClockLeeway = time.Minute
)

func (a *API) applyDefaults(d defaulter, key string) {
	setDefault(d, key+".match.path_prefix", &a.Match.PathPrefix, "/")
	setDefault(d, key+".methods", &a.Methods, []string{"GET"})
	// Secure by default: an API that names no way to authenticate asks for an API key
	// (AUTHN-01, AUTHN-06). Opening an API takes an explicit "api_key: off".
	apiKey := "off"
	if a.Auth.OAuth2 == nil && (a.Auth.MTLS == "" || a.Auth.MTLS == "off") {
		apiKey = "required"
	}
	setDefault(d, key+".auth.api_key", &a.Auth.APIKey, apiKey)
	if a.Auth.APIKey != "off" {
		setDefault(d, key+".auth.api_key_header", &a.Auth.APIKeyHeader, DefaultAPIKeyHeader)
	}
	setDefault(d, key+".auth.mtls", &a.Auth.MTLS, "off")
	if a.Auth.MTLS != "off" {
		setDefault(d, key+".auth.mtls_consumer", &a.Auth.MTLSConsumer, "subject_cn")
	}
	setDefault(d, key+".auth.require", &a.Auth.Require, "all")
	if a.Auth.OAuth2 != nil {
		setDefault(d, key+".auth.oauth2.issuers", &a.Auth.OAuth2.Issuers, []string{SelfIssuer})
	}
	setDefault(d, key+".limits.max_body", &a.Limits.MaxBody, DefaultMaxBody)
	setDefault(d, key+".limits.body_timeout", &a.Limits.BodyTimeout, Duration{DefaultBodyTimeout})
	setDefault(d, key+".limits.timeout", &a.Limits.Timeout, Duration{30 * time.Second})
	setDefault(d, key+".injection_protection", &a.InjectionProtection, "standard")
	setDefault(d, key+".consumes", &a.Consumes, []string{"application/json"})
	setDefault(d, key+".produces", &a.Produces, []string{"application/json"})
	setDefault(d, key+".rate_limit.on_store_error", &a.RateLimit.OnStoreError, "fail_open")
	if c := a.CORS; c != nil {
		setDefault(d, key+".cors.allow_methods", &c.AllowMethods, append([]string(nil), a.Methods...))
		setDefault(d, key+".cors.allow_headers", &c.AllowHeaders, a.corsHeaders())
	}
}

// corsHeaders are the request headers a browser application needs to call the API: a body's
// Content-Type, and the headers of the credentials the API accepts.
func (a *API) corsHeaders() []string {
	h := []string{"Content-Type"}
	if a.Auth.OAuth2 != nil {
		h = append(h, "Authorization", "DPoP")
	}
	if a.Auth.APIKey != "off" && a.Auth.APIKeyHeader != "" {
		h = append(h, a.Auth.APIKeyHeader)
	}
	return h
}

// defaulter knows which keys the file set.
type defaulter struct{ set map[string]bool }

func setDefault[T any](d defaulter, key string, field *T, def T) {
	if !d.set[key] {
		*field = def
	}
}

// resolvePaths makes the file paths in c absolute, relative to dir (the configuration file's
// directory), so that Tiaki finds the same files whatever its working directory.
func (c *Config) resolvePaths(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.TLS.Cert)
	abs(&c.TLS.Key)
	abs(&c.TLS.ClientCA)
	abs(&c.TLS.CRL)
	if c.Store.Driver == "sqlite" && c.Store.DSN != "" {
		p := c.Store.DSN.Reveal()
		abs(&p)
		c.Store.DSN = tiaki.Secret(p)
	}
	for i := range c.TrustedIssuers {
		abs(&c.TrustedIssuers[i].CA)
	}
	for i := range c.APIs {
		abs(&c.APIs[i].OpenAPI)
		if u := c.APIs[i].UpstreamTLS; u != nil {
			abs(&u.CA)
			abs(&u.Cert)
			abs(&u.Key)
		}
	}
}

//go:embed default.yaml
var defaultYAML []byte

// Demo holds the secrets of the demo client and user in the default configuration. cmd/tiaki
// generates them at first start and keeps them in its data directory, so they differ on every
// installation and survive restarts.
type Demo struct {
	// ClientSecret is demo-client's secret: at least 32 characters.
	ClientSecret tiaki.Secret
	// UserPassword is the demo user's password: at least 8 characters.
	UserPassword tiaki.Secret
}

// Default returns the configuration Tiaki runs when no file exists: every default, demo: true,
// and the demo API (/demo on the gateway, answered by the built-in echo backend, reachable with
// an API key or a token), the confidential client demo-client and the user demo. Call
// Validate on the result if demo may hold empty or short secrets.
func Default(demo Demo) *Config {
	c, errs := decodeFile("default.yaml", ".", defaultYAML, func(string) (string, bool) { return "", false })
	if err := errs.err(); err != nil || c == nil {
		// default.yaml is compiled in and a test decodes it: this cannot happen at run time.
		panic(fmt.Sprint("config: embedded default.yaml is broken: ", err))
	}
	c.applyDefaults()
	for i := range c.Clients {
		if c.Clients[i].ID == "demo-client" {
			c.Clients[i].Secret = demo.ClientSecret
		}
	}
	for i := range c.Users {
		if c.Users[i].Username == "demo" {
			c.Users[i].Password = demo.UserPassword
		}
	}
	return c
}

// Validate checks c as Load does. Use it after changing a Config in code (Default with
// generated secrets, a listen address overridden by a flag).
func (c *Config) Validate() error {
	errs := &errorList{file: c.Path}
	c.validate(errs)
	return errs.err()
}
