package cors

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func mustNew(t testing.TB, cfg Config) *Rules {
	t.Helper()
	ru, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ru
}

var permits = Config{
	AllowOrigins:  []string{"https://App.Example.govt.nz:443", "http://localhost:3000", "https://*.apps.govt.nz"},
	AllowMethods:  []string{"GET", "POST"},
	AllowHeaders:  []string{"Authorization", "Content-Type", "API-Key"},
	ExposeHeaders: []string{"RateLimit", "Response-Correlation-Id"},
	MaxAge:        10 * time.Minute,
}

func preflight(origin, method, headers string) *http.Request {
	r := httptest.NewRequest(http.MethodOptions, "/permits/applications", nil)
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	if method != "" {
		r.Header.Set("Access-Control-Request-Method", method)
	}
	if headers != "" {
		r.Header.Set("Access-Control-Request-Headers", headers)
	}
	return r
}

func TestPreflight(t *testing.T) {
	t.Parallel()
	ru := mustNew(t, permits)
	withCreds := permits
	withCreds.AllowCredentials = true
	creds := mustNew(t, withCreds)
	anyOrigin := mustNew(t, Config{AllowOrigins: []string{"*"}, AllowMethods: []string{"GET"}, AllowHeaders: []string{"*"}})
	tests := []struct {
		name      string
		ru        *Rules
		r         *http.Request
		preflight bool
		refused   bool
		want      http.Header // the answer's headers when allowed
	}{
		{name: "allowed", ru: ru, r: preflight("https://app.example.govt.nz", "POST", "content-type,authorization"), preflight: true,
			want: http.Header{"Access-Control-Allow-Origin": {"https://app.example.govt.nz"}, "Access-Control-Allow-Methods": {"GET, POST, HEAD"},
				"Access-Control-Allow-Headers": {"content-type, authorization"}, "Access-Control-Max-Age": {"600"},
				"Vary": {"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}}},
		{name: "no headers asked for", ru: ru, r: preflight("http://localhost:3000", "GET", ""), preflight: true,
			want: http.Header{"Access-Control-Allow-Origin": {"http://localhost:3000"}, "Access-Control-Allow-Methods": {"GET, POST, HEAD"},
				"Access-Control-Max-Age": {"600"}, "Vary": {"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}}},
		{name: "subdomain wildcard", ru: ru, r: preflight("https://a.b.apps.govt.nz", "GET", "API-Key"), preflight: true,
			want: http.Header{"Access-Control-Allow-Origin": {"https://a.b.apps.govt.nz"}, "Access-Control-Allow-Methods": {"GET, POST, HEAD"},
				"Access-Control-Allow-Headers": {"api-key"}, "Access-Control-Max-Age": {"600"},
				"Vary": {"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}}},
		{name: "with credentials: the origin, never *", ru: creds, r: preflight("https://app.example.govt.nz", "GET", ""), preflight: true,
			want: http.Header{"Access-Control-Allow-Origin": {"https://app.example.govt.nz"}, "Access-Control-Allow-Credentials": {"true"},
				"Access-Control-Allow-Methods": {"GET, POST, HEAD"}, "Access-Control-Max-Age": {"600"},
				"Vary": {"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}}},
		{name: "any origin, any header", ru: anyOrigin, r: preflight("https://whoever.example", "GET", "x-custom"), preflight: true,
			want: http.Header{"Access-Control-Allow-Origin": {"*"}, "Access-Control-Allow-Methods": {"GET, HEAD"},
				"Access-Control-Allow-Headers": {"x-custom"}, "Vary": {"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}}},

		{name: "HEAD with GET", ru: ru, r: preflight("http://localhost:3000", "HEAD", ""), preflight: true,
			want: http.Header{"Access-Control-Allow-Origin": {"http://localhost:3000"}, "Access-Control-Allow-Methods": {"GET, POST, HEAD"},
				"Access-Control-Max-Age": {"600"}, "Vary": {"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}}},
		{name: "other origin", ru: ru, r: preflight("https://evil.example", "GET", ""), preflight: true, refused: true},
		{name: "scheme differs", ru: ru, r: preflight("http://app.example.govt.nz", "GET", ""), preflight: true, refused: true},
		{name: "port differs", ru: ru, r: preflight("https://app.example.govt.nz:8443", "GET", ""), preflight: true, refused: true},
		{name: "suffix is not a subdomain", ru: ru, r: preflight("https://evilapps.govt.nz", "GET", ""), preflight: true, refused: true},
		{name: "wildcard does not cover the apex", ru: ru, r: preflight("https://apps.govt.nz", "GET", ""), preflight: true, refused: true},
		{name: "wildcard with a path smuggled in", ru: ru, r: preflight("https://evil.com/x.apps.govt.nz", "GET", ""), preflight: true, refused: true},
		{name: "null origin", ru: ru, r: preflight("null", "GET", ""), preflight: true, refused: true},
		{name: "method not allowed", ru: ru, r: preflight("https://app.example.govt.nz", "DELETE", ""), preflight: true, refused: true},
		{name: "methods are case-sensitive", ru: ru, r: preflight("https://app.example.govt.nz", "post", ""), preflight: true, refused: true},
		{name: "header not allowed", ru: ru, r: preflight("https://app.example.govt.nz", "GET", "content-type, x-debug"), preflight: true, refused: true},
		{name: "wildcard headers do not cover Authorization", ru: anyOrigin, r: preflight("https://x.example", "GET", "authorization"), preflight: true, refused: true},
		{name: "too many headers", ru: anyOrigin, r: preflight("https://x.example", "GET", strings.Repeat("a,", maxRequestHeaders+1)), preflight: true, refused: true},

		{name: "OPTIONS without Origin", ru: ru, r: preflight("", "GET", "")},
		{name: "OPTIONS without a requested method", ru: ru, r: preflight("https://app.example.govt.nz", "", "")},
		{name: "GET with Origin", ru: ru, r: func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Origin", "https://app.example.govt.nz")
			r.Header.Set("Access-Control-Request-Method", "GET")
			return r
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			pre, d := tt.ru.Preflight(h, tt.r)
			if pre != tt.preflight || (d != nil) != tt.refused {
				t.Fatalf("Preflight = %v, %v; want preflight %v, refused %v", pre, d, tt.preflight, tt.refused)
			}
			if d != nil && (d.Status != http.StatusForbidden || d.Type != "cors-refused") {
				t.Errorf("denial %d %s, want 403 cors-refused", d.Status, d.Type)
			}
			want := tt.want
			if want == nil {
				want = http.Header{} // refused or not a preflight: no CORS headers at all
			}
			if diff := cmp.Diff(want, h); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestActual(t *testing.T) {
	t.Parallel()
	ru := mustNew(t, permits)
	withCreds := permits
	withCreds.AllowCredentials = true
	creds := mustNew(t, withCreds)
	anyOrigin := mustNew(t, Config{AllowOrigins: []string{"*"}, AllowMethods: []string{"GET"}, ExposeHeaders: []string{"RateLimit"}})
	upstream := func() http.Header {
		// An upstream that does its own CORS, wrongly: the gateway's policy replaces it.
		return http.Header{"Content-Type": {"application/json"}, "Vary": {"Accept-Encoding"},
			"Access-Control-Allow-Origin": {"*"}, "Access-Control-Allow-Credentials": {"true"}}
	}
	tests := []struct {
		name   string
		ru     *Rules
		origin string
		want   http.Header
	}{
		{name: "allowed origin", ru: ru, origin: "https://app.example.govt.nz", want: http.Header{"Content-Type": {"application/json"},
			"Vary": {"Accept-Encoding", "Origin"}, "Access-Control-Allow-Origin": {"https://app.example.govt.nz"},
			"Access-Control-Expose-Headers": {"RateLimit, Response-Correlation-Id"}}},
		{name: "with credentials", ru: creds, origin: "https://x.apps.govt.nz", want: http.Header{"Content-Type": {"application/json"},
			"Vary": {"Accept-Encoding", "Origin"}, "Access-Control-Allow-Origin": {"https://x.apps.govt.nz"},
			"Access-Control-Allow-Credentials": {"true"}, "Access-Control-Expose-Headers": {"RateLimit, Response-Correlation-Id"}}},
		{name: "disallowed origin: no CORS headers", ru: ru, origin: "https://evil.example", want: http.Header{"Content-Type": {"application/json"},
			"Vary": {"Accept-Encoding", "Origin"}}},
		{name: "no origin: no CORS headers, still Vary", ru: ru, want: http.Header{"Content-Type": {"application/json"},
			"Vary": {"Accept-Encoding", "Origin"}}},
		{name: "any origin: *, no Vary needed", ru: anyOrigin, origin: "https://whoever.example", want: http.Header{"Content-Type": {"application/json"},
			"Vary": {"Accept-Encoding"}, "Access-Control-Allow-Origin": {"*"}, "Access-Control-Expose-Headers": {"RateLimit"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := upstream()
			tt.ru.Actual(h, tt.origin)
			if diff := cmp.Diff(tt.want, h); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
		})
	}

	h := http.Header{"Vary": {"accept-encoding, origin"}}
	ru.Actual(h, "")
	if diff := cmp.Diff([]string{"accept-encoding, origin"}, h["Vary"]); diff != "" {
		t.Errorf("Origin added to a Vary that has it (-want +got):\n%s", diff)
	}
}

func TestParseOrigin(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"*":                               "*",
		"https://App.Example.govt.nz":     "https://app.example.govt.nz",
		"HTTPS://app.example.govt.nz:443": "https://app.example.govt.nz",
		"https://app.example.govt.nz/":    "https://app.example.govt.nz",
		"http://localhost:80":             "http://localhost",
		"http://localhost:03000":          "http://localhost:3000",
		"https://*.Example.govt.nz:8443":  "https://*.example.govt.nz:8443",
		"http://[::1]:8080":               "http://[::1]:8080",
		"capacitor://localhost":           "capacitor://localhost",
	} {
		got, err := ParseOrigin(in)
		if err != nil || got != want {
			t.Errorf("ParseOrigin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"", "null", "NULL", "app.example.govt.nz", "https://", "https://app.example.govt.nz/path", "https://app.example.govt.nz?q",
		"https://user@app.example.govt.nz", "https://app.*.govt.nz", "https://*.nz", "https://a*.example.govt.nz", "**",
		"https://app.example.govt.nz:0", "https://app.example.govt.nz:70000", "https://app example", "https://āpp.example.govt.nz",
	} {
		if got, err := ParseOrigin(in); err == nil {
			t.Errorf("ParseOrigin(%q) = %q, want an error", in, got)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"no origins":                   {AllowMethods: []string{"GET"}},
		"no methods":                   {AllowOrigins: []string{"https://a.example"}},
		"* with credentials":           {AllowOrigins: []string{"https://a.example", "*"}, AllowMethods: []string{"GET"}, AllowCredentials: true},
		"* headers with credentials":   {AllowOrigins: []string{"https://a.example"}, AllowMethods: []string{"GET"}, AllowHeaders: []string{"*"}, AllowCredentials: true},
		"* exposed with credentials":   {AllowOrigins: []string{"https://a.example"}, AllowMethods: []string{"GET"}, ExposeHeaders: []string{"*"}, AllowCredentials: true},
		"bad origin":                   {AllowOrigins: []string{"https://a.example/x"}, AllowMethods: []string{"GET"}},
		"bad method":                   {AllowOrigins: []string{"*"}, AllowMethods: []string{"GE T"}},
		"bad header":                   {AllowOrigins: []string{"*"}, AllowMethods: []string{"GET"}, AllowHeaders: []string{"a:b"}},
		"negative max age":             {AllowOrigins: []string{"*"}, AllowMethods: []string{"GET"}, MaxAge: -time.Second},
		"max age over the browser cap": {AllowOrigins: []string{"*"}, AllowMethods: []string{"GET"}, MaxAge: 25 * time.Hour},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

func TestActualAllocs(t *testing.T) {
	ru := mustNew(t, permits)
	h := http.Header{}
	n := testing.AllocsPerRun(100, func() {
		clear(h)
		ru.Actual(h, "https://evil.example")
	})
	if n > 1 { // the Vary slice
		t.Errorf("Actual for a disallowed origin allocates %v times", n)
	}
}

func FuzzParseOrigin(f *testing.F) {
	for _, s := range []string{"https://app.example.govt.nz", "https://*.example.govt.nz:8443", "http://[::1]:80", "null", "*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseOrigin(s)
		if err != nil {
			return
		}
		// Normal forms are fixed points, and what an exact entry allows is exactly itself.
		if again, err := ParseOrigin(n); err != nil || again != n {
			t.Fatalf("ParseOrigin(%q) = %q, then %q, %v", s, n, again, err)
		}
		if n == "*" || strings.Contains(n, "*") {
			return
		}
		ru, err := New(Config{AllowOrigins: []string{s}, AllowMethods: []string{"GET"}})
		if err != nil {
			t.Fatal(err)
		}
		if !ru.allowed(n) || ru.allowed(n+"x") || ru.allowed("https://evil.example") && n != "https://evil.example" {
			t.Fatalf("%q allows the wrong origins", s)
		}
	})
}

func BenchmarkActual(b *testing.B) {
	ru := mustNew(b, permits)
	h := http.Header{"Content-Type": {"application/json"}}
	b.ReportAllocs()
	for b.Loop() {
		ru.Actual(h, "https://app.example.govt.nz")
		delete(h, "Vary")
	}
}

func BenchmarkPreflight(b *testing.B) {
	ru := mustNew(b, permits)
	r := preflight("https://app.example.govt.nz", "POST", "content-type, authorization")
	b.ReportAllocs()
	for b.Loop() {
		ru.Preflight(http.Header{}, r)
	}
}
