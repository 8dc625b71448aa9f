package keys

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/tiaki-nz/tiaki"
)

const (
	rotateEvery = 30 * 24 * time.Hour
	prepublish  = 24 * time.Hour
	maxLifetime = time.Hour
)

type fixture struct {
	store *memStore
	clock *clock
	mk    *MasterKey
	opts  Options
}

func newFixture(t *testing.T, algs ...string) *fixture {
	t.Helper()
	c := newClock()
	return &fixture{
		store: newMemStore(),
		clock: c,
		mk:    testMasterKey(t, 1),
		opts: Options{
			Algorithms: algs, RotateEvery: rotateEvery, Prepublish: prepublish, MaxTokenLifetime: maxLifetime,
			Now: c.Now, Jitter: time.Microsecond, NewKey: newKeyFunc(t),
		},
	}
}

// node starts a Manager over the fixture's store, as one Tiaki process would.
func (f *fixture) node(t *testing.T) *Manager {
	t.Helper()
	m := NewManager(f.store, f.mk, f.opts)
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

// jwksKids lists the kids in m's public JWKS.
func jwksKids(t *testing.T, m *Manager) []string {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(m.JWKS(), &set); err != nil {
		t.Fatalf("JWKS is not a JWK set: %v", err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	slices.Sort(kids)
	return kids
}

func signingKID(t *testing.T, m *Manager, alg string) string {
	t.Helper()
	k, err := m.SigningKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k.KeyID
}

func sorted(s ...string) []string { slices.Sort(s); return s }

func TestEnsureFirstStart(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ES256, EdDSA, PS256)
	m := f.node(t)
	now := f.clock.Now()

	recs := m.Keys()
	if len(recs) != 3 {
		t.Fatalf("first start made %d keys, want one per algorithm (3)", len(recs))
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(m.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{ES256, EdDSA, PS256} {
		t.Run(alg, func(t *testing.T) {
			i := slices.IndexFunc(recs, func(k tiaki.SigningKey) bool { return k.Algorithm == alg })
			if i < 0 {
				t.Fatalf("no %s key", alg)
			}
			rec := f.store.get(t, recs[i].ID)
			if !rec.Signs(now) || !rec.ActiveAt.Equal(now) || !rec.RetiredAt.IsZero() {
				t.Errorf("first key should sign at once: active %v retired %v", rec.ActiveAt, rec.RetiredAt)
			}
			if bytes.Contains(rec.SealedPrivate, []byte(`"d"`)) {
				t.Error("private key stored in clear")
			}
			priv, err := m.SigningKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			if priv.KeyID != rec.ID || priv.Algorithm != alg || priv.IsPublic() {
				t.Fatalf("SigningKey = kid %s alg %s public %v; want private %s key %s", priv.KeyID, priv.Algorithm, priv.IsPublic(), alg, rec.ID)
			}

			// A token signed with SigningKey verifies against the published JWKS by kid.
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: priv}, nil)
			if err != nil {
				t.Fatal(err)
			}
			jws, err := signer.Sign([]byte(`{"sub":"x"}`))
			if err != nil {
				t.Fatal(err)
			}
			compact, _ := jws.CompactSerialize()
			parsed, err := jose.ParseSigned(compact, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			pub := set.Key(parsed.Signatures[0].Header.KeyID)
			if len(pub) != 1 {
				t.Fatalf("JWKS has %d keys with the token's kid", len(pub))
			}
			if _, err := parsed.Verify(pub[0]); err != nil {
				t.Errorf("token does not verify against the JWKS: %v", err)
			}
		})
	}
	if _, err := m.SigningKey(RS256); !errors.Is(err, tiaki.ErrNotFound) {
		t.Errorf("SigningKey(RS256) error %v, want ErrNotFound", err)
	}
}

func TestJWKSHoldsOnlyPublicKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ES256, EdDSA, RS256) // PS256 keys are RSA keys too
	m := f.node(t)
	if err := m.Rotate(context.Background()); err != nil { // retired and pre-published keys too
		t.Fatal(err)
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(m.JWKS(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 6 {
		t.Fatalf("JWKS has %d keys, want 6", len(doc.Keys))
	}
	for _, k := range doc.Keys {
		// RFC 7518 §6.2.2 and §6.3.2: the private members of EC, OKP and RSA keys.
		for _, member := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := k[member]; ok {
				t.Errorf("key %v (%v) publishes private member %q", k["kid"], k["alg"], member)
			}
		}
		if k["use"] != "sig" || k["alg"] == nil || k["kid"] == nil {
			t.Errorf("key %v lacks use=sig, alg or kid", k)
		}
	}
	for _, k := range m.PrivateJWKS().Keys {
		if k.IsPublic() {
			t.Errorf("PrivateJWKS key %s has no private half", k.KeyID)
		}
	}
}

func TestRestartKeepsKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ES256, EdDSA)
	first := f.node(t)
	writes := f.store.writes()

	f.clock.Advance(time.Hour)
	second := f.node(t) // same store and master key: a restart, or a second node
	if f.store.writes() != writes {
		t.Errorf("restart wrote %d records, want none", f.store.writes()-writes)
	}
	if diff := cmp.Diff(jwksKids(t, first), jwksKids(t, second)); diff != "" {
		t.Errorf("JWKS kids differ after restart (-first +second):\n%s", diff)
	}
	for _, alg := range []string{ES256, EdDSA} {
		if a, b := signingKID(t, first, alg), signingKID(t, second, alg); a != b {
			t.Errorf("%s signs with %s before restart and %s after", alg, a, b)
		}
	}
	if !bytes.Equal(first.JWKS(), second.JWKS()) {
		t.Error("JWKS documents differ after restart")
	}
}

func TestRotationLifecycle(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{ES256, EdDSA} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newFixture(t, alg)
			m := f.node(t)
			other := f.node(t) // a second node over the same store
			oldKID := signingKID(t, m, alg)

			f.clock.Advance(time.Hour)
			rotatedAt := f.clock.Now()
			if err := m.Rotate(ctx); err != nil {
				t.Fatal(err)
			}
			kids := jwksKids(t, m)
			if len(kids) != 2 {
				t.Fatalf("JWKS after rotation has %d keys, want old and new", len(kids))
			}
			newKID := kids[0]
			if newKID == oldKID {
				newKID = kids[1]
			}
			newRec, oldRec := f.store.get(t, newKID), f.store.get(t, oldKID)
			if want := rotatedAt.Add(prepublish); !newRec.ActiveAt.Equal(want) {
				t.Errorf("new key active at %v, want now+Prepublish %v", newRec.ActiveAt, want)
			}
			if !oldRec.RetiredAt.Equal(newRec.ActiveAt) || !oldRec.ExpiresAt.Equal(newRec.ActiveAt.Add(maxLifetime)) {
				t.Errorf("old key retires %v expires %v; want %v and %v", oldRec.RetiredAt, oldRec.ExpiresAt,
					newRec.ActiveAt, newRec.ActiveAt.Add(maxLifetime))
			}

			// Pre-published: verifiers can fetch the new key, but it does not sign yet.
			if err := other.Reload(ctx); err != nil {
				t.Fatal(err)
			}
			for _, n := range []*Manager{m, other} {
				if diff := cmp.Diff(sorted(oldKID, newKID), jwksKids(t, n)); diff != "" {
					t.Errorf("JWKS kids (-want +got):\n%s", diff)
				}
				if got := signingKID(t, n, alg); got != oldKID {
					t.Errorf("before Prepublish has passed, %s signs; want the old key", got)
				}
				if got := n.PrivateJWKS().Keys[0].KeyID; got != oldKID {
					t.Errorf("PrivateJWKS starts with %s, want the signing key %s", got, oldKID)
				}
			}

			// The switch happens exactly at ActiveAt, with no reload.
			f.clock.Set(newRec.ActiveAt.Add(-time.Second))
			if got := signingKID(t, m, alg); got != oldKID {
				t.Errorf("a second before ActiveAt, %s signs; want the old key", got)
			}
			f.clock.Set(newRec.ActiveAt)
			for _, n := range []*Manager{m, other} {
				if got := signingKID(t, n, alg); got != newKID {
					t.Errorf("at ActiveAt, %s signs; want the new key %s", got, newKID)
				}
				if got := n.PrivateJWKS().Keys; got[0].KeyID != newKID || len(got) != 2 {
					t.Errorf("PrivateJWKS = %d keys starting with %s; want the new key first, then the old", len(got), got[0].KeyID)
				}
			}

			// The old key stays published until every token it signed has expired.
			f.clock.Set(oldRec.ExpiresAt.Add(-time.Second))
			if diff := cmp.Diff(sorted(oldKID, newKID), jwksKids(t, m)); diff != "" {
				t.Errorf("before ExpiresAt, JWKS kids (-want +got):\n%s", diff)
			}
			if err := m.maintain(ctx); err != nil {
				t.Fatal(err)
			}
			if !f.store.has(oldKID) {
				t.Error("old key pruned before it expired")
			}
			f.clock.Set(oldRec.ExpiresAt)
			if diff := cmp.Diff([]string{newKID}, jwksKids(t, m)); diff != "" {
				t.Errorf("at ExpiresAt, JWKS kids (-want +got):\n%s", diff)
			}
			if err := m.maintain(ctx); err != nil {
				t.Fatal(err)
			}
			if f.store.has(oldKID) {
				t.Error("expired key still in the store after Run's pass")
			}
			if err := other.maintain(ctx); err != nil { // the other node finds it gone: no error
				t.Fatal(err)
			}
			if got := len(other.PrivateJWKS().Keys); got != 1 {
				t.Errorf("other node has %d keys after pruning, want 1", got)
			}
		})
	}
}

func TestEnsureFillsGapBeforePendingKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ES256)
	m := f.node(t)
	oldKID := signingKID(t, m, ES256)
	if err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.store.DeleteSigningKey(ctx, oldKID); err != nil { // an operator deleted it
		t.Fatal(err)
	}
	m2 := f.node(t)
	stopgap := signingKID(t, m2, ES256)
	rec := f.store.get(t, stopgap)
	if !rec.ActiveAt.Equal(f.clock.Now()) || !rec.RetiredAt.Equal(f.clock.Now().Add(prepublish)) {
		t.Errorf("stop-gap key active %v retires %v; want now and when the pending key activates", rec.ActiveAt, rec.RetiredAt)
	}
	f.clock.Advance(prepublish)
	if got := signingKID(t, m2, ES256); got == stopgap {
		t.Error("the pending key did not take over from the stop-gap key")
	}
}

func TestEnsureRetiresUnconfiguredAlgorithms(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ES256, EdDSA)
	m := f.node(t)
	edKID := signingKID(t, m, EdDSA)

	f.clock.Advance(time.Minute)
	f.opts.Algorithms = []string{ES256}
	m2 := f.node(t)
	rec := f.store.get(t, edKID)
	if now := f.clock.Now(); !rec.RetiredAt.Equal(now) || !rec.ExpiresAt.Equal(now.Add(maxLifetime)) {
		t.Errorf("EdDSA key retires %v expires %v, want now and now+MaxTokenLifetime", rec.RetiredAt, rec.ExpiresAt)
	}
	if _, err := m2.SigningKey(EdDSA); !errors.Is(err, tiaki.ErrNotFound) {
		t.Errorf("SigningKey(EdDSA) error %v, want ErrNotFound", err)
	}
	if !slices.Contains(jwksKids(t, m2), edKID) {
		t.Error("retired EdDSA key left the JWKS before its tokens expired")
	}
}

func TestWrongMasterKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ES256)
	f.node(t)
	writes, n := f.store.writes(), f.store.len()

	m := NewManager(f.store, testMasterKey(t, 2), f.opts)
	err := m.Ensure(context.Background())
	if !errors.Is(err, ErrOpen) || !strings.Contains(err.Error(), "different master key") {
		t.Fatalf("Ensure with another master key: %v; want a clear ErrOpen", err)
	}
	if f.store.writes() != writes || f.store.len() != n {
		t.Error("Ensure wrote to the store although it could not open the existing keys")
	}
	if len(m.PrivateJWKS().Keys) != 0 {
		t.Error("keys served although none could be opened")
	}
}

func TestReloadRefusesTamperedRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ES256, EdDSA)
	m := f.node(t)
	before := m.JWKS()
	es, ed := f.store.get(t, signingKID(t, m, ES256)), f.store.get(t, signingKID(t, m, EdDSA))
	es.SealedPrivate = ed.SealedPrivate // swap in another record's sealed key
	if err := f.store.PutSigningKey(ctx, &es); err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(ctx); err == nil || !strings.Contains(err.Error(), es.ID) {
		t.Fatalf("Reload of a tampered record: %v; want an error naming %s", err, es.ID)
	}
	if !bytes.Equal(m.JWKS(), before) {
		t.Error("a failed reload changed the served keys")
	}
}

func TestInvalidOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"unsupported algorithm", Options{Algorithms: []string{"HS256"}}, "unsupported"},
		{"none", Options{Algorithms: []string{"none"}}, "unsupported"},
		{"duplicate", Options{Algorithms: []string{ES256, ES256}}, "twice"},
		{"prepublish too long", Options{Algorithms: []string{ES256}, RotateEvery: time.Hour, Prepublish: time.Hour}, "prepublish"},
		{"negative lifetime", Options{Algorithms: []string{ES256}, MaxTokenLifetime: -time.Second}, "positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newMemStore()
			m := NewManager(store, testMasterKey(t, 1), tt.opts)
			ctx := context.Background()
			for name, op := range map[string]func(context.Context) error{"Ensure": m.Ensure, "Rotate": m.Rotate, "Reload": m.Reload} {
				if err := op(ctx); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("%s: error %v, want one saying %q", name, err, tt.wantErr)
				}
			}
			if store.writes() != 0 {
				t.Error("invalid options wrote keys")
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	o, err := normalise(Options{RotateEvery: 10 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.Algorithms, DefaultAlgorithms) || o.Prepublish != 5*time.Hour ||
		o.MaxTokenLifetime != DefaultMaxTokenLifetime || o.Interval != time.Minute || o.Jitter != 10*time.Second {
		t.Errorf("defaults: %+v", o)
	}
}
