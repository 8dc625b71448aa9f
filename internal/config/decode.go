package config

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/yamldoc"
)

// decoder turns a YAML node tree (yamldoc.Parse) into Go values strictly: an unknown key, a value
// of the wrong shape or a malformed scalar is an error naming line and key path, and decoding
// carries on so that one pass reports every problem. It is hand-written (rather than yaml.Unmarshal)
// because it must keep the position of every key, substitute ${VAR} in values only, read "file:"
// secrets only for tiaki.Secret fields, and never stop at the first error. Scalars are resolved
// by yamldoc's YAML 1.2 core schema, so the file means what any YAML 1.2 reader takes it to mean.
type decoder struct {
	errs    *errorList
	pos     map[string]int
	set     map[string]bool
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
func line(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}

func childKey(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func indexKey(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }

// resolve looks through an alias to the node holding the value, and checks its tag. It reports
// whether the value must be taken as a string whatever it looks like (!!str), and whether
// decoding can go on.
func (d *decoder) resolve(n *yaml.Node, key string) (node *yaml.Node, forceString, ok bool) {
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil { // the parser refuses these; a hand-built tree could hold one
			d.errs.addDecode(line(n), key, "alias *%s names no anchor", n.Value)
			return nil, false, false
		}
		n = n.Alias
	}
	if tag, tagged := yamldoc.Tagged(n); tagged {
		if tag != "!!str" || n.Kind != yaml.ScalarNode {
			d.errs.addDecode(line(n), key, "YAML tag %s is not supported (only !!str)", quoteShort(tag))
			return nil, false, false
		}
		return n, true, true
	}
	return n, false, true
}

// kind is what scalar n holds (yamldoc.ScalarKind); tags were checked by resolve.
func kind(n *yaml.Node) yamldoc.Kind {
	k, _ := yamldoc.ScalarKind(n)
	return k
}

// visit counts a node against the alias budget; false stops decoding. Once the budget is
// spent every loop stops too (d.exhausted), or a wide list of aliases would still cost one
// call per item at every level of the expansion.
func (d *decoder) visit(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		return d.charge(n, 1)
	}
	return d.charge(n, 0)
}

// charge adds cost to the alias budget when decoding through an alias. Lists and mappings are
// charged their length before anything is allocated for them.
func (d *decoder) charge(n *yaml.Node, cost int) bool {
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
func (d *decoder) chargeContainer(n *yaml.Node, entries int) bool {
	if d.aliasDepth == 0 {
		return !d.exhausted
	}
	return d.charge(n, entries)
}

// decode stores node n into v, the field at key path key.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, key string) {
	if n == nil || !d.visit(n) {
		return
	}
	if n.Kind == yaml.AliasNode {
		d.aliasDepth++
		defer func() { d.aliasDepth-- }()
	}
	n, forceString, ok := d.resolve(n, key)
	if !ok || n == nil {
		return
	}
	if n.Kind == yaml.ScalarNode && !forceString && kind(n) == yamldoc.Null {
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

// mapping checks that n is a mapping and returns its entries with merge keys first, so that
// explicit keys override merged ones wherever they are written (yamldoc.Entries). A key
// written twice is an error.
func (d *decoder) mapping(n *yaml.Node, key string) ([]yamldoc.Entry, bool) {
	if n.Kind != yaml.MappingNode {
		d.errs.addDecode(line(n), key, "want a mapping, got %s", describe(n))
		return nil, false
	}
	if !d.chargeContainer(n, len(n.Content)/2) {
		return nil, false
	}
	entries, dup := yamldoc.Entries(n)
	if dup != nil {
		d.errs.addDecode(dup.Line, key, "%s", dup.Msg)
	}
	return entries, true
}

// keyText returns a mapping key as a string, or reports that it is not a scalar.
func (d *decoder) keyText(e yamldoc.Entry, parent string) (string, bool) {
	if k, ok := yamldoc.Key(e.Key); ok {
		return k, true
	}
	d.errs.addDecode(line(e.Key), parent, "mapping keys must be plain strings")
	return "", false
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, key string) {
	entries, ok := d.mapping(n, key)
	if !ok {
		return
	}
	fields := structFields(v.Type())
	for _, e := range entries {
		if d.exhausted {
			return
		}
		if e.Merge {
			for _, src := range yamldoc.MergeSources(e.Value) {
				d.decode(src, v, key)
			}
			continue
		}
		name, ok := d.keyText(e, key)
		if !ok {
			continue
		}
		k := childKey(key, name)
		idx, known := fields[name]
		if !known {
			d.errs.addDecode(line(e.Key), k, "%s", unknownKeyMsg(name, v.Type()))
			continue
		}
		d.pos[k] = line(e.Key)
		d.decode(e.Value, v.Field(idx), k)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.SequenceNode {
		d.errs.addDecode(line(n), key, "want a list, got %s", describe(n))
		return
	}
	if !d.chargeContainer(n, len(n.Content)) {
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		if d.exhausted {
			return
		}
		k := indexKey(key, i)
		d.pos[k] = line(item)
		d.decode(item, out.Index(i), k)
	}
	v.Set(out)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, key string) {
	entries, ok := d.mapping(n, key)
	if !ok {
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(v.Type(), len(entries)))
	}
	for _, e := range entries {
		if d.exhausted {
			return
		}
		if e.Merge {
			for _, src := range yamldoc.MergeSources(e.Value) {
				d.decode(src, v, key)
			}
			continue
		}
		name, ok := d.keyText(e, key)
		if !ok {
			continue
		}
		k := childKey(key, name)
		d.pos[k] = line(e.Key)
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(e.Value, elem, k)
		v.SetMapIndex(reflect.ValueOf(name).Convert(v.Type().Key()), elem)
	}
}

// decodeScalar stores a string, bool or int field.
func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, key string, forceString bool) {
	switch v.Kind() {
	case reflect.String:
		if n.Kind == yaml.ScalarNode && !forceString && kind(n) != yamldoc.String {
			d.errs.addDecode(line(n), key, "want a string, got %s %s: quote it if you mean the text", describe(n), quoteShort(n.Value))
			return
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
func (d *decoder) scalar(n *yaml.Node, key string, forceString bool, want string) (string, bool) {
	if want == "" {
		want = "a string"
	}
	if n.Kind != yaml.ScalarNode {
		d.errs.addDecode(line(n), key, "want %s, got %s", want, describe(n))
		return "", false
	}
	if !forceString && kind(n) != yamldoc.String {
		return n.Value, true // numbers, booleans and nulls hold no ${VAR}
	}
	out, err := expandEnv(n.Value, d.env)
	if err != nil {
		d.errs.addDecode(line(n), key, "%s", err.Error())
		return "", false
	}
	return out, true
}

// describe names a node's kind for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return kind(n).String()
	}
	return "an alias"
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
