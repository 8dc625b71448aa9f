package probe

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseChallenges(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		values []string
		want   []challenge
	}{
		{"bearer with params", []string{`Bearer realm="tiaki", error="invalid_token", error_description="expired"`},
			[]challenge{{"Bearer", map[string]string{"realm": "tiaki", "error": "invalid_token", "error_description": "expired"}}}},
		{"two fields", []string{`APIKey header="Api-Key"`, `Bearer realm="tiaki"`},
			[]challenge{{"APIKey", map[string]string{"header": "Api-Key"}}, {"Bearer", map[string]string{"realm": "tiaki"}}}},
		{"two in one field", []string{`Basic realm="a", Bearer realm="b", error=invalid_token`},
			[]challenge{{"Basic", map[string]string{"realm": "a"}}, {"Bearer", map[string]string{"realm": "b", "error": "invalid_token"}}}},
		{"bare scheme", []string{`Negotiate`}, []challenge{{"Negotiate", map[string]string{}}}},
		{"token68", []string{`Negotiate abc123==, Basic realm="x"`},
			[]challenge{{"Negotiate", map[string]string{}}, {"Basic", map[string]string{"realm": "x"}}}},
		{"escaped quote", []string{`Bearer realm="a \"b\" c"`}, []challenge{{"Bearer", map[string]string{"realm": `a "b" c`}}}},
		{"unterminated quote", []string{`Bearer realm="abc`}, []challenge{{"Bearer", map[string]string{}}}},
		{"garbage", []string{`"",,,===`}, nil},
		{"empty", nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, parseChallenges(c.values)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if _, ok := find(parseChallenges([]string{`basic realm=x`}), "Basic"); !ok {
		t.Error("find is case-sensitive")
	}
	huge := strings.Repeat(`Bearer a="b", `, 10000)
	if n := len(parseChallenges([]string{huge})); n == 0 || n > maxChallengeInput {
		t.Errorf("a huge header gave %d challenges", n)
	}
}

func FuzzParseChallenges(f *testing.F) {
	for _, s := range []string{`Bearer realm="x", error="invalid_token"`, `Basic`, `Negotiate a==, APIKey header=Api-Key`, `"\`, `=,=`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range parseChallenges([]string{s, s}) {
			if c.Scheme == "" || c.Params == nil {
				t.Fatalf("malformed challenge %+v from %q", c, s)
			}
		}
	})
}
