package openapi

// Combinators: allOf, anyOf, oneOf, not and discriminators, by reading a value again from a
// checkpoint for each subschema.

import (
	"strconv"
	"unsafe"

	"github.com/tiaki-nz/tiaki/internal/policy/content/strictjson"
)

// combined validates a value against a schema with allOf, anyOf, oneOf or not, reading the
// value once per subschema from the checkpoint: the body is in memory, so rewinding is cheap,
// and no tree is built.
func (v *validation) combined(n *node, cp strictjson.Checkpoint, t strictjson.Token) error {
	if err := v.token(n, t); err != nil {
		return err
	}
	end := v.d.Save()
	depth := len(v.path)
	for _, m := range n.allOf {
		v.d.Restore(cp)
		if err := v.value(m); err != nil {
			return err
		}
		v.path = v.path[:depth]
	}
	if n.disc != nil && t.Kind == strictjson.ObjectStart {
		if err := v.discriminated(n, cp); err != nil {
			return err
		}
	} else if len(n.anyOf) > 0 || len(n.oneOf) > 0 {
		if len(n.anyOf) > 0 {
			matched, err := v.try(n.anyOf, cp, 1)
			if err != nil {
				return err
			}
			if matched == 0 {
				return v.fail("must match at least one of the schemas in anyOf")
			}
		}
		if len(n.oneOf) > 0 {
			matched, err := v.try(n.oneOf, cp, 2)
			if err != nil {
				return err
			}
			if matched != 1 {
				return v.fail("must match exactly one of the schemas in oneOf (matches " + strconv.Itoa(matched) + ")")
			}
		}
	}
	if n.not != nil {
		matched, err := v.try([]*node{n.not}, cp, 1)
		if err != nil {
			return err
		}
		if matched > 0 {
			return v.fail("must not match the schema in not")
		}
	}
	v.d.Restore(end)
	return nil
}

// try counts how many of alts the value at cp matches, stopping at enough. A syntax error is
// returned as such: the text is bad whichever alternative reads it.
func (v *validation) try(alts []*node, cp strictjson.Checkpoint, enough int) (int, error) {
	depth, matched := len(v.path), 0
	v.quiet++
	defer func() { v.quiet--; v.path = v.path[:depth] }()
	for _, m := range alts {
		v.d.Restore(cp)
		err := v.value(m)
		v.path = v.path[:depth]
		switch {
		case err == nil:
			if matched++; matched >= enough {
				return matched, nil
			}
		case isSyntax(err):
			return 0, err
		}
	}
	return matched, nil
}

// discriminated validates an object against the one alternative its discriminator property
// names (OpenAPI 3.0.3 §4.7.25).
func (v *validation) discriminated(n *node, cp strictjson.Checkpoint) error {
	v.d.Restore(cp)
	value, found, err := v.member(n.disc.property)
	if err != nil {
		return err
	}
	depth := len(v.path)
	v.path = append(v.path, step{kind: stepName, name: n.disc.property})
	if !found {
		return v.fail("is required")
	}
	target, ok := n.disc.mapping[unsafe.String(unsafe.SliceData(value), len(value))]
	if !ok {
		return v.fail("is not one of the known kinds")
	}
	v.path = v.path[:depth]
	v.d.Restore(cp)
	return v.value(target)
}

// member reads the object at the decoder's position and returns the string value of its member
// name, if it has one. The value is valid until the decoder's next Unescape.
func (v *validation) member(name string) ([]byte, bool, error) {
	t, err := v.d.Next()
	if err != nil {
		return nil, false, v.syntax(err)
	}
	if t.Kind != strictjson.ObjectStart {
		return nil, false, nil
	}
	for {
		k, err := v.d.Next()
		if err != nil {
			return nil, false, v.syntax(err)
		}
		if k.Kind == strictjson.ObjectEnd {
			return nil, false, nil
		}
		match := string(v.d.Unescape(k)) == name
		val, err := v.d.Next()
		if err != nil {
			return nil, false, v.syntax(err)
		}
		if match && val.Kind == strictjson.String {
			return v.d.Unescape(val), true, nil
		}
		if err := v.d.Finish(val); err != nil {
			return nil, false, v.syntax(err)
		}
	}
}
