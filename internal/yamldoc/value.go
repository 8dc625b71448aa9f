package yamldoc

import (
	"encoding/json"
	"fmt"

	"go.yaml.in/yaml/v4"
)

// JSON parses data as one YAML document within lim and returns it as JSON, for readers that
// take JSON (kin-openapi, encoding/json). An empty document is "null".
func JSON(data []byte, lim Limits) ([]byte, error) {
	root, err := Parse(data, lim)
	if err != nil {
		return nil, err
	}
	v, err := Value(root, lim.MaxAliasNodes)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, &Error{Msg: fmt.Sprintf("cannot be written as JSON: %v", err)}
	}
	return out, nil
}

// Value converts the tree under n to map[string]any, []any, string, int64, float64, bool or
// nil, with the meaning Parse's documentation gives (core schema scalars, merge keys, unique
// keys). Aliases are expanded; past maxAliasNodes nodes reached through aliases (0: no limit)
// it stops with an error. A nil n is nil.
func Value(n *yaml.Node, maxAliasNodes int) (any, error) {
	if n == nil {
		return nil, nil
	}
	c := &converter{max: maxAliasNodes}
	return c.value(n, 0)
}

type converter struct {
	max   int // nodes that may be visited through aliases; 0: no limit
	spent int
}

// value converts n; aliased counts the aliases it was reached through.
func (c *converter) value(n *yaml.Node, aliased int) (any, error) {
	if aliased > 0 {
		c.spent++
		if c.max > 0 && c.spent > c.max {
			return nil, errorAt(n, "aliases expand to more than %d values; refusing to go on", c.max)
		}
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, errorAt(n, "alias *%s names no anchor", n.Value)
		}
		return c.value(n.Alias, aliased+1)
	case yaml.ScalarNode:
		return ScalarValue(n)
	case yaml.SequenceNode:
		if tag, ok := Tagged(n); ok && tag != "!!seq" {
			return nil, errorAt(n, "YAML tag %q is not supported on a list", tag)
		}
		out := make([]any, len(n.Content))
		for i, item := range n.Content {
			v, err := c.value(item, aliased)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case yaml.MappingNode:
		if tag, ok := Tagged(n); ok && tag != "!!map" {
			return nil, errorAt(n, "YAML tag %q is not supported on a mapping", tag)
		}
		entries, dup := Entries(n)
		if dup != nil {
			return nil, dup
		}
		out := make(map[string]any, len(entries))
		for _, e := range entries {
			if e.Merge {
				for _, src := range MergeSources(e.Value) {
					v, err := c.value(src, aliased)
					if err != nil {
						return nil, err
					}
					m, ok := v.(map[string]any)
					if !ok {
						return nil, errorAt(e.Key, "a merge key (<<) must name mappings")
					}
					// Of the merged mappings the first to name a key wins (YAML merge key).
					for k, x := range m {
						if _, set := out[k]; !set {
							out[k] = x
						}
					}
				}
				continue
			}
			k, ok := Key(e.Key)
			if !ok {
				return nil, errorAt(e.Key, "mapping keys must be plain strings")
			}
			v, err := c.value(e.Value, aliased)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0], aliased)
	}
	return nil, errorAt(n, "unknown YAML node kind %d", n.Kind)
}
