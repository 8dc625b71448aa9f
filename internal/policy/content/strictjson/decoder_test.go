package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	many := func(n int, dup bool) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"k%d":%d`, i, i)
		}
		if dup {
			b.WriteString(`,"k3":0`)
		}
		b.WriteString("}")
		return b.String()
	}
	tests := []struct {
		name  string
		in    string
		depth int
		want  ErrorKind // 0: valid
	}{
		{name: "object", in: `{"a":1,"b":[true,false,null],"c":{"d":"e"}}`},
		{name: "scalar", in: ` -0.5e+10 `},
		{name: "empty containers", in: `[{},[],""]`},
		{name: "escapes", in: `"\" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00"`},
		{name: "utf-8", in: `{"name":"Māori – 日本"}`},
		{name: "many distinct names", in: many(100, false)},
		{name: "depth at limit", in: strings.Repeat("[", 4) + strings.Repeat("]", 4), depth: 4},

		{name: "empty", in: ``, want: ErrSyntax},
		{name: "whitespace only", in: " \n", want: ErrSyntax},
		{name: "duplicate", in: `{"a":1,"a":2}`, want: ErrDuplicate},
		{name: "duplicate via escape", in: `{"a":1,"\u0061":2}`, want: ErrDuplicate},
		{name: "duplicate nested", in: `{"x":{"a":1,"b":{"a":1},"a":2}}`, want: ErrDuplicate},
		{name: "duplicate in a big object", in: many(100, true), want: ErrDuplicate},
		{name: "same name in sibling objects is fine", in: `[{"a":1},{"a":2}]`},
		{name: "too deep", in: strings.Repeat("[", 5) + strings.Repeat("]", 5), depth: 4, want: ErrDepth},
		{name: "default depth", in: strings.Repeat(`{"a":`, 33) + "1" + strings.Repeat("}", 33), want: ErrDepth},
		{name: "trailing value", in: `{} {}`, want: ErrTrailing},
		{name: "trailing garbage", in: `1x`, want: ErrTrailing},
		{name: "invalid utf-8", in: "\"\xff\"", want: ErrUTF8},
		{name: "overlong utf-8", in: "\"\xc0\xaf\"", want: ErrUTF8},
		{name: "lone low surrogate", in: `"\udc00"`, want: ErrUTF8},
		{name: "lone high surrogate", in: `"\ud800x"`, want: ErrUTF8},
		{name: "high surrogate then non-low", in: `"\ud800\u0041"`, want: ErrUTF8},
		{name: "bom", in: "\xef\xbb\xbf{}", want: ErrSyntax},
		{name: "control char", in: "\"a\tb\"", want: ErrSyntax},
		{name: "bad escape", in: `"\x"`, want: ErrSyntax},
		{name: "leading zero", in: `01`, want: ErrTrailing},
		{name: "bare dot", in: `1.`, want: ErrSyntax},
		{name: "plus sign", in: `+1`, want: ErrSyntax},
		{name: "trailing comma", in: `[1,]`, want: ErrSyntax},
		{name: "trailing comma object", in: `{"a":1,}`, want: ErrSyntax},
		{name: "missing colon", in: `{"a" 1}`, want: ErrSyntax},
		{name: "unquoted key", in: `{a:1}`, want: ErrSyntax},
		{name: "single quotes", in: `{'a':1}`, want: ErrSyntax},
		{name: "unterminated", in: `{"a":[1,2`, want: ErrSyntax},
		{name: "unterminated string", in: `"abc`, want: ErrSyntax},
		{name: "NaN", in: `NaN`, want: ErrSyntax},
		{name: "truncated literal", in: `tru`, want: ErrSyntax},
		{name: "comment", in: `{} // x`, want: ErrTrailing},
		{name: "mismatched close", in: `[}`, want: ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Check([]byte(tt.in), tt.depth)
			if tt.want == 0 {
				if err != nil {
					t.Fatalf("Check(%q) = %v, want nil", tt.in, err)
				}
				return
			}
			var se *SyntaxError
			if !errors.As(err, &se) || se.Kind != tt.want {
				t.Fatalf("Check(%q) = %v, want kind %d", tt.in, err, tt.want)
			}
			if strings.Contains(err.Error(), tt.in) && len(tt.in) > 3 {
				t.Errorf("error quotes the input: %v", err)
			}
		})
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	var d Decoder
	d.Reset([]byte(`{"a\n":[1,"x\u00e9"],"b":null}`), 0)
	type tok struct {
		Kind  Kind
		Value string
	}
	var got []tok
	for {
		tk, err := d.Next()
		if err != nil {
			t.Fatal(err)
		}
		v := string(tk.Raw)
		if tk.Kind == Key || tk.Kind == String {
			v = string(d.Unescape(tk))
		}
		got = append(got, tok{tk.Kind, v})
		if tk.Kind == End {
			break
		}
	}
	want := []tok{{ObjectStart, ""}, {Key, "a\n"}, {ArrayStart, ""}, {Number, "1"}, {String, "xé"},
		{ArrayEnd, ""}, {Key, "b"}, {Null, "null"}, {ObjectEnd, ""}, {End, ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tokens (-want +got):\n%s", diff)
	}
	if tk, err := d.Next(); err != nil || tk.Kind != End {
		t.Errorf("after End: %v, %v", tk, err)
	}
}

func TestSaveRestore(t *testing.T) {
	t.Parallel()
	var d Decoder
	body := `{"a":{"x":1,"y":[2,3]},"b":2}`
	d.Reset([]byte(body), 0)
	mustNext := func(want Kind) {
		t.Helper()
		tk, err := d.Next()
		if err != nil || tk.Kind != want {
			t.Fatalf("Next = %v, %v; want %v", tk.Kind, err, want)
		}
	}
	mustNext(ObjectStart)
	mustNext(Key)
	cp := d.Save()
	for range 3 { // the same value, three times over, as anyOf would
		d.Restore(cp)
		if err := d.Skip(false); err != nil {
			t.Fatal(err)
		}
	}
	d.Restore(cp)
	mustNext(ObjectStart)
	mustNext(Key)
	mustNext(Number) // abandon the value half-way, as a failed alternative does
	d.Restore(cp)
	if err := d.Skip(false); err != nil {
		t.Fatal(err)
	}
	mustNext(Key)
	mustNext(Number)
	mustNext(ObjectEnd)
	mustNext(End)

	// A name read after the checkpoint is forgotten on Restore, so reading it again is no
	// duplicate; names before it are remembered, even in an indexed (big) object.
	var b strings.Builder
	b.WriteString("{")
	for i := range 20 {
		fmt.Fprintf(&b, `"k%d":0,`, i)
	}
	b.WriteString(`"z":1,"k5":2}`)
	d.Reset([]byte(b.String()), 0)
	for range 1 + 2*20 {
		if _, err := d.Next(); err != nil {
			t.Fatal(err)
		}
	}
	cp = d.Save()
	for range 2 {
		d.Restore(cp)
		if tk, err := d.Next(); err != nil || string(tk.Raw) != "z" {
			t.Fatalf("Next after Restore = %q, %v", tk.Raw, err)
		}
	}
	_, _ = d.Next()
	if _, err := d.Next(); !IsSyntaxError(err, ErrDuplicate) {
		t.Errorf("k5 repeated after a Restore: %v, want duplicate", err)
	}
}

func TestNextAllocs(t *testing.T) {
	body := []byte(`{"order":{"id":"a1","items":[{"sku":"x","qty":2,"price":1.5},{"sku":"y","qty":1,"price":2}],"note":"\u00e9"}}`)
	var d Decoder
	n := testing.AllocsPerRun(100, func() {
		d.Reset(body, 0)
		if err := d.Skip(true); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("a warm decoder allocates %v times per text, want 0", n)
	}
}

// reference is what Check must agree with: encoding/json's idea of valid JSON, plus the I-JSON
// rules it does not enforce.
func reference(data []byte, maxDepth int) bool {
	if !json.Valid(data) || !bytes.Equal(bytes.ToValidUTF8(data, nil), data) || bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type level struct {
		object bool
		names  map[string]bool
		key    bool // next string token in an object is a name
	}
	var stack []level
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
		top := len(stack) - 1
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top >= 0 && stack[top].object {
					stack[top].key = true
				}
				if len(stack) >= maxDepth {
					return false
				}
				stack = append(stack, level{object: v == '{', names: map[string]bool{}, key: true})
			default:
				stack = stack[:top]
			}
			continue
		case string:
			if top >= 0 && stack[top].object && stack[top].key {
				if stack[top].names[v] {
					return false
				}
				stack[top].names[v] = true
				stack[top].key = false
				continue
			}
		}
		if top >= 0 && stack[top].object {
			stack[top].key = true
		}
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[1,[2,[3]]]`, `{"a":1,"a":2}`, `"\ud800"`, `"\ud83d\ude00"`,
		"\xff", `{"a":{"b":{"c":{}}}}`, `-0.0e-0`, `{"a":1,"\u0061":1}`, `[{"x":1},{"x":1}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Lone surrogate escapes are valid to encoding/json; the reference cannot see them.
		if bytes.Contains(data, []byte(`\u`)) || bytes.Contains(data, []byte(`\U`)) {
			_ = Check(data, 4)
			return
		}
		err := Check(data, 4)
		if want := reference(data, 4); (err == nil) != want {
			t.Fatalf("Check(%q) = %v, reference valid = %v", data, err, want)
		}
	})
}
