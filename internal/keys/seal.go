package keys

import (
	"crypto/rand"
	"errors"
	"fmt"
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
