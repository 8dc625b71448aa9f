package config

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/tiaki-nz/tiaki"
)

// decoder turns a YAML syntax tree into Go values strictly: an unknown key, a value of the wrong
// shape or a malformed scalar is an error naming line and key path, and decoding carries on so
// that one pass reports every problem. It is hand-written (rather than yaml.Unmarshal) because
// it must keep the position of every key, substitute ${VAR} in values only, read "file:"
// secrets only for tiaki.Secret fields, and never stop at the first error.
type decoder struct {
	errs    *errorList
	pos     map[string]int
	set     map[string]bool
	anchors map[string]ast.Node
	env     func(string) (string, bool)
	secrets secretReader

	// aliasNodes counts nodes decoded through aliases. Aliases can expand a small file into a
	// huge document ("billion laughs"); past maxAliasNodes decoding stops.
	aliasDepth int
	aliasNodes int
	exhausted  bool
}

const maxAliasNodes = 10_000

var (
	secretType      = reflect.TypeFor[tiaki.Secret]()
	rawJSONType     = reflect.TypeFor[json.RawMessage]()
	anyMapType      = reflect.TypeFor[map[string]any]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// line returns the line a node starts on, or 0.
func line(n ast.Node) int {
	if n == nil {
		return 0
	}
	if m, ok := n.(*ast.MappingNode); ok && len(m.Values) > 0 {
		return line(m.Values[0].Key)
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return 0
	}
	return tk.Position.Line
}

func childKey(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func indexKey(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }

// resolve looks through anchors, aliases and the !!str tag to the node holding the value. It
// reports whether the value must be taken as a string whatever it looks like, and whether
// decoding can go on.
func (d *decoder) resolve(n ast.Node, key string) (node ast.Node, forceString, ok bool) {
	for range 8 { // an anchor on a tagged alias is as deep as real files go
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.AliasNode:
			name := ""
			if v.Value != nil {
				name = v.Value.GetToken().Value
			}
			target, found := d.anchors[name]
			if !found {
				d.errs.addDecode(line(v), key, "alias *%s names no anchor", name)
				return nil, false, false
			}
			n = target
		case *ast.TagNode:
			if v.Start == nil || v.Start.Value != "!!str" {
				tag := ""
				if v.Start != nil {
					tag = v.Start.Value
				}
				d.errs.addDecode(line(v), key, "YAML tag %s is not supported (only !!str)", quoteShort(tag))
				return nil, false, false
			}
			n, forceString = v.Value, true
		default:
			return n, forceString, true
		}
	}
	d.errs.addDecode(line(n), key, "too many nested anchors, aliases or tags")
	return nil, false, false
}

// visit counts a node against the alias budget; false stops decoding. Once the budget is
// spent every loop stops too (d.exhausted), or a wide list of aliases would still cost one
// call per item at every level of the expansion.
func (d *decoder) visit(n ast.Node) bool {
	if _, isAlias := n.(*ast.AliasNode); isAlias {
		return d.charge(n, 1)
	}
	return d.charge(n, 0)
}

// charge adds cost to the alias budget when decoding through an alias. Lists and mappings are
// charged their length before anything is allocated for them.
func (d *decoder) charge(n ast.Node, cost int) bool {
	if d.exhausted {
		return false
	}
	if d.aliasDepth > 0 {
		cost++
	}
	if cost == 0 {
		return true
	}
	d.aliasNodes += cost
	if d.aliasNodes > maxAliasNodes {
		d.exhausted = true
		d.errs.addDecode(line(n), "", "aliases expand to more than %d values; refusing to go on", maxAliasNodes)
		return false
	}
	return true
}

// chargeContainer charges a list or mapping reached through an alias for its entries.
func (d *decoder) chargeContainer(n ast.Node, entries int) bool {
	if d.aliasDepth == 0 {
		return !d.exhausted
	}
	return d.charge(n, entries)
}

// decode stores node n into v, the field at key path key.
func (d *decoder) decode(n ast.Node, v reflect.Value, key string) {
	if n == nil || !d.visit(n) {
		return
	}
	if _, isAlias := n.(*ast.AliasNode); isAlias {
		d.aliasDepth++
		defer func() { d.aliasDepth-- }()
	}
	n, forceString, ok := d.resolve(n, key)
	if !ok || n == nil {
		return
	}
	if n.Type() == ast.NullType && !forceString {
		return // null and empty values leave the field unset, so its default applies
	}
	d.set[key] = true
	t := v.Type()
	switch {
	case t == rawJSONType:
		d.decodeJSON(n, v, key)
	case t == anyMapType:
		if val, ok := d.generic(n, key); ok {
			if m, isMap := val.(map[string]any); isMap {
				v.Set(reflect.ValueOf(m))
			} else {
				d.errs.addDecode(line(n), key, "want a mapping, got %s", describe(n))
			}
		}
	case reflect.PointerTo(t).Implements(textUnmarshaler):
		s, ok := d.scalar(n, key, forceString, "")
		if !ok {
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			d.errs.addDecode(line(n), key, "%s", err.Error())
		}
	case t.Kind() == reflect.Pointer:
		p := reflect.New(t.Elem())
		d.decode(n, p.Elem(), key)
		v.Set(p)
	case t.Kind() == reflect.Struct:
		d.decodeStruct(n, v, key)
	case t.Kind() == reflect.Slice:
		d.decodeSlice(n, v, key)
	case t.Kind() == reflect.Map:
		d.decodeMap(n, v, key)
	default:
		d.decodeScalar(n, v, key, forceString)
	}
}

// mapping checks that n is a mapping and returns its entries with merge keys ("<<") first, so
// that explicit keys override merged ones wherever they are written (YAML merge key semantics).
func (d *decoder) mapping(n ast.Node, key string) ([]*ast.MappingValueNode, bool) {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		d.errs.addDecode(line(n), key, "want a mapping, got %s", describe(n))
		return nil, false
	}
	if !d.chargeContainer(n, len(m.Values)) {
		return nil, false
	}
	var merges, rest []*ast.MappingValueNode
	for _, mv := range m.Values {
		if mv.Key != nil && mv.Key.IsMergeKey() {
			merges = append(merges, mv)
		} else {
			rest = append(rest, mv)
		}
	}
	return append(merges, rest...), true
}

// mergeSources returns the mappings a merge key's value names: one alias or mapping, or a list.
func (d *decoder) mergeSources(mv *ast.MappingValueNode) []ast.Node {
	if seq, ok := mv.Value.(*ast.SequenceNode); ok {
		return seq.Values
	}
	return []ast.Node{mv.Value}
}

// keyText returns a mapping key as a string, or reports that it is not a plain scalar.
func (d *decoder) keyText(mv *ast.MappingValueNode, parent string) (string, bool) {
	switch k := mv.Key.(type) {
	case *ast.StringNode:
		return k.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		return k.GetToken().Value, true
	}
	d.errs.addDecode(line(mv.Key), parent, "mapping keys must be plain strings")
	return "", false
}

func (d *decoder) decodeStruct(n ast.Node, v reflect.Value, key string) {
	entries, ok := d.mapping(n, key)
	if !ok {
		return
	}
	fields := structFields(v.Type())
	for _, mv := range entries {
		if d.exhausted {
			return
		}
		if mv.Key.IsMergeKey() {
			for _, src := range d.mergeSources(mv) {
				d.decode(src, v, key)
			}
			continue
		}
		name, ok := d.keyText(mv, key)
		if !ok {
			continue
		}
		k := childKey(key, name)
		idx, known := fields[name]
		if !known {
			d.errs.addDecode(line(mv.Key), k, "%s", unknownKeyMsg(name, v.Type()))
			continue
		}
		d.pos[k] = line(mv.Key)
		d.decode(mv.Value, v.Field(idx), k)
	}
}

func (d *decoder) decodeSlice(n ast.Node, v reflect.Value, key string) {
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		d.errs.addDecode(line(n), key, "want a list, got %s", describe(n))
		return
	}
	if !d.chargeContainer(n, len(seq.Values)) {
		return
	}
	out := reflect.MakeSlice(v.Type(), len(seq.Values), len(seq.Values))
	for i, item := range seq.Values {
		if d.exhausted {
			return
		}
		k := indexKey(key, i)
		d.pos[k] = line(item)
		d.decode(item, out.Index(i), k)
	}
	v.Set(out)
}

func (d *decoder) decodeMap(n ast.Node, v reflect.Value, key string) {
	entries, ok := d.mapping(n, key)
	if !ok {
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(v.Type(), len(entries)))
	}
	for _, mv := range entries {
		if d.exhausted {
			return
		}
		if mv.Key.IsMergeKey() {
			for _, src := range d.mergeSources(mv) {
				d.decode(src, v, key)
			}
			continue
		}
		name, ok := d.keyText(mv, key)
		if !ok {
			continue
		}
		k := childKey(key, name)
		d.pos[k] = line(mv.Key)
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(mv.Value, elem, k)
		v.SetMapIndex(reflect.ValueOf(name).Convert(v.Type().Key()), elem)
	}
}

// decodeScalar stores a string, bool or int field.
func (d *decoder) decodeScalar(n ast.Node, v reflect.Value, key string, forceString bool) {
	switch v.Kind() {
	case reflect.String:
		if !forceString && !isStringNode(n) {
			if _, scalar := n.(ast.ScalarNode); scalar {
				d.errs.addDecode(line(n), key, "want a string, got %s %s: quote it if you mean the text", describe(n), quoteShort(n.GetToken().Value))
				return
			}
		}
		s, ok := d.scalar(n, key, forceString, "")
		if !ok {
			return
		}
		if v.Type() == secretType {
			s, ok = d.secret(s, line(n), key)
			if !ok {
				return
			}
		}
		v.SetString(s)
	case reflect.Bool:
		s, ok := d.scalar(n, key, forceString, "a boolean")
		if !ok {
			return
		}
		// YAML 1.2 core schema booleans only: "yes", "on" and friends are too easy to write
		// by accident (the Norway problem).
		switch s {
		case "true", "True", "TRUE":
			v.SetBool(true)
		case "false", "False", "FALSE":
			v.SetBool(false)
		default:
			d.errs.addDecode(line(n), key, "%s is not a boolean (want true or false)", quoteShort(s))
		}
	case reflect.Int:
		s, ok := d.scalar(n, key, forceString, "an integer")
		if !ok {
			return
		}
		i, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			d.errs.addDecode(line(n), key, "%s is not an integer", quoteShort(s))
			return
		}
		v.SetInt(i)
	default:
		// Every field type in config.go is handled above; reaching here is a programming error
		// that the tests catch, but input must never panic, so report rather than crash.
		d.errs.addDecode(line(n), key, "internal error: cannot decode into %s", v.Type())
	}
}

// scalar returns the text of a scalar node, with ${VAR} substituted in strings. want names the
// expected type for the "got a list" error; "" means a string.
func (d *decoder) scalar(n ast.Node, key string, forceString bool, want string) (string, bool) {
	if want == "" {
		want = "a string"
	}
	var s string
	switch v := n.(type) {
	case *ast.StringNode:
		s = v.Value
	case *ast.LiteralNode:
		if v.Value != nil {
			s = v.Value.Value
		}
	case ast.ScalarNode:
		s = v.GetToken().Value
		if !forceString {
			return s, true // numbers, booleans and nulls hold no ${VAR}
		}
	default:
		d.errs.addDecode(line(n), key, "want %s, got %s", want, describe(n))
		return "", false
	}
	out, err := expandEnv(s, d.env)
	if err != nil {
		d.errs.addDecode(line(n), key, "%s", err.Error())
		return "", false
	}
	return out, true
}

func isStringNode(n ast.Node) bool {
	switch n.(type) {
	case *ast.StringNode, *ast.LiteralNode:
		return true
	}
	return false
}

// describe names a node's kind for error messages.
func describe(n ast.Node) string {
	switch n.Type() {
	case ast.MappingType, ast.MappingValueType:
		return "a mapping"
	case ast.SequenceType:
		return "a list"
	case ast.IntegerType, ast.FloatType, ast.InfinityType, ast.NanType:
		return "a number"
	case ast.BoolType:
		return "a boolean"
	case ast.NullType:
		return "nothing"
	case ast.StringType, ast.LiteralType:
		return "a string"
	}
	return "a " + strings.ToLower(n.Type().String())
}

// structFields maps each yaml tag of struct type t to its field index.
func structFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if tag := f.Tag.Get("yaml"); tag != "" && tag != "-" && f.IsExported() {
			m[tag] = i
		}
	}
	return m
}

// unknownKeyMsg explains an unknown key, suggesting the known key it most likely misspells.
func unknownKeyMsg(name string, t reflect.Type) string {
	fields := structFields(t)
	known := make([]string, 0, len(fields))
	best, bestDist := "", 3 // suggest only keys within two edits
	for k := range fields {
		known = append(known, k)
		if dist := editDistance(strings.ToLower(name), k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown key (did you mean %q?)", best)
	}
	slices.Sort(known)
	return "unknown key (want one of: " + strings.Join(known, ", ") + ")"
}

// editDistance is the Levenshtein distance between a and b, for typo suggestions. Keys are
// short and the input is cut at 64 bytes, so the quadratic cost is trivial.
func editDistance(a, b string) int {
	if len(a) > 64 {
		a = a[:64]
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
