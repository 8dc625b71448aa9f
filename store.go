package tiaki

import (
	"context"
	"time"
)

// Store is everything Tiaki persists. Two implementations exist: internal/store/sqlite (the
// embedded default) and internal/store/postgres (many nodes); internal/store/storetest is the
// conformance suite both pass. Consumers should declare the narrower interface they need
// (ClientStore, APIKeyStore, ...) rather than take a Store.
type Store interface {
	ClientStore
	APIKeyStore
	UserStore
	SigningKeyStore
	SessionStore
	RevocationStore
	// Ping reports whether the store is reachable; /readyz turns false while it fails.
	Ping(ctx context.Context) error
	Close() error
}

// ClientStore persists OAuth clients.
type ClientStore interface {
	// CreateClient inserts c; ErrConflict if the ID is taken.
	CreateClient(ctx context.Context, c *Client) error
	// PutClient inserts or replaces c (config-declared clients are rewritten at every start).
	PutClient(ctx context.Context, c *Client) error
	// UpdateClient replaces an existing client; ErrNotFound if there is none.
	UpdateClient(ctx context.Context, c *Client) error
	// Client returns the client with the given ID, or ErrNotFound.
	Client(ctx context.Context, id string) (*Client, error)
	// Clients lists all clients ordered by ID.
	Clients(ctx context.Context) ([]Client, error)
	// DeleteClient removes a client; ErrNotFound if there is none.
	DeleteClient(ctx context.Context, id string) error
}

// APIKeyFilter narrows APIKeys. Zero fields match everything.
type APIKeyFilter struct {
	API string
}

// APIKeyStore persists API keys.
type APIKeyStore interface {
	// CreateAPIKey inserts k; ErrConflict if the ID is taken.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// PutAPIKey inserts or replaces k (for config-declared and demo keys).
	PutAPIKey(ctx context.Context, k *APIKey) error
	// APIKey returns the key with the given ID, or ErrNotFound.
	APIKey(ctx context.Context, id string) (*APIKey, error)
	// APIKeys lists keys matching f, ordered by creation time then ID.
	APIKeys(ctx context.Context, f APIKeyFilter) ([]APIKey, error)
	// RevokeAPIKey marks a key revoked at time at; ErrNotFound if there is none. Revoking a
	// revoked key keeps the first revocation time.
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error
	// APIKeysRevokedSince returns the IDs of keys revoked at or after since, so every gateway
	// node can drop them from its cache (revocation within seconds across nodes).
	APIKeysRevokedSince(ctx context.Context, since time.Time) ([]string, error)
}

// UserStore persists local user accounts.
type UserStore interface {
	// PutUser inserts or replaces u.
	PutUser(ctx context.Context, u *User) error
	// User returns the user with the given username, or ErrNotFound.
	User(ctx context.Context, username string) (*User, error)
	// Users lists all users ordered by username.
	Users(ctx context.Context) ([]User, error)
	// DeleteUser removes a user; ErrNotFound if there is none.
	DeleteUser(ctx context.Context, username string) error
}

// SigningKeyStore persists the authorization server's signing keys (private halves sealed).
type SigningKeyStore interface {
	// PutSigningKey inserts or replaces k.
	PutSigningKey(ctx context.Context, k *SigningKey) error
	// SigningKeys lists all keys ordered by creation time, oldest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// DeleteSigningKey removes a key; ErrNotFound if there is none.
	DeleteSigningKey(ctx context.Context, id string) error
}
