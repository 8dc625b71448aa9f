package keys

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	mk := testMasterKey(t, 1)
	tests := []struct {
		name      string
		plaintext []byte
		ad        []byte
	}{
		{"empty", nil, nil},
		{"with associated data", []byte(`{"kty":"EC","d":"secret"}`), []byte("kid-1")},
		{"large", bytes.Repeat([]byte("x"), 64<<10), []byte("kid-2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sealed, err := mk.Seal(tt.plaintext, tt.ad)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(sealed), len(tt.plaintext)+sealOverhead; got != want {
				t.Errorf("sealed length %d, want %d", got, want)
			}
			if sealed[0] != sealVersion {
				t.Errorf("version byte %d, want %d", sealed[0], sealVersion)
			}
			if len(tt.plaintext) > 8 && bytes.Contains(sealed, tt.plaintext[:8]) {
				t.Error("sealed data contains the plaintext")
			}
			got, err := mk.Open(sealed, tt.ad)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Error("Open returned different plaintext")
			}
		})
	}
}

func TestSealUsesFreshNonces(t *testing.T) {
	t.Parallel()
	mk := testMasterKey(t, 1)
	a, _ := mk.Seal([]byte("same"), nil)
	b, _ := mk.Seal([]byte("same"), nil)
	if bytes.Equal(a[1:1+nonceSize], b[1:1+nonceSize]) || bytes.Equal(a, b) {
		t.Error("two seals of the same plaintext share a nonce")
	}
}

func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	mk := testMasterKey(t, 1)
	ad := []byte("kid-1")
	sealed, err := mk.Seal([]byte("private key"), ad)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name   string
		mk     *MasterKey
		sealed []byte
		ad     []byte
	}{
		{"another master key", testMasterKey(t, 2), sealed, ad},
		{"wrong associated data", mk, sealed, []byte("kid-2")},
		{"missing associated data", mk, sealed, nil},
		{"altered version", mk, flip(0), ad},
		{"altered nonce", mk, flip(1), ad},
		{"altered ciphertext", mk, flip(1 + nonceSize), ad},
		{"altered tag", mk, flip(len(sealed) - 1), ad},
		{"truncated", mk, sealed[:len(sealed)-1], ad},
		{"too short", mk, sealed[:sealOverhead-1], ad},
		{"empty", mk, nil, ad},
		{"extended", mk, append(bytes.Clone(sealed), 0), ad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.mk.Open(tt.sealed, tt.ad)
			if !errors.Is(err, ErrOpen) {
				t.Fatalf("Open = %q, %v; want ErrOpen", got, err)
			}
			if got != nil {
				t.Error("Open returned data with an error")
			}
		})
	}
}

func TestDerive(t *testing.T) {
	t.Parallel()
	a, b, other := testMasterKey(t, 1), testMasterKey(t, 1), testMasterKey(t, 2)
	if !bytes.Equal(a.Derive("label", 32), b.Derive("label", 32)) {
		t.Error("the same master key and label derived different keys")
	}
	if bytes.Equal(a.Derive("label", 32), a.Derive("label2", 32)) {
		t.Error("different labels derived the same key")
	}
	if bytes.Equal(a.Derive("label", 32), other.Derive("label", 32)) {
		t.Error("different master keys derived the same key")
	}
	if bytes.Equal(a.Derive(sealInfo, 32), a.Derive(hashInfo, 32)) {
		t.Error("sealing and hashing share a key")
	}
	for _, n := range []int{1, 16, 64, 8160} {
		if got := len(a.Derive("label", n)); got != n {
			t.Errorf("Derive(%d) returned %d bytes", n, got)
		}
	}
	for _, n := range []int{0, -1, 8161} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), "out of range") {
					t.Errorf("Derive(%d) did not panic with a range message: %v", n, r)
				}
			}()
			a.Derive("label", n)
		}()
	}
}

func FuzzOpen(f *testing.F) {
	mk := testMasterKey(f, 1)
	sealed, _ := mk.Seal([]byte("plaintext"), []byte("ad"))
	f.Add(sealed, []byte("ad"))
	f.Add([]byte{1}, []byte(nil))
	f.Add(bytes.Repeat([]byte{1}, sealOverhead), []byte("ad"))
	f.Fuzz(func(t *testing.T, data, ad []byte) {
		got, err := mk.Open(data, ad)
		// Only the seeded message is authentic. (Fuzz workers seal their own copy with a new
		// nonce, so compare what it says, not its bytes.)
		if err == nil && (string(got) != "plaintext" || string(ad) != "ad") {
			t.Fatalf("forged data opened: %q", got)
		}
	})
}

func FuzzParseMasterKey(f *testing.F) {
	for _, s := range []string{"", "AAAA", strings.Repeat("ab", 32), strings.Repeat("A", 43), strings.Repeat("A", 44) + "=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		raw, err := parseMasterKey(s)
		if err == nil && len(raw) != MasterKeySize {
			t.Fatalf("parsed a %d-byte key", len(raw))
		}
		if err != nil && len(s) >= 24 && strings.Contains(err.Error(), s) {
			t.Fatalf("error %q echoes the input", err)
		}
	})
}

func TestSealerRoundTrip(t *testing.T) {
	t.Parallel()
	mk := testMasterKey(t, 1)
	s := mk.Sealer("tiaki test sealer v1")
	ad := []byte("aad")
	a, err := s.Seal(nil, []byte("claims"), ad)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Seal([]byte("prefix"), []byte("claims"), ad)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len("claims")+SealerOverhead || string(b[:6]) != "prefix" {
		t.Fatalf("sealed lengths %d and %d", len(a), len(b))
	}
	if string(a) == string(b[6:]) {
		t.Error("two seals of one message are equal: the salt is not random")
	}
	for _, sealed := range [][]byte{a, b[6:]} {
		got, err := s.Open(nil, sealed, ad)
		if err != nil || string(got) != "claims" {
			t.Fatalf("Open = %q, %v", got, err)
		}
	}
	other := mk.Sealer("tiaki other sealer v1")
	if _, err := other.Open(nil, a, ad); !errors.Is(err, ErrOpen) {
		t.Errorf("another label opened it: %v", err)
	}
	if _, err := s.Open(nil, a, []byte("other")); !errors.Is(err, ErrOpen) {
		t.Errorf("other associated data opened it: %v", err)
	}
	for i := range a {
		c := bytes.Clone(a)
		c[i] ^= 1
		if _, err := s.Open(nil, c, ad); !errors.Is(err, ErrOpen) {
			t.Fatalf("altered byte %d opened: %v", i, err)
		}
	}
	if _, err := s.Open(nil, a[:10], ad); !errors.Is(err, ErrOpen) {
		t.Errorf("short input: %v", err)
	}
}
