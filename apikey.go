package tiaki

import "time"

// APIKey is a credential an application sends to the gateway in a header on every request
// (Part B §7.3). Tiaki stores only a keyed hash of the key; the key is shown once, when issued.
type APIKey struct {
	// ID is the key's public lookup prefix: the part of the key before its secret half. It is
	// unique, safe to show and log, and how the gateway finds the hash to compare against.
	ID string
	// Hash is the keyed hash of the whole key (see keys.Hasher).
	Hash []byte
	// API names the API (a gateway route's name) the key is valid for.
	API string
	// Name is a human label ("billing batch job").
	Name string
	// Consumer identifies the application or developer the key belongs to.
	Consumer string
	// Scopes are what the key may do on methods of its API that require scopes (apis[].auth
	// .oauth2.scopes), exactly as an access token's scopes would: a request the key alone
	// authorises needs every scope its method lists. A key without scopes (every key issued
	// before keys had scopes) is refused on methods that require any, and keeps working on
	// methods that require none.
	Scopes    []string
	Source    Source
	CreatedAt time.Time
	// ExpiresAt is zero for keys that do not expire.
	ExpiresAt time.Time
	// RevokedAt is zero while the key is valid.
	RevokedAt time.Time
}

// Active reports whether the key may be used at time now.
func (k *APIKey) Active(now time.Time) bool {
	if !k.RevokedAt.IsZero() && !now.Before(k.RevokedAt) {
		return false
	}
	return k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt)
}
