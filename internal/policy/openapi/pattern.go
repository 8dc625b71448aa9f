package openapi

import (
	"regexp"
	"regexp/syntax"
)

// pattern is a compiled schema pattern. Most patterns in real specs are one ASCII character
// class repeated, anchored at both ends (^[A-Z0-9-]{3,20}$, ^\d{4}$); those are checked with a
// byte table and a length test instead of the regexp engine, several times faster. The rest
// go to regexp.
type pattern struct {
	re    *regexp.Regexp
	class *asciiClass // nil unless the pattern is a repeated ASCII class
}

func compilePattern(expr string) (*pattern, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	return &pattern{re: re, class: parseASCIIClass(expr)}, nil
}

// match reports whether s matches, as regexp.Match would.
func (p *pattern) match(s []byte) bool {
	if p.class != nil {
		return p.class.match(s)
	}
	return p.re.Match(s)
}

// asciiClass matches strings of min to max (-1: no limit) bytes, each in set.
type asciiClass struct {
	set      [256]bool
	min, max int
}

// parseASCIIClass recognises ^C$, ^C+$, ^C*$, ^C?$ and ^C{m,n}$ where C is a character class
// of ASCII characters only (so a byte is a character, and lengths count alike); nil for any
// other pattern.
func parseASCIIClass(expr string) *asciiClass {
	re, err := syntax.Parse(expr, syntax.Perl) // Perl: ^ and $ match only at the ends, as regexp.Compile
	if err != nil || re.Op != syntax.OpConcat || len(re.Sub) != 3 ||
		re.Sub[0].Op != syntax.OpBeginText || re.Sub[2].Op != syntax.OpEndText {
		return nil
	}
	x := re.Sub[1]
	c := &asciiClass{min: 1, max: 1}
	switch x.Op {
	case syntax.OpRepeat:
		c.min, c.max, x = x.Min, x.Max, x.Sub[0]
	case syntax.OpPlus:
		c.min, c.max, x = 1, -1, x.Sub[0]
	case syntax.OpStar:
		c.min, c.max, x = 0, -1, x.Sub[0]
	case syntax.OpQuest:
		c.min, c.max, x = 0, 1, x.Sub[0]
	}
	if x.Op != syntax.OpCharClass {
		return nil
	}
	for i := 0; i+1 < len(x.Rune); i += 2 {
		lo, hi := x.Rune[i], x.Rune[i+1]
		if lo < 0 || hi >= 0x80 {
			return nil
		}
		for r := lo; r <= hi; r++ {
			c.set[r] = true
		}
	}
	return c
}

func (c *asciiClass) match(s []byte) bool {
	if len(s) < c.min || c.max >= 0 && len(s) > c.max {
		return false
	}
	for _, b := range s {
		if !c.set[b] {
			return false
		}
	}
	return true
}
