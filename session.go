package tiaki

import (
	"context"
	"time"
)

// SessionKind names a kind of authorization-server protocol state.
type SessionKind string

// Session kinds. The authorization server defines what each Data document holds; stores treat
// it as opaque bytes.
const (
	// SessionAuthn is an authorization request in progress: the person is logging in or
	// consenting; it ends when the code is issued.
	SessionAuthn SessionKind = "authn"
	// SessionGrant is what a person (or client) granted: it backs authorization codes, refresh
	// tokens and the access tokens issued from them, and is revoked as a whole.
	SessionGrant SessionKind = "grant"
	// SessionPAR is a pushed authorization request (RFC 9126).
	SessionPAR SessionKind = "par"
	// SessionDevice is a device authorization (RFC 8628).
	SessionDevice SessionKind = "device"
	// SessionCIBA is a client-initiated backchannel authentication (OpenID CIBA).
	SessionCIBA SessionKind = "ciba"
	// SessionToken is an opaque access token's record.
	SessionToken SessionKind = "token"
)

// Session is one record of the authorization server's protocol state.
type Session struct {
	Kind SessionKind
	ID   string
	// Version is set by the store: 1 when created, one more at every update. Updates are
	// compare-and-set on it, which is how "single use under concurrency" holds: of two requests
	// redeeming one code, exactly one update wins and the other gets ErrConflict.
	Version int64
	// Indexes are secondary lookup keys, name to value: for example "code" → SHA-256 of the
	// authorization code, "refresh_token" → SHA-256 of the refresh token. Secret values are
	// hashed by the caller before they get here. A value is unique per kind and index name.
	Indexes map[string]string
	// Data is the authorization server's encoding of the record (JSON).
	Data []byte
	// ExpiresAt is when the record stops mattering; DeleteExpiredSessions removes it after.
	// Stores do not hide expired records from lookups: the caller checks.
	ExpiresAt time.Time
}

// SessionStore persists authorization-server protocol state that must outlive a process and be
// shared by every node: authorization requests, grants behind refresh tokens, device and CIBA
// sessions. Short-lived machine grants (client credentials) never come here: they live in a TTL
// store in memory or Redis, so issuing a JWT writes nothing to SQL.
type SessionStore interface {
	// CreateSession inserts s and sets s.Version to 1. ErrConflict if the kind and ID, or any
	// index value of the same kind and name, is taken.
	CreateSession(ctx context.Context, s *Session) error
	// UpdateSession replaces the stored record if its version equals s.Version, then sets
	// s.Version to the new version. Indexes are replaced as a whole: values no longer listed
	// stop resolving. ErrConflict when another update won (or an index value is taken);
	// ErrNotFound when there is no such record.
	UpdateSession(ctx context.Context, s *Session) error
	// Session returns the record of that kind and ID, or ErrNotFound.
	Session(ctx context.Context, kind SessionKind, id string) (*Session, error)
	// SessionByIndex returns the record whose index name holds value, or ErrNotFound.
	SessionByIndex(ctx context.Context, kind SessionKind, index, value string) (*Session, error)
	// DeleteSession removes a record; ErrNotFound if there is none.
	DeleteSession(ctx context.Context, kind SessionKind, id string) error
	// DeleteExpiredSessions removes records whose ExpiresAt is non-zero and before before, and
	// returns how many it removed.
	DeleteExpiredSessions(ctx context.Context, before time.Time) (int, error)
}
