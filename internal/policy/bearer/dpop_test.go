package bearer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki"
)

const dpopRealm = `DPoP realm="tiaki", algs="ES256 PS256 EdDSA"`

// dpopKey is a client's DPoP key pair and its RFC 7638 thumbprint.
type dpopKey struct {
	priv *ecdsa.PrivateKey
	jkt  string
}

func newDPoPKey(t testing.TB) dpopKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk := jose.JSONWebKey{Key: &priv.PublicKey}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return dpopKey{priv: priv, jkt: base64.RawURLEncoding.EncodeToString(tp)}
}

// proofSpec is a DPoP proof before signing, built by hand so tests can break any part of it.
type proofSpec struct {
	header map[string]any
	claims map[string]any
	signer *ecdsa.PrivateKey
}

func jwkMap(t testing.TB, k jose.JSONWebKey) map[string]any {
	t.Helper()
	b, err := k.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func athOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (k dpopKey) spec(t testing.TB, method, htu, token string, iat time.Time) *proofSpec {
	t.Helper()
	jti := make([]byte, 12)
	rand.Read(jti)
	return &proofSpec{
		header: map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": jwkMap(t, jose.JSONWebKey{Key: &k.priv.PublicKey})},
		claims: map[string]any{"jti": base64.RawURLEncoding.EncodeToString(jti), "htm": method, "htu": htu,
			"iat": iat.Unix(), "ath": athOf(token)},
		signer: k.priv,
	}
}

func (s *proofSpec) sign(t testing.TB) string {
	t.Helper()
	input := b64(s.header) + "." + b64(s.claims)
	switch s.header["alg"] {
	case "ES256":
		sum := sha256.Sum256([]byte(input))
		r, ss, err := ecdsa.Sign(rand.Reader, s.signer, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		ss.FillBytes(sig[32:])
		return input + "." + base64.RawURLEncoding.EncodeToString(sig)
	case "HS256":
		m := hmac.New(sha256.New, []byte("shared"))
		m.Write([]byte(input))
		return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	default:
		return input + "."
	}
}

// fakeReplay is an in-memory tiaki.ReplayCache; err makes every call fail.
type fakeReplay struct {
	mu   sync.Mutex
	seen map[string]time.Duration
	err  error
}

func (f *fakeReplay) Consume(_ context.Context, key string, ttl time.Duration) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, f.err
	}
	if f.seen == nil {
		f.seen = map[string]time.Duration{}
	}
	if _, ok := f.seen[key]; ok {
		return false, nil
	}
	f.seen[key] = ttl
	return true, nil
}

// TestDPoP walks RFC 9449 §4.3 and §7.1 through a real TLS listener: each case breaks one rule.
func TestDPoP(t *testing.T) {
	t.Parallel()
	replay := &fakeReplay{}
	v, key := realFixture(t, Config{}, Deps{ReplayCache: replay})
	env := startTLS(t, v)
	client := env.client(t, nil)
	holder, thief := newDPoPKey(t), newDPoPKey(t)
	now := time.Now()
	boundTok := signAny(t, key, "at+jwt", bound(now, map[string]string{"jkt": holder.jkt}))
	otherTok := signAny(t, key, "at+jwt", bound(now, map[string]string{"jkt": holder.jkt, "x": "y"}))
	plainTok := sign(t, key, "at+jwt", goodClaims(now))
	expired := goodClaims(now)
	expired.Expiry = nil
	expiredTok := signAny(t, key, "at+jwt", boundClaims{tokenClaims: expired, Cnf: map[string]string{"jkt": holder.jkt}})
	const path = "/payments/42"
	url := env.base + path

	tests := []struct {
		name      string
		method    string
		token     string
		proofKey  dpopKey
		mod       func(*proofSpec)
		header    func(proof string) http.Header // nil: Authorization DPoP and one DPoP header
		wantError string                         // "" when it passes; else the challenge's error
	}{
		{name: "valid"},
		{name: "valid POST", method: http.MethodPost},
		{name: "htu query and fragment ignored", mod: func(s *proofSpec) { s.claims["htu"] = url + "?page=2#top" }},
		{name: "htu host case and default port", mod: func(s *proofSpec) {
			s.claims["htu"] = strings.Replace(url, "https://", "HTTPS://", 1)
		}},
		{name: "iat 50 s old", mod: func(s *proofSpec) { s.claims["iat"] = now.Add(-50 * time.Second).Unix() }},
		{name: "no proof", header: func(string) http.Header {
			return http.Header{"Authorization": {"DPoP " + boundTok}}
		}, wantError: "invalid_dpop_proof"},
		{name: "two proofs", header: func(p string) http.Header {
			return http.Header{"Authorization": {"DPoP " + boundTok}, "Dpop": {p, p}}
		}, wantError: "invalid_dpop_proof"},
		{name: "typ JWT", mod: func(s *proofSpec) { s.header["typ"] = "JWT" }, wantError: "invalid_dpop_proof"},
		{name: "alg none", mod: func(s *proofSpec) { s.header["alg"] = "none" }, wantError: "invalid_dpop_proof"},
		{name: "alg HS256", mod: func(s *proofSpec) { s.header["alg"] = "HS256" }, wantError: "invalid_dpop_proof"},
		{name: "no jwk", mod: func(s *proofSpec) { delete(s.header, "jwk") }, wantError: "invalid_dpop_proof"},
		{name: "private key in jwk", mod: func(s *proofSpec) {
			s.header["jwk"] = jwkMap(t, jose.JSONWebKey{Key: holder.priv})
		}, wantError: "invalid_dpop_proof"},
		{name: "jwk is not the signing key", mod: func(s *proofSpec) { s.signer = thief.priv }, wantError: "invalid_dpop_proof"},
		{name: "no jti", mod: func(s *proofSpec) { delete(s.claims, "jti") }, wantError: "invalid_dpop_proof"},
		{name: "no iat", mod: func(s *proofSpec) { delete(s.claims, "iat") }, wantError: "invalid_dpop_proof"},
		{name: "htm mismatch", mod: func(s *proofSpec) { s.claims["htm"] = "POST" }, wantError: "invalid_dpop_proof"},
		{name: "htm lower case", mod: func(s *proofSpec) { s.claims["htm"] = "get" }, wantError: "invalid_dpop_proof"},
		{name: "htu another path", mod: func(s *proofSpec) { s.claims["htu"] = env.base + "/payments/43" }, wantError: "invalid_dpop_proof"},
		{name: "htu another host", mod: func(s *proofSpec) {
			s.claims["htu"] = strings.Replace(url, "127.0.0.1", "localhost", 1)
		}, wantError: "invalid_dpop_proof"},
		{name: "htu http", mod: func(s *proofSpec) { s.claims["htu"] = strings.Replace(url, "https:", "http:", 1) }, wantError: "invalid_dpop_proof"},
		{name: "iat too old", mod: func(s *proofSpec) { s.claims["iat"] = now.Add(-2 * time.Minute).Unix() }, wantError: "invalid_dpop_proof"},
		{name: "iat in the future", mod: func(s *proofSpec) { s.claims["iat"] = now.Add(2 * time.Minute).Unix() }, wantError: "invalid_dpop_proof"},
		{name: "no ath", mod: func(s *proofSpec) { delete(s.claims, "ath") }, wantError: "invalid_dpop_proof"},
		{name: "ath of another token", mod: func(s *proofSpec) { s.claims["ath"] = athOf(otherTok) }, wantError: "invalid_dpop_proof"},
		{name: "proof by another key", proofKey: thief, wantError: "invalid_dpop_proof"},
		{name: "unbound token with the DPoP scheme", token: plainTok, wantError: "invalid_token"},
		{name: "token without exp, DPoP scheme", token: expiredTok, wantError: "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			tok := tt.token
			if tok == "" {
				tok = boundTok
			}
			pk := tt.proofKey
			if pk.priv == nil {
				pk = holder
			}
			spec := pk.spec(t, method, url, tok, time.Now())
			if tt.mod != nil {
				tt.mod(spec)
			}
			proof := spec.sign(t)
			h := http.Header{"Authorization": {"DPoP " + tok}, "Dpop": {proof}}
			if tt.header != nil {
				h = tt.header(proof)
			}
			got := env.do(t, client, method, path, h)
			if tt.wantError == "" {
				if got.status != 200 {
					t.Fatalf("status %d %v, want 200", got.status, got.challenges)
				}
				if diff := cmp.Diff([]tiaki.CredentialKind{tiaki.CredentialDPoP}, got.principal.Credentials); diff != "" {
					t.Errorf("credentials (-want +got):\n%s", diff)
				}
				return
			}
			want := dpopRealm + `, error="` + tt.wantError + `"`
			if got.status != 401 || len(got.challenges) != 1 || !strings.HasPrefix(got.challenges[0], want) {
				t.Errorf("got %d %q\nwant 401 with %q...", got.status, got.challenges, want)
			}
		})
	}
}

// TestDPoPReplay: a proof is good once (RFC 9449 §11.1), and the replay cache key is
// namespaced by the key's thumbprint.
func TestDPoPReplay(t *testing.T) {
	t.Parallel()
	replay := &fakeReplay{}
	v, key := realFixture(t, Config{}, Deps{ReplayCache: replay})
	env := startTLS(t, v)
	client := env.client(t, nil)
	holder := newDPoPKey(t)
	tok := signAny(t, key, "at+jwt", bound(time.Now(), map[string]string{"jkt": holder.jkt}))
	spec := holder.spec(t, "GET", env.base+"/x", tok, time.Now())
	proof := spec.sign(t)
	h := http.Header{"Authorization": {"DPoP " + tok}, "Dpop": {proof}}
	if got := env.do(t, client, "GET", "/x", h); got.status != 200 {
		t.Fatalf("first use: %d %v", got.status, got.challenges)
	}
	got := env.do(t, client, "GET", "/x", h)
	if got.status != 401 || !strings.Contains(got.challenges[0], `error="invalid_dpop_proof", error_description="the proof has been used before"`) {
		t.Errorf("replay: %d %v, want 401 invalid_dpop_proof", got.status, got.challenges)
	}
	wantKey := "dpop:" + holder.jkt + ":" + spec.claims["jti"].(string)
	replay.mu.Lock()
	ttl, ok := replay.seen[wantKey]
	replay.mu.Unlock()
	if !ok || ttl != 2*DefaultDPoPWindow {
		t.Errorf("replay cache holds %v, want %q for %v", replay.seen, wantKey, 2*DefaultDPoPWindow)
	}
}

// TestDPoPBoundAsBearer: RFC 9449 §7.2, a stolen DPoP-bound token is useless as a bearer token.
func TestDPoPBoundAsBearer(t *testing.T) {
	t.Parallel()
	v, key := realFixture(t, Config{}, Deps{ReplayCache: &fakeReplay{}})
	env := startTLS(t, v)
	holder := newDPoPKey(t)
	tok := signAny(t, key, "at+jwt", bound(time.Now(), map[string]string{"jkt": holder.jkt}))
	got := env.do(t, env.client(t, nil), "GET", "/", http.Header{"Authorization": {"Bearer " + tok}})
	if got.status != 401 || len(got.challenges) != 2 ||
		!strings.HasPrefix(got.challenges[0], `Bearer realm="tiaki", error="invalid_token"`) || got.challenges[1] != dpopRealm {
		t.Errorf("bound token as bearer: %d %q, want 401 invalid_token with both challenges", got.status, got.challenges)
	}
	// The missing-token answer names both schemes and the proof algorithms (RFC 9449 §7.1).
	got = env.do(t, env.client(t, nil), "GET", "/", nil)
	if diff := cmp.Diff([]string{realm, dpopRealm}, got.challenges); got.status != 401 || diff != "" {
		t.Errorf("no token: %d, challenges (-want +got):\n%s", got.status, diff)
	}
}

func TestDPoPNotAccepted(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	holder := newDPoPKey(t)
	tok := signAny(t, f.key, "at+jwt", bound(t0, map[string]string{"jkt": holder.jkt}))
	r := request("/", "DPoP "+tok)
	r.Header.Set("DPoP", holder.spec(t, "GET", "https://example.com/", tok, t0).sign(t))
	var p tiaki.Principal
	if d := f.v.Check(r, &p); d == nil || d.Type != "dpop-not-accepted" {
		t.Errorf("DPoP without a replay cache: %v, want dpop-not-accepted", d)
	}
	if _, err := New(Config{Issuers: []Issuer{{Issuer: issuer, JWKS: func() []byte { return nil }}}, Audience: audience,
		DPoPWindow: time.Minute}, Deps{}); err == nil {
		t.Error("New accepted DPoP settings without a replay cache")
	}
	if _, err := New(Config{Issuers: []Issuer{{Issuer: issuer, JWKS: func() []byte { return nil }}}, Audience: audience,
		DPoPAlgorithms: []string{"HS256"}}, Deps{ReplayCache: &fakeReplay{}}); err == nil {
		t.Error("New accepted HS256 for DPoP proofs")
	}
}

// TestDPoPReplayCacheDown: without the replay cache a proof cannot be checked, so it is refused.
func TestDPoPReplayCacheDown(t *testing.T) {
	t.Parallel()
	v, key := realFixture(t, Config{}, Deps{ReplayCache: &fakeReplay{err: errors.New("redis: connection refused")}})
	holder := newDPoPKey(t)
	tok := signAny(t, key, "at+jwt", bound(time.Now(), map[string]string{"jkt": holder.jkt}))
	r := httptest.NewRequest("GET", "https://api.example/x", nil)
	r.Header.Set("Authorization", "DPoP "+tok)
	r.Header.Set("DPoP", holder.spec(t, "GET", "https://api.example/x", tok, time.Now()).sign(t))
	var p tiaki.Principal
	if d := v.Check(r, &p); d == nil || d.Status != http.StatusServiceUnavailable {
		t.Errorf("replay cache down: %v, want 503", d)
	}
}

// BenchmarkCheck compares a cached bearer token with a DPoP-bound one. A DPoP request costs
// one ECDSA P-256 verification of its proof (plus parsing and the replay-cache call), which
// no cache can save because each proof is new; the token itself still comes from the cache.
func BenchmarkCheck(b *testing.B) {
	v, key := realFixture(b, Config{}, Deps{ReplayCache: alwaysFresh{}})
	holder := newDPoPKey(b)
	now := time.Now()
	plain := sign(b, key, "at+jwt", goodClaims(now))
	boundTok := signAny(b, key, "at+jwt", bound(now, map[string]string{"jkt": holder.jkt}))
	proof := holder.spec(b, "GET", "https://api.example/payments", boundTok, now).sign(b)
	for _, bc := range []struct {
		name string
		r    *http.Request
	}{
		{"bearer cached", func() *http.Request {
			r := httptest.NewRequest("GET", "https://api.example/payments", nil)
			r.Header.Set("Authorization", "Bearer "+plain)
			return r
		}()},
		{"dpop", func() *http.Request {
			r := httptest.NewRequest("GET", "https://api.example/payments", nil)
			r.Header.Set("Authorization", "DPoP "+boundTok)
			r.Header.Set("DPoP", proof)
			return r
		}()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p := tiaki.Principal{}
				if d := v.Check(bc.r, &p); d != nil {
					b.Fatal(d)
				}
			}
		})
	}
}

// alwaysFresh lets a benchmark reuse one proof.
type alwaysFresh struct{}

func (alwaysFresh) Consume(context.Context, string, time.Duration) (bool, error) { return true, nil }

func FuzzProof(f *testing.F) {
	v, key := realFixture(f, Config{}, Deps{ReplayCache: alwaysFresh{}})
	holder := newDPoPKey(f)
	tok := signAny(f, key, "at+jwt", bound(time.Now(), map[string]string{"jkt": holder.jkt}))
	f.Add(holder.spec(f, "GET", "https://api.example/x", tok, time.Now()).sign(f))
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, proof string) {
		r := httptest.NewRequest("GET", "https://api.example/x", nil)
		r.Header.Set("Authorization", "DPoP "+tok)
		r.Header["Dpop"] = []string{proof}
		var p tiaki.Principal
		_ = v.Check(r, &p) // must not panic; acceptance needs the holder's signature
	})
}
