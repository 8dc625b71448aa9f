package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"slices"
	"sync"
)

// sealInfo is the HKDF label of the sealing key. A new format gets a new label and version byte.
const sealInfo = "tiaki seal v1"

const (
	sealVersion  byte = 1
	nonceSize         = 12 // 96-bit GCM nonce (NIST SP 800-38D §8.2.2, random construction)
	tagSize           = 16
	sealOverhead      = 1 + nonceSize + tagSize
)

// ErrOpen reports sealed data that cannot be opened: it was sealed under another master key or
// with other associated data, or it was altered. AES-GCM cannot tell these apart, by design.
var ErrOpen = errors.New("keys: cannot open sealed data (another master key, other associated data, or altered)")

// Seal encrypts and authenticates plaintext with AES-256-GCM under a key derived from the
// master key, binding associatedData (not stored; Open needs the same value). The result is
// version byte || 96-bit random nonce || ciphertext and tag. Random nonces are safe here: keys
// are sealed a handful of times, far below the 2^32 messages per key that NIST SP 800-38D
// §8.3 allows.
func (mk *MasterKey) Seal(plaintext, associatedData []byte) ([]byte, error) {
	out := make([]byte, 1+nonceSize, len(plaintext)+sealOverhead)
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("keys: sealing: %w", err)
	}
	return mk.aead.Seal(out, out[1:], plaintext, associatedData), nil
}

// Open reverses Seal. Any change to sealed, a different associatedData or a different master
// key yields an error matching ErrOpen.
func (mk *MasterKey) Open(sealed, associatedData []byte) ([]byte, error) {
	if len(sealed) < sealOverhead {
		return nil, fmt.Errorf("%w: too short", ErrOpen)
	}
	if sealed[0] != sealVersion {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrOpen, sealed[0])
	}
	plain, err := mk.aead.Open(nil, sealed[1:1+nonceSize], sealed[1+nonceSize:], associatedData)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// Sealer seals many small messages under one key derived from the master key: opaque access
// tokens, which every node must open and a busy node seals thousands of times a second.
// MasterKey.Seal does not fit them: its random 96-bit nonces under one key allow 2^32 messages
// (NIST SP 800-38D §8.3), a few days of tokens. A Sealer draws a 128-bit random salt per
// message and seals under its own key, HMAC-SHA256(derived key, salt), with a fixed nonce: each
// key seals one message, so no nonce is ever reused under a key, and two messages share a key
// only if their salts collide (probability about q²/2^129 over q messages). The result is
// version byte || salt || ciphertext and tag.
type Sealer struct {
	version byte
	pool    sync.Pool // of keyed HMAC states, reset before use
}

const (
	saltSize            = 16
	sealerOverhead      = 1 + saltSize + tagSize
	sealerVersion  byte = 1
)

// Sealer returns a Sealer under the key derived from mk with label, a fixed string in code
// with a version ("tiaki opaque token v1"), distinct from every other label.
func (mk *MasterKey) Sealer(label string) *Sealer {
	key := mk.Derive(label, sha256.Size)
	s := &Sealer{version: sealerVersion}
	s.pool.New = func() any { return hmac.New(sha256.New, key) }
	return s
}

// SealerOverhead is how many bytes Sealer.Seal adds to a plaintext.
const SealerOverhead = sealerOverhead

var zeroNonce [nonceSize]byte

// aead returns the AES-256-GCM of the message key for salt.
func (s *Sealer) aead(salt []byte) (cipher.AEAD, error) {
	m := s.pool.Get().(hash.Hash)
	m.Reset()
	m.Write(salt)
	var key [sha256.Size]byte
	m.Sum(key[:0])
	s.pool.Put(m)
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal appends to dst the sealed form of plaintext, binding associatedData (not stored; Open
// needs the same value).
func (s *Sealer) Seal(dst, plaintext, associatedData []byte) ([]byte, error) {
	start := len(dst)
	dst = slices.Grow(dst, len(plaintext)+sealerOverhead)
	dst = append(dst, s.version)
	dst = dst[:len(dst)+saltSize]
	salt := dst[start+1:]
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("keys: sealing: %w", err)
	}
	aead, err := s.aead(salt)
	if err != nil {
		return nil, fmt.Errorf("keys: sealing: %w", err)
	}
	return aead.Seal(dst, zeroNonce[:], plaintext, associatedData), nil
}

// Open appends to dst the plaintext of sealed. Any change to sealed, a different
// associatedData or another master key or label yields an error matching ErrOpen.
func (s *Sealer) Open(dst, sealed, associatedData []byte) ([]byte, error) {
	if len(sealed) < sealerOverhead {
		return nil, fmt.Errorf("%w: too short", ErrOpen)
	}
	if sealed[0] != s.version {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrOpen, sealed[0])
	}
	aead, err := s.aead(sealed[1 : 1+saltSize])
	if err != nil {
		return nil, ErrOpen
	}
	out, err := aead.Open(dst, zeroNonce[:], sealed[1+saltSize:], associatedData)
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}
