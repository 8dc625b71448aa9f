package authserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/luikyv/go-oidc/pkg/goidc"
)

// Opaque access tokens carry their claims sealed (AES-256-GCM, keys.Sealer) under a key every
// node derives from the shared master key, so the server keeps nothing per token: any node
// opens any token, and memory does not grow with the number of live tokens (issue 11, item
// 10: the records of the first implementation took 4.5 KB a token). "Opaque" is for the
// client, which cannot read or change what it holds; revocation is by jti, grant and client,
// through the revocation list every node shares (Deps.Revocations).
//
// A token is opaquePrefix, then base64url (RFC 4648 §5, no padding) of the sealed claims:
// version byte || salt || ciphertext || tag, the issuer bound as associated data.

// OpaqueTokenLabel is the label of the key opaque access tokens are sealed under
// (keys.MasterKey.Sealer): every node of a deployment derives the same key.
const OpaqueTokenLabel = "tiaki opaque token v1"

// OpaquePrefix starts every opaque access token Tiaki issues, so people, logs and secret
// scanners (and the gateway) can tell one at a glance.
const OpaquePrefix = "tiaki_at_"

const opaquePrefix = OpaquePrefix

// maxSealedLen bounds a presented opaque token before it is decoded.
const maxSealedLen = 4096

// Sealer seals and opens opaque access tokens; keys.Sealer satisfies it.
type Sealer interface {
	Seal(dst, plaintext, associatedData []byte) ([]byte, error)
	Open(dst, sealed, associatedData []byte) ([]byte, error)
}

// sealedClaims are the claims inside an opaque access token, named as RFC 9068 and RFC 7662
// name them. Resources are the resource indicators the token was issued for (its aud); a
// token without them has the server's default audience.
type sealedClaims struct {
	ClientID    string                   `json:"client_id"`
	Subject     string                   `json:"sub"`
	Scope       string                   `json:"scope,omitempty"`
	Resources   []string                 `json:"res,omitempty"`
	GrantID     string                   `json:"grant_id"`
	ID          string                   `json:"jti"`
	IssuedAt    int64                    `json:"iat"`
	Expiry      int64                    `json:"exp"`
	Cnf         *goidc.TokenConfirmation `json:"cnf,omitempty"`
	AuthDetails []goidc.AuthDetail       `json:"authorization_details,omitempty"`
}

var errNoSealer = errors.New("authserver: opaque access tokens need Deps.Sealer")

// seal returns the opaque access token carrying c.
func (s *Server) seal(c *sealedClaims) (string, error) {
	if s.sealer == nil {
		return "", errNoSealer
	}
	plain, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	sealed, err := s.sealer.Seal(make([]byte, 0, len(plain)+64), plain, s.sealAD)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	out := make([]byte, 0, len(opaquePrefix)+enc.EncodedLen(len(sealed)))
	out = append(out, opaquePrefix...)
	return string(enc.AppendEncode(out, sealed)), nil
}

// isSealed reports whether tok has the shape of an opaque access token of Tiaki's.
func isSealed(tok string) bool {
	return strings.HasPrefix(tok, opaquePrefix) && len(tok) <= maxSealedLen
}

// open returns the claims of an opaque access token this deployment sealed, or nil for
// anything else (another shape, another issuer or master key, an altered token). It does not
// judge expiry or revocation.
func (s *Server) open(tok string) *sealedClaims {
	if s.sealer == nil || !isSealed(tok) {
		return nil
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(tok[len(opaquePrefix):]) // one spelling per token
	if err != nil {
		return nil
	}
	plain, err := s.sealer.Open(nil, raw, s.sealAD)
	if err != nil {
		return nil
	}
	var c sealedClaims
	if json.Unmarshal(plain, &c) != nil || c.ClientID == "" || c.GrantID == "" || c.ID == "" || c.Expiry == 0 {
		return nil
	}
	return &c
}

// sealedClaimsOf are the sealed claims of an access token the engine built.
func sealedClaimsOf(t *goidc.Token) *sealedClaims {
	c := &sealedClaims{ClientID: t.ClientID, Subject: t.Subject, Scope: t.Scopes, Resources: slices.Clone(t.Resources),
		GrantID: t.GrantID, ID: jwtID(), IssuedAt: int64(t.CreatedAt), Expiry: int64(t.ExpiresAt), AuthDetails: t.AuthDetails}
	if t.JWKThumbprint != "" || t.CertThumbprint != "" {
		c.Cnf = &goidc.TokenConfirmation{JWKThumbprint: t.JWKThumbprint, CertThumbprint: t.CertThumbprint}
	}
	return c
}

// token is the engine's view of the sealed claims (goidc.Token), for its introspection and
// revocation of opaque tokens.
func (c *sealedClaims) token(value string) *goidc.Token {
	t := &goidc.Token{ID: value, GrantID: c.GrantID, ClientID: c.ClientID, Subject: c.Subject,
		CreatedAt: int(c.IssuedAt), ExpiresAt: int(c.Expiry), Format: goidc.TokenFormatOpaque,
		Type: goidc.TokenTypeBearer, Scopes: c.Scope, AuthDetails: c.AuthDetails, Resources: slices.Clone(c.Resources)}
	if c.Cnf != nil {
		t.JWKThumbprint, t.CertThumbprint = c.Cnf.JWKThumbprint, c.Cnf.CertThumbprint
		if t.JWKThumbprint != "" {
			t.Type = goidc.TokenTypeDPoP
		}
	}
	return t
}

// claims are c as the claims of a presented token.
func (c *sealedClaims) claims() *jwtClaims {
	return &jwtClaims{ID: c.ID, GrantID: c.GrantID, ClientID: c.ClientID, Subject: c.Subject, Scope: c.Scope,
		IssuedAt: c.IssuedAt, Expiry: c.Expiry, resources: c.Resources}
}

// sharedGrantOf is the shared client-credentials grant id, rebuilt from the claims of one of
// its tokens, or nil when c is not a token of that shared grant. A shared grant is fully
// determined by its client, scopes and resources (sharedGrantID), so any node can rebuild it
// from a token it has verified, without having seen the grant: the grant store of the node
// that issued the token is not needed to introspect or revoke it elsewhere.
func sharedGrantOf(id string, c *jwtClaims) *goidc.Grant {
	if c == nil || c.GrantID != id || !isSharedGrantID(id) || c.Subject != c.ClientID {
		return nil
	}
	// A JWT's aud is its resources, or the default audience when it has none.
	for _, res := range [][]string{c.resources, c.Audience, nil} {
		g := &goidc.Grant{ClientID: c.ClientID, Subject: c.ClientID, Scopes: c.Scope, Resources: slices.Clone(res)}
		if sharedGrantID(g) == id {
			g.ID, g.CreatedAt = id, int(c.IssuedAt)
			return g
		}
	}
	return nil
}

// opaqueTokens is the engine's goidc.OpaqueTokenManager. It stores nothing. The engine fixes a
// token's value (OpaqueTokenFunc, which sees only the grant) before it builds the token (scopes
// narrowed by the request, resources, expiry), so the value it returns is a placeholder, one
// per request; SaveToken seals the finished token and serveToken puts the sealed value in the
// response in the placeholder's place. Token opens a sealed value.
type opaqueTokens struct{ s *Server }

// opaquePlaceholder is the engine's value of an opaque token, replaced in the response.
func opaquePlaceholder(ctx context.Context, _ *goidc.Grant) string {
	return "placeholder-" + randomID(ctx)
}

// SaveToken seals t and records the sealed value for the response.
func (o opaqueTokens) SaveToken(ctx context.Context, t *goidc.Token) error {
	x := exchangeFrom(ctx)
	if x == nil {
		return errors.New("authserver: an opaque token issued outside a token request")
	}
	tok, err := o.s.seal(sealedClaimsOf(t))
	if err != nil {
		return err
	}
	x.placeholder, x.sealed = t.ID, tok
	return nil
}

// Token opens a sealed value, or returns goidc.ErrNotFound.
func (o opaqueTokens) Token(ctx context.Context, value string) (*goidc.Token, error) {
	c := o.s.open(value)
	if c == nil {
		return nil, goidc.ErrNotFound
	}
	if x := exchangeFrom(ctx); x != nil && x.revokedToken == nil {
		x.revokedToken = c.claims()
	}
	t := c.token(value)
	if o.s.revoked(c) {
		t.RevokedAt = int(c.IssuedAt) // any non-zero value: the engine only tests it
	}
	return t, nil
}

// revoked reports whether the revocation list names the token, its grant or (for tokens
// issued before the client's revocation) its client.
func (s *Server) revoked(c *sealedClaims) bool {
	return s.revocations.Revoked(c.ID, c.GrantID, c.ClientID, person(c.Subject, c.ClientID), time.Unix(c.IssuedAt, 0))
}

// person is a token's subject when it is a person's, or "" when the subject is the client
// (client credentials): revocations of people must not reach a client of the same name.
func person(subject, clientID string) string {
	if subject == clientID {
		return ""
	}
	return subject
}

// introspectSealed returns the RFC 7662 §2.2 answer for an opaque access token: inactive unless
// it opens, has not expired and is not revoked, and the grant behind it (unless a shared
// client-credentials grant, which a token fully describes) still exists unrevoked.
func (s *Server) introspectSealed(ctx context.Context, tok string) ([]byte, error) {
	c := s.open(tok)
	now := s.wall().Unix()
	if c == nil || now >= c.Expiry || s.revoked(c) {
		return inactive, nil
	}
	var username string
	if sharedGrantOf(c.GrantID, c.claims()) == nil {
		g, err := s.state.Grant(ctx, c.GrantID)
		switch {
		case errors.Is(err, goidc.ErrNotFound):
			return inactive, nil
		case err != nil:
			return nil, err
		case g.RevokedAt != 0:
			return inactive, nil
		}
		username = g.Username
	}
	info := map[string]any{
		"active": true, "iss": s.cfg.Issuer, "client_id": c.ClientID, "sub": c.Subject,
		"iat": c.IssuedAt, "nbf": c.IssuedAt, "exp": c.Expiry, "jti": c.ID, "grant_id": c.GrantID,
		"token_type": goidc.TokenTypeBearer,
	}
	if c.Scope != "" {
		info["scope"] = c.Scope
	}
	if len(c.Resources) > 0 {
		info["aud"] = c.Resources
	} else {
		info["aud"] = s.audience["aud"]
	}
	if username != "" {
		info["username"] = username
	}
	if c.Cnf != nil {
		info["cnf"] = c.Cnf
		if c.Cnf.JWKThumbprint != "" {
			info["token_type"] = goidc.TokenTypeDPoP
		}
	}
	if len(c.AuthDetails) > 0 {
		info["authorization_details"] = c.AuthDetails
	}
	body, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	return append(body, '\n'), nil
}

// IntrospectToken answers, in process, what the introspection endpoint answers an authorized
// caller about an opaque access token of this server (RFC 7662 §2.2): the gateway's way to
// check Tiaki's own opaque tokens without a network round trip. Anything else is inactive.
func (s *Server) IntrospectToken(ctx context.Context, tok string) ([]byte, error) {
	return s.introspectSealed(ctx, tok)
}

var _ goidc.OpaqueTokenManager = opaqueTokens{}
