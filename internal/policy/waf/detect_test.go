package waf

import (
	"testing"

	"github.com/corazawaf/libinjection-go"
	"github.com/google/go-cmp/cmp"
)

func TestDetect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want finding // zero: clean
	}{
		{in: "plain"},
		{in: "' OR 1=1--", want: finding{"sqli", "s&1c"}},
		{in: "%27%20OR%201%3D1--", want: finding{"sqli", "s&1c"}},
		{in: "50% off -- today only"},
		{in: "1 --", want: finding{"sqli", "1c"}},
		{in: "<script>alert(1)</script>", want: finding{"xss", "html"}},
		{in: "x onerror=alert(1)", want: finding{"xss", "html"}},
		{in: "a < b and c > d"},
		{in: "javascript:alert(1)", want: finding{"xss", "url-scheme"}},
		{in: "  JAVA\nSCRIPT:void(0)", want: finding{"xss", "url-scheme"}},
		{in: "javascript&#x3A;alert(1)", want: finding{"xss", "url-scheme"}},
		{in: "javascript&#0058alert(1)", want: finding{"xss", "url-scheme"}},
		{in: "javascript&colon;alert(1)", want: finding{"xss", "url-scheme"}},
		{in: "javascript:`${x}`", want: finding{"xss", "url-scheme"}},
		{in: "javascript: the good parts"},
		{in: "javascript&amp;alert"},
		{in: "data:text/html,<b>", want: finding{"xss", "url-scheme"}},
		{in: "DATA:image/svg+xml;base64,AAAA", want: finding{"xss", "url-scheme"}},
		{in: "data:image/png;base64,iVBORw0KGgo="},
		{in: "https://example.govt.nz/a?b=c"},
		{in: "mailto:someone@example.com"},
		{in: "verylongschemenamehere:alert(1)"},
		{in: "%3Csvg%20onload%3Dalert(1)%3E", want: finding{"xss", "html"}},
		{in: "100%"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, _, _ := detect(tt.in, nil)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("detect(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestPercentDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		plus    bool
		want    string
		changed bool
	}{
		{in: "a%20b", want: "a b", changed: true},
		{in: "a+b", want: "a+b"},
		{in: "a+b", plus: true, want: "a b", changed: true},
		{in: "%zz%4", want: "%zz%4"},
		{in: "%C4%81", want: "ā", changed: true},
		{in: "%", want: "%"},
	}
	for _, tt := range tests {
		got, changed := percentDecode(nil, tt.in, tt.plus)
		if string(got) != tt.want || changed != tt.changed {
			t.Errorf("percentDecode(%q, %v) = %q, %v; want %q, %v", tt.in, tt.plus, got, changed, tt.want, tt.changed)
		}
	}
}

// FuzzPrefilter checks the claims that let detect skip libinjection: a string without a byte
// of the SQL class cannot be SQL injection to libinjection, and one without '<' or '=' cannot
// be XSS to it.
func FuzzPrefilter(f *testing.F) {
	for _, s := range []string{"abc", "1union", "select", "O'Brien", "x onerror=alert(1)", "<script>", "Tāmaki", "a_b_1", "\x80\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := classes(s)
		if c&sqlByte == 0 {
			if ok, fp := libinjection.IsSQLi(s); ok {
				t.Errorf("%q has no SQL-class byte but libinjection reports %s", s, fp)
			}
		}
		if c&htmlByte == 0 && libinjection.IsXSS(s) {
			t.Errorf("%q has no '<' or '=' but libinjection reports XSS", s)
		}
		detect(s, nil) // never panics
	})
}

func TestPrefilterWords(t *testing.T) {
	t.Parallel()
	// Every keyword glued to digits and underscores stays one libinjection token: the words an
	// attacker might hope to slip past the prefilter.
	words := []string{"union", "select", "or", "and", "sleep", "benchmark", "null", "x", "0x1", "1e1", "waitfor", "drop", "exec", "xp_cmdshell", "char", "version", "true", "is", "not", "like"}
	for _, a := range words {
		for _, b := range words {
			for _, sep := range []string{"", "_", "1", "_1_"} {
				s := a + sep + b
				if classes(s)&sqlByte != 0 {
					t.Fatalf("%q unexpectedly has a SQL-class byte", s)
				}
				if ok, fp := libinjection.IsSQLi(s); ok {
					t.Errorf("libinjection reports %q as %s; the prefilter would skip it", s, fp)
				}
			}
		}
	}
}
