package authserver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/tiaki-nz/tiaki/internal/keys"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/oauth"
	"github.com/tiaki-nz/tiaki/internal/web"
)

// fakeClients is an in-memory Clients that counts lookups and can be made to fail.
type fakeClients struct {
	mu    sync.Mutex
	byID  map[string]*tiaki.Client
	calls int
	err   error
}

func (f *fakeClients) Client(_ context.Context, id string) (*tiaki.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	c, ok := f.byID[id]
	if !ok {
		return nil, fmt.Errorf("client %q: %w", id, tiaki.ErrNotFound)
	}
	cp := *c
	return &cp, nil
}

func (f *fakeClients) put(c *tiaki.Client) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.byID[c.ID] = c
}

func (f *fakeClients) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeClients) lookups() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// hmacSecrets is Secrets with HMAC-SHA256 under a test key, as keys.Hasher does.
type hmacSecrets struct{ key []byte }

func (h hmacSecrets) hash(secret string) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

func (h hmacSecrets) Verify(secret string, hash []byte) bool { return hmac.Equal(h.hash(secret), hash) }

// fakeKeys holds one real ES256 key made for the test.
type fakeKeys struct {
	mu      sync.Mutex
	private jose.JSONWebKeySet
	public  []byte
}

func newFakeKeys(t testing.TB, kid string) *fakeKeys {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk := jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: "ES256", Use: "sig"}
	pub, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	return &fakeKeys{private: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk}}, public: pub}
}

func (k *fakeKeys) PrivateJWKS() jose.JSONWebKeySet {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.private
}

func (k *fakeKeys) JWKS() []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.public
}

func (k *fakeKeys) setPublic(doc []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.public = doc
}

// fakeClock is a settable clock for Tiaki's caches and stores.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var testSecrets = hmacSecrets{key: []byte("test hash key, never a real one")}

// Client secrets of the fixture. billing's needs form-URL-encoding, so x/oauth2 (which encodes
// per RFC 6749 §2.3.1) only works if the server decodes.
const (
	billingSecret = "billing/secret+with=specials"
	demoSecret    = "demo-secret"
	posterSecret  = "poster-secret"
	portalSecret  = "portal-secret-portal-secret-portal"
)

// signingKey is a client's assertion key: the private half for the test, the public JWKS for
// the registration.
type signingKey struct {
	private    jose.JSONWebKey
	publicJWKS []byte
}

// assertionKey is jwt-client's key, made once per test binary.
var assertionKey = sync.OnceValue(func() signingKey {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	jwk := jose.JSONWebKey{Key: priv, KeyID: "jwt-client-1", Algorithm: "ES256", Use: "sig"}
	pub, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk.Public()}})
	if err != nil {
		panic(err)
	}
	return signingKey{private: jwk, publicJWKS: pub}
})

func fixtureClients() *fakeClients {
	cc := []string{"client_credentials"}
	f := &fakeClients{byID: map[string]*tiaki.Client{}}
	for _, c := range []*tiaki.Client{
		{ID: "billing-service", AuthMethod: tiaki.AuthSecretBasic, SecretHash: testSecrets.hash(billingSecret),
			GrantTypes: cc, Scopes: []string{"payments:read", "payments:write"}},
		{ID: "demo-client", AuthMethod: tiaki.AuthSecretBasic, SecretHash: testSecrets.hash(demoSecret),
			GrantTypes: cc, Scopes: []string{"payments:read"}},
		{ID: "poster", AuthMethod: tiaki.AuthSecretPost, SecretHash: testSecrets.hash(posterSecret),
			GrantTypes: cc, Scopes: []string{"payments:read"}},
		{ID: "opaque-client", AuthMethod: tiaki.AuthSecretBasic, SecretHash: testSecrets.hash(demoSecret),
			GrantTypes: cc, Scopes: []string{"payments:read"}, AccessTokenFormat: FormatOpaque},
		{ID: "web-app", AuthMethod: tiaki.AuthSecretBasic, SecretHash: testSecrets.hash(demoSecret),
			GrantTypes: []string{"authorization_code"}, Scopes: []string{"payments:read"},
			RedirectURIs: []string{"https://web.example/cb"}},
		{ID: "portal", Name: "Developer Portal", AuthMethod: tiaki.AuthSecretBasic, SecretHash: testSecrets.hash(portalSecret),
			GrantTypes:   []string{"authorization_code", "refresh_token"},
			Scopes:       []string{"openid", "profile", "email", "offline_access", "payments:read"},
			RedirectURIs: []string{"https://portal.example/cb?from=tiaki"}},
		{ID: "citizen-app", Name: "Citizen App", AuthMethod: tiaki.AuthNone, GrantTypes: []string{"authorization_code", "refresh_token"},
			Scopes: []string{"openid", "payments:read"}, RedirectURIs: []string{"http://127.0.0.1/callback", "https://citizen.example/cb"}},
		{ID: "jwt-client", AuthMethod: tiaki.AuthPrivateKeyJWT, JWKS: assertionKey().publicJWKS,
			GrantTypes: cc, Scopes: []string{"payments:read"}},
	} {
		f.put(c)
	}
	return f
}

func testConfig(issuer string) Config {
	return Config{
		Issuer:         issuer,
		AccessTokenTTL: 10 * time.Minute,
		Scopes:         []string{"payments:read", "payments:write", "openid", "profile", "email", "offline_access"},
	}
}

// testEnv is a Server behind a TLS httptest server, with fakes the test can reach.
type testEnv struct {
	srv     *Server
	ts      *httptest.Server
	issuer  string
	clients *fakeClients
	keys    *fakeKeys
	clock   *fakeClock
	logs    *syncBuffer
	// The flows for people (newPeopleEnv only).
	sessions *fakeSessions
	users    fakeUsers
	limiter  *fakeLimiter
	replay   *fakeReplay
	feed     *fakeFeed
}

// Accounts of the people fixture.
const (
	alicePassword = "correct horse battery staple"
	bobPassword   = "bob's long password"
)

// newEnv starts a server for machines only: no sessions, users or replay cache.
func newEnv(t testing.TB, edit ...func(*Config)) *testEnv {
	t.Helper()
	return startEnv(t, false, edit...)
}

// newPeopleEnv starts a server with every flow: sessions, users, throttling, a replay cache
// and a revocation list.
func newPeopleEnv(t testing.TB, edit ...func(*Config)) *testEnv {
	t.Helper()
	return startEnv(t, true, edit...)
}

func startEnv(t testing.TB, people bool, edit ...func(*Config)) *testEnv {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	e := &testEnv{
		ts:      ts,
		issuer:  "https://" + ts.Listener.Addr().String(),
		clients: fixtureClients(),
		keys:    newFakeKeys(t, "es256-1"),
		clock:   &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		logs:    &syncBuffer{},
	}
	cfg := testConfig(e.issuer)
	for _, f := range edit {
		f(&cfg)
	}
	deps := Deps{
		Clients: e.clients, Secrets: testSecrets, Sealer: testSealer, Keys: e.keys, Now: e.clock.Now,
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if people {
		e.sessions = newFakeSessions()
		e.users = newFakeUsers(t, map[string]string{"alice": alicePassword, "bob": bobPassword})
		e.limiter = newFakeLimiter(e.clock.Now)
		e.replay = &fakeReplay{}
		e.feed = &fakeFeed{}
		deps.Sessions, deps.Users, deps.Limiter, deps.Replay, deps.Revocations = e.sessions, e.users, e.limiter, e.replay, e.feed
	}
	srv, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	ts.Config.Handler = web.RequestID(srv.Handler())
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes cut short at Close
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return e
}

// basic returns an Authorization header value for id and secret, form-URL-encoded first as
// RFC 6749 §2.3.1 asks.
func basic(id, secret string) string {
	return rawBasic(url.QueryEscape(id) + ":" + url.QueryEscape(secret))
}

// rawBasic returns an Authorization header value carrying userpass as given.
func rawBasic(userpass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(userpass))
}

// call posts form to path with an optional Authorization header and decodes a JSON answer.
func (e *testEnv) call(t testing.TB, path string, form url.Values, authorization string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return e.do(t, req)
}

func (e *testEnv) do(t testing.TB, req *http.Request) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", req.Method, req.URL.Path, body)
		}
	}
	return resp, doc
}

// token gets an access token for a basic-auth client of the fixture.
func (e *testEnv) token(t testing.TB, id, secret, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	resp, doc := e.call(t, PathToken, form, basic(id, secret))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token for %s: %d %v", id, resp.StatusCode, doc)
	}
	tok, _ := doc["access_token"].(string)
	if tok == "" {
		t.Fatalf("token for %s: no access_token in %v", id, doc)
	}
	return tok
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	keys := newFakeKeys(t, "k1")
	deps := Deps{Clients: fixtureClients(), Secrets: testSecrets, Sealer: testSealer, Keys: keys}
	tests := []struct {
		name string
		edit func(*Config)
		deps *Deps
		want string
	}{
		{"http issuer", func(c *Config) { c.Issuer = "http://tiaki.test" }, nil, "https"},
		{"trailing slash", func(c *Config) { c.Issuer = "https://tiaki.test/" }, nil, "no path"},
		{"issuer with query", func(c *Config) { c.Issuer = "https://tiaki.test?x=1" }, nil, "query"},
		{"empty issuer", func(c *Config) { c.Issuer = "" }, nil, "not a URL"},
		{"fapi2 not yet", func(c *Config) { c.Profile = ProfileFAPI2 }, nil, "fapi2"},
		{"unknown profile", func(c *Config) { c.Profile = "lax" }, nil, "unknown profile"},
		{"unknown format", func(c *Config) { c.AccessTokenFormat = "paseto" }, nil, "format"},
		{"symmetric alg", func(c *Config) { c.SigningAlgorithm = "HS256" }, nil, "signing algorithm"},
		{"no key for alg", func(c *Config) { c.SigningAlgorithm = "PS256" }, nil, "no private PS256 key"},
		{"fractional TTL", func(c *Config) { c.AccessTokenTTL = 1500 * time.Millisecond }, nil, "whole number"},
		{"day-long TTL", func(c *Config) { c.AccessTokenTTL = 48 * time.Hour }, nil, "over 24h"},
		{"bad scope", func(c *Config) { c.Scopes = []string{"two words"} }, nil, "scope-token"},
		{"scope too long", func(c *Config) { c.Scopes = []string{strings.Repeat("s", oauth.MaxScopeLength+1)} }, nil, "scope-token"},
		{"missing deps", func(*Config) {}, &Deps{Keys: keys}, "required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig("https://tiaki.test")
			tc.edit(&cfg)
			d := deps
			if tc.deps != nil {
				d = *tc.deps
			}
			_, err := New(cfg, d)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testSealer seals the tests' opaque tokens under a fixed master key.
var testSealer = func() *keys.Sealer {
	mk, err := keys.NewMasterKey([]byte("test master key, never a real 12"))
	if err != nil {
		panic(err)
	}
	return mk.Sealer(OpaqueTokenLabel)
}()
