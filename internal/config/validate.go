package config

import (
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// checker validates a decoded, defaulted Config. Every check reports through errorf with the
// key path of the offending value; none stops the others.
type checker struct {
	c    *Config
	errs *errorList
}

func (v *checker) errorf(key, format string, args ...any) {
	if v.errs.related(key) {
		return // already reported as a decoding error
	}
	v.errs.add(v.c.lineOf(key), key, format, args...)
}

// oneOf checks that val is one of allowed.
func (v *checker) oneOf(key, val string, allowed ...string) bool {
	if slices.Contains(allowed, val) {
		return true
	}
	v.errorf(key, "%s is not allowed (want %s)", quoteShort(val), strings.Join(allowed, " | "))
	return false
}

func (c *Config) validate(errs *errorList) {
	v := &checker{c: c, errs: errs}
	v.oneOf("profile", c.Profile, "nz-baseline", "fapi2")
	v.issuer()
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "auto", "text", "json")
	v.listen()
	v.tls()
	v.store()
	if c.Redis.Addr != "" {
		v.hostPort("redis.addr", c.Redis.Addr, false)
	}
	v.keys()
	v.tokens()
	v.gateway()
	v.users()
	v.clients()
	v.apis()
	v.trustedIssuers()
	v.rateLimits()
	v.mtlsConsumers()
	v.cors()
	v.mediaTypes()
	if c.Profile == "fapi2" {
		v.fapi2()
	}
}

func (v *checker) issuer() {
	// RFC 8414 §2: the issuer is an https URL with no query or fragment; clients compare it
	// exactly (RFC 9207), so it is checked here rather than discovered at run time.
	u, err := url.Parse(v.c.Issuer)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "":
		v.errorf("issuer", "%s is not an absolute URL", quoteShort(v.c.Issuer))
	case u.Scheme != "https":
		v.errorf("issuer", "must use https (RFC 8414 §2)")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(v.c.Issuer, "#"):
		v.errorf("issuer", "must have no query or fragment (RFC 8414 §2)")
	case u.User != nil:
		v.errorf("issuer", "must not contain user information")
	}
}

// hostPort checks a listen or dial address "host:port"; port 0 (any free port) only for
// listeners.
func (v *checker) hostPort(key, addr string, listen bool) (host string, port int, ok bool) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		v.errorf(key, "%s is not host:port", quoteShort(addr))
		return "", 0, false
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !listen) {
		v.errorf(key, "%s has no valid port", quoteShort(addr))
		return "", 0, false
	}
	if !listen && h == "" {
		v.errorf(key, "%s has no host", quoteShort(addr))
		return "", 0, false
	}
	if strings.ContainsAny(h, " /\\@?#") {
		v.errorf(key, "%s has no valid host", quoteShort(addr))
		return "", 0, false
	}
	return h, n, true
}

func (v *checker) listen() {
	type addr struct {
		key, host string
		port      int
	}
	var seen []addr
	for _, l := range []struct{ key, val string }{
		{"listen.authserver", v.c.Listen.AuthServer},
		{"listen.gateway", v.c.Listen.Gateway},
		{"listen.ops", v.c.Listen.Ops},
	} {
		h, p, ok := v.hostPort(l.key, l.val, true)
		if !ok {
			continue
		}
		for _, s := range seen {
			// Port 0 asks the system for a free port, so two of them never collide; a wildcard
			// host collides with every host on the same port.
			if p != 0 && p == s.port && (h == s.host || isWildcard(h) || isWildcard(s.host)) {
				v.errorf(l.key, "%s collides with %s (%s)", quoteShort(l.val), s.key, quoteShort(net.JoinHostPort(s.host, strconv.Itoa(s.port))))
			}
		}
		seen = append(seen, addr{l.key, h, p})
	}
}

func isWildcard(host string) bool { return host == "" || host == "0.0.0.0" || host == "::" }

func (v *checker) tls() {
	t := v.c.TLS
	if (t.Cert == "") != (t.Key == "") {
		missing := "tls.key"
		if t.Cert == "" {
			missing = "tls.cert"
		}
		v.errorf(missing, "tls.cert and tls.key go together: give both, or neither for the development CA")
	}
	if t.CRL != "" && t.ClientCA == "" {
		v.errorf("tls.crl", "a CRL lists revoked client certificates, so it needs tls.client_ca")
	}
}

func (v *checker) store() {
	if !v.oneOf("store.driver", v.c.Store.Driver, "sqlite", "postgres") {
		return
	}
	if v.c.Store.Driver == "postgres" && v.c.Store.DSN == "" {
		v.errorf("store.dsn", "postgres needs a dsn (postgres://user@host:5432/tiaki)")
	}
	if g := v.c.Store.OutageGrace.Duration; g < 0 || g > time.Hour {
		v.errorf("store.outage_grace", "%v must be between 0s (no grace) and 1h", g)
	}
}

// Signing algorithms Tiaki can use. HS* is absent (a shared key cannot be published in a JWKS)
// and so is none (RFC 8725 §3.1).
var signingAlgorithms = []string{"PS256", "ES256", "RS256", "EdDSA"}

func (v *checker) keys() {
	k := v.c.Keys
	if len(k.Algorithms) == 0 {
		v.errorf("keys.algorithms", "list at least one signing algorithm (%s)", strings.Join(signingAlgorithms, ", "))
	}
	for i, alg := range k.Algorithms {
		key := indexKey("keys.algorithms", i)
		if v.oneOf(key, alg, signingAlgorithms...) && slices.Index(k.Algorithms, alg) < i {
			v.errorf(key, "%s is listed twice", alg)
		}
	}
	if k.RotateEvery.Duration < time.Hour {
		v.errorf("keys.rotate_every", "must be at least 1h: every rotation makes verifiers refetch the JWKS")
	}
	if k.Prepublish.Duration < 0 || k.Prepublish.Duration >= k.RotateEvery.Duration {
		v.errorf("keys.prepublish", "must be at least 0 and shorter than keys.rotate_every (%s)", k.RotateEvery)
	}
}

func (v *checker) tokens() {
	t := v.c.Tokens
	positive := func(key string, d Duration) bool {
		if d.Duration <= 0 {
			v.errorf(key, "must be positive")
			return false
		}
		return true
	}
	if positive("tokens.access_token_ttl", t.AccessTokenTTL) && t.AccessTokenTTL.Duration > time.Hour {
		// TOKEN-07: Part B recommends access tokens live at most 60 minutes.
		v.errorf("tokens.access_token_ttl", "%s is longer than 1h (TOKEN-07: access tokens live at most 60 minutes)", t.AccessTokenTTL)
	}
	if positive("tokens.authorization_code_ttl", t.AuthorizationCodeTTL) && t.AuthorizationCodeTTL.Duration > 10*time.Minute {
		// RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED."
		v.errorf("tokens.authorization_code_ttl", "%s is longer than 10m (RFC 6749 §4.1.2)", t.AuthorizationCodeTTL)
	}
	if positive("tokens.refresh_token_ttl", t.RefreshTokenTTL) && t.RefreshTokenTTL.Duration <= t.AccessTokenTTL.Duration {
		v.errorf("tokens.refresh_token_ttl", "%s must be longer than access_token_ttl (%s), or refresh tokens are useless", t.RefreshTokenTTL, t.AccessTokenTTL)
	}
	v.oneOf("tokens.access_token_format", t.AccessTokenFormat, "jwt", "opaque")
}

func (v *checker) gateway() {
	g := v.c.Gateway
	if g.UnknownRouteStatus != 404 && g.UnknownRouteStatus != 501 {
		v.errorf("gateway.unknown_route_status", "%d is not allowed (want 404 | 501)", g.UnknownRouteStatus)
	}
	v.clockLeeway("gateway.clock_leeway", g.ClockLeeway)
	for i, p := range g.TrustedProxies {
		key := indexKey("gateway.trusted_proxies", i)
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				v.errorf(key, "%s is not an IP address or CIDR prefix", quoteShort(p))
			}
		}
	}
}

// clockLeeway checks a clock leeway: 1s to MaxClockLeeway.
func (v *checker) clockLeeway(key string, d Duration) {
	if d.Duration < time.Second || d.Duration > MaxClockLeeway {
		v.errorf(key, "%s is not between 1s and %s", d, MaxClockLeeway)
	}
}

// fapi2 applies the FAPI 2.0 Security Profile's configuration-level rules.
func (v *checker) fapi2() {
	// FAPI 2.0 Security Profile §5.4.1: PS256, ES256 or EdDSA only.
	for i, alg := range v.c.Keys.Algorithms {
		if alg == "RS256" {
			v.errorf(indexKey("keys.algorithms", i), "RS256 is not allowed with profile fapi2 (FAPI 2.0 §5.4.1: PS256, ES256 or EdDSA)")
		}
	}
	// FAPI 2.0 Security Profile §5.3.2.2: authorization codes live at most 60 seconds.
	if v.c.Tokens.AuthorizationCodeTTL.Duration > time.Minute {
		v.errorf("tokens.authorization_code_ttl", "must be at most 60s with profile fapi2 (FAPI 2.0 §5.3.2.2)")
	}
	for i, cl := range v.c.Clients {
		// FAPI 2.0 Security Profile §5.3.2.1: confidential clients only, authenticated with
		// mTLS or private_key_jwt.
		switch cl.AuthMethod {
		case "private_key_jwt", "tls_client_auth":
		default:
			if !cl.AuthMethod.Valid() {
				continue // reported by clients()
			}
			v.errorf(indexKey("clients", i)+".auth_method", "%s is not allowed with profile fapi2 (FAPI 2.0 §5.3.2.1: private_key_jwt or tls_client_auth)", quoteShort(string(cl.AuthMethod)))
		}
	}
}
