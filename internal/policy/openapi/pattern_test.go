package openapi

import (
	"math/rand/v2"
	"regexp"
	"testing"
)

// patterns from real specs, some taking the byte-table path and some not.
var testPatterns = []struct {
	expr  string
	table bool
}{
	{`^[A-Z0-9-]{3,20}$`, true},
	{`^[0-9]{4}$`, true},
	{`^\d+$`, true},
	{`^[+0-9 ()-]{6,20}$`, true},
	{`^[a-z_]*$`, true},
	{`^[A-Fa-f0-9]?$`, true},
	{`^[^<>]{1,10}$`, false}, // a negated class holds non-ASCII runes
	{`^\w{2,}$`, true},
	{`^(?i)[a-f]{2}$`, true},
	{`[0-9]{4}`, false}, // unanchored: matches inside longer strings
	{`^[0-9]{4}`, false},
	{`^[a-z]+@[a-z]+$`, false},
	{`^[ä-ö]+$`, false},
	{`^.{1,5}$`, false},
	{`^a$`, false}, // a literal, not a class
}

func TestPatternTable(t *testing.T) {
	for _, tc := range testPatterns {
		p, err := compilePattern(tc.expr)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		if got := p.class != nil; got != tc.table {
			t.Errorf("%s: byte table = %v, want %v", tc.expr, got, tc.table)
		}
	}
}

// TestPatternMatchesRegexp checks the byte table against regexp itself on random strings,
// biased towards the characters the patterns mention.
func TestPatternMatchesRegexp(t *testing.T) {
	alphabet := []rune("AZaz09-+ ()_<>@\n\x00äö€.")
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range testPatterns {
		p, _ := compilePattern(tc.expr)
		re := regexp.MustCompile(tc.expr)
		for range 20000 {
			n := rng.IntN(24)
			s := make([]rune, n)
			for i := range s {
				s[i] = alphabet[rng.IntN(len(alphabet))]
			}
			b := []byte(string(s))
			if got, want := p.match(b), re.Match(b); got != want {
				t.Fatalf("%s on %q: match = %v, regexp says %v", tc.expr, b, got, want)
			}
		}
	}
}

func FuzzPattern(f *testing.F) {
	f.Add(`^[A-Z0-9-]{3,20}$`, "BOOK-0001")
	f.Add(`^\d{4}$`, "6011")
	f.Add(`^[a-z]*$`, "")
	f.Fuzz(func(t *testing.T, expr, s string) {
		p, err := compilePattern(expr)
		if err != nil {
			return
		}
		if got, want := p.match([]byte(s)), p.re.MatchString(s); got != want {
			t.Fatalf("%q on %q: match = %v, regexp says %v", expr, s, got, want)
		}
	})
}

func BenchmarkPattern(b *testing.B) {
	p, _ := compilePattern(`^[A-Z0-9-]{3,20}$`)
	s := []byte("BOOK-0001")
	b.Run("table", func(b *testing.B) {
		for b.Loop() {
			p.match(s)
		}
	})
	b.Run("regexp", func(b *testing.B) {
		for b.Loop() {
			p.re.Match(s)
		}
	})
}
