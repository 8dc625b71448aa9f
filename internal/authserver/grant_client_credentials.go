package authserver

import (
	"context"

	"github.com/luikyv/go-oidc/pkg/goidc"
)

// The client credentials grant (RFC 6749 §4.4), as the engine runs it and Tiaki completes it:
//
//  1. the engine authenticates the client (client_secret_basic or client_secret_post, the
//     secret checked by verifySecret against its keyed hash) and checks the client is
//     registered for the grant type;
//  2. the engine checks each requested scope is in the catalogue and in the client's
//     registration, answering invalid_scope otherwise (RFC 6749 §5.2);
//  3. handleGrant fills in the default scope when none was requested;
//  4. tokenOptions picks the format, lifetime and algorithm; tokenClaims adds the audience;
//  5. the grant goes to the in-process store (storage_memory.go), never to SQL.

// handleGrant is the engine's hook on every new grant.
func (s *Server) handleGrant(ctx context.Context, typ goidc.GrantType, g *goidc.Grant) error {
	if typ == goidc.GrantClientCredentials {
		return s.clientCredentials(ctx, g)
	}
	return nil
}

func (s *Server) clientCredentials(ctx context.Context, g *goidc.Grant) error {
	if g.Scopes != "" {
		return nil
	}
	// RFC 6749 §3.3: a request without scope gets a documented default: the client's
	// registered scopes that the catalogue knows.
	reg, err := s.clients.lookup(ctx, g.ClientID)
	if err != nil {
		return err
	}
	g.Scopes = reg.defaultScope
	return nil
}

// tokenOptions is the engine's per-token settings hook: the client's format if it names one,
// else the server's, with the configured lifetime and algorithm.
func (s *Server) tokenOptions(ctx context.Context, _ *goidc.Grant, c *goidc.Client) goidc.TokenOptions {
	format := s.cfg.AccessTokenFormat
	if reg, err := s.clients.lookup(ctx, c.ID); err == nil {
		switch f := reg.client.AccessTokenFormat; f {
		case FormatJWT, FormatOpaque:
			format = f
		}
	}
	secs := int(s.cfg.AccessTokenTTL.Seconds())
	if format == FormatOpaque {
		return goidc.NewOpaqueTokenOptions(secs)
	}
	return goidc.NewJWTTokenOptions(goidc.SignatureAlgorithm(s.cfg.SigningAlgorithm), secs)
}

// tokenClaims is the engine's access-token claims hook. The engine sets aud only from resource
// indicators; RFC 9068 §2.2 requires aud, so a token without them gets the default audience.
// The engine also returns these claims from introspection of opaque tokens.
func (s *Server) tokenClaims(_ context.Context, t *goidc.Token, _ *goidc.Grant) map[string]any {
	if len(t.Resources) > 0 {
		return nil
	}
	return s.audience // shared and never written: the engine only copies from it
}
