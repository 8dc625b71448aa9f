package oauth

import (
	"strings"
	"testing"
)

func TestValidScope(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"payments:read":                  true,
		"!#[]~":                          true,
		strings.Repeat("s", 128):         true,
		strings.Repeat("s", 129):         true,
		strings.Repeat("s", 255):         true,
		strings.Repeat("s", 256):         false,
		"":                               false,
		"two words":                      false,
		`a"b`:                            false,
		`a\b`:                            false,
		"tab\there":                      false,
		"del\x7f":                        false,
		"māori":                          false, // non-ASCII: NQCHAR is %x21-7E only
		"urn:example:scope/with?query=1": true,
	} {
		if got := ValidScope(s); got != want {
			t.Errorf("ValidScope(%q) = %v, want %v", s, got, want)
		}
	}
}
