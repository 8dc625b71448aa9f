package bearer

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"github.com/tiaki-nz/tiaki/internal/revocation"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki"
)

// boundClaims are test token claims with a cnf claim.
type boundClaims struct {
	tokenClaims
	Cnf map[string]string `json:"cnf,omitempty"`
}

// realFixture is a verifier on the real clock, for tests through a TLS listener.
func realFixture(t testing.TB, cfg Config, deps Deps) (*Verifier, signingKey) {
	t.Helper()
	key := newKey(t, "k1")
	set := jwks(t, key)
	cfg.Issuers = []Issuer{{Issuer: issuer, JWKS: func() []byte { return set }}}
	cfg.Audience = audience
	cfg.Required = true
	v, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	return v, key
}

func bound(now time.Time, cnf map[string]string) boundClaims {
	return boundClaims{tokenClaims: goodClaims(now), Cnf: cnf}
}

func x5t(der []byte) string {
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestCertificateBound covers RFC 8705 §3 through a real TLS 1.3 listener: the token works
// only on a connection that presented the certificate it is bound to.
func TestCertificateBound(t *testing.T) {
	t.Parallel()
	v, key := realFixture(t, Config{}, Deps{})
	env := startTLS(t, v)
	alice, bob := env.clientCert(t, "alice-app"), env.clientCert(t, "bob-app")
	now := time.Now()
	boundTok := signAny(t, key, "at+jwt", bound(now, map[string]string{"x5t#S256": x5t(alice.Certificate[0])}))
	unknownCnf := signAny(t, key, "at+jwt", bound(now, map[string]string{"x5t": "sha1-thumbprint"}))
	plain := sign(t, key, "at+jwt", goodClaims(now))
	auth := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

	tests := []struct {
		name       string
		client     *http.Client
		token      string
		wantStatus int
		wantCreds  []tiaki.CredentialKind
	}{
		{"bound token over its certificate", env.client(t, &alice), boundTok, 200,
			[]tiaki.CredentialKind{tiaki.CredentialBearer, tiaki.CredentialMTLS}},
		{"bound token over another certificate", env.client(t, &bob), boundTok, 401, nil},
		{"bound token without a certificate", env.client(t, nil), boundTok, 401, nil},
		{"unbound token with a certificate", env.client(t, &bob), plain, 200, []tiaki.CredentialKind{tiaki.CredentialBearer}},
		{"unsupported confirmation method", env.client(t, &alice), unknownCnf, 401, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := env.do(t, tt.client, http.MethodGet, "/payments", auth(tt.token))
			if got.status != tt.wantStatus {
				t.Fatalf("status %d, want %d (%v)", got.status, tt.wantStatus, got.challenges)
			}
			if tt.wantStatus == 200 {
				if diff := cmp.Diff(tt.wantCreds, got.principal.Credentials); diff != "" {
					t.Errorf("credentials (-want +got):\n%s", diff)
				}
				return
			}
			if got.problemType != "invalid-token" || len(got.challenges) == 0 ||
				!strings.HasPrefix(got.challenges[0], `Bearer realm="tiaki", error="invalid_token"`) {
				t.Errorf("refusal: type %q, challenges %q; want invalid_token (RFC 8705 §3)", got.problemType, got.challenges)
			}
		})
	}
}

// TestRequireBinding: a route that accepts only sender-constrained tokens refuses plain ones.
func TestRequireBinding(t *testing.T) {
	t.Parallel()
	v, key := realFixture(t, Config{RequireBinding: true}, Deps{})
	env := startTLS(t, v)
	alice := env.clientCert(t, "alice-app")
	now := time.Now()
	c := env.client(t, &alice)
	if got := env.do(t, c, "GET", "/", http.Header{"Authorization": {"Bearer " + sign(t, key, "at+jwt", goodClaims(now))}}); got.status != 401 {
		t.Errorf("unbound token: %d, want 401", got.status)
	}
	tok := signAny(t, key, "at+jwt", bound(now, map[string]string{"x5t#S256": x5t(alice.Certificate[0])}))
	if got := env.do(t, c, "GET", "/", http.Header{"Authorization": {"Bearer " + tok}}); got.status != 200 {
		t.Errorf("certificate-bound token: %d, want 200 (%v)", got.status, got.challenges)
	}
}

// TestRevoked: a token announced revoked is refused on the next request, although it is in
// the cache, and introspected tokens are checked the same way.
func TestRevoked(t *testing.T) {
	t.Parallel()
	feed := &fakeFeed{}
	f := newFixture(t, true)
	var err error
	f.v, err = New(Config{Issuers: []Issuer{{Issuer: issuer, JWKS: func() []byte { return jwks(t, f.key) }}},
		Audience: audience, Required: true}, Deps{Now: f.clock.Now, Revocations: feed})
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, f.key, "at+jwt", goodClaims(t0))
	check := func() *tiaki.Principal {
		var p tiaki.Principal
		if d := f.v.Check(request("/", "Bearer "+tok), &p); d != nil {
			if d.Reason != "token revoked" || d.Status != 401 {
				t.Errorf("denial %v, want 401 token revoked", d)
			}
			return nil
		}
		return &p
	}
	if check() == nil {
		t.Fatal("fresh token refused")
	}
	feed.Revoke(context.Background(), "jti-1", t0.Add(time.Hour))
	if check() != nil {
		t.Error("revoked token accepted from the cache")
	}
	if feed.asked("jti-1") < 2 {
		t.Error("the feed was not asked on the cache hit")
	}
}

// signAny signs any claims value as a JWT of type typ.
func signAny(t testing.TB, k signingKey, typ string, c any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// fakeFeed is an in-memory revocation list, by ID whatever the kind, that counts questions
// by jti.
type fakeFeed struct {
	mu      sync.Mutex
	revoked map[string]bool
	asks    map[string]int
}

func (f *fakeFeed) Revoke(_ context.Context, id string, _ time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.revoked == nil {
		f.revoked = map[string]bool{}
	}
	f.revoked[id] = true
	return nil
}

func (f *fakeFeed) Revoked(jti, grantID, clientID, subject string, _ time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.asks == nil {
		f.asks = map[string]int{}
	}
	f.asks[jti]++
	return f.revoked[jti] || f.revoked["grant:"+grantID] || f.revoked["client:"+clientID] || f.revoked["subject:"+subject]
}

func (f *fakeFeed) asked(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asks[id]
}

// TestRevokedByGrantClientOrPerson (issue 11 item 11): a cached JWT is refused on the next
// request once its grant, its client or its person is revoked; client and person revocations
// reach only the tokens issued up to their second.
func TestRevokedByGrantClientOrPerson(t *testing.T) {
	t.Parallel()
	type grantClaims struct {
		tokenClaims
		GrantID string `json:"grant_id"`
	}
	for _, tc := range []struct {
		name string
		r    tiaki.Revocation
		iat  time.Time
		want bool
	}{
		{"grant", tiaki.Revocation{Kind: tiaki.RevokedGrant, ID: "grant-1"}, t0, true},
		{"client, token from before", tiaki.Revocation{Kind: tiaki.RevokedClient, ID: "billing-service"}, t0.Add(-time.Minute), true},
		{"client, token from after", tiaki.Revocation{Kind: tiaki.RevokedClient, ID: "billing-service"}, t0.Add(time.Second), false},
		{"person, token from before", tiaki.Revocation{Kind: tiaki.RevokedSubject, ID: "alice"}, t0.Add(-time.Minute), true},
		{"another grant", tiaki.Revocation{Kind: tiaki.RevokedGrant, ID: "grant-2"}, t0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			list := revocation.New(nil, revocation.Options{})
			f := newFixture(t, true)
			v, err := New(Config{Issuers: []Issuer{{Issuer: issuer, JWKS: func() []byte { return jwks(t, f.key) }}},
				Audience: audience, Required: true}, Deps{Now: f.clock.Now, Revocations: list})
			if err != nil {
				t.Fatal(err)
			}
			c := grantClaims{tokenClaims: goodClaims(tc.iat), GrantID: "grant-1"}
			c.Expiry = jwt.NewNumericDate(t0.Add(10 * time.Minute))
			tok := signAny(t, f.key, "at+jwt", c)
			var p tiaki.Principal
			if d := v.Check(request("/", "Bearer "+tok), &p); d != nil {
				t.Fatalf("fresh token: %v", d)
			}
			tc.r.At, tc.r.Until = t0, time.Now().Add(time.Hour)
			if err := list.Revoke(context.Background(), tc.r); err != nil {
				t.Fatal(err)
			}
			d := v.Check(request("/", "Bearer "+tok), &tiaki.Principal{})
			if got := d != nil && d.Reason == "token revoked"; got != tc.want {
				t.Errorf("after revoking %s: %v, want refused %v", tc.r.Kind, d, tc.want)
			}
		})
	}
}
