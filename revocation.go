package tiaki

import (
	"context"
	"time"
)

// RevocationKind says what a Revocation names.
type RevocationKind string

// The kinds of revocation. Every node keeps a copy of the revocations in force and refuses the
// access tokens they name, JWTs it verifies itself included.
const (
	// RevokedToken names one access token by its jti (RFC 7009 revocation of that token).
	RevokedToken RevocationKind = "token"
	// RevokedGrant names every access token of a grant by its grant_id: a refresh-token family
	// revoked for reuse (RFC 9700 §4.14.2), a logout, a revoked refresh token.
	RevokedGrant RevocationKind = "grant"
	// RevokedClient names every access token issued to a client up to and including the
	// second of At (tokens carry iat in whole seconds): a deleted client, a secret rotated
	// with its tokens revoked.
	RevokedClient RevocationKind = "client"
	// RevokedSubject names every access token issued for a person (sub, when it is not the
	// client itself) up to and including the second of At, and every grant of theirs made by
	// then, refresh tokens included: a sign-out of Tiaki (single sign-on ends for every
	// client).
	RevokedSubject RevocationKind = "subject"
)

// Revocation is one recorded revocation of access tokens.
type Revocation struct {
	Kind RevocationKind
	// ID is the jti, grant ID or client ID, by Kind.
	ID string
	// At is when it was revoked; a later revocation of the same kind and ID moves it later.
	At time.Time
	// Until is when every token it names has expired, so the record may be deleted.
	Until time.Time
}

// RevocationStore persists revocations of access tokens so that every node learns of them
// (each polls RevocationsSince) and a node that restarts still refuses what was revoked.
type RevocationStore interface {
	// RecordRevocation stores r. Recording a kind and ID already recorded keeps the later At
	// and the later Until of the two.
	RecordRevocation(ctx context.Context, r *Revocation) error
	// RevocationsSince returns the revocations whose At is at or after since and whose Until
	// is after it, oldest first.
	RevocationsSince(ctx context.Context, since time.Time) ([]Revocation, error)
	// DeleteExpiredRevocations deletes the revocations whose Until is before now and returns
	// how many it deleted.
	DeleteExpiredRevocations(ctx context.Context, now time.Time) (int64, error)
}
