package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/luikyv/go-oidc/pkg/goidc"

	"github.com/tiaki-nz/tiaki"
)

const (
	// clientTTL is how long a client lookup is trusted. The token endpoint is the hot path and
	// every request needs the client; a changed client takes effect within this time on every
	// node, or at once on a node told through InvalidateClient.
	clientTTL = 5 * time.Second
	// maxCachedClients bounds the cache, which unknown IDs sent by anyone would otherwise grow.
	maxCachedClients = 10_000
	// maxClientIDLen bounds IDs before they reach the store.
	maxClientIDLen = 256
)

// registered is one client as the server uses it: Tiaki's record and the engine's view of it.
type registered struct {
	client *tiaki.Client
	engine goidc.Client
	// defaultScope is granted to client-credentials requests that name no scope.
	defaultScope string
}

type clientEntry struct {
	reg     *registered // nil when the client does not exist
	expires time.Time
	// verified is when the store last answered for this client: while the store cannot be
	// reached the entry is used until verified plus the outage grace.
	verified time.Time
}

// clientCache caches client lookups, found and not found, for clientTTL, and while the store
// cannot be reached keeps answering from what it last read, for at most grace.
type clientCache struct {
	src     Clients
	now     func() time.Time
	catalog []string
	grace   time.Duration

	mu      sync.RWMutex
	entries map[string]clientEntry
}

func newClientCache(src Clients, now func() time.Time, catalog []string, grace time.Duration) *clientCache {
	return &clientCache{src: src, now: now, catalog: catalog, grace: grace, entries: make(map[string]clientEntry)}
}

// lookup returns the client with the given ID, or an error wrapping goidc.ErrNotFound (which
// the engine turns into invalid_client). Other errors are the store's and become server_error.
func (cc *clientCache) lookup(ctx context.Context, id string) (*registered, error) {
	if id == "" || len(id) > maxClientIDLen {
		return nil, goidc.ErrNotFound
	}
	now := cc.now()
	cc.mu.RLock()
	e, ok := cc.entries[id]
	cc.mu.RUnlock()
	if ok && now.Before(e.expires) {
		if e.reg == nil {
			return nil, goidc.ErrNotFound
		}
		return e.reg, nil
	}

	c, err := cc.src.Client(ctx, id)
	var reg *registered
	switch {
	case errors.Is(err, tiaki.ErrNotFound):
	case err != nil:
		if ok && now.Before(e.verified.Add(cc.grace)) {
			// The store is unreachable; what it said last holds for the outage grace, cached
			// for another clientTTL so the outage costs one failed lookup per client per TTL.
			// A client invalidated (deleted, changed) before the outage is not in the cache.
			e.expires = now.Add(clientTTL)
			if end := e.verified.Add(cc.grace); end.Before(e.expires) {
				e.expires = end
			}
			cc.mu.Lock()
			cc.entries[id] = e
			cc.mu.Unlock()
			if e.reg == nil {
				return nil, goidc.ErrNotFound
			}
			return e.reg, nil
		}
		err = fmt.Errorf("authserver: loading client: %w", err)
		// The engine would report any error here as the client's (invalid_client) or its own
		// (server_error); the exchange tells the response writer it was the store's.
		if x := exchangeFrom(ctx); x != nil && x.internal == nil {
			x.internal = err
		}
		return nil, err
	case c == nil || c.ID != id:
		return nil, errors.New("authserver: the client store answered with another client")
	default:
		reg = cc.register(c)
	}

	cc.mu.Lock()
	if len(cc.entries) >= maxCachedClients {
		for k, old := range cc.entries {
			if !now.Before(old.expires) {
				delete(cc.entries, k)
			}
		}
	}
	if len(cc.entries) < maxCachedClients {
		cc.entries[id] = clientEntry{reg: reg, expires: now.Add(clientTTL), verified: now}
	}
	cc.mu.Unlock()

	if reg == nil {
		return nil, goidc.ErrNotFound
	}
	return reg, nil
}

func (cc *clientCache) invalidate(id string) {
	cc.mu.Lock()
	delete(cc.entries, id)
	cc.mu.Unlock()
}

// register converts a client once per cache fill, so the hot path does no conversion.
func (cc *clientCache) register(c *tiaki.Client) *registered {
	c = clone(c)
	granted := make([]string, 0, len(c.Scopes))
	for _, sc := range c.Scopes {
		// Client credentials act for no end user: OIDC scopes mean nothing there.
		if slices.Contains(cc.catalog, sc) && sc != goidc.ScopeOpenID.ID && sc != goidc.ScopeOfflineAccess.ID {
			granted = append(granted, sc)
		}
	}
	return &registered{client: c, engine: toEngineClient(c), defaultScope: strings.Join(granted, " ")}
}

func clone(c *tiaki.Client) *tiaki.Client {
	cp := *c
	cp.SecretHash = slices.Clone(c.SecretHash)
	cp.JWKS = slices.Clone(c.JWKS)
	cp.RedirectURIs = slices.Clone(c.RedirectURIs)
	cp.GrantTypes = slices.Clone(c.GrantTypes)
	cp.Scopes = slices.Clone(c.Scopes)
	return &cp
}

// toEngineClient maps Tiaki's client to the engine's. Secret carries the keyed hash, never a
// secret: the engine hands it to verifySecret and nowhere else while client_secret_jwt is off.
func toEngineClient(c *tiaki.Client) goidc.Client {
	grants := make([]goidc.GrantType, len(c.GrantTypes))
	for i, g := range c.GrantTypes {
		grants[i] = goidc.GrantType(g)
	}
	var responseTypes []goidc.ResponseType
	if slices.Contains(grants, goidc.GrantAuthorizationCode) {
		responseTypes = []goidc.ResponseType{goidc.ResponseTypeCode}
	}
	appType, redirects := engineRedirects(c.RedirectURIs)
	ec := goidc.Client{
		ID:     c.ID,
		Secret: string(c.SecretHash),
		ClientMeta: goidc.ClientMeta{
			Name:                        c.Name,
			ApplicationType:             appType,
			RedirectURIs:                redirects,
			ResponseTypes:               responseTypes,
			GrantTypes:                  grants,
			ScopeIDs:                    strings.Join(c.Scopes, " "),
			TokenAuthnMethod:            goidc.AuthnMethod(c.AuthMethod),
			TLSSubjectDistinguishedName: c.TLSSubject,
			// Empty: the engine's default, RS256 when a key allows it (idTokenAlgs).
			IDTokenSigAlg: goidc.SignatureAlgorithm(c.IDTokenSigningAlg),
		},
	}
	if len(c.JWKS) > 0 {
		var set goidc.JSONWebKeySet
		if json.Unmarshal(c.JWKS, &set) == nil {
			ec.JWKS = &set
		}
	}
	return ec
}

// engineRedirects returns the redirect URIs as the engine must see them. RFC 8252 §7.3 lets a
// native app listen on any loopback port, so the server must accept any port on a loopback
// IP redirect URI. The engine does that only for native clients, and drops the port from the
// request's URI before its exact match (engine-notes), so a client with a loopback redirect
// URI becomes native and its loopback URIs are registered without their port. Every other URI
// is matched exactly as registered.
func engineRedirects(uris []string) (goidc.ApplicationType, []string) {
	out := slices.Clone(uris)
	native := false
	for i, raw := range out {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "http" {
			continue
		}
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() {
			native = true
			host := u.Hostname()
			if strings.Contains(host, ":") {
				host = "[" + host + "]"
			}
			u.Host = host
			out[i] = u.String()
		}
	}
	if native {
		return goidc.ApplicationTypeNative, out
	}
	return goidc.ApplicationTypeWeb, out
}

// redirectAllowed reports whether uri is one of c's redirect URIs: an exact match, or for a
// loopback IP URI an exact match once the port is set aside (RFC 8252 §7.3).
func redirectAllowed(c *tiaki.Client, uri string) bool {
	if slices.Contains(c.RedirectURIs, uri) {
		return true
	}
	_, registered := engineRedirects(c.RedirectURIs)
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || u.User != nil {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() {
		return false
	}
	_, asSeen := engineRedirects([]string{uri})
	return slices.Contains(registered, asSeen[0])
}

// engineClients is the engine's client store (goidc.DCRManager), read-only.
type engineClients struct{ cache *clientCache }

// Client returns a copy of the cached client, so nothing the engine does to it leaks into the
// cache or into another request.
func (e engineClients) Client(ctx context.Context, id string) (*goidc.Client, error) {
	reg, err := e.cache.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	c := reg.engine
	return &c, nil
}

// SaveClient refuses: clients are created through Tiaki's apps service, never by the engine.
func (engineClients) SaveClient(context.Context, *goidc.Client) error { return errRegistrationClosed }

// DeleteClient refuses, as SaveClient does.
func (engineClients) DeleteClient(context.Context, string) error { return errRegistrationClosed }
