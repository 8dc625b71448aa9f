package authserver

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/password"
	"github.com/tiaki-nz/tiaki/internal/revocation"
)

// fakeSessions is an in-memory tiaki.SessionStore that keeps the contract the SQL stores keep:
// versions, compare-and-set updates, unique index values per kind and name, copies in and out.
type fakeSessions struct {
	mu      sync.Mutex
	records map[tiaki.SessionKind]map[string]*tiaki.Session
	indexes map[tiaki.SessionKind]map[string]string // "name\x00value" -> id
	failing error
}

func newFakeSessions() *fakeSessions {
	return &fakeSessions{records: map[tiaki.SessionKind]map[string]*tiaki.Session{},
		indexes: map[tiaki.SessionKind]map[string]string{}}
}

func copySession(s *tiaki.Session) *tiaki.Session {
	cp := *s
	cp.Indexes = maps.Clone(s.Indexes)
	cp.Data = slices.Clone(s.Data)
	return &cp
}

func (f *fakeSessions) kind(k tiaki.SessionKind) (map[string]*tiaki.Session, map[string]string) {
	if f.records[k] == nil {
		f.records[k], f.indexes[k] = map[string]*tiaki.Session{}, map[string]string{}
	}
	return f.records[k], f.indexes[k]
}

// indexFree reports whether s's index values are unused by any other record of its kind.
func (f *fakeSessions) indexFree(s *tiaki.Session) bool {
	_, idx := f.kind(s.Kind)
	for name, v := range s.Indexes {
		if owner, ok := idx[name+"\x00"+v]; ok && owner != s.ID {
			return false
		}
	}
	return true
}

func (f *fakeSessions) setIndexes(s *tiaki.Session, old map[string]string) {
	_, idx := f.kind(s.Kind)
	for name, v := range old {
		delete(idx, name+"\x00"+v)
	}
	for name, v := range s.Indexes {
		idx[name+"\x00"+v] = s.ID
	}
}

func (f *fakeSessions) CreateSession(_ context.Context, s *tiaki.Session) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing != nil {
		return f.failing
	}
	recs, _ := f.kind(s.Kind)
	if _, ok := recs[s.ID]; ok || !f.indexFree(s) {
		return fmt.Errorf("session %s/%s: %w", s.Kind, s.ID, tiaki.ErrConflict)
	}
	s.Version = 1
	recs[s.ID] = copySession(s)
	f.setIndexes(s, nil)
	return nil
}

func (f *fakeSessions) UpdateSession(_ context.Context, s *tiaki.Session) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing != nil {
		return f.failing
	}
	recs, _ := f.kind(s.Kind)
	old, ok := recs[s.ID]
	switch {
	case !ok:
		return fmt.Errorf("session %s/%s: %w", s.Kind, s.ID, tiaki.ErrNotFound)
	case old.Version != s.Version || !f.indexFree(s):
		return fmt.Errorf("session %s/%s: %w", s.Kind, s.ID, tiaki.ErrConflict)
	}
	s.Version++
	recs[s.ID] = copySession(s)
	f.setIndexes(s, old.Indexes)
	return nil
}

func (f *fakeSessions) Session(_ context.Context, kind tiaki.SessionKind, id string) (*tiaki.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing != nil {
		return nil, f.failing
	}
	recs, _ := f.kind(kind)
	s, ok := recs[id]
	if !ok {
		return nil, fmt.Errorf("session %s/%s: %w", kind, id, tiaki.ErrNotFound)
	}
	return copySession(s), nil
}

func (f *fakeSessions) SessionByIndex(ctx context.Context, kind tiaki.SessionKind, index, value string) (*tiaki.Session, error) {
	f.mu.Lock()
	_, idx := f.kind(kind)
	id, ok := idx[index+"\x00"+value]
	f.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("session %s by %s: %w", kind, index, tiaki.ErrNotFound)
	}
	return f.Session(ctx, kind, id)
}

func (f *fakeSessions) DeleteSession(_ context.Context, kind tiaki.SessionKind, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	recs, _ := f.kind(kind)
	s, ok := recs[id]
	if !ok {
		return fmt.Errorf("session %s/%s: %w", kind, id, tiaki.ErrNotFound)
	}
	delete(recs, id)
	f.setIndexes(&tiaki.Session{Kind: kind}, s.Indexes)
	return nil
}

func (f *fakeSessions) DeleteExpiredSessions(_ context.Context, before time.Time) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for kind, recs := range f.records {
		for id, s := range recs {
			if !s.ExpiresAt.IsZero() && s.ExpiresAt.Before(before) {
				delete(recs, id)
				f.setIndexes(&tiaki.Session{Kind: kind}, s.Indexes)
				n++
			}
		}
	}
	return n, nil
}

// dump returns every stored record's data and index values, to check nothing secret is kept.
func (f *fakeSessions) dump() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := ""
	for _, recs := range f.records {
		for _, s := range recs {
			out += string(s.Data) + fmt.Sprint(s.Indexes) + s.ID + "\n"
		}
	}
	return out
}

// fakeUsers is an in-memory Users with cheap argon2id hashes.
type fakeUsers map[string]*tiaki.User

// cheapHash keeps tests fast: the parameters are read from the hash, so Verify honours them.
var cheapHash = password.Params{Memory: 64, Time: 1, Threads: 1}

func newFakeUsers(t interface{ Fatal(...any) }, accounts map[string]string) fakeUsers {
	f := fakeUsers{}
	for name, pw := range accounts {
		h, err := password.Hash(pw, cheapHash)
		if err != nil {
			t.Fatal(err)
		}
		f[name] = &tiaki.User{Username: name, PasswordHash: h, Claims: map[string]any{
			"name": "Aroha " + name, "email": name + "@example.govt.nz", "email_verified": true, "phone_number": "+64 4 000 0000"}}
	}
	return f
}

func (f fakeUsers) User(_ context.Context, username string) (*tiaki.User, error) {
	u, ok := f[username]
	if !ok {
		return nil, fmt.Errorf("user %q: %w", username, tiaki.ErrNotFound)
	}
	cp := *u
	return &cp, nil
}

// fakeLimiter allows Burst events per key per window of the clock, the minimal rate limiter.
type fakeLimiter struct {
	now func() time.Time

	mu     sync.Mutex
	counts map[string]int
	window map[string]time.Time
	err    error
}

func newFakeLimiter(now func() time.Time) *fakeLimiter {
	return &fakeLimiter{now: now, counts: map[string]int{}, window: map[string]time.Time{}}
}

func (f *fakeLimiter) Allow(_ context.Context, key string, l tiaki.Limit, n int) (tiaki.Decision, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return tiaki.Decision{}, f.err
	}
	now := f.now()
	if end, ok := f.window[key]; !ok || !now.Before(end) {
		f.window[key], f.counts[key] = now.Add(l.Per), 0
	}
	if f.counts[key]+n > l.Burst {
		wait := f.window[key].Sub(now)
		return tiaki.Decision{Limit: l.Burst, RetryAfter: wait, ResetAfter: wait}, nil
	}
	f.counts[key] += n
	return tiaki.Decision{Allowed: true, Limit: l.Burst, Remaining: l.Burst - f.counts[key]}, nil
}

// fakeReplay is an in-memory tiaki.ReplayCache.
type fakeReplay struct {
	mu   sync.Mutex
	seen map[string]bool
	err  error
}

func (f *fakeReplay) Consume(_ context.Context, key string, _ time.Duration) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, f.err
	}
	if f.seen == nil {
		f.seen = map[string]bool{}
	}
	if f.seen[key] {
		return false, nil
	}
	f.seen[key] = true
	return true, nil
}

// fakeFeed is the node's revocation list (revocation.List, this node only) that also
// remembers, by ID, the end of every revocation recorded through it.
type fakeFeed struct {
	mu      sync.Mutex
	list    *revocation.List
	revoked map[string]time.Time
}

func (f *fakeFeed) Revoke(ctx context.Context, r tiaki.Revocation) error {
	f.mu.Lock()
	if f.revoked == nil {
		f.revoked = map[string]time.Time{}
	}
	if f.list == nil {
		f.list = revocation.New(nil, revocation.Options{})
	}
	f.revoked[r.ID] = r.Until
	l := f.list
	f.mu.Unlock()
	return l.Revoke(ctx, r)
}

func (f *fakeFeed) Revoked(jti, grantID, clientID, subject string, iat time.Time) bool {
	f.mu.Lock()
	l := f.list
	f.mu.Unlock()
	return l != nil && l.Revoked(jti, grantID, clientID, subject, iat)
}

// remote records a revocation of a token or grant made on another node.
func (f *fakeFeed) remote(kind tiaki.RevocationKind, id string, until time.Time) {
	_ = f.Revoke(context.Background(), tiaki.Revocation{Kind: kind, ID: id, At: time.Now(), Until: until})
}

func (f *fakeFeed) IsRevoked(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.revoked[id]
	return ok
}
