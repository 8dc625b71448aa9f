package oauth

import (
	"encoding/json"
	"errors"
	"slices"
)

// Audience is the aud claim or member: RFC 7519 §4.1.3 allows one string or an array of
// strings. It always marshals as an array unless it holds exactly one value.
type Audience []string

// UnmarshalJSON accepts a string or an array of strings.
func (a *Audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("oauth: aud is neither a string nor an array of strings")
	}
	*a = many
	return nil
}

// MarshalJSON writes a single audience as a string, as most servers do.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// Contains reports whether aud names s.
func (a Audience) Contains(s string) bool { return slices.Contains(a, s) }
