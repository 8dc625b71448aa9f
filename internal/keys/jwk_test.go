package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/tiaki-nz/tiaki"
)

// rfc7638Input builds the thumbprint input of RFC 7638 §3.2 from a public JWK by hand: the
// required members only, in lexicographic order, without whitespace.
func rfc7638Input(t *testing.T, public []byte) string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(public, &m); err != nil {
		t.Fatal(err)
	}
	switch m["kty"] {
	case "EC":
		return `{"crv":"` + m["crv"] + `","kty":"EC","x":"` + m["x"] + `","y":"` + m["y"] + `"}`
	case "RSA":
		return `{"e":"` + m["e"] + `","kty":"RSA","n":"` + m["n"] + `"}`
	case "OKP":
		return `{"crv":"` + m["crv"] + `","kty":"OKP","x":"` + m["x"] + `"}`
	}
	t.Fatalf("unexpected kty %q", m["kty"])
	return ""
}

func TestKidIsRFC7638Thumbprint(t *testing.T) {
	t.Parallel()
	mk := testMasterKey(t, 1)
	newKey := newKeyFunc(t)
	for _, alg := range []string{ES256, PS256, EdDSA} {
		t.Run(alg, func(t *testing.T) {
			signer, err := newKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			jwk, err := newJWK(alg, signer)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := sealJWK(mk, jwk, time.Unix(0, 0), time.Unix(0, 0))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256([]byte(rfc7638Input(t, rec.PublicJWK)))
			if want := base64.RawURLEncoding.EncodeToString(sum[:]); rec.ID != want {
				t.Errorf("kid %s, want thumbprint %s", rec.ID, want)
			}
			var pub map[string]any
			_ = json.Unmarshal(rec.PublicJWK, &pub)
			if pub["kid"] != rec.ID || pub["alg"] != alg || pub["use"] != "sig" {
				t.Errorf("public JWK %s lacks kid, alg %s or use sig", rec.PublicJWK, alg)
			}
		})
	}
}

// RFC 8037 Appendix A.3 gives the thumbprint of its example Ed25519 key.
func TestThumbprintRFC8037Example(t *testing.T) {
	t.Parallel()
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`)); err != nil {
		t.Fatal(err)
	}
	got, err := thumbprint(&jwk)
	if err != nil {
		t.Fatal(err)
	}
	if want := "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Errorf("thumbprint %s, want %s", got, want)
	}
}

func TestNewJWKRefusesUnsuitableKeys(t *testing.T) {
	t.Parallel()
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rsa := testRSAKeys(t)[0]
	tests := []struct {
		name string
		alg  string
		key  crypto.Signer
	}{
		{"P-384 for ES256", ES256, p384},
		{"Ed25519 for ES256", ES256, ed},
		{"RSA for ES256", ES256, rsa},
		{"P-256 for RS256", RS256, p256},
		{"P-256 for EdDSA", EdDSA, p256},
		{"RSA for EdDSA", EdDSA, rsa},
		{"unsupported algorithm", "HS256", p256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := newJWK(tt.alg, tt.key); err == nil {
				t.Error("want an error")
			}
		})
	}
}

func TestGenerateKeySizes(t *testing.T) {
	t.Parallel()
	if n := testRSAKeys(t)[0].N.BitLen(); n != 2048 {
		t.Errorf("RSA key has %d bits, want 2048", n)
	}
	for _, alg := range []string{ES256, EdDSA} {
		k, err := generateKey(alg, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkKeyType(alg, k); err != nil {
			t.Errorf("%s: %v", alg, err)
		}
	}
	if _, err := generateKey("none", rand.Reader); err == nil || !strings.Contains(err.Error(), "unsupported") {
		t.Errorf("generateKey(none) = %v, want unsupported", err)
	}
}

func TestOpenJWKChecksRecord(t *testing.T) {
	t.Parallel()
	mk := testMasterKey(t, 1)
	newES256 := func() *jose.JSONWebKey {
		k, _ := generateKey(ES256, rand.Reader)
		jwk, _ := newJWK(ES256, k)
		return &jwk
	}
	a, b := newES256(), newES256()
	recA, _ := sealJWK(mk, *a, time.Unix(0, 0), time.Unix(0, 0))
	recB, _ := sealJWK(mk, *b, time.Unix(0, 0), time.Unix(0, 0))
	if _, err := openJWK(mk, &recA); err != nil {
		t.Fatalf("intact record: %v", err)
	}

	swappedSeal := recA
	swappedSeal.SealedPrivate = recB.SealedPrivate
	swappedPublic := recA
	swappedPublic.PublicJWK = recB.PublicJWK
	wrongAlg := recA
	wrongAlg.Algorithm = EdDSA
	// Sealed under the right kid but holding another key: only a master-key holder could do
	// this, yet the thumbprint check still catches it.
	relabelled := recB
	relabelled.ID = recA.ID
	plain, _ := json.Marshal(*b)
	relabelled.SealedPrivate, _ = mk.Seal(plain, []byte(recA.ID))
	publicOnly := recA
	pub, _ := json.Marshal(a.Public())
	publicOnly.SealedPrivate, _ = mk.Seal(pub, []byte(recA.ID))

	tests := []struct {
		name    string
		rec     *tiaki.SigningKey
		wantErr string
	}{
		{"sealed half of another record", &swappedSeal, "different master key"},
		{"public half of another key", &swappedPublic, "not the public half"},
		{"wrong algorithm", &wrongAlg, "not a valid EdDSA"},
		{"another key under this kid", &relabelled, "does not match"},
		{"public key sealed", &publicOnly, "not a valid private JWK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := openJWK(mk, tt.rec)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
			}
		})
	}
}
