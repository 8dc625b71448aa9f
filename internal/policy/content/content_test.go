package content

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki/internal/policy"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	c, err := New(Config{
		Consumes: []string{"application/json", "application/xml", "text/*", "application/x-www-form-urlencoded"},
		Produces: []string{"application/json", "text/csv"},
		MaxBody:  256,
		MaxDepth: 4,
		DocsURL:  "https://api.example.govt.nz/docs",
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		method   string
		header   http.Header
		body     string
		chunked  bool
		wantType string // "" passes
	}{
		{name: "GET without Accept", method: "GET"},
		{name: "GET with */*", method: "GET", header: http.Header{"Accept": {"*/*"}}},
		{name: "GET with offered type and params", method: "GET", header: http.Header{"Accept": {"text/html;q=0.9, Text/CSV; charset=utf-8"}}},
		{name: "GET with application/*", method: "GET", header: http.Header{"Accept": {"application/*"}}},
		{name: "Accept split over fields", method: "GET", header: http.Header{"Accept": {"text/html", "application/json;q=0.1"}}},
		{name: "unparseable Accept is ignored", method: "GET", header: http.Header{"Accept": {"garbage"}}},
		{name: "Accept nothing offered", method: "GET", header: http.Header{"Accept": {"application/x-nope"}}, wantType: "not-acceptable"},
		{name: "Accept refuses by q=0", method: "GET", header: http.Header{"Accept": {"application/json;q=0, text/html"}}, wantType: "not-acceptable"},
		{name: "specific q=0 beats wildcard", method: "GET", header: http.Header{"Accept": {"*/*, application/json;q=0, text/csv;q=0"}}, wantType: "not-acceptable"},
		{name: "Accept too long", method: "GET", header: http.Header{"Accept": {strings.Repeat("text/html, ", 500)}}, wantType: "not-acceptable"},

		{name: "JSON", method: "POST", header: ct("application/json"), body: `{"name":"O'Brien","price":1.5}`},
		{name: "JSON with charset", method: "POST", header: ct("application/json; charset=UTF-8"), body: `[1,2]`},
		{name: "JSON chunked", method: "POST", header: ct("application/json"), body: `{"a":[1,2,3]}`, chunked: true},
		{name: "JSON latin-1", method: "POST", header: ct("application/json; charset=iso-8859-1"), body: `{}`, wantType: "unsupported-media-type"},
		{name: "no Content-Type", method: "POST", body: `{}`, wantType: "unsupported-media-type"},
		{name: "two Content-Types", method: "POST", header: http.Header{"Content-Type": {"application/json", "text/plain"}}, body: `{}`, wantType: "unsupported-media-type"},
		{name: "malformed Content-Type", method: "POST", header: ct("application/"), body: `{}`, wantType: "unsupported-media-type"},
		{name: "type not allowed", method: "POST", header: ct("image/png"), body: "\x89PNG", wantType: "unsupported-media-type"},
		{name: "text/* allowed, not parsed", method: "POST", header: ct("text/plain"), body: `{not json`},
		{name: "form allowed, not parsed", method: "PUT", header: ct("application/x-www-form-urlencoded"), body: `a=b`},
		{name: "duplicate key", method: "POST", header: ct("application/json"), body: `{"a":1,"a":2}`, wantType: "duplicate-key"},
		{name: "too deep", method: "POST", header: ct("application/json"), body: `[[[[[1]]]]]`, wantType: "too-deep"},
		{name: "trailing data", method: "POST", header: ct("application/json"), body: `{} x`, wantType: "malformed-json"},
		{name: "invalid UTF-8", method: "POST", header: ct("application/json"), body: "\"\xff\"", wantType: "malformed-json"},
		{name: "empty JSON body chunked", method: "POST", header: ct("application/json"), body: ``, chunked: true, wantType: "malformed-json"},
		{name: "too large", method: "POST", header: ct("application/json"), body: `"` + strings.Repeat("a", 300) + `"`, wantType: "payload-too-large"},
		{name: "too large chunked", method: "POST", header: ct("application/json"), body: `"` + strings.Repeat("a", 300) + `"`, chunked: true, wantType: "payload-too-large"},
		{name: "XML", method: "POST", header: ct("application/xml"), body: `<?xml version="1.0" encoding="UTF-8"?><a x="1"><b>&amp;</b></a>`},
		{name: "XML XXE", method: "POST", header: ct("application/xml"), body: `<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "http://127.0.0.1:1/x">]><a>&x;</a>`, wantType: "xml-dtd-refused"},
		{name: "XML too deep", method: "POST", header: ct("application/xml"), body: `<a><a><a><a><a/></a></a></a></a>`, wantType: "too-deep"},
		{name: "XML undefined entity", method: "POST", header: ct("application/xml"), body: `<a>&x;</a>`, wantType: "malformed-xml"},
		{name: "XML two roots", method: "POST", header: ct("application/xml"), body: `<a/><b/>`, wantType: "malformed-xml"},
		{name: "XML latin-1 declared", method: "POST", header: ct("application/xml"), body: `<?xml version="1.0" encoding="ISO-8859-1"?><a/>`, wantType: "malformed-xml"},
		{name: "XML unclosed", method: "POST", header: ct("application/xml"), body: `<a><b></a>`, wantType: "malformed-xml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := request(tt.method, tt.body, tt.chunked, tt.header)
			d := c.Check(r, nil)
			if tt.wantType == "" {
				if d != nil {
					t.Fatalf("denied: %v", d)
				}
				got, err := io.ReadAll(r.Body)
				if err != nil || string(got) != tt.body {
					t.Errorf("upstream would read %q, %v; want %q", got, err, tt.body)
				}
				if tt.body != "" && r.ContentLength != int64(len(tt.body)) && r.ContentLength != -1 {
					t.Errorf("ContentLength = %d, want %d", r.ContentLength, len(tt.body))
				}
				return
			}
			if d == nil {
				t.Fatal("passed, want a denial")
			}
			if d.Type != tt.wantType {
				t.Errorf("denial %q (%s), want %q", d.Type, d.Detail, tt.wantType)
			}
			if tt.body != "" && len(tt.body) > 3 && strings.Contains(d.Detail+d.Reason, tt.body) {
				t.Errorf("denial echoes the body: %+v", d)
			}
		})
	}
}

func ct(v string) http.Header { return http.Header{"Content-Type": {v}} }

func request(method, body string, chunked bool, h http.Header) *http.Request {
	var rd io.Reader = http.NoBody
	if body != "" || chunked {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, "/x", rd)
	if chunked {
		r.ContentLength = -1
		r.Body = io.NopCloser(strings.NewReader(body))
	}
	for k, v := range h {
		r.Header[k] = v
	}
	return r
}

// The gateway runs the policy through CheckHeader, so the 406 gets its Link.
var _ policy.HeaderChecker = (*Checker)(nil)

func TestNotAcceptableAnswer(t *testing.T) {
	t.Parallel()
	c, err := New(Config{DocsURL: "https://api.example.govt.nz/docs"})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/x", nil)
	r.Header.Set("Accept", "application/x-nope")
	rec := httptest.NewRecorder()
	err = c.Enforce(rec, r, http.NotFoundHandler())
	d, ok := err.(*policy.Denial)
	if !ok || d.Status != 406 {
		t.Fatalf("Enforce = %v, want a 406 denial", err)
	}
	policy.Render(rec, r, d)
	if got := rec.Header().Get("Link"); got != `<https://api.example.govt.nz/docs>; rel="help"` {
		t.Errorf("Link = %q", got)
	}
	var body struct{ Type, Detail string }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || !strings.Contains(body.Detail, "application/json") {
		t.Errorf("body %s (%v): want a readable detail naming what is offered", rec.Body, err)
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{Consumes: []string{"json"}},
		{Consumes: []string{"*/json"}},
		{Produces: []string{"application/json; q=1"}},
		{Produces: []string{""}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func TestParseMediaType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want MediaType
		ok   bool
	}{
		{"application/json", MediaType{Type: "application", Subtype: "json"}, true},
		{" Application/Problem+JSON ; charset=\"UTF-8\" ; x=y", MediaType{Type: "application", Subtype: "problem+json", Charset: "utf-8"}, true},
		{"text/plain;", MediaType{Type: "text", Subtype: "plain"}, true},
		{"application/json; charset", MediaType{}, false},
		{"application/json; charset=\"utf-8", MediaType{}, false},
		{"*/*", MediaType{}, false},
		{"text", MediaType{}, false},
		{"a b/c", MediaType{}, false},
		{"text/" + strings.Repeat("x", 2000), MediaType{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseMediaType(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseMediaType(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseMediaTypeAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseMediaType("application/json; charset=utf-8") }); n != 0 {
		t.Errorf("ParseMediaType allocates %v times", n)
	}
}

// TestUpstreamReceivesBody proxies a checked request, chunked on the way in, and checks the
// upstream gets the same bytes with a Content-Length, and that the buffer goes back once the
// handler, which owns the request (as the gateway does), closes it.
func TestUpstreamReceivesBody(t *testing.T) {
	t.Parallel()
	var got []byte
	var gotLen int64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		gotLen = r.ContentLength
	}))
	defer upstream.Close()
	target, _ := url.Parse(upstream.URL)
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	var body *Body
	handled := make(chan struct{})
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(handled)
		if d := c.Check(r, nil); d != nil {
			policy.Render(w, r, d)
			return
		}
		body = r.Body.(*Body)
		defer body.Close()
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()

	want := []byte(`{"items":[` + strings.Repeat(`{"sku":"a","qty":1},`, 200) + `{}]}`)
	req, _ := http.NewRequest("POST", front.URL, io.MultiReader(bytes.NewReader(want))) // unknown length: chunked
	req.Header.Set("Content-Type", "application/json")
	resp, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	<-handled
	if resp.StatusCode != 200 || !bytes.Equal(got, want) || gotLen != int64(len(want)) {
		t.Errorf("upstream got status %d, %d bytes, ContentLength %d; want %d bytes", resp.StatusCode, len(got), gotLen, len(want))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		body.mu.Lock()
		released := body.closed && body.buf == nil
		body.mu.Unlock()
		if released {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the buffer was not released when the body was closed")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBodyConcurrentClose(t *testing.T) {
	t.Parallel()
	for range 50 {
		r := request("POST", `{"a":"`+strings.Repeat("x", 5000)+`"}`, false, ct("application/json"))
		b, d := Buffer(r, 0)
		if d != nil {
			t.Fatal(d)
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); _, _ = b.WriteTo(io.Discard) }()
		go func() { defer wg.Done(); _ = b.Close() }()
		wg.Wait()
		if _, err := b.Read(make([]byte, 1)); err == nil {
			t.Fatal("read after close succeeded")
		}
	}
}

func TestBufferReusesBody(t *testing.T) {
	t.Parallel()
	r := request("POST", `{"a":1}`, false, ct("application/json"))
	b1, _ := Buffer(r, 0)
	b2, _ := Buffer(r, 0)
	if b1 == nil || b1 != b2 {
		t.Errorf("second Buffer read again: %p %p", b1, b2)
	}
	if b, d := Buffer(httptest.NewRequest("GET", "/", nil), 0); b != nil || d != nil {
		t.Errorf("Buffer without a body = %v, %v", b, d)
	}
}

func TestCheckAllocs(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/x", nil)
	r.Header.Set("Accept", "application/json, text/plain;q=0.5")
	if n := testing.AllocsPerRun(100, func() { _ = c.Check(r, nil) }); n != 0 {
		t.Errorf("Check on a GET allocates %v times, want 0", n)
	}
}

func TestDenialTypes(t *testing.T) {
	t.Parallel()
	// The problem types are part of the API: clients match on them. Changing one is a
	// breaking change.
	var got []string
	for _, d := range []*policy.Denial{missingType, malformedType, badCharset, CheckJSON([]byte(`{"a":1,"a":1}`), 0),
		CheckJSON([]byte(`[`), 0), CheckJSON([]byte(strings.Repeat("[", 40)), 0), CheckXML([]byte(`<!DOCTYPE a><a/>`), 0),
		CheckXML([]byte(`<a>`), 0), tooLarge(1)} {
		got = append(got, d.Type)
	}
	want := []string{"unsupported-media-type", "unsupported-media-type", "unsupported-media-type", "duplicate-key",
		"malformed-json", "too-deep", "xml-dtd-refused", "malformed-xml", "payload-too-large"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("types (-want +got):\n%s", diff)
	}
}

func FuzzCheckXML(f *testing.F) {
	for _, s := range []string{`<a/>`, `<?xml version="1.0"?><a b="c">d</a>`, `<!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>`,
		`<a><![CDATA[x]]></a>`, `<a xmlns:x="u"><x:b/></a>`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := CheckXML(data, 8)
		if d != nil && (d.Status != 400 || d.Type == "") {
			t.Fatalf("CheckXML(%q) = %+v", data, d)
		}
		if d == nil && bytes.Contains(bytes.ToUpper(data), []byte("<!DOCTYPE")) && !bytes.Contains(data, []byte("CDATA")) &&
			!bytes.Contains(data, []byte("<!--")) && !bytes.Contains(data, []byte(`"`)) && !bytes.Contains(data, []byte(`'`)) {
			t.Fatalf("CheckXML(%q) accepted a DOCTYPE", data)
		}
	})
}

// FuzzAccept also feeds the value to ParseMediaType, the Content-Type parser.
func FuzzAccept(f *testing.F) {
	a, err := NewAccept([]string{"application/json", "text/csv"}, "")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"*/*", "application/json;q=0.5", "text/*;q=0", `a/b;x="y,z"`, "application/json;q=1.0001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Accept"] = []string{accept}
		_ = a.Check(r)
		_, _ = ParseMediaType(accept)
	})
}
