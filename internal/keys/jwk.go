package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/tiaki-nz/tiaki"
)

// JWS algorithms a Manager can sign with (RFC 7518 §3.1; EdDSA from RFC 8037 §3.1).
const (
	ES256 = "ES256" // ECDSA P-256 with SHA-256: small, fast; the default for access tokens
	PS256 = "PS256" // RSASSA-PSS with SHA-256 and RSA-2048 (FAPI 2.0 allows PS256 and ES256)
	RS256 = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256: OIDC Core §15.1 requires it for ID tokens
	EdDSA = "EdDSA" // Ed25519
)

// rsaBits is the RSA key size: NIST SP 800-57 Part 1 rates 2048 bits as 112-bit security,
// acceptable through 2030, and RFC 7518 §3.3 requires at least 2048.
const rsaBits = 2048

// SupportedAlgorithm reports whether a Manager can sign with the JWS algorithm alg.
func SupportedAlgorithm(alg string) bool {
	switch alg {
	case ES256, PS256, RS256, EdDSA:
		return true
	}
	return false
}

// generateKey makes a private key for alg. Since Go 1.26 ECDSA and RSA key generation ignore r
// and always use the system's secure source; Ed25519 still reads its seed from r.
func generateKey(alg string, r io.Reader) (crypto.Signer, error) {
	switch alg {
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), r)
	case PS256, RS256:
		return rsa.GenerateKey(r, rsaBits)
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(r)
		return priv, err
	}
	return nil, fmt.Errorf("keys: unsupported signing algorithm %q", alg)
}

// checkKeyType makes sure a private key suits alg, so that a key from a test hook or from the
// store cannot sign with the wrong type or a weak size.
func checkKeyType(alg string, key any) error {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if alg == ES256 && k.Curve == elliptic.P256() {
			return nil
		}
	case *rsa.PrivateKey:
		if (alg == PS256 || alg == RS256) && k.N.BitLen() >= rsaBits {
			return nil
		}
	case ed25519.PrivateKey:
		if alg == EdDSA && len(k) == ed25519.PrivateKeySize {
			return nil
		}
	}
	return fmt.Errorf("keys: a %T is not a valid %s private key", key, alg)
}

// newJWK wraps a private key as a signing JWK whose kid is its RFC 7638 thumbprint, so the kid
// follows from the key itself: stable across restarts and identical on every node.
func newJWK(alg string, key crypto.Signer) (jose.JSONWebKey, error) {
	if err := checkKeyType(alg, key); err != nil {
		return jose.JSONWebKey{}, err
	}
	jwk := jose.JSONWebKey{Key: key, Algorithm: alg, Use: "sig"}
	kid, err := thumbprint(&jwk)
	if err != nil {
		return jose.JSONWebKey{}, err
	}
	jwk.KeyID = kid
	return jwk, nil
}

// thumbprint is the RFC 7638 JWK thumbprint: base64url SHA-256 of the key's required members.
func thumbprint(jwk *jose.JSONWebKey) (string, error) {
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("keys: JWK thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// sealJWK makes the stored record of a new key: the public JWK in clear, the private JWK
// sealed under the master key with the kid as associated data, so a sealed blob moved to
// another record no longer opens.
func sealJWK(mk *MasterKey, jwk jose.JSONWebKey, created, active time.Time) (tiaki.SigningKey, error) {
	pub, err := json.Marshal(jwk.Public())
	if err != nil {
		return tiaki.SigningKey{}, fmt.Errorf("keys: encoding public JWK: %w", err)
	}
	priv, err := json.Marshal(jwk)
	if err != nil {
		return tiaki.SigningKey{}, errors.New("keys: encoding private JWK failed")
	}
	sealed, err := mk.Seal(priv, []byte(jwk.KeyID))
	clear(priv)
	if err != nil {
		return tiaki.SigningKey{}, err
	}
	return tiaki.SigningKey{
		ID:            jwk.KeyID,
		Algorithm:     jwk.Algorithm,
		PublicJWK:     pub,
		SealedPrivate: sealed,
		CreatedAt:     created,
		ActiveAt:      active,
	}, nil
}

// openJWK opens a stored key and checks it against its record: the kid must be the thumbprint
// of the private key, the algorithm must match, and the public JWK must be the same key. A store
// row altered by anyone without the master key therefore fails here rather than signing.
func openJWK(mk *MasterKey, rec *tiaki.SigningKey) (jose.JSONWebKey, error) {
	plain, err := mk.Open(rec.SealedPrivate, []byte(rec.ID))
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("cannot decrypt the private key: it was sealed under a different master key (was %s or %s replaced?) or the record was altered: %w",
			EnvMasterKey, MasterKeyFile, err)
	}
	var jwk jose.JSONWebKey
	err = jwk.UnmarshalJSON(plain)
	clear(plain)
	if err != nil || jwk.IsPublic() || !jwk.Valid() {
		// The parse error is dropped: it could quote private key material.
		return jose.JSONWebKey{}, errors.New("the sealed private key is not a valid private JWK")
	}
	if err := checkKeyType(rec.Algorithm, jwk.Key); err != nil {
		return jose.JSONWebKey{}, err
	}
	if k, ok := jwk.Key.(*rsa.PrivateKey); ok {
		// go-jose leaves the key unprecomputed, and crypto/rsa would then redo the CRT set-up
		// on every signature. Done here, before the key is shared between goroutines.
		k.Precompute()
	}
	kid, err := thumbprint(&jwk)
	if err != nil {
		return jose.JSONWebKey{}, err
	}
	if kid != rec.ID || jwk.KeyID != rec.ID || jwk.Algorithm != rec.Algorithm {
		return jose.JSONWebKey{}, errors.New("the sealed private key does not match its record's kid or algorithm")
	}
	var pub jose.JSONWebKey
	if err := pub.UnmarshalJSON(rec.PublicJWK); err != nil || !pub.IsPublic() {
		return jose.JSONWebKey{}, errors.New("the public JWK is not a valid public key")
	}
	if pkid, err := thumbprint(&pub); err != nil || pkid != kid {
		return jose.JSONWebKey{}, errors.New("the public JWK is not the public half of the private key")
	}
	return jwk, nil
}
