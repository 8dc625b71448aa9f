package apikey

import (
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"io"
)

// Key format. An API key is
//
//	tk_<id>_<secret>
//
// where <id> is 12 characters of lowercase RFC 4648 base32 (60 random bits) and <secret> is 43
// characters of unpadded base64url (256 random bits): 59 characters in all. The ID is the public
// lookup prefix stored in tiaki.APIKey.ID, safe to log and show; the whole key is what the keyed
// hash covers. The fixed "tk_" prefix lets secret scanners recognise leaked keys, and the secret
// alone is well past the 40 random characters and 200 bits Part B asks for (catalogue KEY-02).
const (
	prefix    = "tk_"
	idLen     = 12
	secretLen = 43 // base64url of 32 bytes, unpadded
	// KeyLen is the length of every API key.
	KeyLen = len(prefix) + idLen + 1 + secretLen

	idBytes     = 8 // 64 bits read, 60 used
	secretBytes = 32
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Generate makes a new API key and its ID from rand (crypto/rand.Reader in production).
func Generate(rand io.Reader) (key, id string, err error) {
	var b [idBytes + secretBytes]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return "", "", fmt.Errorf("apikey: reading randomness: %w", err)
	}
	id = idEncoding.EncodeToString(b[:idBytes])[:idLen]
	key = prefix + id + "_" + base64.RawURLEncoding.EncodeToString(b[idBytes:])
	return key, id, nil
}

// Parse checks that key has the API key format and returns its ID. It looks at the characters
// only; whether the key is genuine is for the keyed hash to say.
func Parse(key string) (id string, ok bool) {
	if len(key) != KeyLen || key[:len(prefix)] != prefix || key[len(prefix)+idLen] != '_' {
		return "", false
	}
	id = key[len(prefix) : len(prefix)+idLen]
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return "", false
		}
	}
	secret := key[len(prefix)+idLen+1:]
	for i := 0; i < len(secret); i++ {
		if c := secret[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return "", false
		}
	}
	return id, true
}
