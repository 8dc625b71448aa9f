package scope

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/oauth"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	g, err := New(Config{ByMethod: map[string][]string{
		"get":  {"payments:read"},
		"POST": {"payments:write", "payments:read"},
		"*":    {"payments:admin"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	reader := &tiaki.Principal{Consumer: "c", Scopes: []string{"payments:read"}, Credentials: []tiaki.CredentialKind{tiaki.CredentialBearer}}
	noScopes := &tiaki.Principal{Consumer: "c", Credentials: []tiaki.CredentialKind{tiaki.CredentialBearer}}
	keyOnly := &tiaki.Principal{Consumer: "c", Credentials: []tiaki.CredentialKind{tiaki.CredentialAPIKey}}
	keyWriter := &tiaki.Principal{Consumer: "c", Scopes: []string{"payments:read", "payments:write"},
		Credentials: []tiaki.CredentialKind{tiaki.CredentialAPIKey}}
	certOnly := &tiaki.Principal{Consumer: "c", Credentials: []tiaki.CredentialKind{tiaki.CredentialMTLS}}
	tests := []struct {
		name          string
		method        string
		p             *tiaki.Principal
		wantStatus    int // 0 when it passes
		wantChallenge string
	}{
		{name: "GET with read", method: "GET", p: reader},
		{name: "HEAD needs what GET needs", method: "HEAD", p: reader},
		// Issue #11 item 13: a method's scopes apply to whatever credential authorised the
		// request, an API key as much as a token.
		{name: "API key without scopes on a scoped method", method: "POST", p: keyOnly, wantStatus: 403,
			wantChallenge: `Bearer realm="tiaki", error="insufficient_scope", scope="payments:write payments:read"`},
		{name: "API key holding the scopes", method: "POST", p: keyWriter},
		{name: "the fallback applies to API keys too", method: "PUT", p: keyOnly, wantStatus: 403,
			wantChallenge: `Bearer realm="tiaki", error="insufficient_scope", scope="payments:admin"`},
		{name: "client certificate alone holds no scopes", method: "GET", p: certOnly, wantStatus: 403,
			wantChallenge: `Bearer realm="tiaki", error="insufficient_scope", scope="payments:read"`},
		{name: "HEAD without scopes", method: "HEAD", p: noScopes, wantStatus: 403,
			wantChallenge: `Bearer realm="tiaki", error="insufficient_scope", scope="payments:read"`},
		{name: "POST needs both", method: "POST", p: reader, wantStatus: 403,
			wantChallenge: `Bearer realm="tiaki", error="insufficient_scope", scope="payments:write payments:read"`},
		{name: "fallback", method: "DELETE", p: reader, wantStatus: 403,
			wantChallenge: `Bearer realm="tiaki", error="insufficient_scope", scope="payments:admin"`},
		{name: "not authenticated", method: "GET", p: &tiaki.Principal{}, wantStatus: 401, wantChallenge: `Bearer realm="tiaki"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := g.Check(httptest.NewRequest(tt.method, "/", nil), tt.p)
			if tt.wantStatus == 0 {
				if d != nil {
					t.Fatalf("denied: %v", d)
				}
				return
			}
			if d == nil || d.Status != tt.wantStatus || d.Challenge != tt.wantChallenge {
				t.Fatalf("got %+v\nwant %d %q", d, tt.wantStatus, tt.wantChallenge)
			}
		})
	}

	open, err := New(Config{ByMethod: map[string][]string{"POST": {"w"}}})
	if err != nil {
		t.Fatal(err)
	}
	if d := open.Check(httptest.NewRequest("GET", "/", nil), &tiaki.Principal{}); d != nil {
		t.Errorf("a method without scopes was refused: %v", d)
	}
	if d := open.Check(httptest.NewRequest("GET", "/", nil), keyOnly); d != nil {
		t.Errorf("a key without scopes was refused on a method that needs none: %v", d)
	}
}

func TestEnforce(t *testing.T) {
	t.Parallel()
	g, err := New(Config{ByMethod: map[string][]string{"GET": {"r"}}})
	if err != nil {
		t.Fatal(err)
	}
	called := false
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true })
	r := httptest.NewRequest("GET", "/", nil)
	r = r.WithContext(tiaki.WithPrincipal(r.Context(), &tiaki.Principal{Scopes: []string{"r"}, Credentials: []tiaki.CredentialKind{"bearer"}}))
	if err := g.Enforce(httptest.NewRecorder(), r, next); err != nil || !called {
		t.Errorf("Enforce = %v, called %v", err, called)
	}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"bad method":  {ByMethod: map[string][]string{"GE T": {"a"}}},
		"bad scope":   {ByMethod: map[string][]string{"GET": {`a"b`}}},
		"empty scope": {ByMethod: map[string][]string{"GET": {""}}},
		"too long":    {ByMethod: map[string][]string{"GET": {strings.Repeat("s", oauth.MaxScopeLength+1)}}},
		"duplicate":   {ByMethod: map[string][]string{"GET": {"a"}, "get": {"b"}}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

func TestCheckAllocs(t *testing.T) {
	g, err := New(Config{ByMethod: map[string][]string{"GET": {"a", "b"}}})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	p := &tiaki.Principal{Scopes: []string{"b", "a"}, Credentials: []tiaki.CredentialKind{"bearer"}}
	if n := testing.AllocsPerRun(100, func() { g.Check(r, p) }); n != 0 {
		t.Errorf("Check allocates %v times", n)
	}
}
