package waf

import (
	"unicode/utf16"
	"unicode/utf8"
)

// jsonResult is the outcome of walking a JSON document.
type jsonResult int

const (
	jsonOK        jsonResult = iota
	jsonStopped              // a finding, or the budget ran out: see the scan
	jsonMalformed            // not JSON (RFC 8259), or nested deeper than the limit
)

// The walker's states: what may come next.
const (
	wantValue      = iota // any value
	wantValueOrEnd        // just after '[': a value or ']'
	wantKeyOrEnd          // just after '{': a member name or '}'
	wantKey               // after ',' in an object
	wantColon             // after a member name
	wantCommaOrEnd        // after a value
)

// json checks every member name and string value of the JSON document b (RFC 8259) in one
// pass, without building it: the walker keeps one bit per open container and decodes a string
// only when it has escapes. A document it cannot follow is reported malformed rather than
// half-inspected. Member names in skipFields exempt their value (the whole subtree) from
// checking.
func (s *scan) json(b []byte) jsonResult {
	var (
		stack     [maxJSONDepth / 64]uint64 // bit set: that level is an object
		depth     int
		state     = wantValue
		skipDepth = -1 // while depth > skipDepth, values are not checked
		skipNext  bool // the next value belongs to a skipped member
	)
	isObject := func(d int) bool { return stack[(d-1)/64]&(1<<((d-1)%64)) != 0 }
	maxDepth := min(s.g.maxDepth, maxJSONDepth)
	i := 0
	for {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
			i++
		}
		if i == len(b) {
			if depth == 0 && state == wantCommaOrEnd {
				return jsonOK
			}
			return jsonMalformed
		}
		c := b[i]
		switch state {
		case wantColon:
			if c != ':' {
				return jsonMalformed
			}
			i++
			state = wantValue
			continue
		case wantCommaOrEnd:
			switch {
			case depth == 0:
				return jsonMalformed // trailing data after the document
			case c == ',':
				i++
				state = wantValue
				if isObject(depth) {
					state = wantKey
				}
				continue
			case c == '}' && isObject(depth), c == ']' && !isObject(depth):
				i++
				depth--
				if depth <= skipDepth {
					skipDepth = -1
				}
				continue
			}
			return jsonMalformed
		case wantKeyOrEnd, wantKey:
			if c == '}' && state == wantKeyOrEnd {
				i++
				depth--
				if depth <= skipDepth {
					skipDepth = -1
				}
				state = wantCommaOrEnd
				continue
			}
			if c != '"' {
				return jsonMalformed
			}
			str, next, ok := s.jsonString(b, i)
			if !ok {
				return jsonMalformed
			}
			i, state = next, wantColon
			if skipDepth >= 0 {
				continue
			}
			if !s.inspectBytes(str, "body") {
				return jsonStopped
			}
			_, skipNext = s.g.skipFields[string(str)]
			continue
		case wantValueOrEnd:
			if c == ']' {
				i++
				depth--
				if depth <= skipDepth {
					skipDepth = -1
				}
				state = wantCommaOrEnd
				continue
			}
		}
		// A value.
		skipped := skipDepth >= 0 || skipNext
		skipNext = false
		switch {
		case c == '{' || c == '[':
			if depth == maxDepth {
				return jsonMalformed
			}
			if skipped && skipDepth < 0 {
				skipDepth = depth
			}
			depth++
			w, bit := (depth-1)/64, uint64(1)<<((depth-1)%64)
			stack[w] &^= bit
			state = wantValueOrEnd
			if c == '{' {
				stack[w] |= bit
				state = wantKeyOrEnd
			}
			i++
			continue
		case c == '"':
			str, next, ok := s.jsonString(b, i)
			if !ok {
				return jsonMalformed
			}
			i = next
			if !skipped && !s.inspectBytes(str, "body") {
				return jsonStopped
			}
		default:
			next := jsonScalar(b, i)
			if next == i {
				return jsonMalformed
			}
			i = next
		}
		state = wantCommaOrEnd
	}
}

// maxJSONDepth is the deepest nesting the walker follows; Config.MaxDepth may lower it.
const maxJSONDepth = 512

// jsonString reads the string starting at b[i] == '"'. It returns its value, which is a
// sub-slice of b when the string has no escapes and s.dec otherwise, and the index after the
// closing quote. ok is false for a string RFC 8259 §7 does not allow: unterminated, with a raw
// control character, or with an unknown escape.
func (s *scan) jsonString(b []byte, i int) (str []byte, next int, ok bool) {
	start := i + 1
	j := start
	for j < len(b) {
		c := b[j]
		switch {
		case c == '"':
			return b[start:j], j + 1, true
		case c == '\\':
			return s.jsonUnescape(b, start, j)
		case c < 0x20:
			return nil, 0, false
		}
		j++
	}
	return nil, 0, false
}

// jsonUnescape decodes the string from start, whose first escape is at j, into s.dec.
// Invalid UTF-16 surrogates become U+FFFD, as encoding/json does.
func (s *scan) jsonUnescape(b []byte, start, j int) ([]byte, int, bool) {
	dec := append(s.dec[:0], b[start:j]...)
	defer func() { s.dec = dec[:0] }()
	for j < len(b) {
		c := b[j]
		switch {
		case c == '"':
			return dec, j + 1, true
		case c < 0x20:
			return nil, 0, false
		case c != '\\':
			dec = append(dec, c)
			j++
			continue
		}
		if j+1 >= len(b) {
			return nil, 0, false
		}
		switch e := b[j+1]; e {
		case '"', '\\', '/':
			dec = append(dec, e)
		case 'b':
			dec = append(dec, '\b')
		case 'f':
			dec = append(dec, '\f')
		case 'n':
			dec = append(dec, '\n')
		case 'r':
			dec = append(dec, '\r')
		case 't':
			dec = append(dec, '\t')
		case 'u':
			r, ok := hex4(b, j+2)
			if !ok {
				return nil, 0, false
			}
			j += 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if j+1 < len(b) && b[j] == '\\' && b[j+1] == 'u' {
					if v, ok := hex4(b, j+2); ok {
						r2 = v
					}
				}
				if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
					r = pair
					j += 6
				} else {
					r = utf8.RuneError
				}
			}
			dec = utf8.AppendRune(dec, r)
			continue
		default:
			return nil, 0, false
		}
		j += 2
	}
	return nil, 0, false
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		d := hexValue(c)
		if d < 0 {
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

// jsonScalar returns the index after the number or literal at b[i], or i if there is none.
// Numbers are only delimited here, not validated: the content policy parses them strictly, and
// nothing in a number can carry an injection.
func jsonScalar(b []byte, i int) int {
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
			return i + len(lit)
		}
	}
	j := i
	for j < len(b) && (b[j] >= '0' && b[j] <= '9' || b[j] == '-' || b[j] == '+' || b[j] == '.' || b[j] == 'e' || b[j] == 'E') {
		j++
	}
	if j > i && !(b[i] >= '0' && b[i] <= '9' || b[i] == '-') {
		return i
	}
	return j
}
