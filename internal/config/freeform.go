package config

import (
	"encoding/json"
	"errors"
	"reflect"

	"go.yaml.in/yaml/v4"

	"github.com/tiaki-nz/tiaki/internal/yamldoc"
)

// Free-form values (users[].claims, clients[].jwks) have no schema here: they decode to plain
// Go values that encoding/json can write. ${VAR} is substituted in their strings too.

// generic decodes n to map[string]any, []any, string, int64, float64, bool or nil.
func (d *decoder) generic(n *yaml.Node, key string) (any, bool) {
	if n == nil || !d.visit(n) {
		return nil, false
	}
	if n.Kind == yaml.AliasNode {
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
	switch n.Kind {
	case yaml.MappingNode:
		entries, ok := d.mapping(n, key)
		if !ok {
			return nil, false
		}
		out := make(map[string]any, len(entries))
		good := true
		for _, e := range entries {
			if d.exhausted {
				return nil, false
			}
			if e.Merge {
				for _, src := range yamldoc.MergeSources(e.Value) {
					m, ok := d.generic(src, key)
					sub, isMap := m.(map[string]any)
					if !ok || !isMap {
						d.errs.addDecode(line(e.Key), key, "a merge key (<<) must name mappings")
						good = false
						continue
					}
					for k, x := range sub {
						if _, set := out[k]; !set { // of merged mappings, the first wins
							out[k] = x
						}
					}
				}
				continue
			}
			name, ok := d.keyText(e, key)
			if !ok {
				good = false
				continue
			}
			k := childKey(key, name)
			d.pos[k] = line(e.Key)
			x, ok := d.generic(e.Value, k)
			good = good && ok
			out[name] = x
		}
		return out, good
	case yaml.SequenceNode:
		if !d.chargeContainer(n, len(n.Content)) {
			return nil, false
		}
		out := make([]any, len(n.Content))
		good := true
		for i, item := range n.Content {
			if d.exhausted {
				return nil, false
			}
			x, ok := d.generic(item, indexKey(key, i))
			good = good && ok
			out[i] = x
		}
		return out, good
	}
	if kind(n) == yamldoc.String {
		return d.scalar(n, key, false, "")
	}
	v, err := yamldoc.ScalarValue(n)
	if err != nil {
		var ye *yamldoc.Error
		if errors.As(err, &ye) {
			d.errs.addDecode(line(n), key, "%s", ye.Msg)
		} else {
			d.errs.addDecode(line(n), key, "%s", err.Error())
		}
		return nil, false
	}
	return v, true
}

// decodeJSON converts a free-form YAML value to JSON (clients[].jwks).
func (d *decoder) decodeJSON(n *yaml.Node, v reflect.Value, key string) {
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
