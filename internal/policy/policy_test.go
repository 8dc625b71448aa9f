package policy

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki"
)

func TestRender(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		method     string
		d          Denial
		wantHeader http.Header
		wantBody   map[string]any // nil: no body
	}{
		{
			name:   "challenges",
			method: http.MethodGet,
			d: Denial{Status: 401, Type: "invalid-token", Title: "Invalid access token", Detail: "nope",
				Challenge: `Bearer realm="tiaki"`, MoreChallenges: []string{`APIKey header="API-Key"`}, Reason: "secret-free"},
			wantHeader: http.Header{
				"Content-Type":           {"application/problem+json"},
				"Cache-Control":          {"no-store"},
				"X-Content-Type-Options": {"nosniff"},
				"Www-Authenticate":       {`Bearer realm="tiaki"`, `APIKey header="API-Key"`},
			},
			wantBody: map[string]any{
				"type": TypeBase + "invalid-token", "title": "Invalid access token", "status": 401.0,
				"detail": "nope", "errors": []any{map[string]any{"code": "invalid-token", "description": "nope"}},
			},
		},
		{
			name:   "allow and retry-after, default title",
			method: http.MethodPost,
			d:      Denial{Status: 405, Type: "method-not-allowed", Allow: []string{"GET", "HEAD"}, RetryAfter: 1500 * time.Millisecond},
			wantHeader: http.Header{
				"Content-Type":           {"application/problem+json"},
				"Cache-Control":          {"no-store"},
				"X-Content-Type-Options": {"nosniff"},
				"Allow":                  {"GET, HEAD"},
				"Retry-After":            {"2"},
			},
			wantBody: map[string]any{
				"type": TypeBase + "method-not-allowed", "title": "Method Not Allowed", "status": 405.0,
				"errors": []any{map[string]any{"code": "method-not-allowed", "description": "Method Not Allowed"}},
			},
		},
		{
			name:   "HEAD has no body",
			method: http.MethodHead,
			d:      Denial{Status: 404, Type: "not-found"},
			wantHeader: http.Header{
				"Content-Type":           {"application/problem+json"},
				"Cache-Control":          {"no-store"},
				"X-Content-Type-Options": {"nosniff"},
			},
		},
		{
			name:   "no type and a bad status",
			method: http.MethodGet,
			d:      Denial{Status: 200, Detail: `<script>"x"</script>` + "\u2028\xff"},
			wantHeader: http.Header{
				"Content-Type":           {"application/problem+json"},
				"Cache-Control":          {"no-store"},
				"X-Content-Type-Options": {"nosniff"},
			},
			wantBody: map[string]any{
				"type": "about:blank", "title": "Internal Server Error", "status": 500.0,
				"detail": `<script>"x"</script>` + "\u2028\ufffd",
				"errors": []any{map[string]any{"code": "500", "description": `<script>"x"</script>` + "\u2028\ufffd"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			Render(rec, httptest.NewRequest(tt.method, "/x", nil), &tt.d)
			h := rec.Header().Clone()
			h.Del("Content-Length")
			if diff := cmp.Diff(tt.wantHeader, h); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
			wantStatus := tt.d.Status
			if wantStatus < 400 {
				wantStatus = 500
			}
			if rec.Code != wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, wantStatus)
			}
			body := rec.Body.String()
			if tt.wantBody == nil {
				if body != "" {
					t.Errorf("body = %q, want none", body)
				}
				return
			}
			if strings.ContainsAny(body, "<>") {
				t.Errorf("body has unescaped HTML: %s", body)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, body)
			}
			if diff := cmp.Diff(tt.wantBody, got); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenderAllocs(t *testing.T) {
	d := &Denial{Status: 401, Type: "invalid-api-key", Detail: "The API key is not valid."}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	w := &discardWriter{h: http.Header{}}
	n := testing.AllocsPerRun(100, func() { Render(w, r, d) })
	// Content-Length's value and its slice; everything else is shared or on the stack.
	if n > 2 {
		t.Errorf("Render allocates %v times, want at most 2", n)
	}
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// fakeAuth is an Authenticator driven by a header: absent → not found; "ok" → passes; other
// values → denied.
type fakeAuth struct {
	header string
	kind   tiaki.CredentialKind
}

func (f fakeAuth) Authenticate(r *http.Request, p *tiaki.Principal) (bool, *Denial) {
	v := r.Header.Get(f.header)
	switch v {
	case "":
		return false, nil
	case "ok":
		Admit(p, f.kind, f.header+"-consumer", f.header+"-id", time.Time{})
		return true, nil
	}
	return true, &Denial{Status: 401, Type: "bad-" + f.header, Challenge: f.header + " bad"}
}

func (f fakeAuth) Missing() *Denial {
	return &Denial{Status: 401, Type: f.header + "-required", Challenge: f.header}
}

func TestAnyOf(t *testing.T) {
	t.Parallel()
	any, err := AnyOf(fakeAuth{"Key", tiaki.CredentialAPIKey}, fakeAuth{"Token", tiaki.CredentialBearer})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		headers   map[string]string
		wantType  string // "" when it passes
		wantCreds []tiaki.CredentialKind
		wantChall []string
	}{
		{name: "none", wantType: "Key-required", wantChall: []string{"Key", "Token"}},
		{name: "key", headers: map[string]string{"Key": "ok"}, wantCreds: []tiaki.CredentialKind{"api_key"}},
		{name: "token", headers: map[string]string{"Token": "ok"}, wantCreds: []tiaki.CredentialKind{"bearer"}},
		{name: "both", headers: map[string]string{"Key": "ok", "Token": "ok"}, wantCreds: []tiaki.CredentialKind{"api_key", "bearer"}},
		{name: "good key, bad token", headers: map[string]string{"Key": "ok", "Token": "forged"}, wantType: "bad-Token", wantChall: []string{"Token bad"}},
		{name: "bad key", headers: map[string]string{"Key": "forged"}, wantType: "bad-Key", wantChall: []string{"Key bad"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			var p tiaki.Principal
			d := any.Check(r, &p)
			if tt.wantType == "" {
				if d != nil {
					t.Fatalf("denied: %v", d)
				}
				if diff := cmp.Diff(tt.wantCreds, p.Credentials); diff != "" {
					t.Errorf("credentials (-want +got):\n%s", diff)
				}
				return
			}
			if d == nil {
				t.Fatal("passed, want denial")
			}
			got := append([]string{d.Challenge}, d.MoreChallenges...)
			if d.Type != tt.wantType || !cmp.Equal(got, tt.wantChall) {
				t.Errorf("denial %s %v, want %s %v", d.Type, got, tt.wantType, tt.wantChall)
			}
		})
	}
	if _, err := AnyOf(); err == nil {
		t.Error("AnyOf() with no authenticators: no error")
	}
}

func TestApply(t *testing.T) {
	t.Parallel()
	any, err := AnyOf(fakeAuth{"Token", tiaki.CredentialBearer})
	if err != nil {
		t.Fatal(err)
	}
	var seen *tiaki.Principal
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = tiaki.PrincipalFrom(r.Context()) })

	prev := &tiaki.Principal{Consumer: "from-key", CredentialID: "k1", Credentials: make([]tiaki.CredentialKind, 1, 8)}
	prev.Credentials[0] = tiaki.CredentialAPIKey
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Token", "ok")
	r = r.WithContext(tiaki.WithPrincipal(r.Context(), prev))
	if err := any.Enforce(httptest.NewRecorder(), r, next); err != nil {
		t.Fatal(err)
	}
	want := &tiaki.Principal{Consumer: "from-key", CredentialID: "k1", Credentials: []tiaki.CredentialKind{"api_key", "bearer"}}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("principal (-want +got):\n%s", diff)
	}
	if len(prev.Credentials) != 1 || prev.Credentials[:2][1] != "" {
		t.Errorf("Apply wrote into the earlier principal: %v", prev.Credentials[:2])
	}

	r.Header.Set("Token", "forged")
	err = any.Enforce(httptest.NewRecorder(), r, next)
	var d *Denial
	if !errorsAs(err, &d) || d.Type != "bad-Token" {
		t.Errorf("Enforce = %v, want the bad-Token denial", err)
	}
}

func errorsAs(err error, d **Denial) bool {
	x, ok := err.(*Denial)
	*d = x
	return ok
}

func TestCache(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	c := NewCache[int](8)
	k := Fingerprint("a")
	c.Put(k, 1, now.Add(time.Second), now)
	if v, ok := c.Get(k, now); !ok || v != 1 {
		t.Errorf("Get = %v, %v; want 1, true", v, ok)
	}
	if _, ok := c.Get(k, now.Add(time.Second)); ok {
		t.Error("entry still valid at its expiry")
	}
	c.Put(Fingerprint("past"), 2, now, now)
	if _, ok := c.Get(Fingerprint("past"), now.Add(-time.Hour)); ok {
		t.Error("an entry expiring now was stored")
	}
	for i := range 100 {
		c.Put(Fingerprint(strings.Repeat("x", i)), i, now.Add(time.Minute), now)
		if c.Len() > 8 {
			t.Fatalf("cache holds %d entries, bound is 8", c.Len())
		}
	}
	c.DeleteFunc(func(int) bool { return true })
	if c.Len() != 0 {
		t.Errorf("after DeleteFunc the cache holds %d entries", c.Len())
	}
	if Fingerprint("x") == Fingerprint("y") {
		t.Error("fingerprints collide")
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `"\<>&`, "\u2028\u2029", "\xff\xfe", "\x00\x1f\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("appendString(%q) = %s: %v", s, b, err)
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); utf8ValidSame(s) && got != want {
			t.Errorf("round trip of %q gave %q", s, got)
		}
	})
}

// utf8ValidSame reports whether s has no invalid UTF-8, where replacement is per byte and so
// may differ from ToValidUTF8's per-run replacement.
func utf8ValidSame(s string) bool { return strings.ToValidUTF8(s, "") == s }
