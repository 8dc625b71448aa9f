// Package revocation is a node's copy of the access-token revocations in force: tokens by jti,
// grants, clients and people (tiaki.Revocation). The authorization server records revocations through
// it (List.Revoke: the store first, so every node learns of them, then this node's copy at
// once); every node polls the store for the others' (List.Run); the gateway's bearer policy and
// introspection ask it about every token (List.Revoked), a few map lookups without I/O.
//
// Start with New, List.Revoke and List.Revoked.
package revocation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tiaki-nz/tiaki"
)

const (
	// DefaultPoll is how often Run asks the store for revocations recorded on other nodes:
	// with one poll in flight at most, a revocation is refused everywhere within about twice
	// this (the catalogue's bound is 5 s).
	DefaultPoll = time.Second
	// overlap is how far back each poll looks before the previous one, for clocks that
	// disagree between nodes and for writes that committed late.
	overlap = 10 * time.Second
	// MaxEntries bounds this node's copy; Revoke refuses new revocations past it (ErrFull)
	// rather than forget one. Every entry lives only until the tokens it names expire.
	MaxEntries = 1_000_000
)

// ErrFull is returned by Revoke when the copy holds MaxEntries live revocations.
var ErrFull = errors.New("revocation: too many live revocations")

// List is the node's copy of the revocations in force. It is safe for concurrent use.
type List struct {
	store tiaki.RevocationStore // nil: this node only (tests, a store without revocations)
	now   func() time.Time
	log   *slog.Logger
	// onClient is told of every client revocation, so the authorization server drops the
	// client from its caches.
	onClient func(id string)

	// size is the number of entries; zero lets Revoked answer without a lock.
	size atomic.Int64
	mu   sync.RWMutex
	// tokens and grants map an ID to the Unix second its entry may be dropped; clients map
	// an ID to its entry.
	tokens, grants    map[string]int64
	clients, subjects map[string]timedEntry
}

// timedEntry revokes the tokens issued at or before at, until until.
type timedEntry struct {
	at    int64 // Unix second: tokens issued at or before it are revoked
	until int64
}

// Options are New's settings; the zero value is valid.
type Options struct {
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Logger receives store failures; slog.Default() if nil.
	Logger *slog.Logger
	// OnClient is called for each client revocation learnt from the store or recorded here.
	OnClient func(id string)
}

// New returns an empty list recording to store (nil: this node only).
func New(store tiaki.RevocationStore, o Options) *List {
	l := &List{store: store, now: o.Now, log: o.Logger, onClient: o.OnClient,
		tokens: map[string]int64{}, grants: map[string]int64{}, clients: map[string]timedEntry{},
		subjects: map[string]timedEntry{}}
	if l.now == nil {
		l.now = time.Now
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	return l
}

// Revoke puts r in force in this node's copy at once, then records it in the store, so every
// node refuses what it names within a poll. A store failure is returned; the revocation is
// still in force here.
func (l *List) Revoke(ctx context.Context, r tiaki.Revocation) error {
	if r.ID == "" || r.At.IsZero() || r.Until.IsZero() {
		return fmt.Errorf("revocation: %s revocation without an ID, time or end: %w", r.Kind, tiaki.ErrInvalid)
	}
	if !r.Until.After(l.now()) {
		return nil // everything it names has expired
	}
	if l.size.Load() >= MaxEntries {
		l.prune()
		if l.size.Load() >= MaxEntries {
			return ErrFull
		}
	}
	l.apply(r)
	if l.store == nil {
		return nil
	}
	if err := l.store.RecordRevocation(ctx, &r); err != nil {
		return fmt.Errorf("revocation: recording: %w", err)
	}
	return nil
}

// Revoked reports whether an access token (or a grant, with jti empty and issuedAt its
// creation) with these claims is revoked: its jti, its grant, or its client or subject for a
// token issued at or before their revocation (to the second). subject is empty for a token
// whose sub is its client.
func (l *List) Revoked(jti, grantID, clientID, subject string, issuedAt time.Time) bool {
	if l.size.Load() == 0 {
		return false
	}
	// An entry past its end names only tokens that have expired, which are refused anyway, so
	// entries are not judged by the clock here (prune drops them).
	iat := issuedAt.Unix()
	l.mu.RLock()
	defer l.mu.RUnlock()
	if _, ok := l.tokens[jti]; ok && jti != "" {
		return true
	}
	if _, ok := l.grants[grantID]; ok && grantID != "" {
		return true
	}
	if e, ok := l.clients[clientID]; ok && clientID != "" && iat <= e.at {
		return true
	}
	if e, ok := l.subjects[subject]; ok && subject != "" && iat <= e.at {
		return true
	}
	return false
}

// apply adds r to this node's copy, keeping the later time of two revocations of one ID.
func (l *List) apply(r tiaki.Revocation) {
	until := r.Until.Unix() + 1 // round up: never forget early
	l.mu.Lock()
	switch r.Kind {
	case tiaki.RevokedToken:
		l.put(l.tokens, r.ID, until)
	case tiaki.RevokedGrant:
		l.put(l.grants, r.ID, until)
	case tiaki.RevokedClient:
		l.putTimed(l.clients, r, until)
	case tiaki.RevokedSubject:
		l.putTimed(l.subjects, r, until)
	}
	l.mu.Unlock()
	if r.Kind == tiaki.RevokedClient && l.onClient != nil {
		l.onClient(r.ID)
	}
}

// put sets m[id] to the later of its value and until; l.mu is held.
func (l *List) put(m map[string]int64, id string, until int64) {
	old, ok := m[id]
	if !ok {
		l.size.Add(1)
	}
	m[id] = max(old, until)
}

// putTimed records r in m, keeping the later times; l.mu is held.
func (l *List) putTimed(m map[string]timedEntry, r tiaki.Revocation, until int64) {
	e, ok := m[r.ID]
	if !ok {
		l.size.Add(1)
	}
	m[r.ID] = timedEntry{at: max(e.at, r.At.Unix()), until: max(e.until, until)}
}

// prune drops the entries whose tokens have all expired.
func (l *List) prune() {
	now := l.now().Unix()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range []map[string]int64{l.tokens, l.grants} {
		for id, until := range m {
			if until < now {
				delete(m, id)
				l.size.Add(-1)
			}
		}
	}
	for _, m := range []map[string]timedEntry{l.clients, l.subjects} {
		for id, e := range m {
			if e.until < now {
				delete(m, id)
				l.size.Add(-1)
			}
		}
	}
}

// pruneEvery is how often Run drops expired entries and deletes expired records.
const pruneEvery = time.Minute

// Run loads the revocations in force from the store, then polls it every poll (DefaultPoll if
// zero) for revocations recorded by other nodes (and by the CLI), until ctx ends. A store
// outage is logged when it starts and when it ends; revocations already known stay in force.
// It returns at once without a store.
func (l *List) Run(ctx context.Context, poll time.Duration) {
	if l.store == nil {
		return
	}
	if poll <= 0 {
		poll = DefaultPoll
	}
	since := time.Time{} // the first poll loads everything in force
	failing := false
	lastPrune := l.now()
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		asked := l.now()
		if err := l.Poll(ctx, since); err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				l.log.Warn("cannot read token revocations; retrying", "err", err)
			}
			failing = true
		} else {
			if failing {
				l.log.Info("reading token revocations again")
			}
			failing = false
			since = asked.Add(-overlap)
		}
		if asked.Sub(lastPrune) >= pruneEvery {
			lastPrune = asked
			l.prune()
			if _, err := l.store.DeleteExpiredRevocations(ctx, asked); err != nil && ctx.Err() == nil {
				l.log.Warn("cannot delete expired token revocations", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Poll copies into this node's copy the revocations recorded at or after since.
func (l *List) Poll(ctx context.Context, since time.Time) error {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rs, err := l.store.RevocationsSince(qctx, since)
	if err != nil {
		return err
	}
	now := l.now()
	for _, r := range rs {
		if r.Until.After(now) {
			l.apply(r)
		}
	}
	return nil
}
