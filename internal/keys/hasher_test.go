package keys

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
)

func TestHasher(t *testing.T) {
	t.Parallel()
	h := NewHasher(testMasterKey(t, 1))
	other := NewHasher(testMasterKey(t, 2))
	secret := "s3cr3t-Kx9dW0f6u3RgM1b0z4Jq2n8tYvA7cLhPqE5wZyUo"
	hash := h.Hash(secret)
	tests := []struct {
		name   string
		h      *Hasher
		secret string
		hash   []byte
		want   bool
	}{
		{"right secret", h, secret, hash, true},
		{"same key, new Hasher", NewHasher(testMasterKey(t, 1)), secret, hash, true},
		{"wrong secret", h, secret + "x", hash, false},
		{"prefix of the secret", h, secret[:len(secret)-1], hash, false},
		{"empty secret", h, "", hash, false},
		{"another master key", other, secret, hash, false},
		{"truncated hash", h, secret, hash[:31], false},
		{"empty hash", h, secret, nil, false},
		{"oversized secret", h, strings.Repeat("a", MaxSecretLen+1), h.Hash(strings.Repeat("a", MaxSecretLen+1)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.h.Verify(tt.secret, tt.hash); got != tt.want {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
	if len(hash) != sha256.Size {
		t.Errorf("hash length %d, want %d", len(hash), sha256.Size)
	}
	if string(hash) == string(sha256.New().Sum([]byte(secret))) {
		t.Error("hash is unkeyed")
	}
}

func TestHasherConcurrent(t *testing.T) {
	t.Parallel()
	h := NewHasher(testMasterKey(t, 1))
	want := h.Hash("secret")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if !h.Verify("secret", want) || h.Verify("secreT", want) {
					t.Error("concurrent Verify gave a wrong answer")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestGenerateSecret(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		s, err := GenerateSecret()
		if err != nil {
			t.Fatal(err)
		}
		v := s.Reveal()
		if len(v) != 43 {
			t.Fatalf("secret has %d characters, want 43", len(v))
		}
		raw, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || len(raw) != 32 {
			t.Fatalf("secret is not 32 bytes of unpadded base64url (err %v)", err)
		}
		if seen[v] {
			t.Fatal("GenerateSecret repeated a secret")
		}
		seen[v] = true
	}
}

func BenchmarkVerify(b *testing.B) {
	h := NewHasher(testMasterKey(b, 1))
	secret, _ := GenerateSecret()
	hash := h.Hash(secret.Reveal())
	b.ReportAllocs()
	for b.Loop() {
		if !h.Verify(secret.Reveal(), hash) {
			b.Fatal("Verify failed")
		}
	}
}
