package yamldoc

import (
	"math"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Kind is what a scalar holds.
type Kind int

// The kinds of the YAML 1.2 core schema (YAML 1.2.2 §10.3).
const (
	String Kind = iota
	Null
	Bool
	Int
	Float
)

// String names the kind for error messages: "a string", "a number".
func (k Kind) String() string {
	switch k {
	case Null:
		return "nothing"
	case Bool:
		return "a boolean"
	case Int, Float:
		return "a number"
	}
	return "a string"
}

// YAML 1.2.2 §10.3.2, the core schema's resolution of plain scalars. YAML 1.1's extra forms
// ("yes", "on", 0777 as octal, 1_000, 1:20 as sexagesimal, timestamps) are strings, or for
// 0777 the decimal 777, as in YAML 1.2.
var (
	coreInt   = regexp.MustCompile(`^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$`)
	coreFloat = regexp.MustCompile(`^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)
)

// Tagged reports whether n carries an explicit tag ("!!str x"), and which.
func Tagged(n *yaml.Node) (string, bool) {
	if n.Style&yaml.TaggedStyle == 0 {
		return "", false
	}
	return n.Tag, true
}

// ScalarKind resolves scalar n. Quoted and block scalars are strings; a plain one is resolved by
// the core schema; an explicit !!str, !!null, !!bool, !!int or !!float tag must agree with the
// text, and any other tag is an error.
func ScalarKind(n *yaml.Node) (Kind, error) {
	plain := n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0
	k := String
	if plain {
		k = resolvePlain(n.Value)
	}
	tag, tagged := Tagged(n)
	if !tagged {
		return k, nil
	}
	want := map[string]Kind{"!!str": String, "!!null": Null, "!!bool": Bool, "!!int": Int, "!!float": Float}
	wk, known := want[tag]
	switch {
	case !known:
		return 0, errorAt(n, "YAML tag %s is not supported", strconv.Quote(tag))
	case wk == String:
		return String, nil
	case wk == k && plain:
		return wk, nil
	}
	return 0, errorAt(n, "%s is not a valid %s", strconv.Quote(n.Value), tag)
}

func resolvePlain(s string) Kind {
	switch s {
	case "", "~", "null", "Null", "NULL":
		return Null
	case "true", "True", "TRUE", "false", "False", "FALSE":
		return Bool
	}
	if s[0] != '.' && s[0] != '+' && s[0] != '-' && (s[0] < '0' || s[0] > '9') {
		return String // the common case, without a regexp
	}
	switch {
	case coreInt.MatchString(s):
		return Int
	case coreFloat.MatchString(s):
		return Float
	}
	return String
}

// ScalarValue is n's value as a plain Go value: string, nil, bool, int64 (float64 for an
// integer beyond int64) or float64. Infinity and NaN are errors, having no JSON form.
func ScalarValue(n *yaml.Node) (any, error) {
	k, err := ScalarKind(n)
	if err != nil {
		return nil, err
	}
	s := n.Value
	switch k {
	case Null:
		return nil, nil
	case Bool:
		return s[0] == 't' || s[0] == 'T', nil
	case Int:
		var i int64
		switch {
		case strings.HasPrefix(s, "0o"):
			i, err = strconv.ParseInt(s[2:], 8, 64)
		case strings.HasPrefix(s, "0x"):
			i, err = strconv.ParseInt(s[2:], 16, 64)
		default:
			i, err = strconv.ParseInt(s, 10, 64)
		}
		if err == nil {
			return i, nil
		}
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || strings.HasPrefix(s, "0o") || strings.HasPrefix(s, "0x") {
			return nil, errorAt(n, "%s is too large a number", strconv.Quote(s))
		}
		return f, nil
	case Float:
		f, err := strconv.ParseFloat(strings.TrimPrefix(s, "+"), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, errorAt(n, "%s has no JSON form", strconv.Quote(s))
		}
		return f, nil
	}
	return s, nil
}
