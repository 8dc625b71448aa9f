package bearer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
)

const (
	opaque      = "opaque-Zq3vY8kM2pT7wX1nB5cR9dF4gH6jL0sA"
	gatewayID   = "tiaki-gateway"
	gatewayPass = "s3cret/with:odd&chars"
)

// activeDoc is an RFC 7662 response for a live token for this API.
func activeDoc(now time.Time) map[string]any {
	return map[string]any{
		"active": true, "client_id": "billing-service", "sub": "alice", "scope": "payments:read",
		"iss": issuer, "aud": []string{audience}, "exp": now.Add(10 * time.Minute).Unix(),
		"iat": now.Unix(), "jti": "opaque-jti", "token_type": "Bearer",
	}
}

// introspectionServer is an issuer's RFC 7662 endpoint over TLS that answers from doc and
// counts calls; gate, when set, holds every call until it is closed.
type introspectionServer struct {
	srv   *httptest.Server
	calls atomic.Int32
	mu    sync.Mutex
	doc   map[string]any
	code  int
	gate  chan struct{}
	seen  chan struct{} // receives once per call, before the gate
}

func newIntrospectionServer(t *testing.T, doc map[string]any) *introspectionServer {
	t.Helper()
	s := &introspectionServer{doc: doc, code: 200, seen: make(chan struct{}, 64)}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		s.seen <- struct{}{}
		id, secret, ok := r.BasicAuth()
		// RFC 6749 §2.3.1: the halves arrive form-encoded inside Basic.
		if !ok || id != gatewayID || secret != "s3cret%2Fwith%3Aodd%26chars" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodPost || r.PostFormValue("token") != opaque || r.PostFormValue("token_type_hint") != "access_token" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		gate, code, doc := s.gate, s.code, s.doc
		s.mu.Unlock()
		if gate != nil {
			<-gate
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(doc)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *introspectionServer) set(code int, doc map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.code, s.doc = code, doc
}

func remoteVerifier(t *testing.T, s *introspectionServer, clk *clock, log *slog.Logger) *Verifier {
	t.Helper()
	v, err := New(Config{
		Issuers: []Issuer{{Issuer: issuer, IntrospectionURL: s.srv.URL + "/introspect",
			ClientID: gatewayID, ClientSecret: gatewayPass}},
		Audience: audience, Required: true,
	}, Deps{Now: clk.Now, HTTPClient: s.srv.Client(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestIntrospectionRemote(t *testing.T) {
	t.Parallel()
	clk := &clock{now: t0}
	s := newIntrospectionServer(t, activeDoc(t0))
	var logs bytes.Buffer
	v := remoteVerifier(t, s, clk, slog.New(slog.NewTextHandler(&logs, nil)))
	check := func() (*tiaki.Principal, *policy.Denial) {
		var p tiaki.Principal
		if d := v.Check(request("/", "Bearer "+opaque), &p); d != nil {
			return nil, d
		}
		return &p, nil
	}

	p, d := check()
	if d != nil {
		t.Fatal(d)
	}
	want := &tiaki.Principal{Consumer: "billing-service", Subject: "alice", CredentialID: "opaque-jti",
		Scopes: []string{"payments:read"}, Credentials: []tiaki.CredentialKind{tiaki.CredentialBearer}}
	if diff := cmp.Diff(want, p, cmpIgnoreExpiry); diff != "" {
		t.Errorf("principal (-want +got):\n%s", diff)
	}
	// Within the 5 s positive TTL the answer is reused...
	for range 5 {
		clk.Add(900 * time.Millisecond)
		if _, d := check(); d != nil {
			t.Fatal(d)
		}
	}
	if n := s.calls.Load(); n != 1 {
		t.Errorf("%d introspection calls within the TTL, want 1", n)
	}
	// ...and after it the issuer is asked again, so a revocation there applies within 5 s.
	s.set(200, map[string]any{"active": false})
	clk.Add(DefaultIntrospectionTTL)
	if _, d := check(); d == nil || d.Status != 401 {
		t.Fatalf("revoked at the issuer: %v after the TTL, want 401", d)
	}
	// The refusal is remembered: retries do not reach the issuer.
	for range 3 {
		check()
	}
	if n := s.calls.Load(); n != 2 {
		t.Errorf("%d calls after three retries of a dead token, want 2", n)
	}

	// An issuer that fails is not remembered: 503 now, and the next request asks again.
	clk.Add(negativeTTL)
	s.set(http.StatusInternalServerError, map[string]any{"error": "server_error"})
	if _, d := check(); d == nil || d.Status != http.StatusServiceUnavailable {
		t.Errorf("issuer down: %v, want 503", d)
	}
	s.set(200, activeDoc(clk.Now()))
	if _, d := check(); d != nil {
		t.Errorf("issuer back: %v", d)
	}
	if strings.Contains(logs.String(), gatewayPass) || strings.Contains(logs.String(), opaque) {
		t.Errorf("a secret or the token reached the log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "introspection failed") {
		t.Errorf("the failure was not logged:\n%s", logs.String())
	}
}

func TestIntrospectionTTLNeverPastExp(t *testing.T) {
	t.Parallel()
	clk := &clock{now: t0}
	doc := activeDoc(t0)
	doc["exp"] = t0.Add(2 * time.Second).Unix()
	s := newIntrospectionServer(t, doc)
	v := remoteVerifier(t, s, clk, slog.New(slog.DiscardHandler))
	var p tiaki.Principal
	if d := v.Check(request("/", "Bearer "+opaque), &p); d != nil {
		t.Fatal(d)
	}
	clk.Add(2*time.Second + DefaultClockSkew) // past exp, within the 5 s TTL had it applied
	if d := v.Check(request("/", "Bearer "+opaque), &p); d == nil || d.Reason != "token expired" {
		t.Errorf("after exp: %v, want expired", d)
	}
	if n := s.calls.Load(); n != 2 {
		t.Errorf("%d calls, want 2: the cache entry must end at exp", n)
	}
}

// TestIntrospectionSingleFlight: concurrent requests with one token make one call.
func TestIntrospectionSingleFlight(t *testing.T) {
	t.Parallel()
	clk := &clock{now: t0}
	s := newIntrospectionServer(t, activeDoc(t0))
	s.gate = make(chan struct{})
	v := remoteVerifier(t, s, clk, slog.New(slog.DiscardHandler))
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			var p tiaki.Principal
			if d := v.Check(request("/", "Bearer "+opaque), &p); d != nil {
				errs <- d
			}
		})
	}
	<-s.seen // the first call is at the issuer; let the others queue behind it
	time.Sleep(50 * time.Millisecond)
	close(s.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := s.calls.Load(); got != 1 {
		t.Errorf("%d concurrent requests made %d introspection calls, want 1", n, got)
	}
}

// TestIntrospectionRules: the issuer's "active" is necessary, not sufficient.
func TestIntrospectionRules(t *testing.T) {
	t.Parallel()
	with := func(mod func(map[string]any)) map[string]any { d := activeDoc(t0); mod(d); return d }
	tests := []struct {
		name       string
		doc        any
		err        error
		wantReason string // "" when it passes
	}{
		{name: "active", doc: activeDoc(t0)},
		{name: "aud as a string", doc: with(func(d map[string]any) { d["aud"] = audience })},
		{name: "DPoP token type", doc: with(func(d map[string]any) { d["token_type"] = "DPoP" })},
		{name: "no iss", doc: with(func(d map[string]any) { delete(d, "iss") })},
		{name: "inactive", doc: map[string]any{"active": false}, wantReason: "introspection: not active"},
		{name: "active as a string", doc: with(func(d map[string]any) { d["active"] = "true" }), wantReason: "issuer key set or introspection unavailable"},
		{name: "refresh token", doc: with(func(d map[string]any) { d["token_type"] = "refresh_token" }), wantReason: "typ is not at+jwt or JWT"},
		{name: "another issuer", doc: with(func(d map[string]any) { d["iss"] = "https://evil.example" }), wantReason: "unknown issuer"},
		{name: "no exp", doc: with(func(d map[string]any) { delete(d, "exp") }), wantReason: "missing exp or client_id"},
		{name: "no client_id", doc: with(func(d map[string]any) { delete(d, "client_id") }), wantReason: "missing exp or client_id"},
		{name: "expired", doc: with(func(d map[string]any) { d["exp"] = t0.Add(-time.Hour).Unix() }), wantReason: "token expired"},
		{name: "not yet valid", doc: with(func(d map[string]any) { d["nbf"] = t0.Add(time.Hour).Unix() }), wantReason: "nbf or iat in the future"},
		{name: "another audience", doc: with(func(d map[string]any) { d["aud"] = "https://other.example" }), wantReason: "audience mismatch"},
		{name: "no audience", doc: with(func(d map[string]any) { delete(d, "aud") }), wantReason: "audience mismatch"},
		{name: "unknown cnf", doc: with(func(d map[string]any) { d["cnf"] = map[string]string{"x5t": "abc"} }), wantReason: "cnf without jkt or x5t#S256"},
		{name: "not JSON", doc: "<html>", wantReason: "issuer key set or introspection unavailable"},
		{name: "error", err: errors.New("engine down"), wantReason: "issuer key set or introspection unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			local := func(_ context.Context, token string) ([]byte, error) {
				if token != opaque {
					return []byte(`{"active":false}`), nil
				}
				if s, ok := tt.doc.(string); ok {
					return []byte(s), tt.err
				}
				b, _ := json.Marshal(tt.doc)
				return b, tt.err
			}
			v, err := New(Config{Issuers: []Issuer{{Issuer: issuer, Introspect: local}}, Audience: audience, Required: true},
				Deps{Now: func() time.Time { return t0 }, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			var p tiaki.Principal
			d := v.Check(request("/", "Bearer "+opaque), &p)
			switch {
			case tt.wantReason == "" && d != nil:
				t.Fatalf("denied: %v", d)
			case tt.wantReason != "" && (d == nil || d.Reason != tt.wantReason):
				t.Fatalf("got %v, want reason %q", d, tt.wantReason)
			}
		})
	}
}

// TestIntrospectedJWT: a JWT from an issuer with introspection and no key set is introspected,
// not refused and not trusted on its own say-so.
func TestIntrospectedJWT(t *testing.T) {
	t.Parallel()
	k := newKey(t, "k1")
	tok := sign(t, k, "at+jwt", goodClaims(t0))
	var asked atomic.Int32
	local := func(_ context.Context, token string) ([]byte, error) {
		asked.Add(1)
		if token != tok {
			return []byte(`{"active":false}`), nil
		}
		return json.Marshal(activeDoc(t0))
	}
	v, err := New(Config{Issuers: []Issuer{{Issuer: issuer, Introspect: local}}, Audience: audience, Required: true},
		Deps{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	var p tiaki.Principal
	if d := v.Check(request("/", "Bearer "+tok), &p); d != nil || asked.Load() != 1 {
		t.Errorf("JWT of an introspecting issuer: %v, %d calls", d, asked.Load())
	}
	forged := sign(t, newKey(t, "k1"), "at+jwt", goodClaims(t0))
	if d := v.Check(request("/", "Bearer "+forged), &p); d == nil || d.Reason != "introspection: not active" {
		t.Errorf("forged JWT: %v, want the issuer's refusal", d)
	}
}

func TestIntrospectionConfig(t *testing.T) {
	t.Parallel()
	local := func(context.Context, string) ([]byte, error) { return nil, nil }
	for _, tt := range []struct {
		name string
		iss  []Issuer
	}{
		{"http endpoint", []Issuer{{Issuer: issuer, IntrospectionURL: "http://as.example/introspect", ClientID: "a", ClientSecret: "b"}}},
		{"credentials in the URL", []Issuer{{Issuer: issuer, IntrospectionURL: "https://a:b@as.example/introspect", ClientID: "a", ClientSecret: "b"}}},
		{"no secret", []Issuer{{Issuer: issuer, IntrospectionURL: "https://as.example/introspect", ClientID: "a"}}},
		{"URL and func", []Issuer{{Issuer: issuer, IntrospectionURL: "https://as.example/i", ClientID: "a", ClientSecret: "b", Introspect: local}}},
		{"two introspecting issuers", []Issuer{{Issuer: issuer, Introspect: local}, {Issuer: "https://other", Introspect: local}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{Issuers: tt.iss, Audience: audience}, Deps{})
			if err == nil {
				t.Fatal("New accepted it")
			}
			if strings.Contains(err.Error(), "b@") || strings.Contains(err.Error(), gatewayPass) {
				t.Errorf("error reveals a secret: %v", err)
			}
		})
	}
	if _, err := New(Config{Issuers: []Issuer{{Issuer: issuer, Introspect: local}}, Audience: audience,
		IntrospectionTTL: time.Hour}, Deps{}); err == nil {
		t.Error("New accepted an introspection TTL of an hour")
	}
}

// TestOpaquePrefixRoutes: an issuer that marks its opaque tokens with a prefix (Tiaki's own,
// introspected in process) gets those tokens alone, and another issuer of the route may still
// introspect every other opaque token.
func TestOpaquePrefixRoutes(t *testing.T) {
	t.Parallel()
	now := time.Now()
	answer := func(who string) func(context.Context, string) ([]byte, error) {
		return func(_ context.Context, tok string) ([]byte, error) {
			doc := activeDoc(now)
			doc["iss"], doc["client_id"] = who, who+"-client"
			return json.Marshal(doc)
		}
	}
	v, err := New(Config{Issuers: []Issuer{
		{Issuer: "https://self.example", Introspect: answer("https://self.example"), OpaquePrefix: "tiaki_at_"},
		{Issuer: "https://other.example", Introspect: answer("https://other.example")},
	}, Audience: audience}, Deps{})
	if err != nil {
		t.Fatalf("two introspecting issuers, one marking its tokens: %v", err)
	}
	for tok, want := range map[string]string{"tiaki_at_AAAA": "https://self.example-client", "opaque-BBBB": "https://other.example-client"} {
		r := httptest.NewRequest("GET", "https://api.example/x", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		var p tiaki.Principal
		if d := v.Check(r, &p); d != nil || p.Consumer != want {
			t.Errorf("%s: %v, consumer %q, want %q", tok, d, p.Consumer, want)
		}
	}
}
