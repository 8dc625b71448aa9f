package yamldoc

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseErrors(t *testing.T) {
	t.Parallel()
	lim := Limits{MaxBytes: 1 << 10, MaxLines: 20, MaxFlowDepth: 4, MaxIndicators: 3, MaxAliasNodes: 100}
	bomb := "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
	tests := []struct {
		name, in string
		want     Error
	}{
		{"two documents", "a: 1\n---\nb: 2\n", Error{Line: 3, Msg: "the file holds 2 YAML documents; want one"}},
		{"syntax", "a: 1\n b: [2\n", Error{Line: 2, Column: 3, Msg: "mapping values are not allowed in this context", Syntax: true}},
		{"unknown anchor", "a: 1\nb: *nowhere\n", Error{Line: 2, Column: 4, Msg: `unknown anchor 'nowhere' referenced`, Syntax: true}},
		{"too large", strings.Repeat("a", 1025), Error{Msg: "larger than 1024 bytes"}},
		{"too many lines", strings.Repeat("\n", 20), Error{Msg: "more than 20 lines"}},
		{"too deep", "a: 1\nb: [[[[[x]]]]]\n", Error{Line: 2, Msg: "brackets nested more than 4 deep"}},
		{"indicators", "- - - - x\n", Error{Line: 1, Msg: "more than 3 block entries opened on one line"}},
		{"alias bomb", bomb, Error{Line: 1, Column: 8, Msg: "aliases expand to more than 100 values; refusing to go on"}},
		{"duplicate key", "a: 1\nb: 2\na: 3\n", Error{Line: 3, Column: 1, Msg: `key "a" is already defined at line 1`}},
		{"duplicate in flow", "m: {x: 1, x: 2}\n", Error{Line: 1, Column: 11, Msg: `key "x" is already defined at line 1`}},
		{"unknown tag", "a: !!binary aGk=\n", Error{Line: 1, Column: 4, Msg: `YAML tag "!!binary" is not supported`}},
		{"tag disagrees", "a: !!int x\n", Error{Line: 1, Column: 4, Msg: `"x" is not a valid !!int`}},
		{"infinity", "a: .inf\n", Error{Line: 1, Column: 4, Msg: `".inf" has no JSON form`}},
		{"merge of a list", "a: &a [1]\nb: {<<: *a}\n", Error{Line: 2, Column: 5, Msg: "a merge key (<<) must name mappings"}},
		{"mapping as key", "? [a]\n: b\n", Error{Line: 1, Column: 3, Msg: "mapping keys must be plain strings"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := JSON([]byte(tt.in), lim)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("JSON(%q) = %v (%T), want *Error", tt.in, err, err)
			}
			if diff := cmp.Diff(tt.want, *e); diff != "" {
				t.Errorf("JSON(%q) error (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "# only a comment\n", "---\n", "---\n...\n"} {
		if n, err := Parse([]byte(in), Limits{}); n != nil || err != nil {
			t.Errorf("Parse(%q) = %v, %v; want nil, nil", in, n, err)
		}
	}
	// %YAML 1.2 is accepted (the parser itself knows only 1.1), in the prologue only.
	in := "# c\n%YAML 1.2\n---\ns: \"%YAML 1.2\"\n"
	got, err := JSON([]byte(in), Limits{})
	if err != nil || string(got) != `{"s":"%YAML 1.2"}` {
		t.Errorf("JSON(%q) = %s, %v", in, got, err)
	}
	// Positions are the input's.
	n, err := Parse([]byte("a:\n  b: [c, {d: e}]\n"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	d := n.Content[1].Content[1].Content[1].Content[0]
	if d.Value != "d" || d.Line != 2 || d.Column != 11 {
		t.Errorf("node d at %d:%d (%q), want 2:11", d.Line, d.Column, d.Value)
	}
}

// FuzzJSON feeds arbitrary bytes to JSON: it must never panic, and whatever it accepts is JSON
// that reads back, through JSON again, as the same value (a round trip through the one reader).
func FuzzJSON(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*.yaml"))
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte("{a: [b:c, {d: e?f}], <<: {g: h}}"))
	lim := Limits{MaxBytes: 64 << 10, MaxLines: 2000, MaxFlowDepth: 64, MaxIndicators: 16, MaxAliasNodes: 10_000}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := JSON(data, lim)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Msg == "" {
				t.Fatalf("error %v (%T) is not an *Error with a message", err, err)
			}
			if e.Msg == "the YAML parser failed on this input" {
				t.Fatalf("the parser panicked")
			}
			return
		}
		var v1, v2 any
		if err := json.Unmarshal(out, &v1); err != nil {
			t.Fatalf("JSON wrote invalid JSON %q: %v", out, err)
		}
		again, err := JSON(out, Limits{})
		if err != nil {
			t.Fatalf("JSON refuses its own output %q: %v", out, err)
		}
		if err := json.Unmarshal(again, &v2); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, again) && !cmp.Equal(v1, v2) {
			t.Fatalf("round trip changed the value: %s then %s", out, again)
		}
	})
}
