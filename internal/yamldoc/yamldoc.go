// Package yamldoc is Tiaki's one reader of YAML: the configuration file (internal/config), the
// gateway's OpenAPI documents (internal/policy/openapi) and the probe's (internal/probe) all go
// through it, so a document means the same thing to each of them.
//
// Start with Parse (this file): it bounds the input, parses exactly one document with
// go.yaml.in/yaml/v4 (which reads YAML 1.2 flow collections correctly and keeps each node's line
// and column) and returns the root node. Scalar (scalar.go) resolves a plain scalar by the YAML 1.2
// core schema; Entries and Key (mapping.go) read mappings with merge keys and refuse duplicate
// keys; Value and JSON (value.go) turn a node tree into plain Go values or JSON, expanding
// aliases within a budget, for readers that need no positions (the OpenAPI documents).
//
// The package imports the standard library and the YAML parser only, so any front end may use it.
package yamldoc

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v4"
)

// Limits bound a document before and while it is parsed. The parser's cost grows faster than
// linearly with flow nesting and with block entries opened on one line, so both are capped
// before it runs. A zero field means no limit.
type Limits struct {
	MaxBytes      int // size of the input
	MaxLines      int
	MaxFlowDepth  int // nested [ and {
	MaxIndicators int // "- - - x": block entries opened on one line
	// MaxAliasNodes bounds how many nodes Value and JSON visit through aliases: a few lines
	// of anchors can otherwise expand to gigabytes ("billion laughs").
	MaxAliasNodes int
}

// Error is a problem in a YAML document at a position; Line and Column are 1-based, 0 when
// unknown.
type Error struct {
	Line, Column int
	Msg          string
	// Syntax is true when the YAML parser refused the text, false for a bound or a meaning
	// (a duplicate key, an unsupported tag) that this package refused.
	Syntax bool
}

func (e *Error) Error() string {
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("line %d column %d: %s", e.Line, e.Column, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

// errorAt returns an *Error at n's position.
func errorAt(n *yaml.Node, format string, args ...any) *Error {
	e := &Error{Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	return e
}

// Parse parses data as one YAML document (JSON is YAML too) and returns its root node, which is
// never a document or alias node itself; nil when data holds no document (an empty file). More
// than one document is an error, as is input beyond lim. Errors are *Error with the line when
// known. Parse never panics, whatever data holds.
func Parse(data []byte, lim Limits) (*yaml.Node, error) {
	if err := Check(data, lim); err != nil {
		return nil, err
	}
	return parse(data)
}

// Check applies lim's bounds on size and shape to data without parsing it. The shape checks
// are deliberately coarse (brackets inside quoted strings count too): they only need to be
// generous for real documents.
func Check(data []byte, lim Limits) error {
	if lim.MaxBytes > 0 && len(data) > lim.MaxBytes {
		return &Error{Msg: fmt.Sprintf("larger than %d bytes", lim.MaxBytes)}
	}
	if lim.MaxLines > 0 && bytes.Count(data, []byte("\n"))+1 > lim.MaxLines {
		return &Error{Msg: fmt.Sprintf("more than %d lines", lim.MaxLines)}
	}
	depth := 0
	for i, l := range bytes.Split(data, []byte("\n")) {
		for _, b := range l {
			switch b {
			case '[', '{':
				depth++
				if lim.MaxFlowDepth > 0 && depth > lim.MaxFlowDepth {
					return &Error{Line: i + 1, Msg: fmt.Sprintf("brackets nested more than %d deep", lim.MaxFlowDepth)}
				}
			case ']', '}':
				depth = max(depth-1, 0)
			}
		}
		if lim.MaxIndicators <= 0 {
			continue
		}
		t := bytes.TrimLeft(l, " \t")
		for n := 0; len(t) >= 2 && (t[0] == '-' || t[0] == '?' || t[0] == ':') && (t[1] == ' ' || t[1] == '\t'); n++ {
			if n >= lim.MaxIndicators {
				return &Error{Line: i + 1, Msg: fmt.Sprintf("more than %d block entries opened on one line", lim.MaxIndicators)}
			}
			t = bytes.TrimLeft(t[2:], " \t")
		}
	}
	return nil
}

// parse runs the parser. It is third-party code fed untrusted bytes: a panic inside it becomes
// an error rather than a crash.
func parse(data []byte) (root *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, &Error{Msg: "the YAML parser failed on this input"}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(acceptYAML12(data)))
	var docs []*yaml.Node
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, syntaxError(err)
		}
		if body := content(&doc); body != nil {
			docs = append(docs, body)
		}
	}
	switch len(docs) {
	case 0:
		return nil, nil
	case 1:
		return docs[0], nil
	}
	return nil, &Error{Line: docs[1].Line, Msg: fmt.Sprintf("the file holds %d YAML documents; want one", len(docs))}
}

// acceptYAML12 lets a document declare "%YAML 1.2": the parser accepts only "%YAML 1.1" in the
// directives before "---", although what it parses is read here by YAML 1.2's rules anyway
// (scalar.go). The directive is rewritten in a copy, same length, so positions stay true.
func acceptYAML12(data []byte) []byte {
	out := data
	prologue := true
	for i := 0; i < len(data); {
		end := bytes.IndexByte(data[i:], '\n')
		if end < 0 {
			end = len(data) - i
		}
		line := data[i : i+end]
		switch {
		case bytes.HasPrefix(line, []byte("...")):
			prologue = true
		case !prologue:
		case bytes.HasPrefix(line, []byte("%YAML 1.2")) && (len(line) == 9 || line[9] == ' ' || line[9] == '\t' || line[9] == '\r'):
			if &out[0] == &data[0] {
				out = bytes.Clone(data)
			}
			out[i+8] = '1'
		case len(bytes.TrimSpace(line)) == 0, line[0] == '#', line[0] == '%':
		default:
			prologue = false // "---" or content: directives are over
		}
		i += end + 1
	}
	return out
}

// content is a document's root node, or nil for a document that holds nothing ("---" alone).
func content(doc *yaml.Node) *yaml.Node {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	n := doc.Content[0]
	if n.Kind == yaml.ScalarNode && n.Value == "" && n.Style == 0 && n.Anchor == "" {
		return nil
	}
	return n
}

// syntaxError turns the parser's error into an *Error at the position it gives.
func syntaxError(err error) *Error {
	var le *yaml.LoadError
	if errors.As(err, &le) {
		return &Error{Line: le.Mark.Line, Column: le.Mark.Column, Msg: le.Message, Syntax: true}
	}
	return &Error{Msg: err.Error(), Syntax: true}
}
