package web

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/tiaki-nz/tiaki"
)

// maxHops bounds how many forwarding entries ClientIP examines, so a header with thousands of
// entries costs no more than a normal one. Real chains have a handful of proxies.
const maxHops = 16

// ParseTrustedProxies parses the configured trusted proxies (gateway.trusted_proxies): IP
// addresses or CIDR prefixes. Parse them once, when the configuration loads, and hand the result
// to every ClientIP call.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		s = strings.TrimSpace(s)
		var p netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			p, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			a, err = netip.ParseAddr(s)
			if err == nil {
				if a.Zone() != "" {
					err = fmt.Errorf("zones are not allowed")
				}
				a = a.Unmap()
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %d %q: not an IP address or CIDR prefix: %w", i, s, tiaki.ErrInvalid)
		}
		// An IPv4-mapped IPv6 prefix means its IPv4 addresses; ClientIP compares unmapped
		// addresses, so store the IPv4 form.
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// ClientIP returns the address of the client that sent r: the peer's address, unless the peer
// is one of the trusted proxies, in which case the right-most address in X-Forwarded-For (or,
// when the request has none, in Forwarded, RFC 7239) that is not itself a trusted proxy.
//
// Every proxy appends the address it received the request from, so the entries right of the
// first untrusted one were written by our own proxies and the entries left of it by whoever
// that client is: anything a client writes in these headers itself lands on the left and is
// never believed. Headers from peers that are not trusted proxies are ignored entirely. When an
// entry cannot be parsed ("unknown", an obfuscated name, garbage from a misbehaving proxy), the
// last trusted hop is returned: it is the nearest address known to be genuine.
//
// Trusted proxies must set X-Forwarded-For, or set Forwarded and remove any X-Forwarded-For
// the client sent: when both are present X-Forwarded-For is read.
//
// The result has no zone and IPv4-mapped IPv6 addresses are unmapped; it is the zero Addr only
// when RemoteAddr is not an IP address (a Unix socket).
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := remoteAddr(r.RemoteAddr)
	if !peer.IsValid() || !isTrusted(trusted, peer) {
		return peer
	}
	if vals := r.Header["X-Forwarded-For"]; len(vals) > 0 {
		return fromXFF(vals, peer, trusted)
	}
	if vals := r.Header["Forwarded"]; len(vals) > 0 {
		return fromForwarded(vals, peer, trusted)
	}
	return peer
}

// remoteAddr parses http.Request.RemoteAddr ("ip:port", or a bare IP from some servers).
func remoteAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normal(ap.Addr())
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return normal(a)
	}
	return netip.Addr{}
}

func normal(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

func isTrusted(trusted []netip.Prefix, a netip.Addr) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// fromXFF walks X-Forwarded-For from the right. Several header lines form one list in order
// (RFC 9110 §5.3).
func fromXFF(vals []string, peer netip.Addr, trusted []netip.Prefix) netip.Addr {
	last := peer
	hops := 0
	for i := len(vals) - 1; i >= 0; i-- {
		v := vals[i]
		for v != "" {
			var entry string
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				entry, v = v[j+1:], v[:j]
			} else {
				entry, v = v, ""
			}
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue // empty list elements are allowed and ignored (RFC 9110 §5.6.1)
			}
			a, ok := parseNode(entry)
			if !ok {
				return last
			}
			if !isTrusted(trusted, a) {
				return a
			}
			last = a
			if hops++; hops >= maxHops {
				return last
			}
		}
	}
	return last
}

// fromForwarded reads the for= parameters of Forwarded (RFC 7239 §4, §5.2) and walks them
// from the right. An element without for= ends the walk, like an unparsable one.
func fromForwarded(vals []string, peer netip.Addr, trusted []netip.Prefix) netip.Addr {
	// The right-most maxHops elements, in a ring; "" marks an element without for=.
	var ring [maxHops]string
	n := 0
	for _, v := range vals {
		for v != "" {
			var elem string
			elem, v = cutOutsideQuotes(v, ',')
			elem = strings.TrimSpace(elem)
			if elem == "" {
				continue
			}
			ring[n%maxHops] = forParam(elem)
			n++
		}
	}
	last := peer
	for k := 0; k < min(n, maxHops); k++ {
		node := ring[(n-1-k)%maxHops]
		a, ok := parseNode(node)
		if !ok {
			return last
		}
		if !isTrusted(trusted, a) {
			return a
		}
		last = a
	}
	return last
}

// forParam returns the unquoted value of an element's for= parameter, or "".
func forParam(elem string) string {
	for elem != "" {
		var pair string
		pair, elem = cutOutsideQuotes(elem, ';')
		name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || !strings.EqualFold(name, "for") {
			continue
		}
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
			if strings.ContainsRune(value, '\\') {
				return "" // an address never needs escapes; don't guess
			}
		}
		return value
	}
	return ""
}

// cutOutsideQuotes splits s at the first sep that is not inside a quoted string.
func cutOutsideQuotes(s string, sep byte) (before, after string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// parseNode parses one hop: "192.0.2.1", "192.0.2.1:8080", "2001:db8::1" or
// "[2001:db8::1]:8080". Names ("unknown", "_hidden", host names) are not addresses.
func parseNode(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		if rest := s[end+1:]; rest != "" && !validPort(rest) {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(s[1:end])
		if err != nil || !a.Is6() {
			return netip.Addr{}, false
		}
		return normal(a), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return normal(a), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Is4() {
		return normal(ap.Addr()), true
	}
	return netip.Addr{}, false
}

// validPort reports whether s is ":" followed by 1 to 5 digits.
func validPort(s string) bool {
	if len(s) < 2 || len(s) > 6 || s[0] != ':' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
