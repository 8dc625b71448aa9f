package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
)

// identityKit is a signing key for assertions that counts how often it is asked for.
type identityKit struct {
	priv  *ecdsa.PrivateKey
	calls atomic.Int32
	fail  atomic.Bool
}

func newIdentityKit(t testing.TB) *identityKit {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &identityKit{priv: priv}
}

func (k *identityKit) key() (jose.JSONWebKey, error) {
	k.calls.Add(1)
	if k.fail.Load() {
		return jose.JSONWebKey{}, errors.New("no key signs ES256 now: not found")
	}
	return jose.JSONWebKey{Key: k.priv, KeyID: "id-1", Algorithm: "ES256", Use: "sig"}, nil
}

func (k *identityKit) options() *Identity {
	return &Identity{Issuer: testIssuer, Key: k.key}
}

// verify checks an assertion's signature and type and returns its claims.
func (k *identityKit) verify(t *testing.T, tok string) map[string]any {
	t.Helper()
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("assertion does not parse: %v", err)
	}
	if typ := parsed.Headers[0].ExtraHeaders["typ"]; typ != IdentityType {
		t.Errorf("typ %v, want %s", typ, IdentityType)
	}
	if kid := parsed.Headers[0].KeyID; kid != "id-1" {
		t.Errorf("kid %q", kid)
	}
	var claims map[string]any
	if err := parsed.Claims(&k.priv.PublicKey, &claims); err != nil {
		t.Fatalf("assertion signature: %v", err)
	}
	return claims
}

// principalPolicy admits every request as a fixed principal.
type principalPolicy struct{ p tiaki.Principal }

func (pp principalPolicy) Check(_ *http.Request, p *tiaki.Principal) *policy.Denial {
	policy.Admit(p, pp.p.Credentials[0], pp.p.Consumer, pp.p.CredentialID, pp.p.ExpiresAt)
	p.Subject = pp.p.Subject
	p.Scopes = pp.p.Scopes
	return nil
}

func (pp principalPolicy) Enforce(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	return policy.Apply(pp, w, r, next)
}

func TestIdentityAssertion(t *testing.T) {
	t.Parallel()
	kit := newIdentityKit(t)
	up := httptest.NewServer(echo("main"))
	t.Cleanup(up.Close)
	alice := principalPolicy{tiaki.Principal{Consumer: "billing", Subject: "alice", Scopes: []string{"payments:read", "payments:write"},
		Credentials: []tiaki.CredentialKind{tiaki.CredentialBearer}, CredentialID: "jti-1"}}
	machine := principalPolicy{tiaki.Principal{Consumer: "batch", Credentials: []tiaki.CredentialKind{tiaki.CredentialAPIKey}, CredentialID: "k1"}}
	soon := principalPolicy{tiaki.Principal{Consumer: "short", Credentials: []tiaki.CredentialKind{tiaki.CredentialBearer},
		ExpiresAt: time.Now().Add(20 * time.Second)}}
	g, err := New([]Route{
		{Name: "proxied", PathPrefix: "/p", Upstream: mustURL(t, up.URL+"/base"), Methods: []string{"GET"}, Policies: []policy.Policy{alice}},
		{Name: "builtin", PathPrefix: "/b", UpstreamHandler: echo("b"), Methods: []string{"GET"}, Policies: []policy.Policy{machine}},
		{Name: "enforced", PathPrefix: "/e", UpstreamHandler: echo("e"), Methods: []string{"GET"}, Policies: []policy.Policy{wrapper{}, machine}},
		{Name: "short", PathPrefix: "/s", UpstreamHandler: echo("s"), Methods: []string{"GET"}, Policies: []policy.Policy{soon}},
		{Name: "open", PathPrefix: "/o", UpstreamHandler: echo("o"), Methods: []string{"GET"}},
	}, Options{Logger: quietLogger(), Identity: kit.options()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.CloseIdleConnections)
	front, client := serveTLS(t, g)

	forged := http.Header{"Tiaki-Identity": {"eyJhbGciOiJub25lIn0.e30."}, "Request-Transaction-Id": {"req-1"}}
	res := send(t, client, "GET", front.URL+"/p/x", forged, nil)
	if res.status != 200 || res.echo == nil {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	if got := res.echo.Header.Values(IdentityHeader); len(got) != 1 {
		t.Fatalf("upstream got %d identity headers", len(got))
	}
	claims := kit.verify(t, res.echo.Header.Get(IdentityHeader))
	iat, exp := claims["iat"].(float64), claims["exp"].(float64)
	delete(claims, "iat")
	delete(claims, "exp")
	want := map[string]any{"iss": testIssuer, "aud": up.URL + "/base", "sub": "alice", "client_id": "billing",
		"scope": "payments:read payments:write", "credentials": []any{"bearer"}, "jti": "req-1"}
	if diff := cmp.Diff(want, claims); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	if exp-iat != 60 || time.Since(time.Unix(int64(iat), 0)) > 5*time.Second {
		t.Errorf("iat %v exp %v: want a 60 s assertion issued now", iat, exp)
	}

	t.Run("cached per principal", func(t *testing.T) {
		before := kit.calls.Load()
		first := send(t, client, "GET", front.URL+"/p/y", nil, nil).echo.Header.Get(IdentityHeader)
		second := send(t, client, "GET", front.URL+"/p/z", nil, nil).echo.Header.Get(IdentityHeader)
		if first != res.echo.Header.Get(IdentityHeader) || second != first {
			t.Error("a fresh assertion was signed for the same principal")
		}
		if n := kit.calls.Load() - before; n != 0 {
			t.Errorf("key fetched %d times for cached assertions", n)
		}
	})

	t.Run("machine principal, builtin upstream", func(t *testing.T) {
		for path, aud := range map[string]string{"/b": "builtin:builtin", "/e": "builtin:enforced"} {
			r := send(t, client, "GET", front.URL+path, nil, nil)
			c := kit.verify(t, r.echo.Header.Get(IdentityHeader))
			if c["sub"] != "batch" || c["client_id"] != "batch" || c["aud"] != aud {
				t.Errorf("%s: claims %v", path, c)
			}
			if _, ok := c["scope"]; ok {
				t.Errorf("%s: scope claim without scopes", path)
			}
		}
	})

	t.Run("never outlives the credential", func(t *testing.T) {
		c := kit.verify(t, send(t, client, "GET", front.URL+"/s", nil, nil).echo.Header.Get(IdentityHeader))
		if left := time.Until(time.Unix(int64(c["exp"].(float64)), 0)); left > 21*time.Second {
			t.Errorf("assertion valid %v more, credential only 20s", left)
		}
	})

	t.Run("anonymous requests carry none", func(t *testing.T) {
		r := send(t, client, "GET", front.URL+"/o", forged, nil)
		if v := r.echo.Header.Values(IdentityHeader); len(v) != 0 {
			t.Errorf("anonymous request carried %q", v)
		}
	})
}

func TestIdentityAssertionFailsClosed(t *testing.T) {
	t.Parallel()
	kit := newIdentityKit(t)
	kit.fail.Store(true)
	var reached atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	t.Cleanup(up.Close)
	p := principalPolicy{tiaki.Principal{Consumer: "c", Credentials: []tiaki.CredentialKind{tiaki.CredentialAPIKey}}}
	g, err := New([]Route{
		{Name: "proxied", PathPrefix: "/p", Upstream: mustURL(t, up.URL), Methods: []string{"GET"}, Policies: []policy.Policy{p}},
		{Name: "builtin", PathPrefix: "/b", UpstreamHandler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }),
			Methods: []string{"GET"}, Policies: []policy.Policy{p}},
	}, Options{Logger: quietLogger(), Identity: kit.options()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.CloseIdleConnections)
	front, client := serveTLS(t, g)
	for _, path := range []string{"/p", "/b"} {
		res := send(t, client, "GET", front.URL+path, nil, nil)
		if res.status != 500 || problemType(t, res) != "server-error" || strings.Contains(string(res.body), "ES256") {
			t.Errorf("%s: %d %s", path, res.status, res.body)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("upstream reached %d times without an identity assertion", n)
	}
}

func TestCredentialsNotForwarded(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(echo("main"))
	t.Cleanup(up.Close)
	g, err := New([]Route{
		{Name: "default", PathPrefix: "/d", Upstream: mustURL(t, up.URL), Methods: []string{"GET"}, CredentialHeaders: []string{"api-key"}},
		{Name: "builtin", PathPrefix: "/b", UpstreamHandler: echo("b"), Methods: []string{"GET"}, CredentialHeaders: []string{"Api-Key"}},
		{Name: "forwarding", PathPrefix: "/f", Upstream: mustURL(t, up.URL), Methods: []string{"GET"}, CredentialHeaders: []string{"Api-Key"},
			ForwardCredentials: true},
	}, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.CloseIdleConnections)
	front, client := serveTLS(t, g)
	h := http.Header{"Authorization": {"Bearer t"}, "Api-Key": {"tk_x"}, "Dpop": {"proof"}, "Accept": {"application/json"}}
	for path, forwarded := range map[string]bool{"/d": false, "/b": false, "/f": true} {
		res := send(t, client, "GET", front.URL+path, h, nil)
		for _, k := range []string{"Authorization", "Api-Key", "Dpop"} {
			if got := res.echo.Header.Get(k) != ""; got != forwarded {
				t.Errorf("%s: %s forwarded = %v, want %v", path, k, got, forwarded)
			}
		}
		if res.echo.Header.Get("Accept") == "" {
			t.Errorf("%s: ordinary header dropped", path)
		}
	}
}

func TestIdentityCacheIsBounded(t *testing.T) {
	t.Parallel()
	kit := newIdentityKit(t)
	a, err := newAsserter(*kit.options(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	a.max = 40
	rt := &route{Route: Route{Name: "r"}, audience: "https://up"}
	for i := range 100 {
		p := &tiaki.Principal{Consumer: fmt.Sprint("consumer-", i), Credentials: []tiaki.CredentialKind{tiaki.CredentialAPIKey}}
		if _, err := a.assert(rt, p, "r"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(a.cache); n > a.max {
		t.Errorf("cache holds %d, bound %d", n, a.max)
	}
	a.reset()
	if len(a.cache) != 0 {
		t.Error("reset kept entries")
	}
}

func TestNewAsserterRefuses(t *testing.T) {
	t.Parallel()
	kit := newIdentityKit(t)
	for name, o := range map[string]Identity{
		"no issuer": {Key: kit.key},
		"no key":    {Issuer: testIssuer},
		"too long":  {Issuer: testIssuer, Key: kit.key, Lifetime: time.Hour},
		"too short": {Issuer: testIssuer, Key: kit.key, Lifetime: time.Second},
	} {
		if _, err := newAsserter(o, time.Now); !errors.Is(err, tiaki.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func BenchmarkIdentityAssertionCached(b *testing.B) {
	kit := newIdentityKit(b)
	a, err := newAsserter(*kit.options(), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	rt := &route{Route: Route{Name: "payments"}, audience: "https://up"}
	p := &tiaki.Principal{Consumer: "billing", Subject: "alice", Scopes: []string{"payments:read"},
		Credentials: []tiaki.CredentialKind{tiaki.CredentialBearer}, ExpiresAt: time.Now().Add(time.Hour)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.assert(rt, p, "req"); err != nil {
			b.Fatal(err)
		}
	}
}
