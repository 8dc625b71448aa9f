package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
	"github.com/tiaki-nz/tiaki/internal/policy/apikey"
	"github.com/tiaki-nz/tiaki/internal/policy/bearer"
	"github.com/tiaki-nz/tiaki/internal/policy/scope"
)

const (
	testIssuer   = "https://127.0.0.1:8443"
	testAudience = "https://127.0.0.1:8444/payments"
)

type keyHasher struct{}

func (keyHasher) hash(s string) []byte {
	m := hmac.New(sha256.New, []byte("k"))
	m.Write([]byte(s))
	return m.Sum(nil)
}

func (h keyHasher) Verify(secret string, hash []byte) bool { return hmac.Equal(h.hash(secret), hash) }

type keyStore map[string]tiaki.APIKey

func (s keyStore) APIKey(_ context.Context, id string) (*tiaki.APIKey, error) {
	k, ok := s[id]
	if !ok {
		return nil, tiaki.ErrNotFound
	}
	return &k, nil
}

// authKit issues API keys and tokens and builds the policies that accept them.
type authKit struct {
	key    string
	signer jose.Signer
	jwks   []byte
	keys   keyStore
}

func newAuthKit(t testing.TB) *authKit {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: priv, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	key, id, err := apikey.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &authKit{key: key, signer: signer, jwks: jwks,
		keys: keyStore{id: {ID: id, Hash: keyHasher{}.hash(key), API: "payments", Consumer: "key-app"}}}
}

func (k *authKit) token(t testing.TB, scopes string) string {
	t.Helper()
	now := time.Now()
	tok, err := jwt.Signed(k.signer).Claims(map[string]any{
		"iss": testIssuer, "aud": testAudience, "sub": "alice", "client_id": "token-app", "scope": scopes,
		"exp": now.Add(10 * time.Minute).Unix(), "iat": now.Unix(), "jti": "j1",
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (k *authKit) apiKey(t testing.TB, required bool) *apikey.Verifier {
	t.Helper()
	v, err := apikey.New(apikey.Config{API: "payments", Required: required}, apikey.Deps{Keys: k.keys, Hasher: keyHasher{}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (k *authKit) bearer(t testing.TB, required bool) *bearer.Verifier {
	t.Helper()
	v, err := bearer.New(bearer.Config{
		Issuers:  []bearer.Issuer{{Issuer: testIssuer, JWKS: func() []byte { return k.jwks }}},
		Audience: testAudience, Required: required,
	}, bearer.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func scopes(t testing.TB, byMethod map[string][]string) *scope.Guard {
	t.Helper()
	g, err := scope.New(scope.Config{ByMethod: byMethod})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	kit := newAuthKit(t)
	up := httptest.NewServer(echo("main"))
	t.Cleanup(up.Close)
	anyOf, err := policy.AnyOf(kit.apiKey(t, true), kit.bearer(t, true))
	if err != nil {
		t.Fatal(err)
	}
	read := map[string][]string{"GET": {"payments:read"}, "POST": {"payments:write"}}
	g, err := New([]Route{
		{Name: "all", PathPrefix: "/all", Upstream: mustURL(t, up.URL), Methods: []string{"GET", "POST"},
			Policies: []policy.Policy{kit.apiKey(t, true), kit.bearer(t, true), scopes(t, read)}},
		{Name: "any", PathPrefix: "/any", UpstreamHandler: echo("builtin"), Methods: []string{"GET"},
			Policies: []policy.Policy{anyOf}},
		{Name: "optional", PathPrefix: "/optional", UpstreamHandler: echo("builtin"), Methods: []string{"GET"},
			Policies: []policy.Policy{kit.apiKey(t, false)}},
	}, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.CloseIdleConnections)
	front, client := serveTLS(t, g)

	readToken := kit.token(t, "payments:read")
	tests := []struct {
		name       string
		method     string
		path       string
		key, token string
		wantStatus int
		wantType   string
		wantChall  []string
		wantUser   string // the consumer the builtin upstream sees
	}{
		{name: "all: key and token", method: "GET", path: "/all/x", key: kit.key, token: readToken, wantStatus: 200},
		{name: "all: token only", method: "GET", path: "/all/x", token: readToken, wantStatus: 401, wantType: "api-key-required",
			wantChall: []string{`APIKey header="Api-Key"`}},
		{name: "all: key only", method: "GET", path: "/all/x", key: kit.key, wantStatus: 401, wantType: "token-required",
			wantChall: []string{`Bearer realm="tiaki"`}},
		{name: "all: scope missing", method: "POST", path: "/all/x", key: kit.key, token: readToken, wantStatus: 403, wantType: "insufficient-scope",
			wantChall: []string{`Bearer realm="tiaki", error="insufficient_scope", scope="payments:write"`}},
		{name: "all: key in the query", method: "GET", path: "/all/x?api_key=" + kit.key, token: readToken, wantStatus: 401, wantType: "api-key-in-url"},
		{name: "all: token in the query", method: "GET", path: "/all/x?access_token=" + readToken, key: kit.key, wantStatus: 401, wantType: "token-in-url"},
		{name: "any: key", method: "GET", path: "/any", key: kit.key, wantStatus: 200, wantUser: "key-app"},
		{name: "any: token", method: "GET", path: "/any", token: readToken, wantStatus: 200, wantUser: "token-app"},
		{name: "any: neither", method: "GET", path: "/any", wantStatus: 401, wantType: "api-key-required",
			wantChall: []string{`APIKey header="Api-Key"`, `Bearer realm="tiaki"`}},
		{name: "any: good key, forged token", method: "GET", path: "/any", key: kit.key, token: readToken + "x", wantStatus: 401, wantType: "invalid-token"},
		{name: "optional: none", method: "GET", path: "/optional", wantStatus: 200},
		{name: "optional: key", method: "GET", path: "/optional", key: kit.key, wantStatus: 200, wantUser: "key-app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tt.key != "" {
				h.Set("API-Key", tt.key)
			}
			if tt.token != "" {
				h.Set("Authorization", "Bearer "+tt.token)
			}
			res := send(t, client, tt.method, front.URL+tt.path, h, nil)
			if res.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", res.status, tt.wantStatus, res.body)
			}
			if got := problemType(t, res); got != tt.wantType {
				t.Errorf("problem type %q, want %q", got, tt.wantType)
			}
			if tt.wantChall != nil {
				if diff := cmp.Diff(tt.wantChall, res.header.Values("Www-Authenticate")); diff != "" {
					t.Errorf("challenges (-want +got):\n%s", diff)
				}
			}
			authenticated := tt.key != "" || tt.token != ""
			if tt.wantStatus == 200 {
				wantCC := "max-age=60"
				if authenticated {
					wantCC = "no-store" // catalogue HTTP-13
				}
				if got := res.header.Values("Cache-Control"); !cmp.Equal(got, []string{wantCC}) {
					t.Errorf("Cache-Control %q, want [%s]", got, wantCC)
				}
				if res.echo.Upstream == "builtin" && res.echo.Consumer != tt.wantUser {
					t.Errorf("upstream saw consumer %q, want %q", res.echo.Consumer, tt.wantUser)
				}
			}
		})
	}
}
