// Package strictjson reads a JSON text held in memory the way a gateway must: strictly, in one
// pass, without building a tree and without allocating per token. It is the tokenizer behind
// the content policy's JSON check and the openapi policy's compiled schema validator. Start with
// Decoder.Next; Check validates a whole text.
//
// Strict means RFC 8259 grammar plus the I-JSON restrictions of RFC 7493: the text is UTF-8
// (§2.1), strings hold no lone surrogates (§2.1), an object has no duplicate member names
// (§2.3), nothing follows the value, and containers nest at most a configured depth. A byte
// order mark is refused (RFC 8259 §8.1: senders must not add one).
package strictjson

import (
	"bytes"
	"errors"
	"hash/maphash"
	"math"
	"strconv"
	"unicode/utf8"
)

// DefaultMaxDepth bounds nesting when a Decoder is given no depth: deep enough for any real
// document, shallow enough that a hostile "[[[[..." costs nothing.
const DefaultMaxDepth = 32

// Kind is the kind of a Token.
type Kind uint8

// Token kinds. A member name comes as Key, followed by its value's tokens.
const (
	End Kind = iota // the text is complete
	ObjectStart
	ObjectEnd
	ArrayStart
	ArrayEnd
	Key
	String
	Number
	True
	False
	Null
)

var kindNames = [...]string{"end", "{", "}", "[", "]", "key", "string", "number", "true", "false", "null"}

// String names the kind.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Token is one lexical element. For Key and String, Raw is the text between the quotes, still
// escaped when Escaped is set (Decoder.Unescape gives the value); for Number it is the literal.
// Raw aliases the decoder's input.
type Token struct {
	Kind    Kind
	Escaped bool
	Raw     []byte
	// Offset is where the token starts in the input.
	Offset int
}

// ErrorKind classifies a SyntaxError, so callers can choose the problem they report.
type ErrorKind uint8

// Reasons a text is refused.
const (
	ErrSyntax    ErrorKind = iota + 1 // not JSON (RFC 8259)
	ErrUTF8                           // invalid UTF-8 or a lone surrogate escape (RFC 7493 §2.1)
	ErrDuplicate                      // a member name repeated in one object (RFC 7493 §2.3)
	ErrDepth                          // nested deeper than the limit
	ErrTrailing                       // more data after the value
)

// SyntaxError says why and where a text was refused. Its message never quotes the input.
type SyntaxError struct {
	Kind   ErrorKind
	Offset int
	msg    string
}

// Error implements error.
func (e *SyntaxError) Error() string {
	return "json: " + e.msg + " at byte " + strconv.Itoa(e.Offset)
}

// Msg is the message without the offset.
func (e *SyntaxError) Msg() string { return e.msg }

// state is what a container (or the top level) expects next.
type state uint8

const (
	wantValue        state = iota // top level, after ':' in an object, after ',' in an array
	wantValueOrClose              // just after '['
	wantKey                       // after ',' in an object
	wantKeyOrClose                // just after '{'
	wantCommaOrClose              // after a member value or element
	done                          // top level after its value
)

type frame struct {
	object    bool
	state     state
	keysStart int32
	// index finds member names by hash once an object has many of them; nil until then.
	index map[uint64]int32
}

// keyRef is one member name seen in an open object.
type keyRef struct {
	hash       uint64
	start, end int32
	escaped    bool
}

// indexAfter is the number of members after which an object's names are indexed by a map
// rather than compared one by one.
const indexAfter = 16

// Decoder tokenizes one JSON text. The zero value is not usable; call Reset. A Decoder may be
// reused for another text with Reset, which keeps its buffers.
type Decoder struct {
	data     []byte
	pos      int
	maxDepth int
	top      state // the top level's state
	stack    []frame
	keys     []keyRef
	scratch  []byte // Unescape's output
	scratch2 []byte // a second buffer for comparing two escaped names
	seed     maphash.Seed
	seeded   bool
	// bad is the problem with the whole input found by Reset; err the first one Next met.
	bad, err error
}

// Reset starts decoding data, refusing nesting deeper than maxDepth (DefaultMaxDepth if not
// positive).
func (d *Decoder) Reset(data []byte, maxDepth int) {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	if !d.seeded {
		// A random seed per decoder: an attacker cannot craft names that collide, and a
		// collision only costs a byte comparison anyway.
		d.seed, d.seeded = maphash.MakeSeed(), true
	}
	d.data, d.pos, d.maxDepth, d.top = data, 0, maxDepth, wantValue
	for i := range d.stack {
		d.stack[i].index = nil
	}
	d.stack, d.keys = d.stack[:0], d.keys[:0]
	d.bad, d.err = nil, nil
	switch {
	case len(data) > math.MaxInt32:
		d.bad = &SyntaxError{Kind: ErrSyntax, msg: "text too large"}
	case !utf8.Valid(data):
		d.bad = &SyntaxError{Kind: ErrUTF8, Offset: invalidUTF8At(data), msg: "invalid UTF-8"}
	case bytes.HasPrefix(data, []byte("\xef\xbb\xbf")):
		d.bad = &SyntaxError{Kind: ErrSyntax, msg: "byte order mark"}
	}
}

// Checkpoint is a position a Decoder can return to: a schema validator tries one value against
// several alternatives (anyOf, oneOf) by rewinding.
type Checkpoint struct {
	pos, depth, keys int
	top              state
	frame            frame
}

// Save returns the current position.
func (d *Decoder) Save() Checkpoint {
	cp := Checkpoint{pos: d.pos, depth: len(d.stack), keys: len(d.keys), top: d.top}
	if n := len(d.stack); n > 0 {
		cp.frame = d.stack[n-1]
	}
	return cp
}

// Restore returns to a position Save returned, from anywhere at or below its depth.
func (d *Decoder) Restore(cp Checkpoint) {
	for i := cp.depth; i < len(d.stack); i++ {
		d.stack[i].index = nil
	}
	d.pos, d.top, d.err = cp.pos, cp.top, nil
	d.stack, d.keys = d.stack[:cp.depth], d.keys[:cp.keys]
	if cp.depth > 0 {
		// The index may hold names read after the checkpoint; drop it, remember rebuilds it.
		d.stack[cp.depth-1] = cp.frame
		d.stack[cp.depth-1].index = nil
	}
}

// Depth is the number of open containers.
func (d *Decoder) Depth() int { return len(d.stack) }

// Offset is the position of the next byte to read.
func (d *Decoder) Offset() int { return d.pos }

func (d *Decoder) fail(kind ErrorKind, at int, msg string) error {
	d.err = &SyntaxError{Kind: kind, Offset: at, msg: msg}
	return d.err
}

// Check reports whether data is one strict JSON text nested at most maxDepth deep.
func Check(data []byte, maxDepth int) error {
	var d Decoder
	d.Reset(data, maxDepth)
	return d.Skip(true)
}

// Skip consumes the next value whole (or, with all, the rest of the text), checking it as
// strictly as Next does.
func (d *Decoder) Skip(all bool) error {
	if all {
		for {
			t, err := d.Next()
			if err != nil || t.Kind == End {
				return err
			}
		}
	}
	t, err := d.Next()
	if err != nil {
		return err
	}
	return d.Finish(t)
}

// Finish consumes the rest of the value t began: the members or elements of a container t
// opened, nothing for a scalar.
func (d *Decoder) Finish(t Token) error {
	if t.Kind != ObjectStart && t.Kind != ArrayStart {
		return nil
	}
	depth := len(d.stack)
	for {
		t, err := d.Next()
		if err != nil {
			return err
		}
		if (t.Kind == ObjectEnd || t.Kind == ArrayEnd) && len(d.stack) < depth {
			return nil
		}
	}
}

// Next returns the next token. After End or an error it keeps returning the same.
func (d *Decoder) Next() (Token, error) {
	switch {
	case d.bad != nil:
		return Token{}, d.bad
	case d.err != nil:
		return Token{}, d.err
	}
	d.space()
	if len(d.stack) == 0 {
		if d.top == done {
			if d.pos < len(d.data) {
				return Token{}, d.fail(ErrTrailing, d.pos, "data after the JSON value")
			}
			return Token{Kind: End, Offset: d.pos}, nil
		}
		return d.value()
	}
	f := &d.stack[len(d.stack)-1]
	if d.pos >= len(d.data) {
		return Token{}, d.fail(ErrSyntax, d.pos, "unexpected end of JSON")
	}
	c := d.data[d.pos]
	switch f.state {
	case wantCommaOrClose:
		switch {
		case c == ',':
			d.pos++
			d.space()
			if f.object {
				f.state = wantKey
				return d.key(f)
			}
			f.state = wantValue
			return d.value()
		case c == '}' && f.object, c == ']' && !f.object:
			return d.close()
		}
		return Token{}, d.fail(ErrSyntax, d.pos, "expected ',' or the end of the "+containerName(f.object))
	case wantKeyOrClose:
		if c == '}' {
			return d.close()
		}
		return d.key(f)
	case wantKey:
		return d.key(f)
	case wantValueOrClose:
		if c == ']' {
			return d.close()
		}
		return d.value()
	default: // wantValue
		return d.value()
	}
}

func containerName(object bool) string {
	if object {
		return "object"
	}
	return "array"
}

func (d *Decoder) close() (Token, error) {
	n := len(d.stack) - 1
	f := &d.stack[n]
	kind := ArrayEnd
	if f.object {
		kind = ObjectEnd
		d.keys = d.keys[:f.keysStart]
	}
	f.index = nil
	d.stack = d.stack[:n]
	t := Token{Kind: kind, Offset: d.pos}
	d.pos++
	d.afterValue()
	return t, nil
}

// afterValue records that the enclosing container (or the top level) has one more value.
func (d *Decoder) afterValue() {
	if n := len(d.stack); n > 0 {
		d.stack[n-1].state = wantCommaOrClose
		return
	}
	d.top = done
}

func (d *Decoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r': // RFC 8259 §2: the only insignificant whitespace
			d.pos++
		default:
			return
		}
	}
}

// key reads a member name and the ':' after it, refusing a name the object already has.
func (d *Decoder) key(f *frame) (Token, error) {
	if d.pos >= len(d.data) || d.data[d.pos] != '"' {
		return Token{}, d.fail(ErrSyntax, d.pos, "expected a member name")
	}
	t, err := d.str(Key)
	if err != nil {
		return t, err
	}
	if err := d.remember(f, t); err != nil {
		return Token{}, err
	}
	d.space()
	if d.pos >= len(d.data) || d.data[d.pos] != ':' {
		return Token{}, d.fail(ErrSyntax, d.pos, "expected ':' after a member name")
	}
	d.pos++
	f.state = wantValue
	return t, nil
}

// remember records a member name, refusing duplicates (RFC 7493 §2.3). Names compare by their
// unescaped value, so "a" and "\u0061" are the same name.
func (d *Decoder) remember(f *frame, t Token) error {
	name := t.Raw
	if t.Escaped {
		name = d.unescapeInto(&d.scratch, t.Raw)
	}
	h := maphash.Bytes(d.seed, name)
	start := int(t.Offset) + 1
	ref := keyRef{hash: h, start: int32(start), end: int32(start + len(t.Raw)), escaped: t.Escaped}
	members := d.keys[f.keysStart:]
	if f.index != nil {
		if i, ok := f.index[h]; ok {
			if d.sameName(d.keys[i], ref) {
				return d.fail(ErrDuplicate, t.Offset, "duplicate member name")
			}
			// A hash collision between different names: compare against all of them.
			for _, k := range members {
				if k.hash == h && d.sameName(k, ref) {
					return d.fail(ErrDuplicate, t.Offset, "duplicate member name")
				}
			}
		} else {
			f.index[h] = int32(len(d.keys))
		}
	} else {
		for _, k := range members {
			if k.hash == h && d.sameName(k, ref) {
				return d.fail(ErrDuplicate, t.Offset, "duplicate member name")
			}
		}
		if len(members) >= indexAfter {
			f.index = make(map[uint64]int32, 2*indexAfter)
			for i := int(f.keysStart); i < len(d.keys); i++ {
				if _, ok := f.index[d.keys[i].hash]; !ok {
					f.index[d.keys[i].hash] = int32(i)
				}
			}
			f.index[h] = int32(len(d.keys))
		}
	}
	d.keys = append(d.keys, ref)
	return nil
}

func (d *Decoder) sameName(a, b keyRef) bool {
	ra, rb := d.data[a.start:a.end], d.data[b.start:b.end]
	if !a.escaped && !b.escaped {
		return bytes.Equal(ra, rb)
	}
	if a.escaped {
		ra = d.unescapeInto(&d.scratch, ra)
	}
	if b.escaped {
		rb = d.unescapeInto(&d.scratch2, rb)
	}
	return bytes.Equal(ra, rb)
}

// IsSyntaxError reports whether err is a *SyntaxError of the given kind.
func IsSyntaxError(err error, kind ErrorKind) bool {
	var se *SyntaxError
	return errors.As(err, &se) && se.Kind == kind
}
