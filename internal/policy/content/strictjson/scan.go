package strictjson

// The lexical layer: values, literals, numbers and strings, checked as they are scanned, and
// the unescaping of strings.

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

func (d *Decoder) value() (Token, error) {
	if d.pos >= len(d.data) {
		return Token{}, d.fail(ErrSyntax, d.pos, "unexpected end of JSON")
	}
	start := d.pos
	switch c := d.data[d.pos]; c {
	case '{', '[':
		if len(d.stack) >= d.maxDepth {
			return Token{}, d.fail(ErrDepth, start, "nested deeper than "+strconv.Itoa(d.maxDepth)+" levels")
		}
		d.pos++
		if c == '{' {
			d.stack = append(d.stack, frame{object: true, state: wantKeyOrClose, keysStart: int32(len(d.keys))})
			return Token{Kind: ObjectStart, Offset: start}, nil
		}
		d.stack = append(d.stack, frame{state: wantValueOrClose})
		return Token{Kind: ArrayStart, Offset: start}, nil
	case '"':
		t, err := d.str(String)
		if err == nil {
			d.afterValue()
		}
		return t, err
	case 't':
		return d.literal("true", True)
	case 'f':
		return d.literal("false", False)
	case 'n':
		return d.literal("null", Null)
	default:
		if c == '-' || '0' <= c && c <= '9' {
			return d.number()
		}
	}
	return Token{}, d.fail(ErrSyntax, start, "expected a JSON value")
}

func (d *Decoder) literal(word string, kind Kind) (Token, error) {
	start := d.pos
	if !bytes.HasPrefix(d.data[d.pos:], []byte(word)) {
		return Token{}, d.fail(ErrSyntax, start, "invalid literal")
	}
	d.pos += len(word)
	d.afterValue()
	return Token{Kind: kind, Raw: d.data[start:d.pos], Offset: start}, nil
}

// number scans an RFC 8259 §6 number: -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?
func (d *Decoder) number() (Token, error) {
	start, b := d.pos, d.data
	i := d.pos
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		return Token{}, d.fail(ErrSyntax, start, "invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return Token{}, d.fail(ErrSyntax, start, "invalid number")
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return Token{}, d.fail(ErrSyntax, start, "invalid number")
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	d.pos = i
	d.afterValue()
	return Token{Kind: Number, Raw: b[start:i], Offset: start}, nil
}

// str scans a string starting at the opening quote. The input is already known to be valid
// UTF-8, so only quotes, escapes and control characters need a look.
func (d *Decoder) str(kind Kind) (Token, error) {
	start, b := d.pos, d.data
	escaped := false
	for i := start + 1; i < len(b); i++ {
		if plain[b[i]] {
			continue
		}
		switch c := b[i]; {
		case c == '"':
			d.pos = i + 1
			return Token{Kind: kind, Escaped: escaped, Raw: b[start+1 : i], Offset: start}, nil
		case c == '\\':
			escaped = true
			n, err := d.escape(i)
			if err != nil {
				return Token{}, err
			}
			i += n - 1
		case c < 0x20: // RFC 8259 §7: control characters must be escaped
			return Token{}, d.fail(ErrSyntax, i, "control character in a string")
		}
	}
	return Token{}, d.fail(ErrSyntax, start, "unterminated string")
}

// plain marks the bytes a string may hold as they are: not a quote, backslash or control.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// escape checks the escape sequence at b[i] (the backslash) and returns its length.
func (d *Decoder) escape(i int) (int, error) {
	b := d.data
	if i+1 >= len(b) {
		return 0, d.fail(ErrSyntax, i, "unterminated string")
	}
	switch b[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, nil
	case 'u':
		r, ok := hex4(b, i+2)
		if !ok {
			return 0, d.fail(ErrSyntax, i, "invalid \\u escape")
		}
		switch {
		case 0xDC00 <= r && r <= 0xDFFF:
			return 0, d.fail(ErrUTF8, i, "lone surrogate escape")
		case 0xD800 <= r && r <= 0xDBFF:
			// RFC 8259 §7 / RFC 7493 §2.1: a high surrogate must be followed by a low one.
			if i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
				if lo, ok := hex4(b, i+8); ok && 0xDC00 <= lo && lo <= 0xDFFF {
					return 12, nil
				}
			}
			return 0, d.fail(ErrUTF8, i, "lone surrogate escape")
		}
		return 6, nil
	}
	return 0, d.fail(ErrSyntax, i, "invalid escape")
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// Unescape returns the value of a String or Key token. Without escapes that is t.Raw itself;
// otherwise the result lives in a buffer the next Unescape call overwrites.
func (d *Decoder) Unescape(t Token) []byte {
	if !t.Escaped {
		return t.Raw
	}
	return d.unescapeInto(&d.scratch, t.Raw)
}

// unescapeInto decodes raw, already checked by str, into *buf.
func (d *Decoder) unescapeInto(buf *[]byte, raw []byte) []byte {
	out := (*buf)[:0]
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, _ := hex4(raw, i+1)
			i += 4
			if 0xD800 <= r && r <= 0xDBFF {
				lo, _ := hex4(raw, i+3)
				r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
				i += 6
			}
			out = utf8.AppendRune(out, r)
		default: // " \ /
			out = append(out, raw[i])
		}
	}
	*buf = out
	return out
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}
