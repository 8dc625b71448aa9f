package apikey

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
)

// hasher is a keyed SHA-256 (HMAC) with a constant-time comparison, as keys.Hasher does.
type hasher struct{ key []byte }

func (h hasher) Hash(secret string) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

func (h hasher) Verify(secret string, hash []byte) bool { return hmac.Equal(h.Hash(secret), hash) }

// store is an in-memory key store that counts lookups.
type store struct {
	mu      sync.Mutex
	keys    map[string]tiaki.APIKey
	lookups int
	err     error
}

func (s *store) APIKey(_ context.Context, id string) (*tiaki.APIKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookups++
	if s.err != nil {
		return nil, s.err
	}
	k, ok := s.keys[id]
	if !ok {
		return nil, tiaki.ErrNotFound
	}
	return &k, nil
}

func (s *store) revoke(id string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys[id]
	k.RevokedAt = at
	s.keys[id] = k
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fixture struct {
	v     *Verifier
	store *store
	clock *clock
	keys  map[string]string // name → key
}

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	h := hasher{key: []byte("test hash key")}
	f := &fixture{store: &store{keys: map[string]tiaki.APIKey{}}, clock: &clock{now: t0}, keys: map[string]string{}}
	add := func(name, api string, mod func(*tiaki.APIKey)) {
		key, id, err := Generate(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		k := tiaki.APIKey{ID: id, Hash: h.Hash(key), API: api, Consumer: name + "-app", CreatedAt: t0.Add(-time.Hour)}
		if mod != nil {
			mod(&k)
		}
		f.store.keys[id] = k
		f.keys[name] = key
	}
	add("good", "payments", nil)
	add("other-api", "billing", nil)
	add("revoked", "payments", func(k *tiaki.APIKey) { k.RevokedAt = t0.Add(-time.Minute) })
	add("expired", "payments", func(k *tiaki.APIKey) { k.ExpiresAt = t0.Add(-time.Second) })
	add("scoped", "payments", func(k *tiaki.APIKey) { k.Scopes = []string{"payments:read", "payments:write"} })
	var err error
	f.v, err = New(cfg, Deps{Keys: f.store, Hasher: h, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{API: "payments", Required: true})
	good := f.keys["good"]
	goodID, _ := Parse(good)
	wrongSecret := good[:len(good)-4] + "AAAA"
	if wrongSecret == good {
		wrongSecret = good[:len(good)-4] + "BBBB"
	}
	tests := []struct {
		name      string
		url       string
		header    []string
		wantType  string // "" when it passes
		wantCause string
	}{
		{name: "valid", header: []string{good}},
		{name: "missing", wantType: "api-key-required"},
		{name: "wrong secret", header: []string{wrongSecret}, wantType: "invalid-api-key", wantCause: "API key does not match its hash"},
		{name: "unknown id", header: []string{"tk_aaaaaaaaaaaa_" + good[16:]}, wantType: "invalid-api-key", wantCause: "unknown API key ID"},
		{name: "malformed", header: []string{"hunter2"}, wantType: "invalid-api-key", wantCause: "malformed API key"},
		{name: "revoked", header: []string{f.keys["revoked"]}, wantType: "invalid-api-key", wantCause: "API key revoked"},
		{name: "expired", header: []string{f.keys["expired"]}, wantType: "invalid-api-key", wantCause: "API key expired"},
		{name: "wrong API", header: []string{f.keys["other-api"]}, wantType: "invalid-api-key", wantCause: "API key issued for another API"},
		{name: "two headers", header: []string{good, good}, wantType: "invalid-api-key", wantCause: "several API key headers"},
		{name: "query api_key", url: "/x?api_key=" + good, wantType: "api-key-in-url"},
		{name: "query apikey with header too", url: "/x?a=1&APIKEY=zzz", header: []string{good}, wantType: "api-key-in-url"},
		{name: "query escaped name", url: "/x?api%5Fkey=zzz", wantType: "api-key-in-url"},
		{name: "query key with a key value", url: "/x?key=" + good, wantType: "api-key-in-url"},
		{name: "query key with an ordinary value", url: "/x?key=customer-42", header: []string{good}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target := tt.url
			if target == "" {
				target = "/x"
			}
			r := httptest.NewRequest(http.MethodGet, target, nil)
			r.Header["Api-Key"] = tt.header
			var p tiaki.Principal
			d := f.v.Check(r, &p)
			if tt.wantType == "" {
				if d != nil {
					t.Fatalf("denied: %v", d)
				}
				want := tiaki.Principal{Consumer: "good-app", CredentialID: goodID, Credentials: []tiaki.CredentialKind{tiaki.CredentialAPIKey}}
				if diff := cmp.Diff(want, p); diff != "" {
					t.Errorf("principal (-want +got):\n%s", diff)
				}
				return
			}
			if d == nil {
				t.Fatalf("passed, want %s", tt.wantType)
			}
			if d.Type != tt.wantType || d.Status != http.StatusUnauthorized {
				t.Errorf("denial %d %s, want 401 %s", d.Status, d.Type, tt.wantType)
			}
			if tt.wantCause != "" && d.Reason != tt.wantCause {
				t.Errorf("reason %q, want %q", d.Reason, tt.wantCause)
			}
			if d.Challenge != `APIKey header="Api-Key"` {
				t.Errorf("challenge %q", d.Challenge)
			}
			// Nothing a client or a log sees may hold the key.
			for _, s := range []string{d.Detail, d.Reason, d.Error(), d.Title} {
				if strings.Contains(s, good[16:]) {
					t.Errorf("denial text holds the key: %q", s)
				}
			}
		})
	}
}

// TestScopes: a key carries the scopes it was issued with into the principal, from the store and
// from the cache alike, so the scope policy can judge a request the key alone authorises (issue
// #11 item 13); a token admitted before the key keeps its own scopes.
func TestScopes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{API: "payments", Required: true})
	scoped := f.keys["scoped"]
	want := []string{"payments:read", "payments:write"}
	for _, round := range []string{"from the store", "from the cache"} {
		r := httptest.NewRequest(http.MethodPost, "/x", nil)
		r.Header.Set("Api-Key", scoped)
		var p tiaki.Principal
		if d := f.v.Check(r, &p); d != nil {
			t.Fatalf("%s: denied: %v", round, d)
		}
		if diff := cmp.Diff(want, p.Scopes); diff != "" {
			t.Errorf("%s: scopes (-want +got):\n%s", round, diff)
		}
	}
	if n := f.store.lookups; n != 1 {
		t.Errorf("%d store lookups, want 1 (the second request is served from the cache)", n)
	}

	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	r.Header.Set("Api-Key", f.keys["good"])
	var p tiaki.Principal
	if d := f.v.Check(r, &p); d != nil || p.Scopes != nil {
		t.Errorf("a key issued without scopes: %v, scopes %q; want none", d, p.Scopes)
	}

	r.Header.Set("Api-Key", scoped)
	p = tiaki.Principal{Consumer: "client", Scopes: []string{"payments:read"}, Credentials: []tiaki.CredentialKind{tiaki.CredentialBearer}}
	if d := f.v.Check(r, &p); d != nil {
		t.Fatal(d)
	}
	if diff := cmp.Diff([]string{"payments:read"}, p.Scopes); diff != "" {
		t.Errorf("after a token, the key replaced its scopes (-want +got):\n%s", diff)
	}
}

func TestOptional(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{API: "payments", Header: "Payments-Key"})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	var p tiaki.Principal
	if d := f.v.Check(r, &p); d != nil || len(p.Credentials) != 0 {
		t.Errorf("optional, no key: %v, %v; want pass without principal", d, p)
	}
	r.Header.Set("Payments-Key", f.keys["revoked"])
	if d := f.v.Check(r, &p); d == nil {
		t.Error("optional, revoked key: passed")
	}
	r = httptest.NewRequest(http.MethodGet, "/?payments-key=x", nil)
	if d := f.v.Check(r, &p); d == nil || d.Type != "api-key-in-url" {
		t.Errorf("the configured header name in the query: %v", d)
	}
}

func TestCacheAndRevocation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{API: "payments", Required: true})
	good := f.keys["good"]
	id, _ := Parse(good)
	check := func() *policy.Denial {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("API-Key", good)
		var p tiaki.Principal
		return f.v.Check(r, &p)
	}
	for range 3 {
		if d := check(); d != nil {
			t.Fatalf("denied: %v", d)
		}
	}
	if f.store.lookups != 1 {
		t.Errorf("%d store lookups for 3 requests, want 1 (cached)", f.store.lookups)
	}
	f.store.revoke(id, f.clock.Now())
	f.clock.Add(CacheTTL - time.Millisecond)
	if d := check(); d != nil {
		t.Errorf("denied inside the cache TTL: %v", d)
	}
	f.clock.Add(time.Millisecond)
	if d := check(); d == nil || d.Reason != "API key revoked" {
		t.Errorf("after the TTL: %v, want revoked", d)
	}

	// Forget applies a revocation at once.
	f2 := newFixture(t, Config{API: "payments", Required: true})
	good2 := f2.keys["good"]
	id2, _ := Parse(good2)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("API-Key", good2)
	var p tiaki.Principal
	if d := f2.v.Check(r, &p); d != nil {
		t.Fatal(d)
	}
	f2.store.revoke(id2, f2.clock.Now())
	f2.v.Forget(id2)
	if d := f2.v.Check(r, &p); d == nil {
		t.Error("passed after Forget of a revoked key")
	}
}

func TestStoreFailure(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{API: "payments", Required: true})
	f.store.err = errors.New("database is on fire")
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("API-Key", f.keys["good"])
	var p tiaki.Principal
	if d := f.v.Check(r, &p); d == nil || d.Status != http.StatusServiceUnavailable {
		t.Errorf("store failure: %v, want 503", d)
	}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	deps := Deps{Keys: &store{}, Hasher: hasher{}}
	for _, tt := range []struct {
		name string
		cfg  Config
		deps Deps
	}{
		{"X- header", Config{API: "a", Header: "X-API-Key"}, deps},
		{"Authorization", Config{API: "a", Header: "authorization"}, deps},
		{"bad characters", Config{API: "a", Header: "API Key"}, deps},
		{"no API", Config{}, deps},
		{"no store", Config{API: "a"}, Deps{Hasher: hasher{}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg, tt.deps); err == nil {
				t.Error("New accepted it")
			}
		})
	}
}

func TestCachedAllocs(t *testing.T) {
	f := newFixture(t, Config{API: "payments", Required: true})
	r := httptest.NewRequest(http.MethodGet, "/x?page=2&sort=asc", nil)
	r.Header.Set("API-Key", f.keys["good"])
	p := tiaki.Principal{Credentials: make([]tiaki.CredentialKind, 0, 4)}
	if d := f.v.Check(r, &p); d != nil {
		t.Fatal(d)
	}
	n := testing.AllocsPerRun(200, func() {
		p.Consumer, p.CredentialID, p.Credentials = "", "", p.Credentials[:0]
		if d := f.v.Check(r, &p); d != nil {
			t.Fatal(d)
		}
	})
	if n != 0 {
		t.Errorf("a cached key costs %v allocations, want 0", n)
	}
}

func TestGenerateAndParse(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		key, id, err := Generate(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(key) != KeyLen || !strings.HasPrefix(key, "tk_"+id+"_") || len(id) != 12 {
			t.Fatalf("Generate = %q, %q", key, id)
		}
		got, ok := Parse(key)
		if !ok || got != id {
			t.Fatalf("Parse(%q) = %q, %v; want %q", key, got, ok, id)
		}
		if seen[id] {
			t.Fatalf("ID %s issued twice", id)
		}
		seen[id] = true
	}
	// Deterministic randomness gives a deterministic key.
	key, id, err := Generate(bytes.NewReader(make([]byte, 40)))
	if err != nil || key != "tk_aaaaaaaaaaaa_"+strings.Repeat("A", 43) || id != "aaaaaaaaaaaa" {
		t.Errorf("Generate(zeros) = %q, %q, %v", key, id, err)
	}
	if _, _, err := Generate(bytes.NewReader(make([]byte, 39))); err == nil {
		t.Error("Generate with short randomness: no error")
	}
	for _, bad := range []string{"", "tk_", key[:KeyLen-1], key + "A", "tK" + key[2:], "tk_AAAAAAAAAAAA_" + key[16:],
		"tk_aaaaaaaaaaaa-" + key[16:], "tk_aaaaaaaaaaa1_" + key[16:], key[:20] + "=" + key[21:], key[:20] + "+" + key[21:]} {
		if _, ok := Parse(bad); ok {
			t.Errorf("Parse(%q) accepted it", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	key, _, _ := Generate(bytes.NewReader(make([]byte, 40)))
	f.Add(key)
	f.Add("tk_")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := Parse(s)
		if ok && (len(s) != KeyLen || !strings.HasPrefix(s, "tk_"+id+"_")) {
			t.Errorf("Parse(%q) = %q, true", s, id)
		}
	})
}

// TestOutageGrace: while the store cannot be reached (issue 11, item 21), keys this node
// verified keep working for the configured grace from their last successful check, costing
// one lookup per key per CacheTTL; keys it never saw, keys whose expiry passes, and keys it
// was told were revoked do not; with no grace, an outage refuses every key after CacheTTL.
func TestOutageGrace(t *testing.T) {
	t.Parallel()
	check := func(f *fixture, key string) *policy.Denial {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("API-Key", key)
		var p tiaki.Principal
		return f.v.Check(r, &p)
	}
	down := errors.New("connection refused")
	setErr := func(f *fixture, err error) { f.store.mu.Lock(); f.store.err = err; f.store.mu.Unlock() }
	lookups := func(f *fixture) int { f.store.mu.Lock(); defer f.store.mu.Unlock(); return f.store.lookups }

	t.Run("a key admitted during an outage keeps its scopes", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, Config{API: "payments", Required: true, OutageGrace: time.Minute})
		if d := check(f, f.keys["scoped"]); d != nil {
			t.Fatal(d)
		}
		setErr(f, down)
		f.clock.Add(CacheTTL + time.Second)
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Header.Set("API-Key", f.keys["scoped"])
		var p tiaki.Principal
		if d := f.v.Check(r, &p); d != nil {
			t.Fatalf("during the outage: %v", d)
		}
		if diff := cmp.Diff([]string{"payments:read", "payments:write"}, p.Scopes); diff != "" {
			t.Errorf("scopes (-want +got):\n%s", diff)
		}
		if lookups(f) != 2 {
			t.Errorf("%d lookups, want 2 (the outage was met)", lookups(f))
		}
	})

	t.Run("grace", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, Config{API: "payments", Required: true, OutageGrace: time.Minute})
		soon := f.keys["good"]
		id, _ := Parse(soon)
		f.store.mu.Lock()
		k := f.store.keys[id]
		k.ExpiresAt = t0.Add(30 * time.Second)
		f.store.keys[id] = k
		f.store.mu.Unlock()
		// A key that expires 30 s from now, seen before the outage.
		if d := check(f, soon); d != nil {
			t.Fatal(d)
		}
		ff := newFixture(t, Config{API: "payments", Required: true, OutageGrace: time.Minute})
		good := ff.keys["good"]
		if d := check(ff, good); d != nil {
			t.Fatal(d)
		}
		setErr(ff, down)
		before := lookups(ff)
		for range 100 {
			ff.clock.Add(500 * time.Millisecond) // 50 s of requests during the outage
			if d := check(ff, good); d != nil {
				t.Fatalf("known key refused %v into the outage: %v", ff.clock.Now().Sub(t0), d)
			}
		}
		// One failed lookup each CacheTTL, not one per request.
		if n := lookups(ff) - before; n > 11 {
			t.Errorf("%d store lookups for 100 requests over 50 s, want about one per %v", n, CacheTTL)
		}
		ff.clock.Add(15 * time.Second) // past a minute since the last successful check
		if d := check(ff, good); d == nil || d.Status != http.StatusServiceUnavailable {
			t.Errorf("known key after the grace: %v, want 503", d)
		}
		if d := check(ff, ff.keys["other-api"]); d == nil || d.Status != http.StatusServiceUnavailable {
			t.Errorf("a key never seen during the outage: %v, want 503", d)
		}
		// The expiring key stops at its expiry although the grace is longer.
		setErr(f, down)
		f.clock.Add(20 * time.Second)
		if d := check(f, soon); d != nil {
			t.Errorf("expiring key 20 s into the outage: %v", d)
		}
		f.clock.Add(15 * time.Second)
		if d := check(f, soon); d == nil {
			t.Error("a key past its expiry admitted during the outage")
		}
	})

	t.Run("revocation seen before the outage", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, Config{API: "payments", Required: true, OutageGrace: time.Minute})
		good := f.keys["good"]
		id, _ := Parse(good)
		if d := check(f, good); d != nil {
			t.Fatal(d)
		}
		f.v.Forget(id) // the revocation feed
		setErr(f, down)
		f.clock.Add(time.Second)
		if d := check(f, good); d == nil {
			t.Error("a key revoked before the outage was admitted during it")
		}
	})

	t.Run("no grace", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, Config{API: "payments", Required: true})
		good := f.keys["good"]
		if d := check(f, good); d != nil {
			t.Fatal(d)
		}
		setErr(f, down)
		f.clock.Add(CacheTTL)
		if d := check(f, good); d == nil || d.Status != http.StatusServiceUnavailable || d.RetryAfter == 0 {
			t.Errorf("no grace: %v, want 503 with Retry-After", d)
		}
	})
}
