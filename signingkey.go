package tiaki

import "time"

// SigningKey is one key the authorization server signs tokens with. Its life has four
// moments: created (published in the JWKS so verifiers can cache it), active (signs new tokens),
// retired (signs no more, still published), expired (every token it signed has expired; no
// longer published).
type SigningKey struct {
	ID        string // the JWK "kid"
	Algorithm string // JWS algorithm: ES256, PS256, RS256
	// PublicJWK is the public half as a JSON Web Key.
	PublicJWK []byte
	// SealedPrivate is the private JWK encrypted (AES-GCM) under the key-encryption key. The
	// private key never reaches the store in clear.
	SealedPrivate []byte
	CreatedAt     time.Time
	ActiveAt      time.Time
	// RetiredAt is zero while the key may sign.
	RetiredAt time.Time
	// ExpiresAt is zero until the key retires; then RetiredAt plus the longest token lifetime.
	ExpiresAt time.Time
}

// Published reports whether the key belongs in the JWKS at time now.
func (k *SigningKey) Published(now time.Time) bool {
	return k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt)
}

// Signs reports whether the key may sign new tokens at time now.
func (k *SigningKey) Signs(now time.Time) bool {
	return !now.Before(k.ActiveAt) && (k.RetiredAt.IsZero() || now.Before(k.RetiredAt))
}
