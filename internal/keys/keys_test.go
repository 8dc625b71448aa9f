package keys

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki"
)

// memStore is an in-memory tiaki.SigningKeyStore. It copies records in and out, as a real
// store does, so tests catch a Manager that mutates what it stored.
type memStore struct {
	mu   sync.Mutex
	keys map[string]tiaki.SigningKey
	puts int
}

func newMemStore() *memStore { return &memStore{keys: map[string]tiaki.SigningKey{}} }

func cloneKey(k tiaki.SigningKey) tiaki.SigningKey {
	k.PublicJWK = bytes.Clone(k.PublicJWK)
	k.SealedPrivate = bytes.Clone(k.SealedPrivate)
	return k
}

func (s *memStore) PutSigningKey(_ context.Context, k *tiaki.SigningKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[k.ID] = cloneKey(*k)
	s.puts++
	return nil
}

func (s *memStore) SigningKeys(context.Context) ([]tiaki.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]tiaki.SigningKey, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, cloneKey(k))
	}
	slices.SortFunc(out, func(a, b tiaki.SigningKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

func (s *memStore) DeleteSigningKey(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[id]; !ok {
		return fmt.Errorf("signing key %s: %w", id, tiaki.ErrNotFound)
	}
	delete(s.keys, id)
	return nil
}

func (s *memStore) get(t *testing.T, id string) tiaki.SigningKey {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		t.Fatalf("store has no key %s", id)
	}
	return cloneKey(k)
}

func (s *memStore) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.keys[id]
	return ok
}

func (s *memStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}

func (s *memStore) writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.puts
}

// clock is an injectable clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// testMasterKey returns a master key made from a fixed byte, so tests can make two different
// keys (seed 1 and 2) or the same key twice.
func testMasterKey(t testing.TB, seed byte) *MasterKey {
	t.Helper()
	mk, err := NewMasterKey(bytes.Repeat([]byte{seed}, MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return mk
}

// RSA-2048 generation takes a few hundred milliseconds under -race, so the tests share three
// keys, made once with the package's own generator. Separate stores may reuse a key.
var (
	rsaOnce sync.Once
	rsaKeys [3]*rsa.PrivateKey
	rsaErr  error
)

func testRSAKeys(t testing.TB) []*rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() {
		var wg sync.WaitGroup
		errs := make([]error, len(rsaKeys))
		for i := range rsaKeys {
			wg.Go(func() {
				k, err := generateKey(RS256, rand.Reader)
				if err == nil {
					rsaKeys[i] = k.(*rsa.PrivateKey)
				}
				errs[i] = err
			})
		}
		wg.Wait()
		rsaErr = cmp.Or(errs...)
	})
	if rsaErr != nil {
		t.Fatal(rsaErr)
	}
	return rsaKeys[:]
}

// newKeyFunc returns an Options.NewKey that hands out the shared RSA keys in turn (for one
// store) and generates the fast key types.
func newKeyFunc(t testing.TB) func(string) (crypto.Signer, error) {
	var mu sync.Mutex
	next := 0
	return func(alg string) (crypto.Signer, error) {
		if alg != PS256 && alg != RS256 {
			return generateKey(alg, rand.Reader)
		}
		keys := testRSAKeys(t)
		mu.Lock()
		defer mu.Unlock()
		if next == len(keys) {
			return nil, fmt.Errorf("test ran out of RSA keys")
		}
		next++
		return keys[next-1], nil
	}
}
