package tiaki

import (
	"context"
	"time"
)

// CredentialKind names how a caller proved who it is.
type CredentialKind string

// Credential kinds the gateway accepts.
const (
	CredentialAPIKey CredentialKind = "api_key"
	CredentialBearer CredentialKind = "bearer"
	CredentialDPoP   CredentialKind = "dpop"
	CredentialMTLS   CredentialKind = "mtls"
)

// Principal is who a request acts for, as established by authentication. Policies later in a
// pipeline (scopes, per-consumer rate limits, the identity assertion sent upstream, audit) read it.
type Principal struct {
	// Consumer is the calling application: an OAuth client_id, an API key's consumer, or a
	// client certificate's subject.
	Consumer string
	// Subject is the end user a token was issued for; empty for machine-to-machine calls.
	Subject string
	// Scopes of the credential that authorises the request: an access token's when one was
	// presented, else an API key's; none for a client certificate alone (see
	// policy.AdmitScopes).
	Scopes []string
	// Credentials lists every mechanism that authenticated this request, in order.
	Credentials []CredentialKind
	// CredentialID identifies the credential without revealing it: an API key's ID, a token's jti.
	CredentialID string
	// ExpiresAt is when the credential stops being valid; zero if it does not expire.
	ExpiresAt time.Time
}

// HasScope reports whether the principal holds scope s.
func (p *Principal) HasScope(s string) bool {
	for _, have := range p.Scopes {
		if have == s {
			return true
		}
	}
	return false
}

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal carried by ctx, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
