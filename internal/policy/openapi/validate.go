package openapi

import (
	"errors"
	"hash/maphash"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/tiaki-nz/tiaki/internal/policy/content/strictjson"
)

// mode says which side of the exchange a body is on: readOnly properties may not be sent in
// requests, writeOnly ones may not come back in responses.
type mode uint8

const (
	modeRequest mode = iota
	modeResponse
)

// fieldError is a value that breaks its schema: where (such as "body.items[2].price") and what
// is wrong. It never quotes the value.
type fieldError struct{ where, msg string }

func (e *fieldError) Error() string { return e.where + ": " + e.msg }

// errQuiet stands for any failure while trying alternatives (anyOf, oneOf, not), where only
// whether a value matches counts, so no message is built.
var errQuiet = errors.New("openapi: value does not match")

// syntaxError wraps a strictjson error: the body is not strict JSON at all.
type syntaxError struct{ err error }

func (e *syntaxError) Error() string { return e.err.Error() }
func (e *syntaxError) Unwrap() error { return e.err }

// step is one level of the path to the value being validated: a member name or an index.
type step struct {
	name       string // a declared property's name
	start, end int32  // an undeclared member's name, as raw bytes of the body
	index      int32
	kind       uint8
}

const (
	stepName uint8 = iota
	stepRaw
	stepIndex
)

// validation is the state of validating one JSON text; validations are pooled.
type validation struct {
	d      strictjson.Decoder
	data   []byte
	mode   mode
	quiet  int
	root   string
	path   []step
	words  []uint64 // required-property bitsets of objects with more than 64 properties
	hashes []uint64 // uniqueItems
	seed   maphash.Seed
	hb     []byte
}

var validations = sync.Pool{New: func() any { return &validation{seed: maphash.MakeSeed()} }}

// validateJSON checks data, a whole JSON text, against n in one pass. It returns nil, a
// *fieldError, or a *syntaxError.
func validateJSON(n *node, data []byte, maxDepth int, m mode, root string) error {
	v := validations.Get().(*validation)
	v.d.Reset(data, maxDepth)
	v.data, v.mode, v.quiet, v.root = data, m, 0, root
	v.path, v.words, v.hashes = v.path[:0], v.words[:0], v.hashes[:0]
	err := v.value(n)
	switch err.(type) {
	case nil:
		if _, err = v.d.Next(); err != nil { // the End token, or trailing data
			err = &syntaxError{err}
		}
	case *fieldError:
		// A body that is not strict JSON is reported as such even when a schema rule failed
		// first: read on to the end (the decoder is consistent wherever the rule failed).
		if serr := v.d.Skip(true); serr != nil {
			err = &syntaxError{serr}
		}
	}
	v.data = nil
	validations.Put(v)
	return err
}

func (v *validation) syntax(err error) error { return &syntaxError{err} }

func isSyntax(err error) bool {
	_, ok := err.(*syntaxError)
	return ok
}

// fail reports that the value at the current path breaks a rule.
func (v *validation) fail(msg string) error {
	if v.quiet > 0 {
		return errQuiet
	}
	return &fieldError{where: v.where(), msg: msg}
}

// where renders the current path, such as body.items[2].price.
func (v *validation) where() string {
	var b strings.Builder
	b.WriteString(v.root)
	for _, s := range v.path {
		switch s.kind {
		case stepIndex:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(int(s.index)))
			b.WriteByte(']')
		case stepName:
			appendName(&b, s.name)
		case stepRaw:
			var tmp strictjson.Decoder
			tmp.Reset(v.data[s.start-1:s.end+1], 1)
			t, err := tmp.Next()
			name := "?"
			if err == nil {
				name = string(tmp.Unescape(t))
			}
			appendName(&b, name)
		}
	}
	return b.String()
}

// appendName writes .name, or ["name"] quoted and shortened when it is not a plain identifier:
// a name from the request must not turn the message into something else.
func appendName(b *strings.Builder, name string) {
	plain := name != "" && len(name) <= 64
	for i := 0; i < len(name) && plain; i++ {
		c := name[i]
		plain = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '$' || c == '@'
	}
	if plain {
		b.WriteByte('.')
		b.WriteString(name)
		return
	}
	if len(name) > 64 {
		name = name[:64] + "…"
	}
	b.WriteByte('[')
	b.WriteString(strconv.QuoteToASCII(strings.ToValidUTF8(name, "\uFFFD")))
	b.WriteByte(']')
}

// value validates the next value against n.
func (v *validation) value(n *node) error {
	cp := v.d.Save()
	t, err := v.d.Next()
	if err != nil {
		return v.syntax(err)
	}
	return v.tokenAt(n, cp, t)
}

// tokenAt validates the value that starts with t, read from checkpoint cp.
func (v *validation) tokenAt(n *node, cp strictjson.Checkpoint, t strictjson.Token) error {
	switch {
	case n == nil:
		if err := v.d.Finish(t); err != nil {
			return v.syntax(err)
		}
		return nil
	case n.combined:
		return v.combined(n, cp, t)
	}
	return v.token(n, t)
}

// token validates the value that starts with t against n's own keywords (not its combinators).
func (v *validation) token(n *node, t strictjson.Token) error {
	if n.never {
		return v.fail("is not allowed here")
	}
	switch t.Kind {
	case strictjson.ObjectStart:
		if !n.types.has(tObject) {
			return v.fail(n.types.expected())
		}
		return v.object(n)
	case strictjson.ArrayStart:
		if !n.types.has(tArray) {
			return v.fail(n.types.expected())
		}
		return v.array(n)
	case strictjson.String:
		if !n.types.has(tString) {
			return v.fail(n.types.expected())
		}
		if n.minLen == 0 && n.maxLen < 0 && n.pattern == nil && n.format == formatNone && n.enum == nil {
			return nil
		}
		return v.str(n, v.d.Unescape(t))
	case strictjson.Number:
		if !n.types.has(tNumber | tInteger) {
			return v.fail(n.types.expected())
		}
		if n.types.has(tNumber) && !n.hasMin && !n.hasMax && n.multipleOf == 0 && n.enum == nil && n.format == formatNone {
			return nil
		}
		f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(t.Raw), len(t.Raw)), 64)
		if err != nil {
			return v.fail("is out of range for a number")
		}
		return v.number(n, f)
	case strictjson.True, strictjson.False:
		if !n.types.has(tBoolean) {
			return v.fail(n.types.expected())
		}
		if e := n.enum; e != nil && !(t.Kind == strictjson.True && e.hasTrue || t.Kind == strictjson.False && e.hasFalse) {
			return v.fail("must be one of: " + e.list)
		}
		return nil
	case strictjson.Null:
		if !n.types.has(tNull) {
			return v.fail(n.types.expected())
		}
		if e := n.enum; e != nil && !e.hasNull {
			return v.fail("must be one of: " + e.list)
		}
		return nil
	}
	return v.syntax(errors.New("unexpected token " + t.Kind.String()))
}

func (m typeMask) expected() string {
	var names []string
	for _, t := range []struct {
		bit  typeMask
		name string
	}{{tObject, "an object"}, {tArray, "an array"}, {tString, "a string"}, {tNumber, "a number"},
		{tBoolean, "a boolean"}, {tNull, "null"}} {
		if m.has(t.bit) {
			names = append(names, t.name)
		}
	}
	if m.has(tInteger) && !m.has(tNumber) {
		names = append(names, "an integer")
	}
	if len(names) == 0 {
		return "is not allowed"
	}
	return "must be " + strings.Join(names, " or ")
}

func (v *validation) str(n *node, s []byte) error {
	if msg := stringProblem(n, s); msg != "" {
		return v.fail(msg)
	}
	return nil
}

func (v *validation) number(n *node, f float64) error {
	if msg := numberProblem(n, f); msg != "" {
		return v.fail(msg)
	}
	return nil
}

// stringProblem says what is wrong with the string s under n's string keywords; "" if nothing.
func stringProblem(n *node, s []byte) string {
	if n.minLen > 0 || n.maxLen >= 0 {
		// JSON Schema 2020-12 §6.3.1: length counts characters (code points), not bytes.
		l := utf8.RuneCount(s)
		if l < n.minLen {
			return "must be at least " + strconv.Itoa(n.minLen) + " characters long"
		}
		if n.maxLen >= 0 && l > n.maxLen {
			return "must be at most " + strconv.Itoa(n.maxLen) + " characters long"
		}
	}
	if n.pattern != nil && !n.pattern.match(s) {
		return "must match the pattern " + n.patternText
	}
	if n.format != formatNone && !n.format.checkString(s) {
		return n.format.message()
	}
	if e := n.enum; e != nil {
		if _, ok := e.strings[unsafe.String(unsafe.SliceData(s), len(s))]; !ok {
			return "must be one of: " + e.list
		}
	}
	return ""
}

// numberProblem says what is wrong with the number f under n's numeric keywords.
func numberProblem(n *node, f float64) string {
	integral := f == math.Trunc(f)
	if !n.types.has(tNumber) && !integral {
		return "must be an integer"
	}
	if n.hasMin && (f < n.min || n.exclMin && f == n.min) {
		return bound(">", n.exclMin, n.min)
	}
	if n.hasMax && (f > n.max || n.exclMax && f == n.max) {
		return bound("<", n.exclMax, n.max)
	}
	if n.multipleOf > 0 && !multipleOf(f, n.multipleOf) {
		return "must be a multiple of " + strconv.FormatFloat(n.multipleOf, 'g', -1, 64)
	}
	if n.format != formatNone && integral && !n.format.checkNumber(f) {
		return n.format.message()
	}
	if e := n.enum; e != nil {
		for _, x := range e.numbers {
			if x == f {
				return ""
			}
		}
		return "must be one of: " + e.list
	}
	return ""
}

func bound(op string, exclusive bool, b float64) string {
	if !exclusive {
		op += "="
	}
	return "must be " + op + " " + strconv.FormatFloat(b, 'g', -1, 64)
}

// multipleOf reports whether f is a multiple of m, allowing the rounding error of decimal
// fractions in binary (19.99 is a multiple of 0.01): the nearest multiple may be a couple of
// units in the last place away.
func multipleOf(f, m float64) bool {
	q := f / m
	if q == math.Trunc(q) {
		return true
	}
	k := math.Round(q)
	return math.Abs(f-k*m) <= math.Abs(f)*0x1p-51
}

func (v *validation) array(n *node) error {
	count := 0
	depth := len(v.path)
	v.path = append(v.path, step{kind: stepIndex})
	hashStart := len(v.hashes)
	var seen map[uint64]struct{} // uniqueItems, once the array is long
	for {
		cp := v.d.Save()
		t, err := v.d.Next()
		if err != nil {
			return v.syntax(err)
		}
		if t.Kind == strictjson.ArrayEnd {
			break
		}
		v.path[depth] = step{kind: stepIndex, index: int32(count)}
		if n.maxItems >= 0 && count >= n.maxItems {
			return v.fail("is beyond the limit of " + strconv.Itoa(n.maxItems) + " items")
		}
		if err := v.tokenAt(n.items, cp, t); err != nil {
			return err
		}
		if n.unique {
			if err := v.checkUnique(cp, hashStart, &seen); err != nil {
				return err
			}
		}
		v.path = v.path[:depth+1]
		count++
	}
	v.path = v.path[:depth]
	v.hashes = v.hashes[:hashStart]
	if count < n.minItems {
		return v.fail("must have at least " + strconv.Itoa(n.minItems) + " items")
	}
	return nil
}

func (v *validation) object(n *node) error {
	var small uint64
	wordsAt := len(v.words)
	if len(n.props) > 64 {
		for range (len(n.props) + 63) / 64 {
			v.words = append(v.words, 0)
		}
	}
	count := 0
	depth := len(v.path)
	v.path = append(v.path, step{})
	for {
		t, err := v.d.Next()
		if err != nil {
			return v.syntax(err)
		}
		if t.Kind == strictjson.ObjectEnd {
			break
		}
		count++
		name := v.d.Unescape(t)
		i, declared := n.index[unsafe.String(unsafe.SliceData(name), len(name))]
		if declared {
			p := &n.props[i]
			v.path[depth] = step{kind: stepName, name: p.name}
			if len(n.props) > 64 {
				v.words[wordsAt+i/64] |= 1 << (i % 64)
			} else {
				small |= 1 << i
			}
			switch {
			case v.mode == modeRequest && p.readOnly:
				return v.fail("is read-only and must not be sent")
			case v.mode == modeResponse && p.writeOnly:
				return v.fail("is write-only and must not be returned")
			case !p.declared && n.noAdditional:
				return v.fail("is not an allowed property")
			case !p.declared:
				err = v.value(n.additional)
			default:
				err = v.value(p.node)
			}
		} else {
			start := int32(t.Offset + 1)
			v.path[depth] = step{kind: stepRaw, start: start, end: start + int32(len(t.Raw))}
			if n.noAdditional {
				return v.fail("is not an allowed property")
			}
			err = v.value(n.additional)
		}
		if err != nil {
			return err
		}
		v.path = v.path[:depth+1]
	}
	v.path = v.path[:depth]
	for _, i := range n.required[v.mode] {
		var seen bool
		if len(n.props) > 64 {
			seen = v.words[wordsAt+i/64]&(1<<(i%64)) != 0
		} else {
			seen = small&(1<<i) != 0
		}
		if !seen {
			v.path = append(v.path, step{kind: stepName, name: n.props[i].name})
			return v.fail("is required")
		}
	}
	v.words = v.words[:wordsAt]
	if count < n.minProps {
		return v.fail("must have at least " + strconv.Itoa(n.minProps) + " properties")
	}
	if n.maxProps >= 0 && count > n.maxProps {
		return v.fail("must have at most " + strconv.Itoa(n.maxProps) + " properties")
	}
	return nil
}
