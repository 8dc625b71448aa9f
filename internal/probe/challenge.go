package probe

import (
	"strings"

	"golang.org/x/net/http/httpguts"
)

// challenge is one WWW-Authenticate challenge (RFC 9110 §11.6.1): a scheme and its parameters.
type challenge struct {
	Scheme string            // as sent; compare with strings.EqualFold
	Params map[string]string // names lower-cased
}

// maxChallengeInput bounds what parseChallenges reads of a server's headers.
const maxChallengeInput = 8 << 10

// parseChallenges reads every challenge of every WWW-Authenticate field value. The grammar
// makes commas ambiguous (they separate both challenges and parameters); a token followed by
// '=' is a parameter, any other token starts a new challenge. token68 values are skipped.
// It never fails: what it cannot read it leaves out.
func parseChallenges(values []string) []challenge {
	var out []challenge
	budget := maxChallengeInput
	for _, v := range values {
		if len(v) > budget {
			v = v[:budget]
		}
		budget -= len(v)
		p := &lexer{s: v}
		for {
			p.skip(" \t,")
			name := p.token()
			if name == "" {
				if p.i >= len(p.s) {
					break
				}
				p.i++ // an unexpected byte: step over it
				continue
			}
			p.skip(" \t")
			if p.peek() == '=' && len(out) > 0 {
				// A parameter of the current challenge (or a token68 ending in '=').
				p.i++
				p.skip(" \t")
				val, ok := p.value()
				if !ok {
					continue
				}
				out[len(out)-1].Params[strings.ToLower(name)] = val
				continue
			}
			out = append(out, challenge{Scheme: name, Params: map[string]string{}})
			// token68 directly after the scheme: skip it.
			if c := p.peek(); c != 0 && c != ',' {
				save := p.i
				t := p.token()
				p.skip(" \t")
				if p.peek() == '=' {
					p.i = save // it was the first parameter
				} else if t != "" {
					for p.peek() == '=' {
						p.i++
					}
				}
			}
		}
	}
	return out
}

// find returns the first challenge with the scheme, case-insensitively.
func find(cs []challenge, scheme string) (challenge, bool) {
	for _, c := range cs {
		if strings.EqualFold(c.Scheme, scheme) {
			return c, true
		}
	}
	return challenge{}, false
}

type lexer struct {
	s string
	i int
}

func (l *lexer) peek() byte {
	if l.i < len(l.s) {
		return l.s[l.i]
	}
	return 0
}

func (l *lexer) skip(set string) {
	for l.i < len(l.s) && strings.IndexByte(set, l.s[l.i]) >= 0 {
		l.i++
	}
}

// token reads an RFC 9110 §5.6.2 token (plus '/', which token68 allows).
func (l *lexer) token() string {
	start := l.i
	for l.i < len(l.s) && (isTchar(l.s[l.i]) || l.s[l.i] == '/') {
		l.i++
	}
	return l.s[start:l.i]
}

// value reads a token or a quoted-string (RFC 9110 §5.6.4).
func (l *lexer) value() (string, bool) {
	if l.peek() != '"' {
		v := l.token()
		return v, v != ""
	}
	l.i++
	var b strings.Builder
	for l.i < len(l.s) {
		c := l.s[l.i]
		l.i++
		switch c {
		case '"':
			return b.String(), true
		case '\\':
			if l.i < len(l.s) {
				b.WriteByte(l.s[l.i])
				l.i++
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", false
}

func isTchar(c byte) bool { return httpguts.IsTokenRune(rune(c)) }
