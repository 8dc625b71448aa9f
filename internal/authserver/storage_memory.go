package authserver

import (
	"container/heap"
	"context"
	"errors"
	"maps"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/luikyv/go-oidc/pkg/goidc"
)

// The engine saves a grant for every token it issues, and introspection and revocation of a JWT
// resolve the token's grant_id. Short-lived machine grants (client credentials) are kept here,
// in process, until their last token expires: nothing reaches SQL per token. Across nodes the
// same role falls to Redis; long-lived grants (with refresh tokens) belong in SQL.
//
// Client-credentials tokens, JWT and opaque alike, share one grant per client, scope set and
// resources (sharedGrantID in grant_client_credentials.go): issuing a token only moves that
// grant's expiry (ttlMap.touch), so the store holds a handful of entries whatever the issue
// rate. Opaque tokens themselves are sealed, not stored (opaque.go).

// grantGrace keeps a grant a little past its last token's expiry: the grant is saved just
// before the token is stamped, and the engine counts lifetimes in whole seconds.
const grantGrace = 2 * time.Second

// errStoreFull is returned when a store is at capacity. The store refuses new entries rather
// than drop live ones (the engine's own store silently drops the oldest, so revoked or live
// tokens would introspect wrongly); the token endpoint answers 503.
var errStoreFull = errors.New("authserver: an in-process store is full")

var errNotShortLived = errors.New("authserver: the in-process grant store holds short-lived grants only " +
	"(no refresh token, code, device or CIBA state)")

// ttlMap is a bounded map whose entries expire a fixed time after they are first put, unless
// touch moves the expiry later. A heap of expiry times lets every put drop the expired entries
// in O(log n) each. Each entry has exactly one heap entry, at or before its expiry: touch leaves
// the heap alone, and expire moves an entry's heap entry on when it finds the entry extended.
type ttlMap[V any] struct {
	now func() time.Time
	max int

	mu    sync.Mutex
	items map[string]ttlItem[V]
	heap  expiryHeap
}

type ttlItem[V any] struct {
	v       V
	expires int64 // unix nanoseconds
}

func newTTLMap[V any](now func() time.Time, max int) *ttlMap[V] {
	return &ttlMap[V]{now: now, max: max, items: make(map[string]ttlItem[V])}
}

// put stores v under key. A key already present keeps its expiry: a revoked grant is saved
// again and must live exactly as long as the token it revokes, no longer.
func (m *ttlMap[V]) put(key string, v V, ttl time.Duration) error {
	now := m.now().UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(now)
	if it, ok := m.items[key]; ok {
		it.v = v
		m.items[key] = it
		return nil
	}
	if len(m.items) >= m.max {
		return errStoreFull
	}
	at := now + int64(ttl)
	m.items[key] = ttlItem[V]{v: v, expires: at}
	heap.Push(&m.heap, expiryEntry{key: key, at: at})
	return nil
}

// touch moves the expiry of the live entry under key to now+ttl, if that is later, and reports
// whether there was one. It allocates nothing: it is the whole cost of a shared grant's save.
func (m *ttlMap[V]) touch(key string, ttl time.Duration) bool {
	now := m.now().UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(now)
	it, ok := m.items[key]
	if !ok {
		return false
	}
	if at := now + int64(ttl); at > it.expires {
		it.expires = at
		m.items[key] = it
	}
	return true
}

// get returns the live value under key.
func (m *ttlMap[V]) get(key string) (V, bool) {
	now := m.now().UnixNano()
	m.mu.Lock()
	it, ok := m.items[key]
	m.mu.Unlock()
	if !ok || it.expires <= now {
		var zero V
		return zero, false
	}
	return it.v, true
}

func (m *ttlMap[V]) size() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items)
}

// expire drops every entry due at or before now; m.mu is held.
func (m *ttlMap[V]) expire(now int64) {
	for len(m.heap) > 0 && m.heap[0].at <= now {
		e := heap.Pop(&m.heap).(expiryEntry)
		it, ok := m.items[e.key]
		switch {
		case !ok:
		case it.expires <= now:
			delete(m.items, e.key)
		default: // touched since: follow the entry to its new expiry
			heap.Push(&m.heap, expiryEntry{key: e.key, at: it.expires})
		}
	}
}

type expiryEntry struct {
	key string
	at  int64
}

type expiryHeap []expiryEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// grantStore is the engine's goidc.GrantManager for short-lived grants.
type grantStore struct {
	m   *ttlMap[machineGrant]
	ttl time.Duration
}

// machineGrant is the part of goidc.Grant a short-lived grant uses: about a third of the size
// of the full struct, which matters at a million live grants.
type machineGrant struct {
	id, clientID, subject, username, scopes string
	jkt, x5t                                string
	resources                               []string
	authDetails                             []goidc.AuthDetail
	store                                   map[string]any
	createdAt, revokedAt                    int
}

func newGrantStore(now func() time.Time, max int, ttl time.Duration) *grantStore {
	return &grantStore{m: newTTLMap[machineGrant](now, max), ttl: ttl}
}

// SaveGrant stores g until its tokens expire. A shared grant already held only has its expiry
// moved to that of the token being issued (its fields are the same by construction of its ID).
func (s *grantStore) SaveGrant(_ context.Context, g *goidc.Grant) error {
	if !shortLived(g) {
		return errNotShortLived
	}
	if g.RevokedAt == 0 && isSharedGrantID(g.ID) && s.m.touch(g.ID, s.ttl) {
		return nil
	}
	return s.m.put(g.ID, machineGrant{
		id: g.ID, clientID: g.ClientID, subject: g.Subject, username: g.Username, scopes: g.Scopes,
		jkt: g.JWKThumbprint, x5t: g.CertThumbprint,
		resources:   slices.Clone(g.Resources),
		authDetails: slices.Clone(g.AuthDetails),
		store:       maps.Clone(g.Store),
		createdAt:   g.CreatedAt, revokedAt: g.RevokedAt,
	}, s.ttl)
}

// Grant returns the grant with the given ID, or goidc.ErrNotFound once it has expired.
func (s *grantStore) Grant(_ context.Context, id string) (*goidc.Grant, error) {
	mg, ok := s.m.get(id)
	if !ok {
		return nil, goidc.ErrNotFound
	}
	return &goidc.Grant{
		ID: mg.id, ClientID: mg.clientID, Subject: mg.subject, Username: mg.username, Scopes: mg.scopes,
		JWKThumbprint: mg.jkt, CertThumbprint: mg.x5t,
		Resources:   slices.Clone(mg.resources),
		AuthDetails: slices.Clone(mg.authDetails),
		Store:       maps.Clone(mg.store),
		CreatedAt:   mg.createdAt, RevokedAt: mg.revokedAt,
	}, nil
}

// shortLived reports whether g carries no state that outlives its access token.
func shortLived(g *goidc.Grant) bool {
	return g.RefreshToken == "" && g.AuthCode == "" && g.DeviceCode == "" && g.AuthReqID == "" &&
		g.PreAuthCode == "" && reflect.ValueOf(g.AuthParams).IsZero()
}
