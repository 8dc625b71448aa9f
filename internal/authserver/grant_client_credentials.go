package authserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

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
//  5. the grant goes to the in-process store (storage_memory.go), never to SQL. For a token
//     (JWT or opaque) not bound to a key it is the client's shared grant for that scope set
//     and those resources (sharedGrantID): the store keeps one entry per client and scope set,
//     not one per token, and each issue only extends the entry's life to the new token's
//     expiry. Another node rebuilds it from any of its tokens (sharedGrantOf). Revoking one of
//     its tokens revokes that token alone, by jti (endpoint_revoke.go), never the shared grant.

// handleGrant is the engine's hook on every new grant.
func (s *Server) handleGrant(ctx context.Context, typ goidc.GrantType, g *goidc.Grant) error {
	if typ == goidc.GrantClientCredentials {
		return s.clientCredentials(ctx, g)
	}
	return nil
}

func (s *Server) clientCredentials(ctx context.Context, g *goidc.Grant) error {
	reg, err := s.clients.lookup(ctx, g.ClientID)
	if err != nil {
		return err
	}
	if g.Scopes == "" {
		// RFC 6749 §3.3: a request without scope gets a documented default: the client's
		// registered scopes that the catalogue knows.
		g.Scopes = reg.defaultScope
	}
	// A token (JWT or opaque) carries everything introspection reports except what the grant
	// adds (subject, username, revocation), and those are the same for every token of the
	// client with these scopes and resources; a token bound to a key or carrying authorization
	// details keeps a grant of its own.
	if g.Subject == g.ClientID && g.JWKThumbprint == "" &&
		g.CertThumbprint == "" && len(g.AuthDetails) == 0 && len(g.Store) == 0 {
		g.ID = sharedGrantID(g)
	}
	return nil
}

// sharedGrantPrefix starts the ID of a shared client-credentials grant: sharedGrantPrefix and
// 43 base64url characters, a shape randomID (43 characters) never has.
const sharedGrantPrefix = "cc_"

// sharedGrantID names the one grant shared by a client's JWTs with the same scopes and
// resources: the SHA-256 of the client ID, the scopes and each resource, each length-prefixed
// so that no two lists of fields hash alike.
func sharedGrantID(g *goidc.Grant) string {
	b := make([]byte, 0, 256)
	field := func(v string) {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	field(g.ClientID)
	field(g.Scopes)
	for _, r := range g.Resources {
		field(r)
	}
	sum := sha256.Sum256(b)
	return sharedGrantPrefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// isSharedGrantID reports whether id names a shared grant (sharedGrantID).
func isSharedGrantID(id string) bool {
	return len(id) == len(sharedGrantPrefix)+43 && strings.HasPrefix(id, sharedGrantPrefix)
}

// tokenFormat is the client's access-token format if it names one, else the server's.
func (s *Server) tokenFormat(reg *registered) string {
	switch f := reg.client.AccessTokenFormat; f {
	case FormatJWT, FormatOpaque:
		return f
	}
	return s.cfg.AccessTokenFormat
}

// tokenOptions is the engine's per-token settings hook: the client's format if it names one,
// else the server's, with the configured lifetime and algorithm.
func (s *Server) tokenOptions(ctx context.Context, _ *goidc.Grant, c *goidc.Client) goidc.TokenOptions {
	format := s.cfg.AccessTokenFormat
	if reg, err := s.clients.lookup(ctx, c.ID); err == nil {
		format = s.tokenFormat(reg)
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

// tokenResponse is the engine's token response (RFC 6749 §5.1) for client credentials: the
// same fields in the same order, so encoding/json writes the same bytes.
type tokenResponse struct {
	AccessToken string          `json:"access_token,omitempty"`
	ExpiresIn   int             `json:"expires_in,omitempty"`
	TokenType   goidc.TokenType `json:"token_type,omitempty"`
	Scopes      string          `json:"scope,omitempty"`
}

// ccParams are the only parameters issueFast serves; a request with any other (resource,
// authorization_details, ...) goes to the engine.
var ccParams = map[string]bool{"grant_type": true, "scope": true, "client_id": true, "client_secret": true}

// issueFast serves the common client credentials request (steps 1-5 above) as the engine
// would: the same checks in the same order, the same grant saved, the same claims, header and
// response. It signs with the cached key and precomputed header (jwt.go) and writes the claims
// once, where the engine rebuilds its signer and encodes the claims three times; an opaque
// token it seals (opaque.go). It returns false, having written and saved nothing, whenever
// the engine could answer otherwise: other parameters, another client authentication method,
// a scope it would refuse, a non-ECDSA key, a failure. The engine then serves the request,
// errors included.
func (s *Server) issueFast(w http.ResponseWriter, r *http.Request) bool {
	form := r.PostForm
	if s.slow || !formRequest(r) || form.Get("grant_type") != string(goidc.GrantClientCredentials) ||
		len(r.Header.Values("DPoP")) > 0 {
		return false
	}
	for k := range form {
		if !ccParams[k] {
			return false
		}
	}
	reg, ok := s.secretClient(r)
	if !ok {
		return false
	}
	c := &reg.engine
	if !slices.Contains(c.GrantTypes, goidc.GrantClientCredentials) || c.SubIdentifierType != "" {
		return false
	}
	// RFC 6749 §3.3 as validateScopes: each scope in the catalogue and the registration. The
	// engine strips "openid" afterwards; such a request is left to it.
	scopes := form.Get("scope")
	if scopes != "" {
		registered := strings.Fields(c.ScopeIDs)
		for sc := range strings.FieldsSeq(scopes) {
			if sc == goidc.ScopeOpenID.ID || !slices.Contains(s.cfg.Scopes, sc) || !slices.Contains(registered, sc) {
				return false
			}
		}
	}
	ctx := r.Context()
	opts := s.tokenOptions(ctx, nil, c)
	var signer *jwtSigner
	if opts.Format == goidc.TokenFormatJWT {
		if signer = s.keys.snapshot().idx.signers[string(opts.JWTSigAlg)]; signer == nil {
			return false
		}
	}

	// NewGrant: the grant hook fills the default scope and names the shared grant, then the
	// grant is saved (which, for a shared grant already held, only extends its life).
	g := &goidc.Grant{Subject: c.ID, ClientID: c.ID, Scopes: scopes, CreatedAt: int(time.Now().Unix())}
	if s.handleGrant(ctx, goidc.GrantClientCredentials, g) != nil {
		return false
	}
	if g.ID == "" {
		g.ID = randomID(ctx)
	}
	if s.state.SaveGrant(ctx, g) != nil {
		return false
	}

	now := time.Now().Unix()
	var tok string
	var err error
	if signer == nil {
		// An opaque token: the same claims, sealed (opaque.go).
		tok, err = s.seal(&sealedClaims{ClientID: c.ID, Subject: g.Subject, Scope: g.Scopes, GrantID: g.ID,
			ID: jwtID(), IssuedAt: now, Expiry: now + int64(opts.LifetimeSecs)})
	} else {
		tok, err = s.signAccessToken(signer, c.ID, g, now, opts.LifetimeSecs)
	}
	if err != nil {
		// The grant is saved and the engine has nothing to add: answer as it would.
		s.engineError(ctx, fmt.Errorf("could not issue the access token: %w", err))
		e := errServer
		writeError(w, &e)
		return true
	}
	var body bytes.Buffer
	body.Grow(len(tok) + 128)
	_ = json.NewEncoder(&body).Encode(tokenResponse{AccessToken: tok, ExpiresIn: opts.LifetimeSecs,
		TokenType: goidc.TokenTypeBearer, Scopes: g.Scopes}) // strings and an int: cannot fail
	if ctx.Err() != nil {
		return true // the caller has gone (the engine writes nothing either)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store") // RFC 6749 §5.1
	h.Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body.Bytes())
	return true
}

// signAccessToken returns the JWT access token of grant g for client clientID: the claims of
// token.Issue plus tokenClaims' audience, in go-jose's (sorted) order.
func (s *Server) signAccessToken(signer *jwtSigner, clientID string, g *goidc.Grant, now int64, lifetime int) (string, error) {
	var cw claimWriter
	cw.b = make([]byte, 0, 512)
	switch aud := s.audience["aud"].(type) {
	case string:
		cw.str("aud", aud)
	case []string:
		cw.strs("aud", aud)
	}
	cw.str("client_id", clientID)
	cw.num("exp", now+int64(lifetime))
	cw.str("grant_id", g.ID)
	cw.num("iat", now)
	cw.str("iss", s.cfg.Issuer)
	cw.str("jti", jwtID())
	cw.str("scope", g.Scopes)
	cw.str("sub", g.Subject)
	return signer.sign(cw.bytes())
}
