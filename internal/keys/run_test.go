package keys

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Run's passes, across nodes sharing a store, and reads racing with rotation.

func TestRunRotatesWhenDue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ES256)
	a := f.node(t)
	b := f.node(t)
	start := f.clock.Now()

	f.clock.Set(start.Add(rotateEvery - prepublish - time.Minute))
	for _, n := range []*Manager{a, b} {
		if err := n.maintain(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.store.len(); got != 1 {
		t.Fatalf("rotated early: %d keys", got)
	}

	f.clock.Set(start.Add(rotateEvery - prepublish))
	for _, n := range []*Manager{a, b, a} { // b re-reads after a rotated: no second rotation
		if err := n.maintain(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.store.len(); got != 2 {
		t.Fatalf("after the rotation is due, the store has %d keys, want 2", got)
	}
	keys := a.Keys()
	next := keys[len(keys)-1]
	if want := start.Add(rotateEvery); !next.ActiveAt.Equal(want) {
		t.Errorf("next key activates at %v, want RotateEvery after the first (%v)", next.ActiveAt, want)
	}
	f.clock.Set(next.ActiveAt)
	if got := signingKID(t, b, ES256); got != next.ID {
		t.Errorf("after activation b signs with %s, want %s", got, next.ID)
	}
}

func TestDuplicateRotationConverges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ES256)
	a, b := f.node(t), f.node(t)
	// Two nodes (or a node and the CLI) rotate at the same instant.
	if err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(jwksKids(t, a)); got != 3 {
		t.Fatalf("JWKS has %d keys, want 3 (every key stays published)", got)
	}
	for _, at := range []time.Duration{0, prepublish, prepublish + maxLifetime} {
		f.clock.Advance(at)
		ka, kb := signingKID(t, a, ES256), signingKID(t, b, ES256)
		if ka != kb {
			t.Errorf("after %v the nodes sign with different keys: %s and %s", at, ka, kb)
		}
	}
	signing := 0
	for _, k := range a.Keys() {
		if k.Signs(f.clock.Now()) {
			signing++
		}
	}
	if signing != 1 {
		t.Errorf("%d keys sign, want exactly 1", signing)
	}
}

func TestRunLoopPrunes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	f := newFixture(t, ES256)
	f.opts.Interval = 2 * time.Millisecond
	m := f.node(t)
	oldKID := signingKID(t, m, ES256)
	if err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(prepublish + maxLifetime)

	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for f.store.has(oldKID) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if f.store.has(oldKID) {
		t.Error("Run did not delete the expired key")
	}
}

func TestConcurrentReadsDuringRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ES256)
	m := f.node(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				set := m.PrivateJWKS()
				if len(set.Keys) == 0 || set.Keys[0].Algorithm != ES256 {
					t.Error("PrivateJWKS without a signing key first")
					return
				}
				_ = m.JWKS()
				if _, err := m.SigningKey(ES256); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 5 {
		if err := m.Rotate(ctx); err != nil {
			t.Error(err)
		}
		f.clock.Advance(prepublish)
		if err := m.maintain(ctx); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

func BenchmarkPrivateJWKS(b *testing.B) {
	m := NewManager(newMemStore(), testMasterKey(b, 1), Options{Algorithms: []string{ES256, EdDSA}})
	if err := m.Ensure(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if len(m.PrivateJWKS().Keys) != 2 {
			b.Fatal("wrong key count")
		}
	}
}
