package waf

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
)

func TestNewRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no level", Config{}},
		{"off", Config{Level: "off"}},
		{"unknown level", Config{Level: "paranoid"}},
		{"negative strings", Config{Level: Standard, MaxStrings: -1}},
		{"negative body", Config{Level: Standard, MaxBody: -1}},
		{"too deep", Config{Level: Standard, MaxDepth: maxJSONDepth + 1}},
		{"empty header", Config{Level: Standard, SkipHeaders: []string{""}}},
		{"empty field", Config{Level: Standard, SkipFields: []string{""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := New(tt.cfg); !errors.Is(err, tiaki.ErrInvalid) {
				t.Errorf("New(%+v) = %v, want ErrInvalid", tt.cfg, err)
			}
		})
	}
}

func post(ct, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/things", strings.NewReader(body))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	return r
}

// denialType is the problem type of d, or "" when the request passed.
func denialType(d *policy.Denial) string {
	if d == nil {
		return ""
	}
	return d.Type
}

func TestBodies(t *testing.T) {
	t.Parallel()
	g := mustNew(t, Config{Level: Standard, MaxDepth: 4, SkipFields: []string{"sql", "query"}})
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	_ = mw.WriteField("comment", "O'Brien's order")
	fw, _ := mw.CreateFormFile("upload", "report.pdf")
	_, _ = fw.Write([]byte("%PDF-1.7 ' OR 1=1-- <script>")) // binary content is not inspected
	_ = mw.Close()
	var mpBad bytes.Buffer
	mw = multipart.NewWriter(&mpBad)
	_ = mw.WriteField("comment", "<script>alert(1)</script>")
	_ = mw.Close()

	tests := []struct {
		name, ct, body string
		want           string // problem type, "" to pass
	}{
		{name: "json clean", ct: "application/json", body: `{"a":["O'Brien",1,-2.5e3,true,false,null,{}],"b":{}}`},
		{name: "json vnd suffix", ct: "application/vnd.api+json; charset=utf-8", body: `{"a":"<script>alert(1)</script>"}`, want: "request-blocked"},
		{name: "json escaped script", ct: "application/json", body: `{"a":"\u003cscript\u003ealert(1)\u003c/script\u003e"}`, want: "request-blocked"},
		{name: "json escaped quote", ct: "application/json", body: `{"a":"\u0027 OR 1=1--"}`, want: "request-blocked"},
		{name: "json attack in key", ct: "application/json", body: `{"' OR 1=1--":1}`, want: "request-blocked"},
		{name: "json attack in top-level string", ct: "application/json", body: `"<svg onload=alert(1)>"`, want: "request-blocked"},
		{name: "json surrogate pair", ct: "application/json", body: `{"a":"\ud83d\ude00 and \ud800 lone"}`},
		{name: "json skipped field", ct: "application/json", body: `{"sql":"SELECT * FROM t WHERE a='1' OR 1=1--","query":{"q":"<script>x</script>"},"n":1}`},
		{name: "json skipped field ends", ct: "application/json", body: `{"query":{"q":"<script>x</script>"},"other":"<script>x</script>"}`, want: "request-blocked"},
		{name: "json skip is by name only", ct: "application/json", body: `{"a":"sql","b":"' OR 1=1--"}`, want: "request-blocked"},
		{name: "json depth at limit", ct: "application/json", body: `[[[["x"]]]]`},
		{name: "json too deep", ct: "application/json", body: `[[[[["x"]]]]]`, want: "invalid-request"},
		{name: "json truncated", ct: "application/json", body: `{"a":"b"`, want: "invalid-request"},
		{name: "json trailing data", ct: "application/json", body: `{} {"a":"<script>"}`, want: "invalid-request"},
		{name: "json bad literal", ct: "application/json", body: `{"a":tru}`, want: "invalid-request"},
		{name: "json raw control", ct: "application/json", body: "{\"a\":\"x\x01\"}", want: "invalid-request"},
		{name: "json bad escape", ct: "application/json", body: `{"a":"\x"}`, want: "invalid-request"},
		{name: "json mismatched close", ct: "application/json", body: `{"a":[1}`, want: "invalid-request"},
		{name: "json missing colon", ct: "application/json", body: `{"a" 1}`, want: "invalid-request"},
		{name: "json empty", ct: "application/json", body: ` `, want: "invalid-request"},
		{name: "form clean", ct: "application/x-www-form-urlencoded", body: "a=O%27Brien&b=select+your+plan"},
		{name: "form attack", ct: "application/x-www-form-urlencoded", body: "a=1&b=%27+OR+1%3D1--", want: "request-blocked"},
		{name: "form skipped field", ct: "application/x-www-form-urlencoded", body: "sql=%27+OR+1%3D1--"},
		{name: "text attack", ct: "text/plain", body: "<script>alert(1)</script>", want: "request-blocked"},
		{name: "opaque not inspected", ct: "application/octet-stream", body: "<script>alert(1)</script>"},
		{name: "no content type, not JSON: not inspected", body: "<script>alert(1)</script>"},
		{name: "undeclared JSON", body: "  \n {\"a\":\"<script>alert(1)</script>\"}", want: "request-blocked"},
		{name: "mislabelled JSON", ct: "text/csv", body: `[{"a":"' OR 1=1--"}]`, want: "request-blocked"},
		{name: "undeclared, not quite JSON", body: `{not json <script>`},
		{name: "undeclared JSON after padding", body: strings.Repeat(" ", 300) + `{"a":"' OR 1=1--"}`, want: "request-blocked"},
		{name: "malformed content type", ct: "json", body: "{}", want: "invalid-request"},
		{name: "multipart clean", ct: "multipart/form-data; boundary=" + boundaryOf(mp.Bytes()), body: mp.String()},
		{name: "multipart attack", ct: "multipart/form-data; boundary=" + boundaryOf(mpBad.Bytes()), body: mpBad.String(), want: "request-blocked"},
		{name: "multipart no boundary", ct: "multipart/form-data", body: "x", want: "invalid-request"},
		{name: "xml clean", ct: "application/xml", body: `<order id="7"><name>O'Brien</name><note>a &lt; b</note></order>`},
		{name: "xml attack in text", ct: "text/xml", body: `<order><name>' OR 1=1--</name></order>`, want: "request-blocked"},
		{name: "xml attack in attribute", ct: "application/soap+xml", body: `<o n="&lt;script&gt;alert(1)&lt;/script&gt;"/>`, want: "request-blocked"},
		{name: "xml doctype refused", ct: "application/xml", body: `<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`, want: "invalid-request"},
		{name: "xml malformed", ct: "application/xml", body: `<a><b></a>`, want: "invalid-request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := denialType(g.Check(post(tt.ct, tt.body), nil)); got != tt.want {
				t.Errorf("Check = %q, want %q", got, tt.want)
			}
		})
	}
}

func boundaryOf(b []byte) string {
	line, _, _ := bytes.Cut(b, []byte("\r\n"))
	return strings.TrimPrefix(string(line), "--")
}

func TestRequestParts(t *testing.T) {
	t.Parallel()
	g := mustNew(t, Config{Level: Standard, SkipHeaders: []string{"client-key"}, SkipFields: []string{"filter"}})
	tests := []struct {
		name       string
		target     string
		headers    map[string]string
		wantReason string // "" to pass
	}{
		{name: "clean", target: "/customers/O%27Brien?q=select+your+plan", headers: map[string]string{"User-Agent": "curl/8.5.0"}},
		{name: "query", target: "/x?q=%27+OR+1%3D1--", wantReason: "sqli (fingerprint s&1c) in query"},
		{name: "skipped query field", target: "/x?filter=%27+OR+1%3D1--"},
		{name: "skipped field name still checked", target: "/x?%3Cscript%3E=1", wantReason: "xss (fingerprint html) in query"},
		{name: "query without values", target: "/x?a&&b=&c"},
		{name: "path", target: "/x/%3Cscript%3Ealert(1)%3C%2Fscript%3E", wantReason: "xss (fingerprint html) in path"},
		{name: "path comments across slashes", target: "/x/1'/**/OR/**/1=1--", wantReason: "in path"},
		{name: "user agent", target: "/x", headers: map[string]string{"User-Agent": "' OR 1=1--"}, wantReason: "sqli (fingerprint s&1c) in header User-Agent"},
		{name: "referer query", target: "/x", headers: map[string]string{"Referer": "https://a.example/s?q=%3Cscript%3Ealert(1)%3C/script%3E"}, wantReason: "in header Referer"},
		{name: "cookie", target: "/x", headers: map[string]string{"Cookie": "a=1; b=%27%20OR%201%3D1--"}, wantReason: "in header Cookie"},
		{name: "custom header", target: "/x", headers: map[string]string{"Request-Reason": "<img src=x onerror=alert(1)>"}, wantReason: "in header Request-Reason"},
		{name: "authorization not inspected", target: "/x", headers: map[string]string{"Authorization": "Bearer ' OR 1=1--"}},
		{name: "api key not inspected", target: "/x", headers: map[string]string{"API-Key": "' OR 1=1--"}},
		{name: "configured header not inspected", target: "/x", headers: map[string]string{"Client-Key": "' OR 1=1--"}},
		{name: "accept not inspected", target: "/x", headers: map[string]string{"Accept": "text/html;q=0.9, */*;q=0.8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, tt.target, nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			d := g.Check(r, nil)
			switch {
			case tt.wantReason == "" && d != nil:
				t.Errorf("denied: %v", d)
			case tt.wantReason != "" && d == nil:
				t.Error("passed, want a denial")
			case tt.wantReason != "" && !strings.Contains(d.Reason, tt.wantReason):
				t.Errorf("reason %q, want it to contain %q", d.Reason, tt.wantReason)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	// Eleven strings in the body and one path segment ("things").
	many := `[` + strings.Repeat(`"a",`, 10) + `"a"]`
	tests := []struct {
		name string
		cfg  Config
		r    func() *http.Request
		want *policy.Denial // compared on Status and Type
	}{
		{"strings over budget", Config{Level: Standard, MaxStrings: 11}, func() *http.Request { return post("application/json", many) },
			&policy.Denial{Status: 413, Type: "payload-too-large"}},
		{"strings within budget", Config{Level: Standard, MaxStrings: 12}, func() *http.Request { return post("application/json", many) }, nil},
		{"bytes over budget", Config{Level: Standard, MaxBytes: 100}, func() *http.Request {
			return post("application/json", `{"a":"`+strings.Repeat("x", 101)+`"}`)
		}, &policy.Denial{Status: 413, Type: "payload-too-large"}},
		{"headers count too", Config{Level: Standard, MaxStrings: 2}, func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/x?a=1&b=2", nil)
			r.Header.Set("User-Agent", "x")
			return r
		}, &policy.Denial{Status: 413, Type: "payload-too-large"}},
		{"body over limit", Config{Level: Standard, MaxBody: 8}, func() *http.Request { return post("application/json", `{"a":"123456"}`) },
			&policy.Denial{Status: 413, Type: "payload-too-large"}},
		{"chunked body over limit", Config{Level: Standard, MaxBody: 8}, func() *http.Request {
			r := post("application/json", `{"a":"123456"}`)
			r.ContentLength = -1
			return r
		}, &policy.Denial{Status: 413, Type: "payload-too-large"}},
		{"gateway's max bytes reader", Config{Level: Standard}, func() *http.Request {
			r := post("application/json", `{"a":"123456"}`)
			r.ContentLength = -1
			r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 4)
			return r
		}, &policy.Denial{Status: 413, Type: "payload-too-large"}},
		{"compressed body", Config{Level: Standard}, func() *http.Request {
			r := post("application/json", "\x1f\x8b")
			r.Header.Set("Content-Encoding", "gzip")
			return r
		}, &policy.Denial{Status: 415, Type: "unsupported-media-type"}},
		{"padding past the limit", Config{Level: Standard, MaxBody: 100}, func() *http.Request {
			r := post("", strings.Repeat(" ", 200)+"{}")
			r.ContentLength = -1
			return r
		}, &policy.Denial{Status: 413, Type: "payload-too-large"}},
		{"two content types", Config{Level: Standard}, func() *http.Request {
			r := post("application/octet-stream", `{"a":"<script>alert(1)</script>"}`)
			r.Header.Add("Content-Type", "application/json")
			return r
		}, &policy.Denial{Status: 400, Type: "invalid-request"}},
		{"two codings", Config{Level: Standard}, func() *http.Request {
			r := post("application/json", "{}")
			r.Header.Add("Content-Encoding", "identity")
			r.Header.Add("Content-Encoding", "gzip")
			return r
		}, &policy.Denial{Status: 415, Type: "unsupported-media-type"}},
		{"identity coding", Config{Level: Standard}, func() *http.Request {
			r := post("application/json", "{}")
			r.Header.Set("Content-Encoding", "identity")
			return r
		}, nil},
		{"broken body", Config{Level: Standard}, func() *http.Request {
			r := post("application/json", "")
			r.ContentLength = -1
			r.Body = io.NopCloser(errReader{})
			return r
		}, &policy.Denial{Status: 400, Type: "invalid-request"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := mustNew(t, tt.cfg)
			d := g.Check(tt.r(), nil)
			var got *policy.Denial
			if d != nil {
				got = &policy.Denial{Status: d.Status, Type: d.Type}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("denial (-want +got):\n%s", diff)
			}
		})
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestReadBody(t *testing.T) {
	t.Parallel()
	r := post("application/json", `{"a":1}`)
	b, err := ReadBody(r, 100)
	if err != nil || string(b) != `{"a":1}` {
		t.Fatalf("ReadBody = %q, %v", b, err)
	}
	buffered, ok := r.Body.(Buffered)
	if !ok {
		t.Fatalf("r.Body is %T, want a Buffered", r.Body)
	}
	// A second reader gets the same bytes without reading again.
	b2, err := ReadBody(r, 100)
	if err != nil || &b2[0] != &b[0] || &buffered.Bytes()[0] != &b[0] {
		t.Errorf("second ReadBody did not reuse the buffer: %v", err)
	}
	if _, err := ReadBody(r, 3); !errors.Is(err, ErrBodyTooLarge) {
		t.Errorf("ReadBody over the limit of a buffered body = %v", err)
	}
	// The upstream still receives the whole body.
	rest, _ := io.ReadAll(r.Body)
	if string(rest) != `{"a":1}` {
		t.Errorf("body after ReadBody = %q", rest)
	}
	if err := r.Body.Close(); err != nil {
		t.Error(err)
	}
	if b, err := ReadBody(httptest.NewRequest(http.MethodGet, "/", nil), 10); b != nil || err != nil {
		t.Errorf("ReadBody without a body = %q, %v", b, err)
	}
}

func TestEnforce(t *testing.T) {
	t.Parallel()
	g := mustNew(t, Config{Level: Standard})
	var got string
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = string(b)
	})
	for _, c := range []struct{ ct, body string }{
		{"application/json", `{"name":"O'Brien"}`},
		{"", "  \n  " + strings.Repeat("not JSON, peeked and put back. ", 10)},
		{"", `  {"undeclared":"JSON, read whole"}`},
		{"application/octet-stream", "\x00\x01 binary"},
	} {
		if err := g.Enforce(httptest.NewRecorder(), post(c.ct, c.body), next); err != nil {
			t.Fatal(err)
		}
		if got != c.body {
			t.Errorf("upstream received %q, want %q", got, c.body)
		}
	}
	err := g.Enforce(httptest.NewRecorder(), post("application/json", `{"x":"' OR 1=1--"}`), next)
	var d *policy.Denial
	if !errors.As(err, &d) || d.Status != http.StatusForbidden {
		t.Errorf("Enforce = %v, want a 403 denial", err)
	}
	rec := httptest.NewRecorder()
	policy.Render(rec, httptest.NewRequest(http.MethodPost, "/", nil), d)
	var problem map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &problem); err != nil || problem["type"] != policy.TypeBase+"request-blocked" {
		t.Errorf("rendered %s (%v)", rec.Body, err)
	}
	if strings.Contains(rec.Body.String(), "OR 1") {
		t.Errorf("the response quotes the payload: %s", rec.Body)
	}
}

func TestCheckBody(t *testing.T) {
	t.Parallel()
	g := mustNew(t, Config{Level: Standard, MaxBody: 64})
	tests := []struct {
		ct, body, want string
	}{
		{"application/json", `{"a":"O'Brien"}`, ""},
		{"application/json", `{"a":"<script>alert(1)</script>"}`, "request-blocked"},
		{"application/json", `{"a":`, "invalid-request"},
		{"nonsense", `{}`, "invalid-request"},
		{"application/json", `"` + strings.Repeat("x", 64) + `"`, "payload-too-large"},
	}
	for _, tt := range tests {
		if got := denialType(g.CheckBody(tt.ct, []byte(tt.body))); got != tt.want {
			t.Errorf("CheckBody(%s, %s) = %q, want %q", tt.ct, tt.body, got, tt.want)
		}
	}
}

// FuzzJSON: the walker never panics, and accepts every valid document within its depth.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `"x"`, `{"a":[1,"b",{"c":null}]}`, `{"a":"\u00e9\ud83d\ude00"}`, `[[[[`, `{"a":1,}`, `1e5`, `"\`} {
		f.Add([]byte(s))
	}
	g, err := New(Config{Level: Standard, MaxDepth: 16, MaxStrings: 1 << 20, MaxBytes: 1 << 30})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := newScan(g)
		defer s.release()
		res := s.json(b)
		if res == jsonMalformed && json.Valid(b) && depthOf(b) <= 16 {
			t.Errorf("valid JSON %q reported malformed", b)
		}
	})
}

// depthOf is the nesting depth of a valid JSON document.
func depthOf(b []byte) int {
	d := json.NewDecoder(bytes.NewReader(b))
	depth, deepest := 0, 0
	for {
		tok, err := d.Token()
		if err != nil {
			return deepest
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			deepest = max(deepest, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// TestConcurrent shares one guard between goroutines, as the gateway does (run with -race).
func TestConcurrent(t *testing.T) {
	t.Parallel()
	g := mustNew(t, Config{Level: Standard})
	bodies := []struct{ body, want string }{
		{`{"name":"O'Brien","note":"a < b and c > d"}`, ""},
		{`{"name":"\u0027 OR 1=1--"}`, "request-blocked"},
		{`{"html":"<img src=x onerror=alert(1)>"}`, "request-blocked"},
		{`{"text":"` + strings.Repeat("kia ora ", 500) + `"}`, ""},
	}
	done := make(chan error)
	for w := range 4 {
		go func() {
			var err error
			for i := range 200 {
				c := bodies[(w+i)%len(bodies)]
				if got := denialType(g.Check(post("application/json", c.body), nil)); got != c.want && err == nil {
					err = errors.New("body " + c.body[:12] + ": got " + got + ", want " + c.want)
				}
			}
			done <- err
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
