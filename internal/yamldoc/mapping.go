package yamldoc

import (
	"strconv"

	"go.yaml.in/yaml/v4"
)

// Entry is one key: value pair of a mapping. Merge is true for a merge key ("<<: *base"),
// whose Value names the mapping or mappings to merge.
type Entry struct {
	Key, Value *yaml.Node
	Merge      bool
}

// IsMerge reports whether key is the merge key "<<" (plain, untagged or tagged !!merge).
func IsMerge(key *yaml.Node) bool {
	if key.Kind != yaml.ScalarNode || key.Value != "<<" {
		return false
	}
	tag, tagged := Tagged(key)
	return !tagged && key.Style == 0 || tag == "!!merge"
}

// Entries returns mapping m's entries with merge keys first, so that explicit keys override
// merged ones wherever they are written (the YAML merge key's meaning), and the first key
// written twice, if any, with the entry that wrote it first (YAML 1.2.2 §3.2.1.1: keys are
// unique; which of the two a reader should keep is not said, so neither is kept silently).
func Entries(m *yaml.Node) (entries []Entry, dup *Error) {
	var merges, rest []Entry
	seen := make(map[string]*yaml.Node, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		e := Entry{Key: m.Content[i], Value: m.Content[i+1], Merge: IsMerge(m.Content[i])}
		if e.Merge {
			merges = append(merges, e)
			continue
		}
		rest = append(rest, e)
		if k, ok := Key(e.Key); ok && dup == nil {
			if first, twice := seen[k]; twice {
				dup = errorAt(e.Key, "key %s is already defined at line %d", strconv.Quote(k), first.Line)
			}
			seen[k] = e.Key
		}
	}
	return append(merges, rest...), dup
}

// MergeSources returns the nodes a merge key's value names: one alias or mapping, or a list of
// them.
func MergeSources(v *yaml.Node) []*yaml.Node {
	if v.Kind == yaml.SequenceNode {
		return v.Content
	}
	return []*yaml.Node{v}
}

// Key returns a mapping key's text; false when the key is not a scalar (a list or mapping as
// a key, or an alias), which Tiaki's documents never need.
func Key(k *yaml.Node) (string, bool) {
	if k.Kind != yaml.ScalarNode {
		return "", false
	}
	return k.Value, true
}
