package config

import (
	"net/url"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"
)

var apiName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// Methods an API may allow. TRACE and CONNECT are refused outright: TRACE echoes credentials
// back (cross-site tracing) and CONNECT turns the gateway into a tunnel (THREAT-02).
var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

var hostName = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func (v *checker) apis() {
	names := map[string]int{}
	routes := map[string]int{}
	for i, a := range v.c.APIs {
		key := indexKey("apis", i)
		switch {
		case a.Name == "":
			v.errorf(key+".name", "is required")
		case len(a.Name) > 63 || !apiName.MatchString(a.Name):
			v.errorf(key+".name", "%s must be lowercase letters, digits and '-', starting with a letter or digit, at most 63 long", quoteShort(a.Name))
		default:
			if j, dup := names[a.Name]; dup {
				v.errorf(key+".name", "%s is already used by apis[%d]", quoteShort(a.Name), j)
			} else {
				names[a.Name] = i
			}
		}
		v.upstream(key+".upstream", a.Upstream)
		v.upstreamTLS(key+".upstream_tls", a)
		if v.match(key+".match", a.Match) {
			route := strings.ToLower(a.Match.Host) + " " + strings.TrimSuffix(a.Match.PathPrefix, "/")
			if j, dup := routes[route]; dup {
				v.errorf(key+".match", "apis[%d] already matches the same host and path_prefix", j)
			} else {
				routes[route] = i
			}
		}
		if a.ValidateResponses && a.OpenAPI == "" {
			v.errorf(key+".validate_responses", "needs an openapi document to validate against")
		}
		v.methods(key+".methods", a.Methods)
		v.upgrades(key+".upgrades", a)
		v.auth(key+".auth", a)
		v.throttles(key, a)
		if a.Limits.MaxBody <= 0 {
			v.errorf(key+".limits.max_body", "must be positive")
		}
		if d := a.Limits.BodyTimeout.Duration; d <= 0 || d > MaxBodyTimeout {
			v.errorf(key+".limits.body_timeout", "must be positive and at most 1h")
		}
		if d := a.Limits.Timeout.Duration; d <= 0 || d > MaxTimeout {
			v.errorf(key+".limits.timeout", "must be positive and at most %v", MaxTimeout)
		}
		v.oneOf(key+".injection_protection", a.InjectionProtection, "off", "standard", "strict")
	}
}

func (v *checker) upstream(key, raw string) {
	if raw == "" {
		v.errorf(key, "is required (an http(s) URL or builtin:echo)")
		return
	}
	if strings.HasPrefix(raw, "builtin:") {
		if raw != "builtin:echo" {
			v.errorf(key, "%s is not a built-in backend (want builtin:echo)", quoteShort(raw))
		}
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		v.errorf(key, "%s is not an http(s) URL or builtin:echo", quoteShort(raw))
	case u.User != nil:
		// Credentials in a URL end up in logs; backends authenticate the gateway by mTLS or
		// the signed identity assertion instead.
		v.errorf(key, "must not contain user information")
	case u.RawQuery != "" || u.Fragment != "":
		v.errorf(key, "must have no query or fragment")
	}
}

// upstreamTLS checks the TLS settings for the upstream; the files are read when the gateway
// is built, where a missing or broken one is reported at this key too.
func (v *checker) upstreamTLS(key string, a API) {
	u := a.UpstreamTLS
	if u == nil {
		return
	}
	if !strings.HasPrefix(a.Upstream, "https://") {
		v.errorf(key, "needs an https upstream")
	}
	switch {
	case u.CA == "" && u.Cert == "" && u.Key == "":
		v.errorf(key, "set ca, or cert and key, or both")
	case u.Cert != "" && u.Key == "":
		v.errorf(key+".key", "is required with cert")
	case u.Key != "" && u.Cert == "":
		v.errorf(key+".cert", "is required with key")
	}
}

// match checks host and path_prefix; false if the route cannot be compared with others.
func (v *checker) match(key string, m Match) bool {
	ok := true
	if m.Host != "" && (len(m.Host) > 253 || !hostName.MatchString(strings.ToLower(m.Host))) {
		v.errorf(key+".host", "%s is not a host name (no port, no scheme)", quoteShort(m.Host))
		ok = false
	}
	p := m.PathPrefix
	switch {
	case !strings.HasPrefix(p, "/"):
		v.errorf(key+".path_prefix", "%s must start with /", quoteShort(p))
		ok = false
	case strings.ContainsAny(p, "?#*") || strings.Contains(p, "//") || slices.Contains(strings.Split(p, "/"), ".."):
		v.errorf(key+".path_prefix", "%s must be a plain path: no query, fragment, wildcard, // or ..", quoteShort(p))
		ok = false
	case strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		v.errorf(key+".path_prefix", "must not contain spaces or control characters")
		ok = false
	}
	return ok
}

func (v *checker) methods(key string, methods []string) {
	if len(methods) == 0 {
		v.errorf(key, "list at least one method")
	}
	for i, m := range methods {
		mk := indexKey(key, i)
		switch {
		case m == "TRACE" || m == "CONNECT":
			v.errorf(mk, "%s is never allowed (THREAT-02)", m)
		case strings.ToUpper(m) != m && slices.Contains(httpMethods, strings.ToUpper(m)):
			v.errorf(mk, "%s: methods are case-sensitive (RFC 9110 §9.1); write %s", quoteShort(m), strings.ToUpper(m))
		case !slices.Contains(httpMethods, m):
			v.errorf(mk, "%s is not allowed (want %s)", quoteShort(m), strings.Join(httpMethods, ", "))
		case slices.Index(methods, m) < i:
			v.errorf(mk, "%s is listed twice", m)
		}
	}
}

// Protocols an API may let requests upgrade to. h2c never: the upgraded connection would
// carry HTTP/2 streams past every policy, and RFC 9113 §3.1 retired the upgrade to h2c.
var upgradeProtocols = []string{"websocket"}

func (v *checker) upgrades(key string, a API) {
	for i, p := range a.Upgrades {
		pk := indexKey(key, i)
		switch {
		case strings.EqualFold(p, "h2c"):
			v.errorf(pk, "h2c is never forwarded: its HTTP/2 streams would bypass the gateway's checks (want websocket)")
		case strings.ToLower(p) != p && slices.Contains(upgradeProtocols, strings.ToLower(p)):
			v.errorf(pk, "%s: write %s", quoteShort(p), strings.ToLower(p))
		case !slices.Contains(upgradeProtocols, p):
			v.errorf(pk, "%s is not allowed (want %s)", quoteShort(p), strings.Join(upgradeProtocols, " | "))
		case slices.Index(a.Upgrades, p) < i:
			v.errorf(pk, "%s is listed twice", p)
		case p == "websocket" && !slices.Contains(a.Methods, "GET"):
			// RFC 6455 §4.1: the opening handshake is a GET.
			v.errorf(pk, "websocket needs GET in methods: the opening handshake is a GET (RFC 6455 §4.1)")
		}
	}
}

func (v *checker) auth(key string, a API) {
	au := a.Auth
	v.oneOf(key+".api_key", au.APIKey, "required", "optional", "off")
	v.oneOf(key+".mtls", au.MTLS, "required", "optional", "off")
	v.oneOf(key+".require", au.Require, "all", "any")
	if au.APIKey == "off" && au.APIKeyHeader != "" {
		v.errorf(key+".api_key_header", "is set but api_key is off")
	}
	if au.APIKey != "off" && au.APIKeyHeader == "" {
		v.errorf(key+".api_key_header", "must name a header when api_key is %s", au.APIKey)
	}
	if h := au.APIKeyHeader; h != "" {
		switch {
		case !validHeaderName(h):
			v.errorf(key+".api_key_header", "%s is not a valid header name (RFC 9110 §5.1)", quoteShort(h))
		case strings.HasPrefix(strings.ToLower(h), "x-"):
			// KEY-08: Part C forbids X- prefixed header names (RFC 6648).
			v.errorf(key+".api_key_header", "%s must not start with X- (RFC 6648, KEY-08)", quoteShort(h))
		case strings.EqualFold(h, "Authorization"):
			v.errorf(key+".api_key_header", "the Authorization header is for authorization credentials, not API keys (KEY-09)")
		}
	}
	if au.MTLS != "off" && v.c.TLS.ClientCA == "" {
		v.errorf(key+".mtls", "needs tls.client_ca to verify client certificates")
	}
	if o := au.OAuth2; o != nil {
		ok := key + ".oauth2"
		if o.Audience == "" {
			v.errorf(ok+".audience", "is required: tokens for this API must name it in aud (RFC 8707 §2)")
		} else if u, err := url.Parse(o.Audience); err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(o.Audience, "#") {
			v.errorf(ok+".audience", "%s must be an absolute URI without a fragment (RFC 8707 §2)", quoteShort(o.Audience))
		}
		if o.ClockLeeway.Duration != 0 {
			v.clockLeeway(ok+".clock_leeway", o.ClockLeeway)
		}
		for _, m := range sortedKeys(o.Scopes) {
			sk := ok + ".scopes." + m
			if !slices.Contains(a.Methods, m) {
				v.errorf(sk, "%s is not in this API's methods", quoteShort(m))
			}
			for j, s := range o.Scopes[m] {
				if p := scopeProblem(s); p != "" {
					v.errorf(indexKey(sk, j), "%s", p)
				}
			}
		}
	}
}

func (v *checker) throttles(key string, a API) {
	if a.RateLimit.Burst < 0 {
		v.errorf(key+".rate_limit.burst", "must not be negative")
	}
	// Per-consumer limits count by authenticated identity: with no authentication there is
	// no consumer to count.
	noAuth := a.Auth.Mechanisms() == 0
	if noAuth && !a.RateLimit.PerConsumer.IsZero() {
		v.errorf(key+".rate_limit.per_consumer", "needs authentication on this API (api_key, oauth2 or mtls); use per_ip")
	}
	if noAuth && !a.Quota.PerConsumer.IsZero() {
		v.errorf(key+".quota.per_consumer", "needs authentication on this API (api_key, oauth2 or mtls)")
	}
}

// validHeaderName reports whether s is an RFC 9110 §5.6.2 token of at most 128 bytes.
func validHeaderName(s string) bool { return len(s) <= 128 && httpguts.ValidHeaderFieldName(s) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
