package keys

import (
	"cmp"
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/tiaki-nz/tiaki"
)

// Defaults for zero Options fields.
const (
	DefaultRotateEvery      = 30 * 24 * time.Hour
	DefaultPrepublish       = 24 * time.Hour // capped at half of RotateEvery
	DefaultMaxTokenLifetime = 24 * time.Hour
	DefaultInterval         = time.Minute
	DefaultJitter           = 10 * time.Second // capped at half of Interval
)

// DefaultAlgorithms are used when Options.Algorithms is empty: ES256 for access tokens, and
// RS256 because OIDC Core §15.1 requires OPs to offer it for ID tokens.
var DefaultAlgorithms = []string{ES256, RS256}

// Options configure a Manager. Zero fields take the defaults above.
type Options struct {
	// Algorithms lists the JWS algorithms to keep a signing key for: ES256, PS256, RS256, EdDSA.
	Algorithms []string
	// RotateEvery is how long each key signs before the next one takes over.
	RotateEvery time.Duration
	// Prepublish is how long a new key is published before it signs, so verifiers that cache
	// the JWKS fetch it before any token carries its kid. Shorter than RotateEvery.
	Prepublish time.Duration
	// MaxTokenLifetime is the longest lifetime of anything signed (access and ID tokens): a
	// retired key stays published this long, until every token it signed has expired.
	MaxTokenLifetime time.Duration
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Rand feeds key generation (crypto/rand if nil). Go 1.26 ignores it for ECDSA and RSA keys.
	Rand io.Reader
	// Logger receives key lifecycle events (created, retired, deleted) and Run's errors.
	Logger *slog.Logger
	// Interval is how often Run reloads, rotates and prunes.
	Interval time.Duration
	// Jitter is the longest random wait between Run finding a rotation due and re-reading the
	// store to rotate; see Run.
	Jitter time.Duration
	// NewKey makes the private key for a new signing key; nil generates P-256, RSA-2048 or
	// Ed25519 keys. Tests inject pre-made RSA keys here, as RSA generation is slow.
	NewKey func(alg string) (crypto.Signer, error)
}

// Manager keeps the authorization server's signing keys: one signing key per configured
// algorithm, the next key published ahead of use, retired keys published until their tokens
// expire. Keys live in the store with their private halves sealed, so every node and the CLI
// share them. Call Ensure at start, then Run in the background; JWKS, PrivateJWKS and
// SigningKey are cheap reads of an immutable snapshot, safe for concurrent use.
type Manager struct {
	store tiaki.SigningKeyStore
	mk    *MasterKey
	opts  Options
	err   error // invalid options, returned by every operation

	mu   sync.Mutex // one writer at a time: Reload, Ensure, Rotate and Run's pass
	view atomic.Pointer[view]
}

// NewManager returns a Manager over store. It loads nothing: call Ensure. Invalid options are
// reported by Ensure, Rotate and Reload.
func NewManager(store tiaki.SigningKeyStore, mk *MasterKey, opts Options) *Manager {
	m := &Manager{store: store, mk: mk}
	m.opts, m.err = normalise(opts)
	m.view.Store(buildView(&keySet{}, time.Time{}, nil))
	return m
}

func normalise(o Options) (Options, error) {
	if len(o.Algorithms) == 0 {
		o.Algorithms = DefaultAlgorithms
	}
	o.Algorithms = slices.Clone(o.Algorithms)
	if o.RotateEvery == 0 {
		o.RotateEvery = DefaultRotateEvery
	}
	if o.Prepublish == 0 {
		o.Prepublish = min(DefaultPrepublish, o.RotateEvery/2)
	}
	if o.MaxTokenLifetime == 0 {
		o.MaxTokenLifetime = DefaultMaxTokenLifetime
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Jitter <= 0 {
		o.Jitter = min(DefaultJitter, o.Interval/2)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	for i, alg := range o.Algorithms {
		if !SupportedAlgorithm(alg) {
			return o, fmt.Errorf("keys: unsupported signing algorithm %q (want ES256, PS256, RS256 or EdDSA)", alg)
		}
		if slices.Contains(o.Algorithms[:i], alg) {
			return o, fmt.Errorf("keys: signing algorithm %s listed twice", alg)
		}
	}
	switch {
	case o.RotateEvery < 0 || o.Prepublish < 0 || o.MaxTokenLifetime < 0:
		return o, errors.New("keys: key rotation durations must be positive")
	case o.Prepublish >= o.RotateEvery:
		return o, fmt.Errorf("keys: prepublish (%s) must be shorter than rotate_every (%s)", o.Prepublish, o.RotateEvery)
	}
	return o, nil
}

// Ensure loads the keys and makes sure each configured algorithm has a key that signs now,
// creating one that signs at once where none does: on first start there is no verifier to
// pre-publish to. Keys of algorithms no longer configured are retired (they stay published for
// MaxTokenLifetime). It fails, changing nothing, if any stored key cannot be opened with this
// master key.
func (m *Manager) Ensure(ctx context.Context) error {
	if m.err != nil {
		return m.err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.reloadLocked(ctx); err != nil {
		return err
	}
	return m.converge(ctx, nil, true)
}

// Rotate creates the next key for every configured algorithm, published now and signing from
// now+Prepublish, and schedules each current key to retire at that moment and expire
// MaxTokenLifetime later. The store keeps both. An algorithm with no key signing now gets one
// that signs at once instead. The CLI's `tiaki keys rotate` calls it; running nodes pick the
// new keys up on their next reload.
func (m *Manager) Rotate(ctx context.Context) error {
	if m.err != nil {
		return m.err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.reloadLocked(ctx); err != nil {
		return err
	}
	return m.converge(ctx, m.opts.Algorithms, false)
}

// Reload reads the keys from the store, so changes made by other nodes or the CLI take effect.
// On error the previous keys stay in use.
func (m *Manager) Reload(ctx context.Context) error {
	if m.err != nil {
		return m.err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reloadLocked(ctx)
}

// Run reloads, rotates and prunes every Interval until ctx ends: it rotates an algorithm whose
// newest key has been signing for RotateEvery-Prepublish, so the next key is published
// Prepublish before the current one reaches RotateEvery, and deletes keys whose ExpiresAt has
// passed. Errors are logged and retried on the next pass.
//
// Several nodes run this loop over one store. To keep them from all rotating at once, a node
// that finds a rotation due waits a random delay (up to Jitter) and re-reads the store; if
// another node has rotated meanwhile, the rotation is no longer due. Two nodes can still
// collide within the same instant; that is harmless: both keys are published, the one that
// activates later retires the other, and every node picks the same signer.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.maintain(ctx); err != nil && ctx.Err() == nil {
				m.opts.Logger.Warn("signing key maintenance failed", "err", err)
			}
		}
	}
}

// maintain is one pass of Run.
func (m *Manager) maintain(ctx context.Context) error {
	if m.err != nil {
		return m.err
	}
	m.mu.Lock()
	err := m.reloadLocked(ctx)
	due := m.due(m.opts.Now())
	m.mu.Unlock()
	if err != nil {
		return err
	}
	if len(due) > 0 {
		wait := time.NewTimer(time.Duration(mrand.Int64N(int64(m.opts.Jitter) + 1)))
		select {
		case <-ctx.Done():
			wait.Stop()
			return ctx.Err()
		case <-wait.C:
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(due) > 0 {
		if err := m.reloadLocked(ctx); err != nil {
			return err
		}
		if err := m.converge(ctx, m.due(m.opts.Now()), false); err != nil {
			return err
		}
	}
	return m.prune(ctx)
}

// due lists the configured algorithms whose newest key has signed for RotateEvery-Prepublish,
// or that have no key signing now.
func (m *Manager) due(now time.Time) []string {
	set := m.view.Load().set
	var due []string
	for _, alg := range m.opts.Algorithms {
		keys := set.records(alg)
		if len(keys) == 0 || !slices.ContainsFunc(keys, func(k tiaki.SigningKey) bool { return k.Signs(now) }) ||
			!now.Before(keys[len(keys)-1].ActiveAt.Add(m.opts.RotateEvery-m.opts.Prepublish)) {
			due = append(due, alg)
		}
	}
	return due
}

// converge brings the stored keys to the intended state and reloads. Every configured
// algorithm without a key that signs now gets one that signs at once (nothing to pre-publish
// to); otherwise each algorithm in rotate gets its next key, signing after Prepublish. With
// retireOthers, keys of algorithms no longer configured are retired. Then each algorithm's keys
// are scheduled: every key retires when its successor activates.
func (m *Manager) converge(ctx context.Context, rotate []string, retireOthers bool) error {
	now := m.opts.Now()
	set := m.view.Load().set
	var created []string // IDs of new keys
	var writes []tiaki.SigningKey
	for _, alg := range m.opts.Algorithms {
		keys := set.records(alg)
		var active time.Time
		switch {
		case !slices.ContainsFunc(keys, func(k tiaki.SigningKey) bool { return k.Signs(now) }):
			active = now
		case slices.Contains(rotate, alg):
			active = now.Add(m.opts.Prepublish)
		}
		if !active.IsZero() {
			rec, err := m.newKey(alg, now, active)
			if err != nil {
				return err
			}
			created = append(created, rec.ID)
			keys = append(keys, rec)
		}
		// A new key scheduled to retire (it fills a gap before a pre-published key) is
		// written once, with its schedule.
		scheduled := m.schedule(keys, now)
		for _, k := range keys {
			if slices.Contains(created, k.ID) && !slices.ContainsFunc(scheduled, func(s tiaki.SigningKey) bool { return s.ID == k.ID }) {
				scheduled = append(scheduled, k)
			}
		}
		writes = append(writes, scheduled...)
	}
	if retireOthers {
		for _, k := range set.keys {
			if !slices.Contains(m.opts.Algorithms, k.rec.Algorithm) && k.rec.RetiredAt.IsZero() {
				rec := k.rec
				rec.RetiredAt, rec.ExpiresAt = now, now.Add(m.opts.MaxTokenLifetime)
				writes = append(writes, rec)
			}
		}
	}
	if len(writes) == 0 {
		return nil
	}
	// New keys first: if a write fails midway, an old key may still sign, never none.
	slices.SortStableFunc(writes, func(a, b tiaki.SigningKey) int {
		return -cmp.Compare(boolInt(slices.Contains(created, a.ID)), boolInt(slices.Contains(created, b.ID)))
	})
	for _, rec := range writes {
		if err := m.store.PutSigningKey(ctx, &rec); err != nil {
			return fmt.Errorf("keys: storing signing key %s: %w", rec.ID, err)
		}
		if slices.Contains(created, rec.ID) {
			m.opts.Logger.Info("signing key created", "kid", rec.ID, "alg", rec.Algorithm, "active_at", rec.ActiveAt)
		} else {
			m.opts.Logger.Info("signing key retirement scheduled", "kid", rec.ID, "alg", rec.Algorithm,
				"retired_at", rec.RetiredAt, "expires_at", rec.ExpiresAt)
		}
	}
	return m.reloadLocked(ctx)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// schedule sets each key's retirement to the activation of the key after it (ordered by
// ActiveAt), never in the past, since a key may have signed until now. It returns the keys it
// changed. A retirement already earlier is kept.
func (m *Manager) schedule(keys []tiaki.SigningKey, now time.Time) []tiaki.SigningKey {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, compareActivation)
	var changed []tiaki.SigningKey
	for i := range len(keys) - 1 {
		retire := keys[i+1].ActiveAt
		if retire.Before(now) {
			retire = now
		}
		if k := &keys[i]; k.RetiredAt.IsZero() || k.RetiredAt.After(retire) {
			k.RetiredAt, k.ExpiresAt = retire, retire.Add(m.opts.MaxTokenLifetime)
			changed = append(changed, *k)
		}
	}
	return changed
}

func (m *Manager) newKey(alg string, created, active time.Time) (tiaki.SigningKey, error) {
	var signer crypto.Signer
	var err error
	if m.opts.NewKey != nil {
		signer, err = m.opts.NewKey(alg)
	} else {
		signer, err = generateKey(alg, m.opts.Rand)
	}
	if err != nil {
		return tiaki.SigningKey{}, fmt.Errorf("keys: generating %s key: %w", alg, err)
	}
	jwk, err := newJWK(alg, signer)
	if err != nil {
		return tiaki.SigningKey{}, err
	}
	if m.view.Load().set.find(jwk.KeyID) != nil {
		return tiaki.SigningKey{}, fmt.Errorf("keys: new %s key %s is already in use", alg, jwk.KeyID)
	}
	return sealJWK(m.mk, jwk, created, active)
}

// prune deletes keys whose tokens have all expired. Another node may have deleted them first.
func (m *Manager) prune(ctx context.Context) error {
	now := m.opts.Now()
	deleted := false
	for _, k := range m.view.Load().set.keys {
		if k.rec.Published(now) {
			continue
		}
		err := m.store.DeleteSigningKey(ctx, k.rec.ID)
		if err != nil && !errors.Is(err, tiaki.ErrNotFound) {
			return fmt.Errorf("keys: deleting expired signing key: %w", err)
		}
		deleted = true
		m.opts.Logger.Info("signing key deleted", "kid", k.rec.ID, "alg", k.rec.Algorithm)
	}
	if !deleted {
		return nil
	}
	return m.reloadLocked(ctx)
}

// reloadLocked reads the store and swaps in a new snapshot. Keys already open are reused, so a
// reload costs one store read unless keys were added.
func (m *Manager) reloadLocked(ctx context.Context) error {
	recs, err := m.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: loading signing keys: %w", err)
	}
	old := m.view.Load().set
	set := &keySet{keys: make([]loadedKey, 0, len(recs))}
	for _, rec := range recs {
		if !SupportedAlgorithm(rec.Algorithm) {
			// Perhaps written by a newer Tiaki sharing the store: skip it rather than stop.
			m.opts.Logger.Warn("ignoring signing key with unsupported algorithm", "kid", rec.ID, "alg", rec.Algorithm)
			continue
		}
		if k := old.find(rec.ID); k != nil && string(k.rec.SealedPrivate) == string(rec.SealedPrivate) &&
			k.rec.Algorithm == rec.Algorithm && string(k.rec.PublicJWK) == string(rec.PublicJWK) {
			set.keys = append(set.keys, loadedKey{rec: rec, jwk: k.jwk, public: k.public})
			continue
		}
		k, err := openKey(m.mk, rec)
		if err != nil {
			return fmt.Errorf("keys: signing key %s: %w", rec.ID, err)
		}
		set.keys = append(set.keys, k)
	}
	m.view.Store(buildView(set, m.opts.Now(), m.opts.Algorithms))
	return nil
}

// JWKS returns the public JSON Web Key Set (RFC 7517 §5) of every published key: signing,
// pre-published and retired-but-unexpired. The result is a fresh copy.
func (m *Manager) JWKS() []byte {
	return slices.Clone(m.current().jwks)
}

// SigningKey returns the private JWK that signs for alg now: the newest key, by activation,
// whose Signs(now) holds. The error matches tiaki.ErrNotFound if no key signs for alg.
func (m *Manager) SigningKey(alg string) (jose.JSONWebKey, error) {
	if k, ok := m.current().signing[alg]; ok {
		return k, nil
	}
	return jose.JSONWebKey{}, fmt.Errorf("keys: no key signs %s now: %w", alg, tiaki.ErrNotFound)
}

// PrivateJWKS returns every published key with its private half, the key signing now for each
// configured algorithm first: the OIDC engine signs with the first key whose alg matches and
// verifies by kid. It is called on every signature, so it is an atomic load and a clock read.
// The set is shared: callers must not modify it.
func (m *Manager) PrivateJWKS() jose.JSONWebKeySet {
	return m.current().private
}

// Keys returns the loaded key records, oldest first, without their sealed private halves
// (for listing, e.g. `tiaki keys list`).
func (m *Manager) Keys() []tiaki.SigningKey {
	set := m.view.Load().set
	out := make([]tiaki.SigningKey, len(set.keys))
	for i, k := range set.keys {
		out[i] = k.rec
		out[i].SealedPrivate = nil
	}
	return out
}

// current returns the snapshot for the present moment. Snapshots change only at key events
// (activation, retirement, expiry), so one is reused until the clock passes the next event;
// then it is rebuilt from the loaded keys, without touching the store.
func (m *Manager) current() *view {
	now := m.opts.Now()
	for {
		v := m.view.Load()
		// A view from after now serves too: this reader read the clock, then lagged behind
		// a reload that already saw a later key event (and may have pruned keys that
		// signed at now).
		if v.covers(now) || now.Before(v.from) {
			return v
		}
		nv := buildView(v.set, now, m.opts.Algorithms)
		if m.view.CompareAndSwap(v, nv) {
			return nv
		}
		// A reload swapped in newer keys meanwhile. The older set may not serve now (its
		// newest key retired, and the key after it is only in the newer set), so look again.
	}
}

func compareActivation(a, b tiaki.SigningKey) int {
	return cmp.Or(a.ActiveAt.Compare(b.ActiveAt), a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
}
