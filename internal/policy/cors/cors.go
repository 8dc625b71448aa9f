// Package cors is the cross-origin resource sharing policy: it lets a browser application on
// another origin call an API through the gateway, following the CORS protocol of the Fetch
// standard (https://fetch.spec.whatwg.org/#http-cors-protocol). Start with New and Rules.
//
// A CORS policy acts at two moments, so it does not have the Checker shape. A preflight (an
// OPTIONS request with Origin and Access-Control-Request-Method) is answered by the gateway
// before the method allow-list and before authentication, since browsers send preflights without
// credentials: Rules.Preflight. Every other request of the route passes through the pipeline as
// usual, and its response, whoever wrote it (the upstream, or a denial such as a 401 the
// application must be able to read), gets the CORS response headers: Rules.Actual. A request
// from an origin that is not allowed gets no CORS headers at all, so the browser withholds the
// response from the calling script.
package cors

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
)

// MaxMaxAge bounds Config.MaxAge: browsers cap the preflight cache anyway (Firefox at 24 hours,
// Chromium at 2), and a long cache delays a tightened policy.
const MaxMaxAge = 24 * time.Hour

// maxRequestHeaders bounds the header names one preflight may ask for, so a preflight costs a
// bounded amount of work whatever it carries.
const maxRequestHeaders = 64

// Config is one API's CORS policy.
type Config struct {
	// AllowOrigins are the origins whose scripts may call the API: "scheme://host[:port]"
	// (matched exactly after normalising, see ParseOrigin), "scheme://*.domain[:port]" for
	// every subdomain of domain, or "*" for any origin (refused with AllowCredentials). At least
	// one.
	AllowOrigins []string
	// AllowMethods may be used by cross-origin requests (Access-Control-Allow-Methods). At
	// least one; methods are case-sensitive (RFC 9110 §9.1).
	AllowMethods []string
	// AllowHeaders are the request headers a cross-origin request may send, case-insensitive;
	// "*" allows any except Authorization (as the Fetch standard reads the wildcard), and is
	// refused with AllowCredentials.
	AllowHeaders []string
	// ExposeHeaders are the response headers, beyond the CORS-safelisted ones, that scripts may
	// read (Access-Control-Expose-Headers); "*" exposes all, refused with AllowCredentials.
	ExposeHeaders []string
	// AllowCredentials lets requests carry cookies or TLS client certificates and their
	// responses be read (Access-Control-Allow-Credentials: true).
	AllowCredentials bool
	// MaxAge is how long a browser may cache a preflight's answer; 0 sends no
	// Access-Control-Max-Age (browsers then cache for 5 seconds). At most MaxMaxAge.
	MaxAge time.Duration
}

// Rules is one API's compiled CORS policy. It implements policy.CrossOrigin.
type Rules struct {
	anyOrigin   bool            // "*" listed
	origins     map[string]bool // exact, normalised origins
	wildcards   []wildcard      // "scheme://*.domain[:port]" entries
	credentials bool

	methods   []string
	headers   map[string]bool // lower-case names
	anyHeader bool

	// Header values, built once and shared by every response (len == cap, so an Add by
	// anyone downstream copies rather than writes into them).
	allowMethods, expose, maxAge []string

	refused *policy.Denial
}

var _ policy.CrossOrigin = (*Rules)(nil)

// wildcard is an allowed origin pattern "scheme://*.domain[:port]", kept as the text before
// and after the "*".
type wildcard struct{ prefix, suffix string }

// Header names, in canonical form so the map lookups allocate nothing.
const (
	hAllowOrigin      = "Access-Control-Allow-Origin"
	hAllowCredentials = "Access-Control-Allow-Credentials"
	hAllowMethods     = "Access-Control-Allow-Methods"
	hAllowHeaders     = "Access-Control-Allow-Headers"
	hExposeHeaders    = "Access-Control-Expose-Headers"
	hMaxAge           = "Access-Control-Max-Age"
	hRequestMethod    = "Access-Control-Request-Method"
	hRequestHeaders   = "Access-Control-Request-Headers"
)

// responseHeaders are the CORS response headers. A route with a CORS policy owns them: an
// upstream's are removed, so a response never carries two answers.
var responseHeaders = [...]string{hAllowOrigin, hAllowCredentials, hAllowMethods, hAllowHeaders, hExposeHeaders, hMaxAge}

var (
	star          = []string{"*"}
	trueValue     = []string{"true"}
	preflightVary = []string{"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}
)

// New validates cfg and builds the policy.
func New(cfg Config) (*Rules, error) {
	ru := &Rules{origins: map[string]bool{}, headers: map[string]bool{}, credentials: cfg.AllowCredentials}
	if len(cfg.AllowOrigins) == 0 {
		return nil, fmt.Errorf("cors: allow_origins: list at least one origin: %w", tiaki.ErrInvalid)
	}
	for _, o := range cfg.AllowOrigins {
		n, err := ParseOrigin(o)
		if err != nil {
			return nil, fmt.Errorf("cors: allow_origins: %w: %w", err, tiaki.ErrInvalid)
		}
		switch {
		case n == "*":
			ru.anyOrigin = true
		case strings.Contains(n, "*"):
			i := strings.IndexByte(n, '*')
			ru.wildcards = append(ru.wildcards, wildcard{prefix: n[:i], suffix: n[i+1:]})
		default:
			ru.origins[n] = true
		}
	}
	if ru.anyOrigin && cfg.AllowCredentials {
		// Fetch §3.3.4: a credentialed response must name the origin; "*" would let every site
		// read what the user's cookies or certificate unlock.
		return nil, fmt.Errorf("cors: allow_origins: \"*\" cannot be combined with allow_credentials: list the origins: %w", tiaki.ErrInvalid)
	}
	if len(cfg.AllowMethods) == 0 {
		return nil, fmt.Errorf("cors: allow_methods: list at least one method: %w", tiaki.ErrInvalid)
	}
	for _, m := range cfg.AllowMethods {
		if !token(m) {
			return nil, fmt.Errorf("cors: allow_methods: %q is not a method: %w", m, tiaki.ErrInvalid)
		}
		if !slices.Contains(ru.methods, m) {
			ru.methods = append(ru.methods, m)
		}
	}
	if slices.Contains(ru.methods, http.MethodGet) && !slices.Contains(ru.methods, http.MethodHead) {
		// The gateway allows HEAD wherever it allows GET (RFC 9110 §9.3.2); so does CORS.
		ru.methods = append(ru.methods, http.MethodHead)
	}
	ru.allowMethods = []string{strings.Join(ru.methods, ", ")}
	for _, h := range cfg.AllowHeaders {
		switch {
		case h == "*" && cfg.AllowCredentials:
			return nil, fmt.Errorf("cors: allow_headers: \"*\" cannot be combined with allow_credentials (Fetch reads it as a header name then): list the headers: %w", tiaki.ErrInvalid)
		case h == "*":
			ru.anyHeader = true
		case !token(h):
			return nil, fmt.Errorf("cors: allow_headers: %q is not a header name: %w", h, tiaki.ErrInvalid)
		default:
			ru.headers[strings.ToLower(h)] = true
		}
	}
	var expose []string
	for _, h := range cfg.ExposeHeaders {
		switch {
		case h == "*" && cfg.AllowCredentials:
			return nil, fmt.Errorf("cors: expose_headers: \"*\" cannot be combined with allow_credentials: list the headers: %w", tiaki.ErrInvalid)
		case h != "*" && !token(h):
			return nil, fmt.Errorf("cors: expose_headers: %q is not a header name: %w", h, tiaki.ErrInvalid)
		case !slices.ContainsFunc(expose, func(e string) bool { return strings.EqualFold(e, h) }):
			expose = append(expose, h)
		}
	}
	if len(expose) > 0 {
		ru.expose = []string{strings.Join(expose, ", ")}
	}
	switch {
	case cfg.MaxAge < 0 || cfg.MaxAge > MaxMaxAge:
		return nil, fmt.Errorf("cors: max_age %v: between 0 and %v: %w", cfg.MaxAge, MaxMaxAge, tiaki.ErrInvalid)
	case cfg.MaxAge > 0:
		ru.maxAge = []string{strconv.FormatInt(int64((cfg.MaxAge+time.Second-1)/time.Second), 10)}
	}
	ru.refused = &policy.Denial{Status: http.StatusForbidden, Type: "cors-refused", Title: "Cross-origin request refused",
		Detail: "This origin, method or header is not allowed to call this API from a browser.",
		Reason: "CORS preflight refused"}
	return ru, nil
}

// ParseOrigin checks one allowed-origin entry and returns it in the form browsers send in the
// Origin header (the ASCII serialisation of an origin, RFC 6454 §6.2): lower-case scheme and
// host, no default port, no trailing slash. "*" and "scheme://*.domain[:port]" patterns are
// returned as they are, normalised the same way. "null" is refused: it is the origin of every
// sandboxed document and local file, so allowing it would allow all of them. The error says
// what is wrong, for a person.
func ParseOrigin(s string) (string, error) {
	if s == "*" {
		return s, nil
	}
	if strings.EqualFold(s, "null") {
		return "", fmt.Errorf("%q: the null origin is shared by every sandboxed document and local file; list real origins", s)
	}
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%q: %s (want scheme://host[:port], such as https://app.example.govt.nz)", clip(s), why)
	}
	if len(s) > 300 || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == '%' || r == '\\' }) {
		return bad("not an origin (write the host in ASCII, punycode for an IDN, without escapes)")
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || scheme == "" {
		return bad("no scheme")
	}
	wild := strings.HasPrefix(rest, "*.")
	if wild {
		rest = "x" + rest[1:] // parse the pattern as the host it stands for
	}
	if strings.Contains(rest, "*") {
		return bad(`a wildcard may only be the first label of the host ("https://*.example.govt.nz")`)
	}
	u, err := url.Parse(scheme + "://" + rest)
	switch {
	case err != nil:
		return bad("not an origin")
	case u.User != nil:
		return bad("no user information")
	case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return bad("an origin has no path, query or fragment")
	case u.Hostname() == "":
		return bad("no host")
	}
	host := strings.ToLower(u.Hostname())
	if strings.HasPrefix(u.Host, "[") {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return bad("not an IPv6 address in brackets")
		}
		host = "[" + a.String() + "]"
	} else if strings.IndexFunc(host, func(r rune) bool { return !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '.') }) >= 0 {
		return bad("the host may hold only letters, digits, '-' and '.'")
	}
	if wild {
		if !strings.Contains(host[2:], ".") {
			return bad("a wildcard needs a domain of at least two labels under it")
		}
		host = "*" + host[1:]
	}
	port := u.Port()
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return bad("the port must be 1 to 65535")
		}
		port = strconv.Itoa(n)
	}
	scheme = strings.ToLower(u.Scheme)
	if scheme == "https" && port == "443" || scheme == "http" && port == "80" {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}

// allowed reports whether origin, an Origin header's value, may call the API.
func (ru *Rules) allowed(origin string) bool {
	if ru.anyOrigin {
		return true
	}
	if ru.origins[origin] {
		return true
	}
	for _, w := range ru.wildcards {
		if len(origin) <= len(w.prefix)+len(w.suffix) || !strings.HasPrefix(origin, w.prefix) || !strings.HasSuffix(origin, w.suffix) {
			continue
		}
		// The labels the "*" stands for: one or more, letters, digits and hyphens only, so
		// "https://evil.com/.example.govt.nz" or a port cannot sneak in.
		sub := origin[len(w.prefix) : len(origin)-len(w.suffix)]
		if sub[0] != '.' && !strings.Contains(sub, "..") && strings.IndexFunc(sub, func(r rune) bool {
			return !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '.')
		}) < 0 {
			return true
		}
	}
	return false
}

// Preflight implements policy.CrossOrigin: a CORS preflight (Fetch §4.8) from an allowed
// origin, for an allowed method and headers, gets its answer's headers set on h; any other
// preflight is refused with 403 and no CORS headers, which the browser reports to the script as
// a network error.
func (ru *Rules) Preflight(h http.Header, r *http.Request) (bool, *policy.Denial) {
	if r.Method != http.MethodOptions {
		return false, nil
	}
	origin, method := r.Header["Origin"], r.Header[hRequestMethod]
	if len(origin) == 0 || len(method) == 0 {
		return false, nil // a plain OPTIONS request
	}
	if len(origin) != 1 || len(method) != 1 || !ru.allowed(origin[0]) || !slices.Contains(ru.methods, method[0]) {
		return true, ru.refused
	}
	requested, ok := ru.requestHeaders(r.Header[hRequestHeaders])
	if !ok {
		return true, ru.refused
	}
	ru.allowOrigin(h, origin[0])
	h[hAllowMethods] = ru.allowMethods
	if requested != "" {
		// Echo what was asked for, all of it allowed: unlike "*", this also works with
		// credentials and for Authorization.
		h[hAllowHeaders] = []string{requested}
	}
	if ru.maxAge != nil {
		h[hMaxAge] = ru.maxAge
	}
	h["Vary"] = preflightVary
	return true, nil
}

// requestHeaders checks the names a preflight's Access-Control-Request-Headers lists (a
// comma-separated list, possibly over several fields) and returns them lower-cased and joined.
func (ru *Rules) requestHeaders(fields []string) (string, bool) {
	var b strings.Builder
	n := 0
	for _, f := range fields {
		for name := range strings.SplitSeq(f, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			if n++; n > maxRequestHeaders || !token(name) {
				return "", false
			}
			// Fetch: the wildcard does not cover Authorization; it must be named.
			if !ru.headers[name] && (!ru.anyHeader || name == "authorization") {
				return "", false
			}
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			b.WriteString(name)
		}
	}
	return b.String(), true
}

// Actual implements policy.CrossOrigin: it sets the CORS headers of the final response to a
// request that is not a preflight, from origin (its Origin header, "" if none), replacing any
// the upstream sent. A disallowed or absent origin gets none.
func (ru *Rules) Actual(h http.Header, origin string) {
	for _, k := range responseHeaders {
		delete(h, k)
	}
	if ru.anyOrigin && !ru.credentials {
		// The same answer for every origin: sent on every response, no Vary needed (Fetch
		// §3.2.5, CORS protocol and HTTP caches).
		h[hAllowOrigin] = star
		if ru.expose != nil {
			h[hExposeHeaders] = ru.expose
		}
		return
	}
	// The answer depends on Origin, so a shared cache must key on it, for requests without
	// one too (Fetch §3.2.5).
	addVary(h, "Origin")
	if origin == "" || !ru.allowed(origin) {
		return
	}
	ru.allowOrigin(h, origin)
	if ru.expose != nil {
		h[hExposeHeaders] = ru.expose
	}
}

// allowOrigin sets Access-Control-Allow-Origin (and -Credentials) for an allowed origin.
func (ru *Rules) allowOrigin(h http.Header, origin string) {
	if ru.anyOrigin && !ru.credentials {
		h[hAllowOrigin] = star
		return
	}
	h[hAllowOrigin] = []string{origin} // never "*" with credentials (Fetch §3.3.4)
	if ru.credentials {
		h[hAllowCredentials] = trueValue
	}
}

// addVary adds name to the Vary field unless it (or "*") is already there.
func addVary(h http.Header, name string) {
	vals := h["Vary"]
	for _, v := range vals {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f == "*" || strings.EqualFold(f, name) {
				return
			}
		}
	}
	h["Vary"] = append(vals[:len(vals):len(vals)], name)
}

// token reports whether s is an RFC 9110 §5.6.2 token (the syntax of methods and header
// names) of at most 128 bytes.
func token(s string) bool { return len(s) <= 128 && httpguts.ValidHeaderFieldName(s) }

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
