package bearer

import (
	"net/url"
	"strings"
)

// scheme is the Authorization scheme a token came with.
type scheme uint8

const (
	schemeNone   scheme = iota // some other scheme, not this policy's credential
	schemeBearer               // RFC 6750 §2.1
	schemeDPoP                 // RFC 9449 §7.1
)

// credentials returns the scheme and token of an Authorization value. Schemes are
// case-insensitive (RFC 9110 §11.1).
func credentials(v string) (scheme, string) {
	const bearer, dpop = "bearer ", "dpop "
	switch {
	case len(v) >= len(bearer) && strings.EqualFold(v[:len(bearer)], bearer):
		return schemeBearer, strings.TrimLeft(v[len(bearer):], " ")
	case len(v) >= len(dpop) && strings.EqualFold(v[:len(dpop)], dpop):
		return schemeDPoP, strings.TrimLeft(v[len(dpop):], " ")
	}
	return schemeNone, ""
}

// b64token reports whether t matches RFC 6750 §2.1 b64token: 1*( ALPHA / DIGIT / "-" / "." /
// "_" / "~" / "+" / "/" ) *"=".
func b64token(t string) bool {
	if t == "" {
		return false
	}
	end := len(t)
	for end > 0 && t[end-1] == '=' {
		end--
	}
	if end == 0 {
		return false
	}
	for i := 0; i < end; i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// tokenInQuery reports whether the raw query has an access_token parameter.
func tokenInQuery(q string) bool {
	const name = "access_token"
	if !strings.Contains(q, "access") && !strings.Contains(q, "%") {
		return false // the common case, decided without splitting
	}
	for q != "" {
		var part string
		if i := strings.IndexAny(q, "&;"); i >= 0 {
			part, q = q[:i], q[i+1:]
		} else {
			part, q = q, ""
		}
		n, _, _ := strings.Cut(part, "=")
		if strings.ContainsAny(n, "%+") {
			if u, err := url.QueryUnescape(n); err == nil {
				n = u
			}
		}
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}
