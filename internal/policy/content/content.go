// Package content is the gateway policy for what a request says about its body and what it
// accepts back: Content-Type required and allow-listed for requests with a body (415;
// catalogue HTTP-05, THREAT-07), Accept honoured (406; HTTP-04), JSON bodies parsed strictly
// (THREAT-06, THREAT-08) and XML bodies parsed safely (THREAT-09), each refused with 400.
//
// Start with New and Checker.Check. body.go reads a body once, bounded, into a pooled buffer
// that later policies (openapi, waf) and the upstream reuse; mediatype.go parses Content-Type
// and Accept; xml.go is the XML check; the strictjson subpackage is the JSON tokenizer.
// Everything is decided once in New; a request costs header parsing and, only for JSON and XML
// bodies, one read and one pass over the bytes.
package content

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
	"github.com/tiaki-nz/tiaki/internal/policy/content/strictjson"
)

// DefaultMaxDepth bounds the nesting of JSON and XML bodies when no depth is configured.
const DefaultMaxDepth = strictjson.DefaultMaxDepth

// DefaultTypes is what Consumes and Produces default to: JSON, the format of government APIs
// (Part B §11.6: "validate that the incoming content type is application/json").
var DefaultTypes = []string{"application/json"}

// Config is one route's content policy.
type Config struct {
	// Consumes lists the media types, or ranges such as "text/*", a request body may have;
	// DefaultTypes if empty. A request with a body of another type gets 415.
	Consumes []string
	// Produces lists the media types the route's responses have, for the Accept check;
	// DefaultTypes if empty. "*/*" turns the check off.
	Produces []string
	// MaxBody bounds the bytes read to check a body, normally the route's max_body;
	// DefaultMaxBody if not positive. Larger bodies get 413.
	MaxBody int64
	// MaxDepth bounds how deeply JSON and XML bodies nest; DefaultMaxDepth if not positive.
	MaxDepth int
	// DocsURL is the API's documentation, linked from the 406 answer (HTTP-04) and named in
	// the 415 answer; the problem type's documentation if empty.
	DocsURL string
}

// Checker is the content policy for one route. It implements policy.Checker.
type Checker struct {
	consumes    []MediaType
	accept      *Accept
	maxBody     int64
	maxDepth    int
	unsupported *policy.Denial
}

// New validates cfg and builds the policy.
func New(cfg Config) (*Checker, error) {
	consumes, produces := cfg.Consumes, cfg.Produces
	if len(consumes) == 0 {
		consumes = DefaultTypes
	}
	if len(produces) == 0 {
		produces = DefaultTypes
	}
	c := &Checker{maxBody: cfg.MaxBody, maxDepth: cfg.MaxDepth}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxBody
	}
	if c.maxDepth <= 0 {
		c.maxDepth = DefaultMaxDepth
	}
	var names []string
	for _, s := range consumes {
		m, err := ParseRange(s)
		if err != nil {
			return nil, err
		}
		c.consumes = append(c.consumes, m)
		names = append(names, m.String())
	}
	accept, err := NewAccept(produces, cfg.DocsURL)
	if err != nil {
		return nil, err
	}
	c.accept = accept
	c.unsupported = Unsupported(names, cfg.DocsURL)
	return c, nil
}

// Unsupported is the 415 answer for a body whose type is not among names (RFC 9110 §15.5.16).
func Unsupported(names []string, docsURL string) *policy.Denial {
	detail := "Send the request body as " + strings.Join(names, " or ") + ", with a matching Content-Type."
	if docsURL != "" {
		detail += " Documentation: " + docsURL
	}
	return &policy.Denial{Status: http.StatusUnsupportedMediaType, Type: "unsupported-media-type",
		Title: "Unsupported media type", Detail: detail, Reason: "request body media type not accepted"}
}

// Check implements policy.Checker. It may replace r.Body with a *Body holding the same bytes.
func (c *Checker) Check(r *http.Request, _ *tiaki.Principal) *policy.Denial {
	if d := c.accept.Check(r); d != nil {
		return d
	}
	if !HasBody(r) {
		return nil
	}
	m, d := RequestType(r)
	if d != nil {
		return d
	}
	if !c.allowed(m) {
		return c.unsupported
	}
	return CheckBody(r, m, c.maxBody, c.maxDepth)
}

func (c *Checker) allowed(m MediaType) bool {
	for _, a := range c.consumes {
		if a.Covers(m) {
			return true
		}
	}
	return false
}

// CheckHeader is Check that also adds, to a 406 answer's header h, the Link to the
// documentation Part C asks for (HTTP-04). The gateway calls it instead of Check.
func (c *Checker) CheckHeader(h http.Header, r *http.Request, p *tiaki.Principal) *policy.Denial {
	d := c.Check(r, p)
	if d != nil && d.Status == http.StatusNotAcceptable && h != nil {
		h["Link"] = []string{c.accept.Link()}
	}
	return d
}

// Enforce implements policy.Policy.
func (c *Checker) Enforce(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	if d := c.CheckHeader(w.Header(), r, nil); d != nil {
		return d
	}
	next.ServeHTTP(w, r)
	return nil
}

var (
	missingType = &policy.Denial{Status: http.StatusUnsupportedMediaType, Type: "unsupported-media-type",
		Title: "Unsupported media type", Detail: "A request with a body must say what it is in Content-Type.",
		Reason: "request body without Content-Type"}
	malformedType = &policy.Denial{Status: http.StatusUnsupportedMediaType, Type: "unsupported-media-type",
		Title: "Unsupported media type", Detail: "The Content-Type header is malformed or repeated.",
		Reason: "malformed or repeated Content-Type"}
	badCharset = &policy.Denial{Status: http.StatusUnsupportedMediaType, Type: "unsupported-media-type",
		Title: "Unsupported media type", Detail: "JSON and XML bodies must be UTF-8.",
		Reason: "charset other than UTF-8"}
)

// RequestType returns the media type of r's body: 415 when Content-Type is missing, repeated
// or malformed (RFC 9110 §8.3: a message with content should say its type; Part C, HTTP-05:
// it is required), or when a JSON or XML body declares a charset other than UTF-8 (RFC 8259
// §8.1: JSON exchanged between systems is UTF-8).
func RequestType(r *http.Request) (MediaType, *policy.Denial) {
	values := r.Header["Content-Type"]
	switch {
	case len(values) == 0 || len(values) == 1 && trimOWS(values[0]) == "":
		return MediaType{}, missingType
	case len(values) > 1:
		return MediaType{}, malformedType
	}
	m, ok := ParseMediaType(values[0])
	if !ok {
		return MediaType{}, malformedType
	}
	if (m.JSON() || m.XML()) && m.Charset != "" && m.Charset != "utf-8" && !(m.XML() && m.Charset == "us-ascii") {
		return MediaType{}, badCharset
	}
	return m, nil
}

// CheckBody reads and checks a JSON or XML body (of type m) strictly; bodies of other types
// are left unread. See Buffer for what reading does to r.
func CheckBody(r *http.Request, m MediaType, maxBody int64, maxDepth int) *policy.Denial {
	json, xml := m.JSON(), m.XML()
	if !json && !xml {
		return nil
	}
	b, d := Buffer(r, maxBody)
	if d != nil || b == nil {
		return d
	}
	if json {
		return CheckJSON(b.Bytes(), maxDepth)
	}
	return CheckXML(b.Bytes(), maxDepth)
}

// CheckJSON checks that data is one strict JSON text (see strictjson) nested at most maxDepth
// deep, and says why not in a 400 answer.
func CheckJSON(data []byte, maxDepth int) *policy.Denial {
	if err := strictjson.Check(data, maxDepth); err != nil {
		return JSONDenial(err, maxDepth)
	}
	return nil
}

// JSONDenial is the 400 answer for a strictjson error. Its detail names the problem and the
// byte offset, never the input.
func JSONDenial(err error, maxDepth int) *policy.Denial {
	se, ok := err.(*strictjson.SyntaxError)
	if !ok {
		return &policy.Denial{Status: http.StatusBadRequest, Type: "malformed-json", Title: "Malformed JSON",
			Detail: "The request body is not valid JSON.", Reason: "malformed JSON"}
	}
	at := " at byte " + strconv.Itoa(se.Offset) + "."
	switch se.Kind {
	case strictjson.ErrDuplicate:
		// RFC 7493 §2.3: duplicate names make the meaning depend on the parser; the gateway and
		// the upstream could disagree about the value.
		return &policy.Denial{Status: http.StatusBadRequest, Type: "duplicate-key", Title: "Duplicate JSON member",
			Detail: "An object in the request body repeats a member name" + at, Reason: "duplicate JSON member name"}
	case strictjson.ErrDepth:
		if maxDepth <= 0 {
			maxDepth = DefaultMaxDepth
		}
		return &policy.Denial{Status: http.StatusBadRequest, Type: "too-deep", Title: "Body nested too deeply",
			Detail: "The JSON body is nested more than " + strconv.Itoa(maxDepth) + " levels deep.", Reason: "JSON nesting over the limit"}
	}
	return &policy.Denial{Status: http.StatusBadRequest, Type: "malformed-json", Title: "Malformed JSON",
		Detail: "The request body is not valid JSON: " + se.Msg() + at, Reason: "malformed JSON: " + se.Msg()}
}
