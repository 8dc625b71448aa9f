package waf

import (
	"strings"
	"unicode"
	"unsafe"

	"github.com/corazawaf/libinjection-go"
)

// finding is what the detector saw in one string: the kind of attack and a fingerprint that
// identifies the rule, never the input itself (the audit log records it; a payload must not
// reach a log).
type finding struct {
	// Kind is "sqli" or "xss".
	Kind string
	// Fingerprint is libinjection's token fingerprint for SQL injection (such as "s&1c": string,
	// logic operator, number, comment), "html" for markup libinjection's HTML5 tokenizer judged
	// dangerous, or "url-scheme" for a script URL.
	Fingerprint string
}

// Byte classes for the prefilters. A class bit says the byte can take part in what a detector
// looks for; a string none of whose bytes carry a detector's bit cannot trigger it, so the
// detector is skipped. Both claims are checked against libinjection itself by FuzzPrefilter.
const (
	// sqlByte: a string made only of ASCII letters, digits, '_' and bytes >= 0x80 holds no
	// operator, quote, comment or separator, so libinjection finds at most a word glued to a
	// number in it, and no such fingerprint is an injection. Every other ASCII byte (space,
	// punctuation, quotes, operators) may split tokens.
	sqlByte = 1 << iota
	// htmlByte: libinjection's HTML5 detector reports only a tag, comment or doctype (which need
	// '<') or an attribute value after a dangerous attribute name (which needs '=').
	htmlByte
	// schemeByte: a script URL needs a colon, written as ':' or as an entity ("&colon;").
	schemeByte
	// percentByte: the string may hold a percent-encoded layer to decode and check again.
	percentByte
)

var byteClass = func() (t [256]uint8) {
	for c := 0; c < 0x80; c++ {
		word := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
		if !word {
			t[c] |= sqlByte
		}
	}
	t['<'] |= htmlByte
	t['='] |= htmlByte
	t[':'] |= schemeByte
	t['&'] |= schemeByte
	t['%'] |= percentByte
	return t
}()

// classes returns the union of the classes of s's bytes.
func classes(s string) uint8 {
	var c uint8
	for i := 0; i < len(s); i++ {
		c |= byteClass[s[i]]
	}
	return c
}

// detect reports whether s looks like SQL injection or cross-site scripting (THREAT-14/15).
// When s carries percent-encoded bytes, their decoding is checked as well, so an extra layer of
// encoding ("%2527" in a query, "%3Cscript%3E" in a JSON value) hides nothing; scratch holds
// that decoding and is returned, possibly grown, for reuse.
func detect(s string, scratch []byte) (finding, bool, []byte) {
	c := classes(s)
	if f, ok := detectClasses(s, c); ok {
		return f, true, scratch
	}
	if c&percentByte != 0 {
		if dec, changed := percentDecode(scratch[:0], s, false); changed {
			scratch = dec
			// The decoded bytes are only read, and only until detectClasses returns.
			d := unsafe.String(unsafe.SliceData(dec), len(dec))
			if f, ok := detectClasses(d, classes(d)); ok {
				return f, true, scratch
			}
		}
	}
	return finding{}, false, scratch
}

func detectClasses(s string, c uint8) (finding, bool) {
	if c&sqlByte != 0 {
		if ok, fp := libinjection.IsSQLi(s); ok && !proseComment(fp, s) {
			return finding{Kind: "sqli", Fingerprint: fp}, true
		}
	}
	if c&htmlByte != 0 && libinjection.IsXSS(s) {
		return finding{Kind: "xss", Fingerprint: "html"}, true
	}
	if c&schemeByte != 0 && scriptURL(s) {
		return finding{Kind: "xss", Fingerprint: "url-scheme"}, true
	}
	return finding{}, false
}

// proseComment reports whether a "1c" match (a number, then a comment) is prose with a dash
// dash in it, such as "50% off -- today only": libinjection folds "50% off" into a number and
// reports the "--" as a comment truncating a query. Its own rule for unfolded input already
// passes "1-- foo" and flags only a trailing "--": an attacker truncating a query gains
// nothing from text after the comment marker, so text there means prose.
func proseComment(fp, s string) bool {
	if fp != "1c" {
		return false
	}
	i := strings.Index(s, "--")
	if i < 0 {
		return false
	}
	rest := s[i+2:]
	return strings.IndexFunc(rest, unicode.IsLetter) >= 0 && !strings.ContainsAny(rest, "\n\r")
}

// scriptURL reports whether s is a URL that runs script when a browser follows or loads it: a
// javascript: or vbscript: URL with code after the scheme, or a data: URL of a markup type.
// libinjection judges such URLs only inside an href or src attribute; an API stores values that
// later become one, so the gateway refuses them anywhere.
//
// Browsers ignore leading spaces and control characters and any tab or newline inside the
// scheme (WHATWG URL §4.4), and HTML entity-decodes attribute values, so both are undone here.
func scriptURL(s string) bool {
	i := 0
	for i < len(s) && s[i] <= ' ' {
		i++
	}
	var scheme [16]byte // longer than any scheme judged below
	n := 0
	for i < len(s) && n < len(scheme) {
		c := s[i]
		switch {
		case c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == ':':
			return scriptScheme(scheme[:n], s[i+1:])
		case c == '&':
			if size := colonEntity(s[i:]); size > 0 {
				return scriptScheme(scheme[:n], s[i+size:])
			}
			return false
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case !('a' <= c && c <= 'z'):
			return false
		}
		scheme[n] = c
		n++
		i++
	}
	return false
}

// scriptScheme judges a lowercased scheme and the rest of the URL after its colon.
func scriptScheme(scheme []byte, rest string) bool {
	switch string(scheme) {
	case "javascript", "vbscript", "livescript":
		// Code needs a call, an assignment, a template literal or an escape; "javascript: the
		// good parts" (a book title) has none of them and is left alone.
		for i := 0; i < len(rest); i++ {
			switch rest[i] {
			case '(', '`', '=', '\\', '%', '&':
				return true
			}
		}
		return false
	case "data":
		return markupDataURL(rest)
	}
	return false
}

// markupDataURL reports whether the media type of a data: URL (RFC 2397) is one a browser
// renders as a document that can run script.
func markupDataURL(rest string) bool {
	end := len(rest)
	for i := 0; i < len(rest); i++ {
		if rest[i] == ',' || rest[i] == ';' {
			end = i
			break
		}
	}
	mt := rest[:end]
	for _, bad := range [...]string{"html", "xml", "svg", "script"} {
		if containsFold(mt, bad) {
			return true
		}
	}
	return false
}

// colonEntity returns the length of an HTML character reference for ':' at the start of s
// ("&colon;", "&#58;", "&#x3a;", with or without the semicolon and with leading zeros), or 0.
func colonEntity(s string) int {
	if len(s) >= 6 && equalFold(s[:6], "&colon") {
		if len(s) > 6 && s[6] == ';' {
			return 7
		}
		return 6
	}
	if len(s) < 3 || s[1] != '#' {
		return 0
	}
	i, base := 2, 10
	if s[i] == 'x' || s[i] == 'X' {
		i, base = 3, 16
	}
	v, digits := 0, 0
	for ; i < len(s) && digits < 8; i, digits = i+1, digits+1 {
		d := hexValue(s[i])
		if d < 0 || d >= base {
			break
		}
		v = v*base + d
	}
	if digits == 0 || v != ':' {
		return 0
	}
	if i < len(s) && s[i] == ';' {
		i++
	}
	return i
}

func hexValue(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// percentDecode appends s to dst with %XX escapes decoded (and '+' as a space when plus is
// set, as in form encoding). Malformed escapes are kept as they are, as lenient servers do.
// changed reports whether anything was decoded.
func percentDecode(dst []byte, s string, plus bool) (out []byte, changed bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i+2 < len(s) && hexValue(s[i+1]) >= 0 && hexValue(s[i+2]) >= 0:
			dst = append(dst, byte(hexValue(s[i+1])<<4|hexValue(s[i+2])))
			i += 2
			changed = true
		case c == '+' && plus:
			dst = append(dst, ' ')
			changed = true
		default:
			dst = append(dst, c)
		}
	}
	return dst, changed
}

// equalFold compares ASCII strings case-insensitively without allocating.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// containsFold reports whether s contains the lowercase ASCII word sub, ignoring case.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if equalFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}
