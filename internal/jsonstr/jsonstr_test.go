package jsonstr

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAppendRoundTrips(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", "a\"b\\c\nd\re\tf\x01g", "<script>&</script>", "\xff\xfe", "\u2028\u2029", "Māori ĀĒ 😀"} {
		b := append([]byte{'"'}, Append(nil, s)...)
		b = append(b, '"')
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q: not a JSON string: %v: %s", s, err, b)
		}
		if want := viaEncodingJSON(t, s); got != want {
			t.Errorf("round trip %q → %q", want, got)
		}
		if strings.ContainsAny(string(b[1:len(b)-1]), "<>&\n") {
			t.Errorf("%q: unescaped HTML or newline in %s", s, b)
		}
	}
}

func FuzzAppend(f *testing.F) {
	f.Add("a\"<b>\xff")
	f.Fuzz(func(t *testing.T, s string) {
		b := append([]byte{'"'}, Append(nil, s)...)
		var got string
		if err := json.Unmarshal(append(b, '"'), &got); err != nil || got != viaEncodingJSON(t, s) {
			t.Fatalf("%q: %v %q", s, err, got)
		}
	})
}

// viaEncodingJSON is what encoding/json makes of s: each invalid UTF-8 byte becomes U+FFFD.
func viaEncodingJSON(t *testing.T, s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
