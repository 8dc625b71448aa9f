package waf

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benignCase is one ordinary request from testdata/benign: it must pass the standard level.
type benignCase struct {
	Name    string            `json:"name"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Query   string            `json:"query"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"` // a JSON body, sent as it is written
	Raw     string            `json:"raw"`  // a JSON body given as text, to keep its escapes
	Form    string            `json:"form"` // a form-encoded body
}

func (c benignCase) request(t testing.TB) *http.Request {
	method, path := c.Method, c.Path
	if path == "" {
		path = "/things"
	}
	var body []byte
	ct := ""
	switch {
	case c.Raw != "":
		body, ct = []byte(c.Raw), "application/json"
	case len(c.Body) > 0:
		body, ct = c.Body, "application/json"
	case c.Form != "":
		body, ct = []byte(c.Form), "application/x-www-form-urlencoded"
	}
	if method == "" {
		method = http.MethodGet
		if body != nil {
			method = http.MethodPost
		}
	}
	target := path
	if c.Query != "" {
		target += "?" + c.Query
	}
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	for k, v := range c.Headers {
		r.Header.Set(k, v)
	}
	return r
}

func loadJSON[T any](t testing.TB, pattern string) []T {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no files match %s: %v", pattern, err)
	}
	var all []T
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cases []T
		if err := json.Unmarshal(b, &cases); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		all = append(all, cases...)
	}
	return all
}

// TestBenignCorpus is the false-positive guard: ordinary requests (names with apostrophes,
// prices, free text, harmless markup-like text, SQL-ish English, macrons, emoji, browser
// headers) must all pass the standard level.
func TestBenignCorpus(t *testing.T) {
	t.Parallel()
	cases := loadJSON[benignCase](t, "testdata/benign/*.json")
	if len(cases) < 60 {
		t.Fatalf("the benign corpus has %d cases, want at least 60", len(cases))
	}
	g := mustNew(t, Config{Level: Standard})
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			r := c.request(t)
			if d := g.Check(r, nil); d != nil {
				t.Errorf("false positive: %v", d)
			}
		})
	}
}

// attackCase is one payload from testdata/attacks.
type attackCase struct {
	Name    string `json:"name"`
	Payload string `json:"payload"`
	Kind    string `json:"kind"`
	// Layers of percent-encoding the payload already carries. The detector undoes one besides
	// the server's own decoding of URL components, so a payload with one layer placed in a
	// URL is a double-encoded attack.
	Layers int `json:"layers"`
}

// placement puts a payload somewhere in a request.
type placement struct {
	name  string
	build func(p string) *http.Request
}

// cookieEscaper encodes what a cookie value cannot hold (RFC 6265 §4.1.1), as applications do.
var cookieEscaper = strings.NewReplacer(";", "%3B", " ", "%20", ",", "%2C", `"`, "%22", `\`, "%5C", "\t", "%09")

func jsonBody(v any) *http.Request {
	b, err := json.Marshal(v) // escapes <, > and & as \u003c..., which the walker must undo
	if err != nil {
		panic(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/things", bytes.NewReader(b))
	r.Header.Set("Content-Type", "application/json")
	return r
}

var placements = []placement{
	{name: "query value", build: func(p string) *http.Request {
		return httptest.NewRequest(http.MethodGet, "/things?q="+url.QueryEscape(p), nil)
	}},
	{name: "query name", build: func(p string) *http.Request {
		return httptest.NewRequest(http.MethodGet, "/things?"+url.QueryEscape(p)+"=1", nil)
	}},
	{name: "path segment", build: func(p string) *http.Request {
		return httptest.NewRequest(http.MethodGet, "/things/"+url.PathEscape(p)+"/orders", nil)
	}},
	{name: "json value", build: func(p string) *http.Request {
		return jsonBody(map[string]any{"order": map[string]any{"notes": []string{"fine", p}}})
	}},
	{name: "json key", build: func(p string) *http.Request { return jsonBody(map[string]int{p: 1}) }},
	{name: "form value", build: func(p string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/things", strings.NewReader("a=1&note="+url.QueryEscape(p)))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		return r
	}},
	{name: "custom header", build: func(p string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/things", nil)
		r.Header.Set("Request-Reason", p)
		return r
	}},
	{name: "user agent", build: func(p string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/things", nil)
		r.Header.Set("User-Agent", p)
		return r
	}},
	{name: "cookie", build: func(p string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/things", nil)
		r.Header.Set("Cookie", "theme=dark; pref="+cookieEscaper.Replace(p))
		return r
	}},
}

// TestAttackCorpus: every SQL injection and XSS payload is refused at the standard level
// wherever it is placed, and the denial names the detector without quoting the payload.
func TestAttackCorpus(t *testing.T) {
	t.Parallel()
	cases := loadJSON[attackCase](t, "testdata/attacks/*.json")
	if len(cases) < 40 {
		t.Fatalf("the attack corpus has %d payloads, want at least 40", len(cases))
	}
	g := mustNew(t, Config{Level: Standard})
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			for _, pl := range placements {
				d := g.Check(pl.build(c.Payload), nil)
				if d == nil {
					t.Errorf("%s: not blocked", pl.name)
					continue
				}
				if d.Status != http.StatusForbidden || d.Type != "request-blocked" {
					t.Errorf("%s: denial %d %s, want 403 request-blocked", pl.name, d.Status, d.Type)
				}
				if pl.name == "json value" && !strings.HasPrefix(d.Reason, c.Kind+" ") {
					t.Errorf("%s: reason %q, want it to name %s", pl.name, d.Reason, c.Kind)
				}
				for _, leak := range []string{c.Payload, strings.TrimSpace(c.Payload)[:min(6, len(strings.TrimSpace(c.Payload)))]} {
					if strings.Contains(d.Reason, leak) || strings.Contains(d.Detail, leak) {
						t.Errorf("%s: the denial quotes the payload: %q / %q", pl.name, d.Reason, d.Detail)
					}
				}
			}
		})
	}
}

func mustNew(t testing.TB, cfg Config) *Guard {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}
