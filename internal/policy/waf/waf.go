// Package waf is the gateway's injection and cross-site scripting filter (catalogue THREAT-14,
// THREAT-15; Part A's "protection against common attack vectors (SQLi, XSS)", THREAT-20/21).
// Start with New and Guard.Check.
//
// Two levels. Standard runs libinjection (the Go port Coraza maintains) over every string the
// request carries: path segments, query names and values, the headers that matter (not
// credentials, not protocol headers), cookies, and the names and string values of JSON, form,
// multipart and XML bodies, each decoded first; a cheap byte-class prefilter (detect.go) skips
// strings that cannot trigger it. Strict adds the OWASP Core Rule Set at paranoia level 1 with
// anomaly scoring, through Coraza v3 (crs.go), request phases only.
//
// A refused request gets 403 with problem type "request-blocked"; the Denial's Reason names
// the detector and rule (a libinjection fingerprint, CRS rule IDs) and where it matched, never
// the matched text.
package waf

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
)

// Level is how thoroughly requests are inspected; the values are config's
// apis[].injection_protection ("off" means no policy at all).
type Level string

// Levels.
const (
	// Standard checks every string with libinjection: fast (microseconds per request), few
	// false positives.
	Standard Level = "standard"
	// Strict adds the OWASP Core Rule Set: broader (command injection, path traversal, PHP,
	// Java, protocol attacks), slower, and more likely to refuse unusual but honest input.
	Strict Level = "strict"
)

// Defaults for Config's bounds.
const (
	DefaultMaxStrings       = 4096
	DefaultMaxBytes         = 1 << 20
	DefaultMaxBody    int64 = 1 << 20
	DefaultMaxDepth         = 128
)

// Config is one route's injection filter.
type Config struct {
	// Level is Standard or Strict.
	Level Level
	// SkipHeaders are request headers never inspected, besides the built-in credential and
	// protocol headers (Authorization, DPoP, API-Key, Content-Type, Accept, ...): the route's
	// API-key header when it is not API-Key, say. Credentials are not given to the Core Rule
	// Set either.
	SkipHeaders []string
	// SkipFields are query parameters, form fields and JSON member names (at any depth) whose
	// values are not inspected, for a field that legitimately carries SQL or markup (catalogue
	// THREAT-23: "make filters configurable per field"). Their names still are. The Core Rule
	// Set still inspects them at the strict level.
	SkipFields []string
	// MaxStrings and MaxBytes bound the work per request: the number of strings inspected and
	// their total length. A request over either is refused (413), never passed half-inspected.
	// DefaultMaxStrings and DefaultMaxBytes if zero.
	MaxStrings int
	MaxBytes   int
	// MaxBody is the largest body read for inspection; larger bodies are refused (413).
	// DefaultMaxBody if zero. Set it to the route's max_body.
	MaxBody int64
	// MaxDepth bounds JSON nesting (at most 512); DefaultMaxDepth if zero.
	MaxDepth int
}

// builtinSkipHeaders are never inspected: credentials (random by design, and not to be handed
// to more code than needed) and protocol headers whose syntax the server or another policy
// enforces. Client hints are structured fields full of quotes that would only cause noise.
var builtinSkipHeaders = []string{
	// credentials
	"Authorization", "Proxy-Authorization", "Dpop", "Api-Key",
	// protocol
	"Host", "Content-Length", "Content-Type", "Content-Encoding", "Transfer-Encoding",
	"Connection", "Keep-Alive", "Te", "Trailer", "Upgrade", "Expect", "Date",
	"Accept", "Accept-Encoding", "Accept-Language", "Accept-Charset",
	"Cache-Control", "Pragma", "If-Match", "If-None-Match", "If-Modified-Since",
	"If-Unmodified-Since", "If-Range", "Range", "Priority", "Upgrade-Insecure-Requests",
	"Traceparent", "Tracestate", "Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest",
	"Sec-Fetch-User", "Sec-Ch-Ua", "Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform",
}

// credentialHeaders are withheld from the Core Rule Set too.
var credentialHeaders = []string{"Authorization", "Proxy-Authorization", "Dpop", "Api-Key"}

// Guard is the injection filter for one route. It implements policy.Checker.
type Guard struct {
	level       Level
	maxStrings  int
	maxBytes    int
	maxBody     int64
	maxDepth    int
	skipHeaders map[string]struct{}
	credentials map[string]struct{}
	skipFields  map[string]struct{}
	crs         *ruleSet // nil at the standard level

	tooLarge, tooMuch, malformed, encoded, unreadable *policy.Denial
}

// New validates cfg and builds the filter. At the strict level it compiles the Core Rule Set,
// which takes a noticeable fraction of a second and some megabytes: build one Guard per route
// when config loads and share it between requests (it is safe for concurrent use).
func New(cfg Config) (*Guard, error) {
	if cfg.Level != Standard && cfg.Level != Strict {
		return nil, fmt.Errorf("waf: level %q: want %q or %q: %w", cfg.Level, Standard, Strict, tiaki.ErrInvalid)
	}
	if cfg.MaxStrings < 0 || cfg.MaxBytes < 0 || cfg.MaxBody < 0 || cfg.MaxDepth < 0 || cfg.MaxDepth > maxJSONDepth {
		return nil, fmt.Errorf("waf: limits must be positive (and max depth at most %d): %w", maxJSONDepth, tiaki.ErrInvalid)
	}
	g := &Guard{
		level:       cfg.Level,
		maxStrings:  orDefault(cfg.MaxStrings, DefaultMaxStrings),
		maxBytes:    orDefault(cfg.MaxBytes, DefaultMaxBytes),
		maxBody:     orDefault(cfg.MaxBody, DefaultMaxBody),
		maxDepth:    orDefault(cfg.MaxDepth, DefaultMaxDepth),
		skipHeaders: make(map[string]struct{}),
		credentials: make(map[string]struct{}),
		skipFields:  make(map[string]struct{}, len(cfg.SkipFields)),
	}
	for _, h := range builtinSkipHeaders {
		g.skipHeaders[h] = struct{}{}
	}
	for _, h := range credentialHeaders {
		g.credentials[h] = struct{}{}
	}
	for _, h := range cfg.SkipHeaders {
		if h == "" {
			return nil, fmt.Errorf("waf: skip_headers: empty header name: %w", tiaki.ErrInvalid)
		}
		c := http.CanonicalHeaderKey(h)
		g.skipHeaders[c] = struct{}{}
		g.credentials[c] = struct{}{}
	}
	for _, f := range cfg.SkipFields {
		if f == "" {
			return nil, fmt.Errorf("waf: skip_fields: empty field name: %w", tiaki.ErrInvalid)
		}
		g.skipFields[f] = struct{}{}
	}
	g.tooLarge = &policy.Denial{Status: http.StatusRequestEntityTooLarge, Type: "payload-too-large",
		Title: "Payload too large", Detail: "The request body must not exceed " + strconv.FormatInt(g.maxBody, 10) + " bytes.",
		Reason: "request body over the injection filter's limit"}
	g.tooMuch = &policy.Denial{Status: http.StatusRequestEntityTooLarge, Type: "payload-too-large",
		Title: "Payload too large", Detail: fmt.Sprintf("The request carries more than the gateway inspects (%d strings, %d bytes).", g.maxStrings, g.maxBytes),
		Reason: "request over the injection filter's inspection budget"}
	g.malformed = &policy.Denial{Status: http.StatusBadRequest, Type: "invalid-request",
		Title: "Invalid request body", Detail: "The request body does not parse as its Content-Type says.",
		Reason: "body malformed for its content type, so it could not be inspected"}
	// RFC 9110 §15.5.16: 415 for a content coding the server does not accept.
	g.encoded = &policy.Denial{Status: http.StatusUnsupportedMediaType, Type: "unsupported-media-type",
		Title: "Unsupported content coding", Detail: "Send the request body without a Content-Encoding.",
		Reason: "encoded request body cannot be inspected"}
	g.unreadable = &policy.Denial{Status: http.StatusBadRequest, Type: "invalid-request",
		Title: "Unreadable request body", Detail: "The request body could not be read.",
		Reason: "reading the request body failed"}
	if cfg.Level == Strict {
		rs, err := newRuleSet(g.maxBody, g.maxDepth)
		if err != nil {
			return nil, err
		}
		g.crs = rs
	}
	return g, nil
}

func orDefault[T int | int64](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Level returns the guard's level.
func (g *Guard) Level() Level { return g.level }

// Check implements policy.Checker. It reads the body when it must be inspected (see ReadBody:
// at most once for all policies) and leaves it for the upstream.
func (g *Guard) Check(r *http.Request, _ *tiaki.Principal) *policy.Denial {
	s := newScan(g)
	defer s.release()
	if !s.path(r.URL) || !s.query(r.URL.RawQuery, "query") || !s.headers(r.Header) {
		return s.denial()
	}
	// RFC 9110 §8.3, §8.4: one Content-Type, one list of codings. A second Content-Type could
	// make the filter and the backend read the body differently.
	if len(r.Header["Content-Type"]) > 1 {
		return g.malformed
	}
	ct := r.Header.Get("Content-Type")
	kind := kindOf(ct)
	var body []byte
	if hasBody(r) {
		// Compressed bodies cannot be inspected without inflating them, which would make the
		// gateway a decompression-bomb target; APIs rarely need them.
		if ce := r.Header.Values("Content-Encoding"); len(ce) > 1 || len(ce) == 1 && !equalFold(ce[0], "identity") {
			return g.encoded
		}
		if kind == bodyMalformedCT {
			return g.malformed
		}
		var err error
		switch {
		case kind != bodyOpaque || g.crs != nil:
			body, err = ReadBody(r, g.maxBody)
		default:
			// An undeclared body is inspected when a lenient backend would parse it as JSON;
			// if it then does not parse, it was not JSON and passes uninspected.
			var isJSON bool
			body, isJSON, err = peekJSON(r, g.maxBody)
			if err == nil && isJSON && s.json(body) == jsonStopped {
				return s.denial()
			}
			body = nil
		}
		switch {
		case err == ErrBodyTooLarge:
			return g.tooLarge
		case policy.BodyTimedOut(err):
			return policy.RequestTimeout
		case err != nil:
			return g.unreadable
		}
		if ok, malformed := s.body(kind, ct, body); malformed {
			return g.malformed
		} else if !ok {
			return s.denial()
		}
	}
	if g.crs != nil {
		return g.crs.check(r, body, g.credentials)
	}
	return nil
}

// CheckBody inspects a body a caller already holds, of the given Content-Type, with the
// standard detector: for a policy that has read and parsed the body itself and wants the
// injection check without going through Check.
func (g *Guard) CheckBody(contentType string, body []byte) *policy.Denial {
	s := newScan(g)
	defer s.release()
	kind := kindOf(contentType)
	if kind == bodyMalformedCT {
		return g.malformed
	}
	if int64(len(body)) > g.maxBody {
		return g.tooLarge
	}
	if ok, malformed := s.body(kind, contentType, body); malformed {
		return g.malformed
	} else if !ok {
		return s.denial()
	}
	return nil
}

// Enforce implements policy.Policy.
func (g *Guard) Enforce(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	return policy.Apply(g, w, r, next)
}

func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

// denial turns what the scan stopped at into a refusal.
func (s *scan) denial() *policy.Denial {
	if s.over {
		return s.g.tooMuch
	}
	where := s.where
	if s.header != "" && len(s.header) <= 64 {
		where = "header " + s.header
	}
	return blocked(s.found.Kind + " (fingerprint " + s.found.Fingerprint + ") in " + where)
}

// blocked is the 403 for an attack; the reason says which rule, never what matched.
func blocked(reason string) *policy.Denial {
	return &policy.Denial{Status: http.StatusForbidden, Type: "request-blocked", Title: "Request blocked",
		Detail: "The request was refused because part of it looks like an injection or cross-site scripting attack.",
		Reason: reason}
}
