package gateway

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
)

// Route limits.
const (
	// DefaultTimeout applies when Route.Timeout is zero.
	DefaultTimeout = 30 * time.Second
	// MaxTimeout is the longest Route.Timeout, and the transport's backstop for the wait for
	// response headers.
	MaxTimeout = 5 * time.Minute
	// DefaultMaxBody applies when Route.MaxBody is zero.
	DefaultMaxBody int64 = 1 << 20
	// DefaultBodyTimeout applies when Route.BodyTimeout is zero: DefaultMaxBody in this time
	// takes some 35 KB/s, which a poor mobile link still manages, while a client that stalls
	// holds a connection no longer than a slow upstream may (DefaultTimeout).
	DefaultBodyTimeout = 30 * time.Second
	// MaxBodyTimeout is the longest Route.BodyTimeout (large uploads on slow links).
	MaxBodyTimeout = time.Hour
)

// Route is one API behind the gateway: where requests for it arrive, what they must pass, and
// where they go.
type Route struct {
	// Name identifies the route (the API's name in config, logs and API keys).
	Name string
	// Host, when set, restricts the route to requests for this host (exact, case-insensitive,
	// port ignored). Routes for a host are preferred to host-less routes.
	Host string
	// PathPrefix is matched on whole segments: /demo matches /demo and /demo/x, not /demox.
	// The longest matching prefix wins. Empty means "/".
	PathPrefix string
	// StripPrefix removes PathPrefix before the request goes upstream.
	StripPrefix bool
	// Upstream is the backend's base URL (http or https, no credentials).
	Upstream *url.URL
	// UpstreamHandler serves the route in process instead of Upstream (the demo echo, tests).
	UpstreamHandler http.Handler
	// UpstreamTLS configures TLS to an https Upstream (roots, client certificate for mTLS);
	// TLS 1.3 with the system roots if nil.
	UpstreamTLS *tls.Config
	// Methods allowed; others get 405 with Allow (catalogue HTTP-01). HEAD is allowed when GET
	// is, and OPTIONS is answered by the gateway unless listed. At least one is required.
	Methods []string
	// Policies run in order before the upstream is called; already built.
	Policies []policy.Policy
	// CORS, when set, answers the route's CORS preflights before the method allow-list and the
	// policies, and sets the CORS headers of every other response of the route.
	CORS policy.CrossOrigin
	// Timeout bounds the whole upstream exchange: DefaultTimeout if zero, none if negative
	// (then only the transport's MaxTimeout wait for response headers applies).
	Timeout time.Duration
	// MaxBody bounds the request body in bytes: DefaultMaxBody if zero, none if negative.
	MaxBody int64
	// BodyTimeout bounds the time the request body takes to arrive, from the end of the
	// request header to the body's last byte (408 after it): DefaultBodyTimeout if zero, none
	// if negative.
	BodyTimeout time.Duration
	// CredentialHeaders name request headers that carry credentials besides Authorization and
	// DPoP (the API key header). Unless ForwardCredentials is set, none of them reaches the
	// upstream: it receives the identity assertion instead, so a backend compromise or log
	// leaks no caller's credential.
	CredentialHeaders []string
	// ForwardCredentials passes Authorization, DPoP and CredentialHeaders to the upstream.
	ForwardCredentials bool
	// Upgrades lists the protocols a request may switch to (RFC 9110 §7.8): only "websocket"
	// can be enabled. A request offering another protocol goes upstream as a plain request,
	// without Upgrade; h2c and HTTP2-Settings never pass (see route.upgrade).
	Upgrades []string
}

// methodSet is a set of the methods a route may allow, one bit each.
type methodSet uint8

const (
	mGet methodSet = 1 << iota
	mHead
	mPost
	mPut
	mPatch
	mDelete
	mOptions
)

// methods in the order Allow lists them. CONNECT and TRACE are never allowed: neither has a
// place in a REST API, and TRACE reflects credentials (cross-site tracing).
var methods = [...]struct {
	name string
	bit  methodSet
}{
	{http.MethodGet, mGet}, {http.MethodHead, mHead}, {http.MethodPost, mPost},
	{http.MethodPut, mPut}, {http.MethodPatch, mPatch}, {http.MethodDelete, mDelete},
	{http.MethodOptions, mOptions},
}

// methodBit returns the bit of an allowed method, 0 for any other (methods are case-sensitive,
// RFC 9110 §9.1).
func methodBit(m string) methodSet {
	switch m {
	case http.MethodGet:
		return mGet
	case http.MethodHead:
		return mHead
	case http.MethodPost:
		return mPost
	case http.MethodPut:
		return mPut
	case http.MethodPatch:
		return mPatch
	case http.MethodDelete:
		return mDelete
	case http.MethodOptions:
		return mOptions
	}
	return 0
}

// route is a Route compiled for serving.
type route struct {
	Route
	host, prefix string
	methods      methodSet
	allow        []string // the Allow header's value
	notAllowed   *policy.Denial
	tooLarge     *policy.Denial
	maxBody      int64         // negative: none
	bodyTimeout  time.Duration // negative: none
	timeout      time.Duration
	checks       []policy.Checker
	next         http.Handler // the rest of the pipeline, ending at the upstream
	// credentials are the canonical names of the request headers not forwarded upstream.
	credentials []string
	// audience is the "aud" of the identity assertion: the upstream's URL.
	audience string
	// latency observes the route's request durations; nil without metrics.
	latency prometheus.Observer
}

// table is an immutable compiled route table; Swap replaces it whole.
type table struct {
	hosts   map[string]map[string]*route // host → prefix → route
	anyHost map[string]*route            // prefix → route, for routes without Host
	owned   []*syncTransport             // transports made for routes with UpstreamTLS
}

// match finds the route for a request, or nil.
func (t *table) match(host, path string) *route {
	if len(t.hosts) > 0 {
		if byPrefix := t.hosts[normalHost(host)]; byPrefix != nil {
			if rt := longestPrefix(byPrefix, path); rt != nil {
				return rt
			}
		}
	}
	return longestPrefix(t.anyHost, path)
}

// longestPrefix walks path's segment boundaries from the longest to "/", so a lookup costs one
// map probe per path segment whatever the number of routes.
func longestPrefix(m map[string]*route, path string) *route {
	if len(m) == 0 {
		return nil
	}
	for i := len(path); i > 0; i = strings.LastIndexByte(path[:i], '/') {
		if rt := m[path[:i]]; rt != nil {
			return rt
		}
	}
	return m["/"]
}

// normalHost lower-cases a Host header and drops its port, IPv6 brackets and trailing dot.
func normalHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	h = strings.TrimSuffix(h, ".")
	return strings.ToLower(h) // no allocation when already lower case
}

// compileRoute validates r and fills in everything serving needs except the pipeline.
func compileRoute(r Route) (*route, error) {
	rt := &route{Route: r}
	if r.Name == "" {
		return nil, fmt.Errorf("name is required: %w", tiaki.ErrInvalid)
	}
	if r.Host != "" {
		rt.host = normalHost(r.Host)
		if rt.host == "" || strings.ContainsAny(rt.host, "/ \t@?#") {
			return nil, fmt.Errorf("host %q: not a host name: %w", r.Host, tiaki.ErrInvalid)
		}
	}
	prefix, err := normalPrefix(r.PathPrefix)
	if err != nil {
		return nil, err
	}
	rt.prefix = prefix
	switch {
	case (r.Upstream == nil) == (r.UpstreamHandler == nil):
		return nil, fmt.Errorf("set exactly one of upstream and upstream handler: %w", tiaki.ErrInvalid)
	case r.Upstream != nil:
		u := r.Upstream
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
			return nil, fmt.Errorf("upstream %q: must be an http or https URL without credentials: %w", u.Redacted(), tiaki.ErrInvalid)
		}
		if r.UpstreamTLS != nil && u.Scheme != "https" {
			return nil, fmt.Errorf("upstream TLS settings need an https upstream: %w", tiaki.ErrInvalid)
		}
	}
	if len(r.Methods) == 0 {
		return nil, fmt.Errorf("methods: at least one method is required: %w", tiaki.ErrInvalid)
	}
	for _, m := range r.Methods {
		bit := methodBit(strings.ToUpper(m))
		if bit == 0 {
			return nil, fmt.Errorf("method %q: not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS: %w", m, tiaki.ErrInvalid)
		}
		rt.methods |= bit
	}
	if rt.methods&mGet != 0 {
		rt.methods |= mHead // RFC 9110 §9.3.2: HEAD is GET without the body
	}
	var names []string
	for _, m := range methods {
		if rt.methods&m.bit != 0 || m.bit == mOptions {
			names = append(names, m.name)
		}
	}
	rt.allow = []string{strings.Join(names, ", ")}
	rt.notAllowed = &policy.Denial{Status: http.StatusMethodNotAllowed, Type: "method-not-allowed",
		Title: "Method not allowed", Detail: "This resource supports " + rt.allow[0] + ".",
		Allow: names, Reason: "method not allowed"}

	switch {
	case r.Timeout == 0:
		rt.timeout = DefaultTimeout
	case r.Timeout > MaxTimeout:
		return nil, fmt.Errorf("timeout %v: at most %v: %w", r.Timeout, MaxTimeout, tiaki.ErrInvalid)
	default:
		rt.timeout = r.Timeout
	}
	switch {
	case r.BodyTimeout == 0:
		rt.bodyTimeout = DefaultBodyTimeout
	case r.BodyTimeout > MaxBodyTimeout:
		return nil, fmt.Errorf("body timeout %v: at most %v: %w", r.BodyTimeout, MaxBodyTimeout, tiaki.ErrInvalid)
	default:
		rt.bodyTimeout = r.BodyTimeout
	}
	rt.maxBody = r.MaxBody
	if rt.maxBody == 0 {
		rt.maxBody = DefaultMaxBody
	}
	rt.tooLarge = &policy.Denial{Status: http.StatusRequestEntityTooLarge, Type: "payload-too-large",
		Title: "Payload too large", Detail: fmt.Sprintf("The request body must not exceed %d bytes.", rt.maxBody),
		Reason: "request body over the route's limit"}
	for i, p := range r.Policies {
		if p == nil {
			return nil, fmt.Errorf("policy %d is nil: %w", i, tiaki.ErrInvalid)
		}
	}
	if !r.ForwardCredentials {
		rt.credentials = []string{"Authorization", "Dpop", "Proxy-Authorization"}
		for _, h := range r.CredentialHeaders {
			if h == "" || strings.ContainsAny(h, " :\r\n") {
				return nil, fmt.Errorf("credential header %q: not a header name: %w", h, tiaki.ErrInvalid)
			}
			if c := http.CanonicalHeaderKey(h); !slices.Contains(rt.credentials, c) {
				rt.credentials = append(rt.credentials, c)
			}
		}
	}
	for _, p := range r.Upgrades {
		if !slices.Contains(upgradable, p) {
			return nil, fmt.Errorf("upgrade %q: only %s can be enabled: %w", p, strings.Join(upgradable, ", "), tiaki.ErrInvalid)
		}
	}
	rt.Upgrades = slices.Clone(r.Upgrades)
	if r.Upstream != nil {
		rt.audience = r.Upstream.String()
	} else {
		rt.audience = "builtin:" + r.Name
	}
	return rt, nil
}

// normalPrefix validates a path prefix and returns it without a trailing slash ("/" for the
// root), the form longestPrefix looks up.
func normalPrefix(p string) (string, error) {
	if p == "" || p == "/" {
		return "/", nil
	}
	if p[0] != '/' || strings.Contains(p, "//") || dotSegments(p) || strings.ContainsAny(p, "?#%") {
		return "", fmt.Errorf("path prefix %q: must be an absolute, clean path: %w", p, tiaki.ErrInvalid)
	}
	return strings.TrimSuffix(p, "/"), nil
}

// dotSegments reports whether a decoded path holds a "." or ".." segment (also separated by
// backslashes, or ended by ";" as Tomcat reads "..;"), or control characters. Such paths are
// refused rather than forwarded: an upstream that resolves "/public/../admin" would otherwise
// see a path that no route matched (RFC 3986 §5.2.4 is the upstream's to apply, not ours).
func dotSegments(p string) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < 0x20 || c == 0x7f {
			return true
		}
		if c != '.' || i > 0 && p[i-1] != '/' && p[i-1] != '\\' {
			continue
		}
		j := i + 1
		if j < len(p) && p[j] == '.' {
			j++
		}
		if j == len(p) || p[j] == '/' || p[j] == '\\' || p[j] == ';' {
			return true
		}
	}
	return false
}

// strip removes the route's prefix from u (a copy of the request URL), keeping RawPath
// consistent. It fails when the prefix ends at an encoded slash, which would hand the upstream
// a path that does not start with "/".
func (rt *route) strip(u *url.URL) bool {
	if rt.prefix == "/" {
		return true
	}
	rest := u.Path[len(rt.prefix):]
	if u.RawPath != "" {
		j := rawIndex(u.RawPath, len(rt.prefix))
		if j < 0 || j < len(u.RawPath) && u.RawPath[j] != '/' {
			return false
		}
		u.RawPath = u.RawPath[j:]
	}
	if rest == "" {
		rest = "/"
	}
	u.Path = rest
	return true
}

// rawIndex returns the index in an escaped path where its first n decoded bytes end, or -1.
func rawIndex(raw string, n int) int {
	j := 0
	for ; n > 0 && j < len(raw); n-- {
		if raw[j] == '%' {
			j += 3
		} else {
			j++
		}
	}
	if n > 0 || j > len(raw) {
		return -1
	}
	return j
}

// upgradable are the protocols a route may enable in Upgrades. Never h2c: the connection
// would carry HTTP/2 streams the gateway tunnels without a key check, identity assertion or
// audit line (and RFC 9113 §3.1 retired the upgrade to h2c).
var upgradable = []string{"websocket"}

// upgrade leaves in h only the protocol upgrades the route enables (RFC 9110 §7.8). Any other
// protocol is removed from Upgrade, and a request left offering none goes on as a plain
// request, Upgrade and its Connection token removed: a server may ignore an upgrade, and this
// is what nginx forwards by default (a client offering h2c carries on with HTTP/1.1).
// HTTP2-Settings, which only an upgrade to h2c uses, never passes.
func (rt *route) upgrade(h http.Header) {
	offered, up := h["Upgrade"]
	_, settings := h["Http2-Settings"]
	if !up && !settings {
		return
	}
	delete(h, "Http2-Settings")
	var kept []string
	for _, v := range offered {
		for p := range strings.SplitSeq(v, ",") {
			p = textproto.TrimString(p)
			name, _, _ := strings.Cut(p, "/")
			if p != "" && slices.ContainsFunc(rt.Upgrades, func(u string) bool { return strings.EqualFold(u, name) }) {
				kept = append(kept, p)
			}
		}
	}
	dropUpgrade := len(kept) == 0
	if dropUpgrade {
		delete(h, "Upgrade")
	} else {
		h["Upgrade"] = []string{strings.Join(kept, ", ")}
	}
	var conn []string
	for _, v := range h["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			tok = textproto.TrimString(tok)
			if tok == "" || strings.EqualFold(tok, "HTTP2-Settings") || dropUpgrade && strings.EqualFold(tok, "Upgrade") {
				continue
			}
			conn = append(conn, tok)
		}
	}
	if len(conn) == 0 {
		delete(h, "Connection")
	} else {
		h["Connection"] = []string{strings.Join(conn, ", ")}
	}
}
