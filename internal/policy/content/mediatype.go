package content

import (
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
)

// Bounds on the header fields parsed here. Real values are a few dozen bytes; past these the
// field is refused rather than parsed.
const (
	maxContentType = 1 << 10
	maxAccept      = 4 << 10
	maxAcceptItems = 64
)

// MediaType is a media type or media range (RFC 9110 §8.3.1, §12.5.1), lower-cased: Type and
// Subtype ("*" in a range), and the one parameter Tiaki acts on, charset.
type MediaType struct {
	Type, Subtype string
	Charset       string
}

// String formats the type without parameters.
func (m MediaType) String() string { return m.Type + "/" + m.Subtype }

// JSON reports whether the type is JSON: application/json or any +json structured syntax
// suffix (RFC 6839 §3.1), such as application/merge-patch+json.
func (m MediaType) JSON() bool { return m.Subtype == "json" || strings.HasSuffix(m.Subtype, "+json") }

// XML reports whether the type is XML: application/xml, text/xml or a +xml suffix (RFC 7303).
func (m MediaType) XML() bool { return m.Subtype == "xml" || strings.HasSuffix(m.Subtype, "+xml") }

// Covers reports whether the range m (which may hold "*") includes the type t.
func (m MediaType) Covers(t MediaType) bool {
	return m.Type == "*" || m.Type == t.Type && (m.Subtype == "*" || m.Subtype == t.Subtype)
}

// specificity orders ranges: exact types before type/* before */* (RFC 9110 §12.5.1).
func (m MediaType) specificity() int {
	switch {
	case m.Type == "*":
		return 0
	case m.Subtype == "*":
		return 1
	}
	return 2
}

// ParseMediaType parses a Content-Type value (RFC 9110 §8.3.1). It does not allocate for a
// lower-case value. ok is false for anything malformed, over-long or a range ("*").
func ParseMediaType(v string) (m MediaType, ok bool) {
	if len(v) > maxContentType {
		return MediaType{}, false
	}
	m, rest, ok := parseRange(v)
	if !ok || m.Type == "*" || m.Subtype == "*" {
		return MediaType{}, false
	}
	for rest != "" {
		name, value, r, ok := nextParam(rest)
		if !ok {
			return MediaType{}, false
		}
		rest = r
		if strings.EqualFold(name, "charset") {
			m.Charset = lower(value)
		}
	}
	return m, true
}

// ParseRange parses a media type or range written in configuration, such as "application/json"
// or "text/*".
func ParseRange(v string) (MediaType, error) {
	m, rest, ok := parseRange(v)
	if !ok || rest != "" || m.Type == "*" && m.Subtype != "*" {
		return MediaType{}, fmt.Errorf("content: %q: not a media type or range such as application/json: %w", v, tiaki.ErrInvalid)
	}
	return m, nil
}

// parseRange reads "type/subtype" and leaves rest at the first parameter's ';' (or "").
func parseRange(v string) (m MediaType, rest string, ok bool) {
	v = trimOWS(v)
	slash := strings.IndexByte(v, '/')
	if slash <= 0 {
		return MediaType{}, "", false
	}
	end := len(v)
	if i := strings.IndexByte(v, ';'); i >= 0 {
		end = i
	}
	if end <= slash {
		return MediaType{}, "", false
	}
	typ, sub := v[:slash], trimOWS(v[slash+1:end])
	if !isToken(typ) || !isToken(sub) {
		return MediaType{}, "", false
	}
	return MediaType{Type: lower(typ), Subtype: lower(sub)}, v[end:], true
}

// nextParam reads one "; name=value" from s (RFC 9110 §5.6.6), returning what follows.
func nextParam(s string) (name, value, rest string, ok bool) {
	s = trimOWS(s)
	if s == "" {
		return "", "", "", true
	}
	if s[0] != ';' {
		return "", "", "", false
	}
	s = trimOWS(s[1:])
	if s == "" || s[0] == ';' { // an empty parameter is allowed
		return "", "", s, true
	}
	eq := strings.IndexByte(s, '=')
	if eq <= 0 || !isToken(s[:eq]) {
		return "", "", "", false
	}
	name, s = s[:eq], s[eq+1:]
	if s != "" && s[0] == '"' {
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '"':
				return name, s[1:i], s[i+1:], true
			}
		}
		return "", "", "", false
	}
	end := strings.IndexByte(s, ';')
	if end < 0 {
		end = len(s)
	}
	value = trimOWS(s[:end])
	if !isToken(value) {
		return "", "", "", false
	}
	return name, value, s[end:], true
}

func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// isToken reports whether s is an RFC 9110 §5.6.2 token.
func isToken(s string) bool { return httpguts.ValidHeaderFieldName(s) }

// lower lower-cases ASCII, allocating only when s has upper-case letters.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// Accept is the Accept check (RFC 9110 §12.5.1; catalogue HTTP-04) for one set of media types
// a route or operation can answer with. It is built once and safe for concurrent use.
type Accept struct {
	offers []MediaType
	any    bool
	link   string
	denied *policy.Denial
}

// NewAccept builds the check. produces lists the media types responses can have; "*/*" among
// them, or none at all, turns the check off. docsURL is where a refused client can read which
// types are offered; the problem type's documentation if empty.
func NewAccept(produces []string, docsURL string) (*Accept, error) {
	a := &Accept{any: len(produces) == 0}
	var names []string
	for _, p := range produces {
		m, err := ParseRange(p)
		if err != nil {
			return nil, err
		}
		if m.Type == "*" {
			a.any = true
		}
		a.offers = append(a.offers, m)
		names = append(names, m.String())
	}
	if docsURL == "" {
		docsURL = policy.TypeBase + "not-acceptable"
	}
	a.link = HelpLink(docsURL)
	a.denied = &policy.Denial{Status: http.StatusNotAcceptable, Type: "not-acceptable", Title: "Not acceptable",
		Detail: "This API responds with " + strings.Join(names, ", ") + "; send an Accept header that allows one of them. Documentation: " + docsURL,
		Reason: "no acceptable response media type"}
	return a, nil
}

// HelpLink is the Link header value pointing at documentation (RFC 8288 §3, rel="help"), which
// Part C of the NZ API guidelines asks a 406 answer to carry (HTTP-04). The problem type's
// documentation stands in when docsURL is empty.
func HelpLink(docsURL string) string {
	if docsURL == "" {
		docsURL = policy.TypeBase + "not-acceptable"
	}
	return "<" + docsURL + `>; rel="help"`
}

// Link is the Link header value to send with the 406: a link to the documentation.
func (a *Accept) Link() string { return a.link }

// Check refuses a request whose Accept header allows none of the offered types. A request
// without Accept accepts anything (RFC 9110 §12.5.1), and so does "*/*".
func (a *Accept) Check(r *http.Request) *policy.Denial {
	values := r.Header["Accept"]
	if a.any || len(values) == 0 {
		return nil
	}
	if a.acceptable(values) {
		return nil
	}
	return a.denied
}

// acceptable reports whether some offer gets a quality above zero from the most specific
// range that matches it.
func (a *Accept) acceptable(values []string) bool {
	total, items, parsed := 0, 0, 0
	type match struct{ spec, q int }
	var arr [16]match
	offers := a.offers
	best := arr[:0]
	if len(offers) > len(arr) {
		best = make([]match, 0, len(offers))
	}
	for range offers {
		best = append(best, match{spec: -1})
	}
	for _, v := range values {
		total += len(v)
		if total > maxAccept {
			return false
		}
		for v != "" {
			var elem string
			elem, v, _ = strings.Cut(v, ",")
			if items++; items > maxAcceptItems {
				return false
			}
			m, rest, ok := parseRange(elem)
			if !ok {
				continue // RFC 9110 §5.6.1: tolerate what cannot be parsed
			}
			q, ok := quality(rest)
			if !ok {
				continue
			}
			parsed++
			for i, o := range offers {
				if s := m.specificity(); m.Covers(o) && s > best[i].spec {
					best[i].spec, best[i].q = s, q
				}
			}
		}
	}
	if parsed == 0 {
		return true // nothing we understood: as if there were no Accept
	}
	for i := range offers {
		if best[i].spec >= 0 && best[i].q > 0 {
			return true
		}
	}
	return false
}

// quality reads the q parameter (RFC 9110 §12.4.2) in thousandths; 1000 if absent.
func quality(params string) (int, bool) {
	q := 1000
	for params != "" {
		name, value, rest, ok := nextParam(params)
		if !ok {
			return 0, false
		}
		params = rest
		if name != "q" && name != "Q" {
			continue
		}
		// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
		if value == "" || len(value) > 5 || value[0] != '0' && value[0] != '1' {
			return 0, false
		}
		q = int(value[0]-'0') * 1000
		if len(value) > 1 {
			if value[1] != '.' {
				return 0, false
			}
			scale := 100
			for _, c := range []byte(value[2:]) {
				if c < '0' || c > '9' {
					return 0, false
				}
				q += int(c-'0') * scale
				scale /= 10
			}
		}
		if q > 1000 {
			return 0, false
		}
	}
	return q, true
}
