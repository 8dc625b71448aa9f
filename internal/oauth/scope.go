package oauth

// MaxScopeLength is the longest scope-token Tiaki accepts, in bytes. RFC 6749 sets no limit;
// one bound, the same in the configuration, the authorization server and the gateway's scope
// policy, keeps a scope that one of them accepts from being refused by another.
const MaxScopeLength = 255

// ValidScope reports whether s is an RFC 6749 §3.3 scope-token,
// scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) (printable ASCII but space, " and \),
// of at most MaxScopeLength bytes. It is the one definition of a valid scope in Tiaki.
func ValidScope(s string) bool {
	if s == "" || len(s) > MaxScopeLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
