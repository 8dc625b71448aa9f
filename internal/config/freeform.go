package config

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"

	"github.com/goccy/go-yaml/ast"
)

// Free-form values (users[].claims, clients[].jwks) have no schema here: they decode to plain
// Go values that encoding/json can write. ${VAR} is substituted in their strings too.

// generic decodes n to map[string]any, []any, string, int64, float64, bool or nil.
func (d *decoder) generic(n ast.Node, key string) (any, bool) {
	if n == nil || !d.visit(n) {
		return nil, false
	}
	if _, isAlias := n.(*ast.AliasNode); isAlias {
		d.aliasDepth++
		defer func() { d.aliasDepth-- }()
	}
	n, forceString, ok := d.resolve(n, key)
	if !ok {
		return nil, false
	}
	if forceString {
		return d.scalar(n, key, true, "")
	}
	switch v := n.(type) {
	case *ast.MappingNode:
		entries, ok := d.mapping(v, key)
		if !ok {
			return nil, false
		}
		out := make(map[string]any, len(entries))
		good := true
		for _, mv := range entries {
			if d.exhausted {
				return nil, false
			}
			if mv.Key.IsMergeKey() {
				for _, src := range d.mergeSources(mv) {
					m, ok := d.generic(src, key)
					sub, isMap := m.(map[string]any)
					if !ok || !isMap {
						d.errs.addDecode(line(mv), key, "a merge key (<<) must name mappings")
						good = false
						continue
					}
					for k, x := range sub {
						out[k] = x
					}
				}
				continue
			}
			name, ok := d.keyText(mv, key)
			if !ok {
				good = false
				continue
			}
			k := childKey(key, name)
			d.pos[k] = line(mv.Key)
			x, ok := d.generic(mv.Value, k)
			good = good && ok
			out[name] = x
		}
		return out, good
	case *ast.SequenceNode:
		if !d.chargeContainer(v, len(v.Values)) {
			return nil, false
		}
		out := make([]any, len(v.Values))
		good := true
		for i, item := range v.Values {
			if d.exhausted {
				return nil, false
			}
			x, ok := d.generic(item, indexKey(key, i))
			good = good && ok
			out[i] = x
		}
		return out, good
	case *ast.NullNode:
		return nil, true
	case *ast.BoolNode:
		return v.Value, true
	case *ast.IntegerNode:
		switch i := v.Value.(type) {
		case int64:
			return i, true
		case uint64:
			if i <= math.MaxInt64 {
				return int64(i), true
			}
		}
		d.errs.addDecode(line(n), key, "%s is too large a number", quoteShort(v.GetToken().Value))
		return nil, false
	case *ast.FloatNode:
		f, err := strconv.ParseFloat(v.GetToken().Value, 64)
		if err != nil {
			f = v.Value
		}
		return f, true
	case *ast.InfinityNode, *ast.NanNode:
		d.errs.addDecode(line(n), key, "%s has no JSON form", quoteShort(v.GetToken().Value))
		return nil, false
	}
	return d.scalar(n, key, false, "")
}

// decodeJSON converts a free-form YAML value to JSON (clients[].jwks).
func (d *decoder) decodeJSON(n ast.Node, v reflect.Value, key string) {
	val, ok := d.generic(n, key)
	if !ok {
		return
	}
	b, err := json.Marshal(val)
	if err != nil {
		d.errs.addDecode(line(n), key, "cannot be written as JSON: %v", err)
		return
	}
	v.SetBytes(b)
}
