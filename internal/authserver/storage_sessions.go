package authserver

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/luikyv/go-oidc/pkg/goidc"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/web"
)

// The engine's storage duties for people's grants (engine-notes, "Storage is where correctness
// lives"). Authorization requests in progress and the grants behind codes and refresh tokens
// must outlive a process and be shared by every node, so they go to the tiaki.SessionStore;
// short-lived machine grants stay in process (storage_memory.go). One protocolState serves the
// engine as its grant, authorization and refresh-token store and routes each record.
//
// Rules the engine relies on and this file keeps:
//   - every change is read, modify, save: a save is a compare-and-set against the version the
//     same request read (tracked in its exchange), so of two requests redeeming one code or
//     refresh token exactly one wins; the loser answers invalid_grant, never 500;
//   - a revocation always wins: when its compare-and-set loses, it re-reads and retries;
//   - codes and refresh tokens are stored only as SHA-256 indexes, never in clear;
//   - a refresh token rotated away leaves a tombstone naming its grant, so presenting it again
//     is recognised as reuse and revokes the grant (RFC 9700 §4.14.2).

// Index names of grant records.
const (
	indexCode    = "code"
	indexRefresh = "refresh_token"
)

// rotatedPrefix starts the ID of a tombstone: a grant-kind record left by a rotated refresh
// token, named by the token's digest.
const rotatedPrefix = "rotated:"

// revokeRetries bounds the re-reads of a revocation that keeps losing its compare-and-set.
const revokeRetries = 5

// errLostRace is what a store hook returns when its compare-and-set lost; the request's
// exchange records it and the client gets invalid_grant.
var errLostRace = errors.New("authserver: another request changed the record first")

// grantRecord is the Data document of a grant-kind record: a grant, or a tombstone.
type grantRecord struct {
	Grant *goidc.Grant `json:"grant,omitempty"`
	// RefreshOnRedeem marks a grant whose code, once redeemed, comes with a refresh token.
	// The engine draws the refresh token when it creates the grant, at the authorization
	// endpoint, and returns the stored value at redemption; since Tiaki stores refresh tokens
	// only as digests, the token is drawn again at redemption instead (GrantByAuthCode), and
	// the first one, never disclosed, is forgotten.
	RefreshOnRedeem bool `json:"refresh_on_redeem,omitempty"`
	// Family is the grant a rotated-away refresh token belonged to (tombstones only).
	Family string `json:"family,omitempty"`
}

// protocolState is the engine's goidc.GrantManager, goidc.AuthManager and
// goidc.RefreshTokenManager.
type protocolState struct {
	store tiaki.SessionStore // nil: only short-lived grants (no code or refresh flows)
	mem   *grantStore
	now   func() time.Time
	// tokenTTL is the longest access-token lifetime: a grant is kept that long after its last
	// code or refresh token can issue one, so its tokens introspect correctly until they expire.
	tokenTTL time.Duration
	// refreshTTL is the refresh-token lifetime.
	refreshTTL time.Duration
	log        *slog.Logger
	// revoked announces that a grant was revoked (nil: nobody listens).
	revoked func(ctx context.Context, grantID string, until time.Time)
	// revokeToken revokes, by its jti, the JWT of shared grant grantID that the request presented
	// for revocation, in place of the grant (Server.revokeToken).
	revokeToken func(ctx context.Context, grantID string) error
	// dead reports whether the revocation list names a stored grant (its ID, or its client or
	// person since before it was made): its code or refresh token then issues nothing.
	dead func(g *goidc.Grant) bool
}

// digest is the index form of a code or token: SHA-256, base64url.
func digest(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// SaveGrant stores g: in process when it is short-lived and was not read from the store,
// otherwise in the session store.
func (p *protocolState) SaveGrant(ctx context.Context, g *goidc.Grant) error {
	if g.RevokedAt != 0 && isSharedGrantID(g.ID) {
		// The engine revokes a JWT's grant (WithTokenRevocationRevokeGrantOnAccessToken); a
		// shared grant stands for every token of its client and scopes, so only the one token
		// presented is revoked.
		return p.revokeToken(ctx, g.ID)
	}
	x := exchangeFrom(ctx)
	if x.read(tiaki.SessionGrant, g.ID) == nil && shortLived(g) {
		if g.RevokedAt != 0 {
			if prev, err := p.mem.Grant(ctx, g.ID); err == nil && prev.RevokedAt == 0 {
				p.announce(ctx, g.ID)
			}
		}
		return p.mem.SaveGrant(ctx, g)
	}
	if p.store == nil {
		return errNotShortLived
	}
	return p.saveDurable(ctx, x, g)
}

func (p *protocolState) saveDurable(ctx context.Context, x *exchange, g *goidc.Grant) error {
	read := x.read(tiaki.SessionGrant, g.ID)
	indexes := map[string]string{}
	if read != nil {
		maps.Copy(indexes, read.indexes)
	}
	if g.AuthCode != "" {
		indexes[indexCode] = digest(g.AuthCode)
	}
	var rotated string
	pending := false
	switch {
	case g.RefreshToken == "":
	case g.AuthCode != "" && g.AuthCodeConsumedAt == 0:
		pending = true // not disclosed before the code is redeemed: see RefreshOnRedeem
	default:
		h := digest(g.RefreshToken)
		if old := indexes[indexRefresh]; old != "" && old != h {
			rotated = old
		}
		indexes[indexRefresh] = h
	}
	stored := *g
	stored.AuthCode, stored.RefreshToken = "", "" // RFC 9700 §4.14: never at rest in clear
	data, err := json.Marshal(grantRecord{Grant: &stored, RefreshOnRedeem: pending})
	if err != nil {
		return fmt.Errorf("authserver: encoding grant: %w", err)
	}
	s := &tiaki.Session{Kind: tiaki.SessionGrant, ID: g.ID, Indexes: indexes, Data: data, ExpiresAt: p.grantExpiry(g)}
	if rotated != "" && read != nil {
		// Written before the grant: if the grant's update then loses its race, the tombstone
		// names a token that still resolves through its index, which is looked up first.
		p.tombstone(ctx, rotated, g.ID, read.refreshExp)
	}
	if read == nil {
		err = p.store.CreateSession(ctx, s)
	} else {
		s.Version = read.version
		err = p.store.UpdateSession(ctx, s)
	}
	switch {
	case errors.Is(err, tiaki.ErrConflict) && g.RevokedAt != 0:
		return p.revoke(ctx, g.ID)
	case errors.Is(err, tiaki.ErrConflict):
		x.lostRace = true
		return errLostRace
	case err != nil:
		return fmt.Errorf("authserver: saving grant: %w", err)
	}
	x.remember(tiaki.SessionGrant, g.ID, &readRecord{version: s.Version, indexes: indexes,
		revoked: g.RevokedAt != 0, refreshExp: g.RefreshTokenExpiresAt})
	if g.RevokedAt != 0 && (read == nil || !read.revoked) {
		p.announce(ctx, g.ID)
	}
	return nil
}

// grantExpiry is when a grant stops mattering: its code or refresh token can no longer issue
// a token, and every token it issued has expired.
func (p *protocolState) grantExpiry(g *goidc.Grant) time.Time {
	last := max(int64(g.AuthCodeExpiresAt), int64(g.RefreshTokenExpiresAt), p.now().Unix())
	return time.Unix(last, 0).Add(p.tokenTTL + grantGrace)
}

// tombstone records that the refresh token with digest h was rotated away from grant id.
func (p *protocolState) tombstone(ctx context.Context, h, id string, refreshExp int) {
	data, _ := json.Marshal(grantRecord{Family: id}) // one string: cannot fail
	exp := time.Unix(int64(refreshExp), 0)
	if refreshExp == 0 {
		exp = p.now().Add(DefaultRefreshTokenTTL)
	}
	err := p.store.CreateSession(ctx, &tiaki.Session{Kind: tiaki.SessionGrant, ID: rotatedPrefix + h, Data: data, ExpiresAt: exp})
	if err != nil && !errors.Is(err, tiaki.ErrConflict) {
		p.log.WarnContext(ctx, "authserver: could not record a rotated refresh token; its reuse will not be detected",
			"request_id", web.RequestIDFrom(ctx), "grant_id", id, "cause", err.Error())
	}
}

// Grant returns the grant with the given ID from memory or the store, or goidc.ErrNotFound.
func (p *protocolState) Grant(ctx context.Context, id string) (*goidc.Grant, error) {
	if g, err := p.mem.Grant(ctx, id); err == nil {
		return g, nil
	}
	if x := exchangeFrom(ctx); x != nil {
		// A shared grant another node issued: rebuilt from the token presented.
		if g := sharedGrantOf(id, x.revokedToken); g != nil {
			return g, nil
		}
	}
	if p.store == nil || id == "" || len(id) > maxClientIDLen {
		return nil, goidc.ErrNotFound
	}
	s, err := p.store.Session(ctx, tiaki.SessionGrant, id)
	if err != nil {
		return nil, notFound(err)
	}
	rec, err := p.decodeGrant(ctx, s)
	if err != nil {
		return nil, err
	}
	return rec.Grant, nil
}

// GrantByAuthCode returns the grant behind an authorization code.
func (p *protocolState) GrantByAuthCode(ctx context.Context, code string) (*goidc.Grant, error) {
	if p.store == nil || code == "" {
		return nil, goidc.ErrNotFound
	}
	s, err := p.store.SessionByIndex(ctx, tiaki.SessionGrant, indexCode, digest(code))
	if err != nil {
		return nil, notFound(err)
	}
	rec, err := p.decodeGrant(ctx, s)
	if err != nil {
		return nil, err
	}
	g := rec.Grant
	g.AuthCode = code
	if rec.RefreshOnRedeem && g.AuthCodeConsumedAt == 0 && g.RevokedAt == 0 {
		g.RefreshToken = randomID(ctx)
		g.RefreshTokenExpiresAt = int(p.now().Add(p.refreshTTL).Unix())
	}
	return g, nil
}

// GrantByRefreshToken returns the grant whose current refresh token is tkn. A token that was
// rotated away is reuse: when presented to the token endpoint, the grant is revoked (RFC 9700
// §4.14.2: the server cannot tell the legitimate client from an attacker, so both lose it).
func (p *protocolState) GrantByRefreshToken(ctx context.Context, tkn string) (*goidc.Grant, error) {
	if p.store == nil || tkn == "" {
		return nil, goidc.ErrNotFound
	}
	h := digest(tkn)
	s, err := p.store.SessionByIndex(ctx, tiaki.SessionGrant, indexRefresh, h)
	if err == nil {
		rec, err := p.decodeGrant(ctx, s)
		if err != nil {
			return nil, err
		}
		if p.dead != nil && p.dead(rec.Grant) {
			return nil, goidc.ErrNotFound // a client deleted or a person signed out since
		}
		rec.Grant.RefreshToken = tkn
		return rec.Grant, nil
	}
	if !errors.Is(err, tiaki.ErrNotFound) {
		return nil, err
	}
	x := exchangeFrom(ctx)
	if x == nil || x.grantType != string(goidc.GrantRefreshToken) {
		return nil, goidc.ErrNotFound // introspection or revocation of a spent token: just unknown
	}
	tomb, err := p.store.Session(ctx, tiaki.SessionGrant, rotatedPrefix+h)
	if err != nil {
		return nil, notFound(err)
	}
	var rec grantRecord
	if json.Unmarshal(tomb.Data, &rec) != nil || rec.Family == "" {
		return nil, goidc.ErrNotFound
	}
	p.log.WarnContext(ctx, "authserver: a rotated refresh token was presented again; revoking its grant",
		"request_id", web.RequestIDFrom(ctx), "grant_id", rec.Family, "client_id", x.clientID)
	if err := p.revoke(ctx, rec.Family); err != nil && !errors.Is(err, goidc.ErrNotFound) {
		return nil, err
	}
	return nil, goidc.ErrNotFound
}

// revoke marks grant id revoked, re-reading and retrying when another request wrote first.
func (p *protocolState) revoke(ctx context.Context, id string) error {
	for range revokeRetries {
		s, err := p.store.Session(ctx, tiaki.SessionGrant, id)
		if err != nil {
			return notFound(err)
		}
		var rec grantRecord
		if err := json.Unmarshal(s.Data, &rec); err != nil || rec.Grant == nil {
			return goidc.ErrNotFound
		}
		if rec.Grant.RevokedAt != 0 {
			return nil
		}
		rec.Grant.RevokedAt = int(p.now().Unix())
		if s.Data, err = json.Marshal(rec); err != nil {
			return err
		}
		err = p.store.UpdateSession(ctx, s)
		if errors.Is(err, tiaki.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("authserver: revoking grant: %w", err)
		}
		x := exchangeFrom(ctx)
		x.remember(tiaki.SessionGrant, id, &readRecord{version: s.Version, indexes: s.Indexes, revoked: true,
			refreshExp: rec.Grant.RefreshTokenExpiresAt})
		p.announce(ctx, id)
		return nil
	}
	return fmt.Errorf("authserver: revoking grant %s: %w", id, tiaki.ErrConflict)
}

// announce records that grant id was revoked (the revocation list, shared by every node).
func (p *protocolState) announce(ctx context.Context, id string) {
	if p.revoked != nil {
		p.revoked(ctx, id, p.now().Add(p.tokenTTL+grantGrace))
	}
}

// decodeGrant reads a grant record and remembers its version in the request's exchange.
func (p *protocolState) decodeGrant(ctx context.Context, s *tiaki.Session) (*grantRecord, error) {
	var rec grantRecord
	if err := json.Unmarshal(s.Data, &rec); err != nil {
		return nil, fmt.Errorf("authserver: decoding grant %s: %w", s.ID, err)
	}
	if rec.Grant == nil || rec.Grant.ID != s.ID {
		return nil, goidc.ErrNotFound // a tombstone
	}
	exchangeFrom(ctx).remember(tiaki.SessionGrant, s.ID, &readRecord{version: s.Version, indexes: maps.Clone(s.Indexes),
		revoked: rec.Grant.RevokedAt != 0, refreshExp: rec.Grant.RefreshTokenExpiresAt})
	return &rec, nil
}

// SaveSession stores an authorization request in progress.
func (p *protocolState) SaveSession(ctx context.Context, as *goidc.AuthnSession) error {
	if p.store == nil {
		return errNotShortLived
	}
	data, err := json.Marshal(as)
	if err != nil {
		return fmt.Errorf("authserver: encoding authorization session: %w", err)
	}
	x := exchangeFrom(ctx)
	s := &tiaki.Session{Kind: tiaki.SessionAuthn, ID: as.ID, Data: data, ExpiresAt: time.Unix(int64(as.ExpiresAt), 0)}
	if read := x.read(tiaki.SessionAuthn, as.ID); read != nil {
		s.Version = read.version
		err = p.store.UpdateSession(ctx, s)
	} else {
		err = p.store.CreateSession(ctx, s)
	}
	if errors.Is(err, tiaki.ErrConflict) {
		x.lostRace = true
		return errLostRace
	}
	if err != nil {
		return fmt.Errorf("authserver: saving authorization session: %w", err)
	}
	x.remember(tiaki.SessionAuthn, as.ID, &readRecord{version: s.Version})
	return nil
}

// Session returns the authorization request in progress with the given ID.
func (p *protocolState) Session(ctx context.Context, id string) (*goidc.AuthnSession, error) {
	if p.store == nil || id == "" || len(id) > maxClientIDLen {
		return nil, goidc.ErrNotFound
	}
	s, err := p.store.Session(ctx, tiaki.SessionAuthn, id)
	if err != nil {
		return nil, notFound(err)
	}
	var as goidc.AuthnSession
	if err := json.Unmarshal(s.Data, &as); err != nil {
		return nil, fmt.Errorf("authserver: decoding authorization session: %w", err)
	}
	exchangeFrom(ctx).remember(tiaki.SessionAuthn, id, &readRecord{version: s.Version})
	return &as, nil
}

// notFound maps the store's not-found to the engine's, which the engine requires.
func notFound(err error) error {
	if errors.Is(err, tiaki.ErrNotFound) {
		return goidc.ErrNotFound
	}
	return err
}
