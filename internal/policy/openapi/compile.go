package openapi

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// typeMask is a set of JSON types a schema allows.
type typeMask uint8

const (
	tNull typeMask = 1 << iota
	tBoolean
	tInteger // integral numbers only; tNumber includes them
	tNumber
	tString
	tArray
	tObject
	tAny = tNull | tBoolean | tInteger | tNumber | tString | tArray | tObject
)

func (m typeMask) has(t typeMask) bool { return m&t != 0 }

// node is one schema compiled for validation: every keyword resolved, every pattern compiled,
// every lookup table built. A nil *node accepts any value.
type node struct {
	types typeMask
	never bool // the schema `false`: nothing matches

	// numbers
	hasMin, hasMax   bool
	exclMin, exclMax bool
	min, max         float64
	multipleOf       float64
	format           format

	// strings
	minLen, maxLen int // maxLen < 0: none
	pattern        *pattern
	patternText    string

	enum *enumSet

	// arrays
	items              *node
	minItems, maxItems int // maxItems < 0: none
	unique             bool

	// objects
	props              []prop
	index              map[string]int
	required           [2][]int // by mode: required property indices, readOnly ones left out of requests (writeOnly of responses)
	additional         *node
	noAdditional       bool
	minProps, maxProps int // maxProps < 0: none

	// combinators
	allOf, anyOf, oneOf []*node
	not                 *node
	disc                *discriminator
	combined            bool // has allOf, anyOf, oneOf or not

	broken error // compiling the schema failed; set so that other schemas reaching it fail too
}

type prop struct {
	name                string
	node                *node
	readOnly, writeOnly bool
	declared            bool // in properties, not only in required
}

type discriminator struct {
	property string
	mapping  map[string]*node
}

// enumSet holds the allowed values of enum (and const), by JSON type.
type enumSet struct {
	strings       map[string]struct{}
	numbers       []float64
	hasTrue       bool
	hasFalse      bool
	hasNull       bool
	list          string // for messages
	allowsStrings bool
}

// unsupportedError names a schema construct the compiler leaves to kin-openapi.
type unsupportedError struct{ what string }

func (e *unsupportedError) Error() string { return "not compiled: " + e.what }

func unsupported(what string) error { return &unsupportedError{what: what} }

// compiler turns kin-openapi schemas into nodes, once per schema: shared components compile
// once, and recursive schemas become cyclic node graphs.
type compiler struct {
	v31   bool
	memo  map[*openapi3.Schema]*node
	names map[*node]string // component ref per node, for discriminator mappings
}

func newCompiler(v31 bool) *compiler {
	return &compiler{v31: v31, memo: map[*openapi3.Schema]*node{}, names: map[*node]string{}}
}

func (c *compiler) ref(r *openapi3.SchemaRef) (*node, error) {
	if r == nil {
		return nil, nil
	}
	if r.Value == nil {
		return nil, unsupported("unresolved $ref " + r.Ref)
	}
	n, err := c.schema(r.Value)
	if err == nil && n != nil && r.Ref != "" {
		c.names[n] = r.Ref
	}
	return n, err
}

func (c *compiler) schema(s *openapi3.Schema) (*node, error) {
	if n, ok := c.memo[s]; ok {
		if n.broken != nil {
			return nil, n.broken
		}
		return n, nil
	}
	n := &node{types: tAny, maxLen: -1, maxItems: -1, maxProps: -1}
	c.memo[s] = n
	if err := c.fill(n, s); err != nil {
		n.broken = err
		return nil, err
	}
	return n, nil
}

// root compiles the schema of a body or parameter. A schema compiled earlier may refer to
// one (through a cycle) whose compilation failed after it; root checks the whole graph.
func (c *compiler) root(r *openapi3.SchemaRef) (*node, error) {
	n, err := c.ref(r)
	if err != nil || n == nil {
		return n, err
	}
	seen := map[*node]bool{}
	var walk func(*node) error
	walk = func(n *node) error {
		if n == nil || seen[n] {
			return nil
		}
		seen[n] = true
		if n.broken != nil {
			return n.broken
		}
		kids := []*node{n.items, n.additional, n.not}
		for _, p := range n.props {
			kids = append(kids, p.node)
		}
		kids = append(append(append(kids, n.allOf...), n.anyOf...), n.oneOf...)
		if n.disc != nil {
			for _, m := range n.disc.mapping {
				kids = append(kids, m)
			}
		}
		for _, k := range kids {
			if err := walk(k); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(n); err != nil {
		return nil, err
	}
	return n, nil
}

func (c *compiler) fill(n *node, s *openapi3.Schema) error {
	if s.Always != nil { // OpenAPI 3.1: a boolean schema
		n.never = !*s.Always
		return nil
	}
	switch {
	case s.PrefixItems != nil:
		return unsupported("prefixItems")
	case s.Contains != nil || s.MinContains != nil || s.MaxContains != nil:
		return unsupported("contains")
	case len(s.PatternProperties) > 0:
		return unsupported("patternProperties")
	case len(s.DependentSchemas) > 0 || len(s.DependentRequired) > 0:
		return unsupported("dependentSchemas/dependentRequired")
	case s.PropertyNames != nil:
		return unsupported("propertyNames")
	case s.UnevaluatedItems.Has != nil || s.UnevaluatedItems.Schema != nil ||
		s.UnevaluatedProperties.Has != nil || s.UnevaluatedProperties.Schema != nil:
		return unsupported("unevaluatedItems/unevaluatedProperties")
	case s.If != nil || s.Then != nil || s.Else != nil:
		return unsupported("if/then/else")
	case s.DynamicRef != "":
		return unsupported("$dynamicRef")
	}

	if s.Type != nil && len(*s.Type) > 0 {
		n.types = 0
		for _, t := range *s.Type {
			switch t {
			case openapi3.TypeNull:
				n.types |= tNull
			case openapi3.TypeBoolean:
				n.types |= tBoolean
			case openapi3.TypeInteger:
				n.types |= tInteger
			case openapi3.TypeNumber:
				n.types |= tNumber | tInteger
			case openapi3.TypeString:
				n.types |= tString
			case openapi3.TypeArray:
				n.types |= tArray
			case openapi3.TypeObject:
				n.types |= tObject
			default:
				return fmt.Errorf("unknown type %q", t)
			}
		}
		// OpenAPI 3.0.3 §4.7.24.1: nullable adds null to an explicit type. 3.1 writes it in
		// the type array instead, and ignores nullable.
		if s.Nullable && !c.v31 {
			n.types |= tNull
		}
	}

	// numbers
	if s.Min != nil {
		n.hasMin, n.min = true, *s.Min
		n.exclMin = s.ExclusiveMin.IsTrue()
	}
	if s.Max != nil {
		n.hasMax, n.max = true, *s.Max
		n.exclMax = s.ExclusiveMax.IsTrue()
	}
	if v := s.ExclusiveMin.Value; v != nil && (!n.hasMin || *v >= n.min) { // 3.1: a bound of its own
		n.hasMin, n.min, n.exclMin = true, *v, true
	}
	if v := s.ExclusiveMax.Value; v != nil && (!n.hasMax || *v <= n.max) {
		n.hasMax, n.max, n.exclMax = true, *v, true
	}
	if s.MultipleOf != nil {
		if m := *s.MultipleOf; !(m > 0) || math.IsInf(m, 0) {
			return fmt.Errorf("multipleOf %v: must be a number above zero", m)
		}
		n.multipleOf = *s.MultipleOf
	}
	n.format = formatOf(s.Format)

	// strings
	n.minLen = int(min(s.MinLength, math.MaxInt32))
	if s.MaxLength != nil {
		n.maxLen = int(min(*s.MaxLength, math.MaxInt32))
	}
	if s.Pattern != "" {
		p, err := compilePattern(s.Pattern)
		if err != nil {
			// JSON Schema patterns are ECMA-262; Go's RE2 lacks look-around and back-references.
			return fmt.Errorf("pattern %q is not valid RE2 syntax: %w", s.Pattern, err)
		}
		n.pattern, n.patternText = p, s.Pattern
	}

	// enum and const
	values := s.Enum
	if s.Const != nil {
		values = append(slices.Clip(values), s.Const)
	}
	if len(values) > 0 {
		e, err := newEnum(values)
		if err != nil {
			return err
		}
		n.enum = e
	}

	// arrays
	if s.Items != nil {
		items, err := c.ref(s.Items)
		if err != nil {
			return err
		}
		n.items = items
	}
	n.minItems = int(min(s.MinItems, math.MaxInt32))
	if s.MaxItems != nil {
		n.maxItems = int(min(*s.MaxItems, math.MaxInt32))
	}
	n.unique = s.UniqueItems

	// objects
	if err := c.object(n, s); err != nil {
		return err
	}

	// combinators
	var err error
	if n.allOf, err = c.refs(s.AllOf); err != nil {
		return err
	}
	if n.anyOf, err = c.refs(s.AnyOf); err != nil {
		return err
	}
	if n.oneOf, err = c.refs(s.OneOf); err != nil {
		return err
	}
	if s.Not != nil {
		if n.not, err = c.ref(s.Not); err != nil {
			return err
		}
	}
	n.combined = len(n.allOf)+len(n.anyOf)+len(n.oneOf) > 0 || s.Not != nil
	if s.Discriminator != nil && (len(s.OneOf) > 0 || len(s.AnyOf) > 0) {
		return c.discriminator(n, s)
	}
	return nil
}

func (c *compiler) refs(rs openapi3.SchemaRefs) ([]*node, error) {
	var out []*node
	for _, r := range rs {
		n, err := c.ref(r)
		if err != nil {
			return nil, err
		}
		if n == nil {
			n = &node{types: tAny, maxLen: -1, maxItems: -1, maxProps: -1}
		}
		out = append(out, n)
	}
	return out, nil
}

func (c *compiler) object(n *node, s *openapi3.Schema) error {
	names := make([]string, 0, len(s.Properties))
	for name := range s.Properties {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		r := s.Properties[name]
		pn, err := c.ref(r)
		if err != nil {
			return err
		}
		p := prop{name: name, node: pn, declared: true}
		if r != nil && r.Value != nil {
			p.readOnly, p.writeOnly = r.Value.ReadOnly, r.Value.WriteOnly
		}
		n.props = append(n.props, p)
	}
	for _, name := range s.Required {
		if !slices.ContainsFunc(n.props, func(p prop) bool { return p.name == name }) {
			n.props = append(n.props, prop{name: name})
		}
	}
	if len(n.props) > 0 {
		n.index = make(map[string]int, len(n.props))
		for i, p := range n.props {
			n.index[p.name] = i
		}
	}
	for _, name := range s.Required {
		i := n.index[name]
		p := n.props[i]
		// A readOnly property is sent by the server only, so a request need not carry it;
		// a writeOnly one by the client only (OpenAPI 3.0.3 §4.7.24.1).
		if !p.readOnly {
			n.required[modeRequest] = append(n.required[modeRequest], i)
		}
		if !p.writeOnly {
			n.required[modeResponse] = append(n.required[modeResponse], i)
		}
	}
	ap := s.AdditionalProperties
	switch {
	case ap.Has != nil && !*ap.Has:
		n.noAdditional = true
	case ap.Schema != nil:
		a, err := c.ref(ap.Schema)
		if err != nil {
			return err
		}
		if a != nil && a.never {
			n.noAdditional = true
		}
		n.additional = a
	}
	n.minProps = int(min(s.MinProps, math.MaxInt32))
	if s.MaxProps != nil {
		n.maxProps = int(min(*s.MaxProps, math.MaxInt32))
	}
	return nil
}

// discriminator compiles an OpenAPI discriminator: the named property's value picks the one
// alternative to validate against, from the mapping or else from the component name.
func (c *compiler) discriminator(n *node, s *openapi3.Schema) error {
	alts := n.oneOf
	refs := s.OneOf
	if len(alts) == 0 {
		alts, refs = n.anyOf, s.AnyOf
	}
	d := &discriminator{property: s.Discriminator.PropertyName, mapping: map[string]*node{}}
	byRef := map[string]*node{}
	for i, r := range refs {
		if r.Ref != "" {
			byRef[r.Ref] = alts[i]
			d.mapping[r.Ref[strings.LastIndexByte(r.Ref, '/')+1:]] = alts[i]
		}
	}
	for value, m := range s.Discriminator.Mapping {
		target, ok := byRef[m.Ref]
		if !ok {
			if m.Value == nil {
				return unsupported("discriminator mapping to " + m.Ref)
			}
			var err error
			if target, err = c.schema(m.Value); err != nil {
				return err
			}
		}
		d.mapping[value] = target
	}
	n.disc = d
	return nil
}

func newEnum(values []any) (*enumSet, error) {
	e := &enumSet{}
	var shown []string
	for _, v := range values {
		switch x := v.(type) {
		case nil:
			e.hasNull = true
			shown = append(shown, "null")
		case bool:
			if x {
				e.hasTrue = true
			} else {
				e.hasFalse = true
			}
			shown = append(shown, fmt.Sprint(x))
		case string:
			if e.strings == nil {
				e.strings = map[string]struct{}{}
			}
			e.strings[x] = struct{}{}
			e.allowsStrings = true
			shown = append(shown, fmt.Sprintf("%q", x))
		case float64:
			e.numbers = append(e.numbers, x)
			shown = append(shown, fmt.Sprint(x))
		case int:
			e.numbers = append(e.numbers, float64(x))
			shown = append(shown, fmt.Sprint(x))
		case int64:
			e.numbers = append(e.numbers, float64(x))
			shown = append(shown, fmt.Sprint(x))
		case uint64:
			e.numbers = append(e.numbers, float64(x))
			shown = append(shown, fmt.Sprint(x))
		default:
			return nil, unsupported("enum or const with object or array values")
		}
	}
	e.list = strings.Join(shown, ", ")
	if len(e.list) > 200 {
		e.list = e.list[:200] + "…"
	}
	return e, nil
}

func asUnsupported(err error, target **unsupportedError) bool { return errors.As(err, target) }
