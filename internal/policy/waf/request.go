package waf

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"unsafe"
)

// scan is one request's inspection: the budget spent so far, what was found and where, and
// scratch buffers for decoding. Scans are pooled, so an ordinary request allocates nothing here.
type scan struct {
	g       *Guard
	strings int // strings inspected
	bytes   int // their total length

	dec     []byte // the decoding of the current URL component or JSON string
	scratch []byte // detect's second decoding

	found  finding
	where  string // "query", "path", "body", "header" ...
	header string // the header's name when where is "header"
	over   bool   // the budget ran out before the request was fully inspected
}

// maxPooledBuffer bounds the scratch kept by a pooled scan, so one huge string does not pin
// memory for the life of the process.
const maxPooledBuffer = 64 << 10

var scans = sync.Pool{New: func() any { return new(scan) }}

func newScan(g *Guard) *scan {
	s := scans.Get().(*scan)
	s.g = g
	return s
}

func (s *scan) release() {
	dec, scratch := s.dec[:0], s.scratch[:0]
	if cap(dec) > maxPooledBuffer {
		dec = nil
	}
	if cap(scratch) > maxPooledBuffer {
		scratch = nil
	}
	*s = scan{dec: dec, scratch: scratch}
	scans.Put(s)
}

// inspect checks one string. It returns false when the scan must stop: something was found or
// the budget is spent.
func (s *scan) inspect(v, where string) bool {
	s.strings++
	s.bytes += len(v)
	if s.strings > s.g.maxStrings || s.bytes > s.g.maxBytes {
		s.over = true
		return false
	}
	f, ok, scratch := detect(v, s.scratch)
	s.scratch = scratch
	if ok {
		s.found, s.where = f, where
		return false
	}
	return true
}

// inspectBytes checks b, which must not change until it returns.
func (s *scan) inspectBytes(b []byte, where string) bool {
	return s.inspect(unsafe.String(unsafe.SliceData(b), len(b)), where)
}

// inspectEncoded checks the percent-decoding of v (a URL component; plus decodes '+' to a
// space as form encoding does) and returns the decoding, valid until the next call.
func (s *scan) inspectEncoded(v, where string, plus bool) (decoded []byte, ok bool) {
	s.dec, _ = percentDecode(s.dec[:0], v, plus)
	return s.dec, s.inspectBytes(s.dec, where)
}

// path checks each segment of the request path, decoded once. Segments are judged apart
// because a backend routes on them apart; but a path with SQL comment markers is also judged
// whole, since splitting "1'/**/OR/**/1=1" at its slashes would hide it.
func (s *scan) path(u *url.URL) bool {
	p, encoded := u.RawPath, true
	if p == "" {
		p, encoded = u.Path, false
	}
	for rest := p; rest != ""; {
		var seg string
		seg, rest, _ = strings.Cut(rest, "/")
		if seg == "" {
			continue
		}
		if encoded {
			if _, ok := s.inspectEncoded(seg, "path", false); !ok {
				return false
			}
		} else if !s.inspect(seg, "path") {
			return false
		}
	}
	if strings.Contains(u.Path, "/*") || strings.Contains(u.Path, "*/") {
		return s.inspect(u.Path, "path")
	}
	return true
}

// query checks the names and values of a query string or form-encoded body, each decoded once
// (WHATWG URL §5.1: '&' separates pairs, '+' is a space). Values of skipped fields are not
// checked; their names are.
func (s *scan) query(q, where string) bool {
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		dec, ok := s.inspectEncoded(name, where, true)
		if !ok {
			return false
		}
		if _, skip := s.g.skipFields[string(dec)]; skip || value == "" {
			continue
		}
		if _, ok := s.inspectEncoded(value, where, true); !ok {
			return false
		}
	}
	return true
}

// headers checks every header value except credentials and protocol headers (skipHeaders).
// Cookies are split into names and values; a Referer's query is also checked pair by pair,
// because a payload at the end of a whole URL can escape a tokenizer made for single values.
func (s *scan) headers(h http.Header) bool {
	for name, values := range h {
		if _, skip := s.g.skipHeaders[name]; skip {
			continue
		}
		for _, v := range values {
			ok := true
			switch name {
			case "Cookie":
				ok = s.cookies(v)
			case "Referer":
				ok = s.inspect(v, "header")
				if i := strings.IndexByte(v, '?'); ok && i >= 0 {
					ok = s.query(v[i+1:], "header")
				}
			default:
				ok = s.inspect(v, "header")
			}
			if !ok {
				if s.where == "header" {
					s.header = name
				}
				return false
			}
		}
	}
	return true
}

// cookies checks each cookie's name and value in a Cookie header (RFC 6265 §4.2.1: pairs
// separated by "; "). Values are often percent-encoded by applications; detect decodes them.
func (s *scan) cookies(v string) bool {
	for v != "" {
		var pair string
		pair, v, _ = strings.Cut(v, ";")
		name, value, _ := strings.Cut(strings.TrimSpace(pair), "=")
		if name != "" && !s.inspect(name, "header") {
			return false
		}
		if value = strings.Trim(value, `"`); value != "" && !s.inspect(value, "header") {
			return false
		}
	}
	return true
}
