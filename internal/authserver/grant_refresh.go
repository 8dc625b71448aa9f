package authserver

import (
	"context"
	"slices"
	"strings"

	"github.com/luikyv/go-oidc/pkg/goidc"
)

// The refresh token grant (RFC 6749 §6), as the engine runs it and Tiaki completes it:
//
//  1. a refresh token is issued with a code only when shouldIssueRefresh says so: the client
//     registers the refresh_token grant type, and either the person granted offline_access or
//     the client does not ask for offline_access at all (for such a client, registering the
//     grant type is the setting that turns refresh tokens on);
//  2. it lives Config.RefreshTokenTTL (24 h by default) and is stored only as its SHA-256
//     (storage_sessions.go);
//  3. every use rotates it (RFC 9700 §4.14.2): the old one stops working and leaves a
//     tombstone, so presenting it again revokes the whole grant, refresh and access tokens
//     alike; of two concurrent uses exactly one wins and the other gets invalid_grant;
//  4. a refreshed response carries a new ID token (with at_hash) when openid was granted.

// shouldIssueRefresh is the engine's refresh-token hook (see 1 above). The engine has already
// checked that the client registers the refresh_token grant type.
func (s *Server) shouldIssueRefresh(_ context.Context, c *goidc.Client, g *goidc.Grant) bool {
	offline := goidc.ScopeOfflineAccess.ID
	if slices.Contains(strings.Fields(g.Scopes), offline) {
		return true
	}
	return !slices.Contains(strings.Fields(c.ScopeIDs), offline)
}
