package revocation_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/revocation"
	"github.com/tiaki-nz/tiaki/internal/store/sqlite"
)

// TestListsShareThroughTheStore: what one node revokes, another learns by polling the store
// they share, and each kind names what it should: a token by jti, a grant, a client's and a
// person's tokens issued up to the second of the revocation, nothing later.
func TestListsShareThroughTheStore(t *testing.T) {
	t.Parallel()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "tiaki.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var invalidated []string
	a := revocation.New(store, revocation.Options{})
	b := revocation.New(store, revocation.Options{OnClient: func(id string) { invalidated = append(invalidated, id) }})
	now := time.Now().Truncate(time.Second)
	until := now.Add(time.Hour)
	for _, r := range []tiaki.Revocation{
		{Kind: tiaki.RevokedToken, ID: "jti-1"},
		{Kind: tiaki.RevokedGrant, ID: "grant-1"},
		{Kind: tiaki.RevokedClient, ID: "app"},
		{Kind: tiaki.RevokedSubject, ID: "alice"},
	} {
		r.At, r.Until = now, until
		if err := a.Revoke(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Poll(context.Background(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	before, same, after := now.Add(-time.Minute), now.Add(900*time.Millisecond), now.Add(time.Second)
	for _, l := range []*revocation.List{a, b} {
		for _, tc := range []struct {
			name                     string
			jti, grant, client, subj string
			iat                      time.Time
			want                     bool
		}{
			{"revoked jti", "jti-1", "g", "c", "", before, true},
			{"revoked grant", "j", "grant-1", "c", "", after, true},
			{"client's token from before", "j", "g", "app", "", before, true},
			{"client's token from the same second", "j", "g", "app", "", same, true},
			{"client's token from after", "j", "g", "app", "", after, false},
			{"person's token from before", "j", "g", "c", "alice", before, true},
			{"person's token from after", "j", "g", "c", "alice", after, false},
			{"a client named like the person", "j", "g", "alice", "", before, false},
			{"nothing revoked", "j", "g", "c", "bob", before, false},
		} {
			if got := l.Revoked(tc.jti, tc.grant, tc.client, tc.subj, tc.iat); got != tc.want {
				t.Errorf("%s: Revoked = %v, want %v", tc.name, got, tc.want)
			}
		}
	}
	if len(invalidated) != 1 || invalidated[0] != "app" {
		t.Errorf("OnClient told of %v, want [app]", invalidated)
	}
}

// TestRevokeChecks: a revocation that has ended already is not kept; one without times is
// refused.
func TestRevokeChecks(t *testing.T) {
	t.Parallel()
	clock := time.Now()
	l := revocation.New(nil, revocation.Options{Now: func() time.Time { return clock }})
	if err := l.Revoke(t.Context(), tiaki.Revocation{Kind: tiaki.RevokedToken, ID: "j", At: clock, Until: clock.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if l.Revoked("j", "", "", "", clock) {
		t.Error("a revocation that had ended was kept")
	}
	if err := l.Revoke(t.Context(), tiaki.Revocation{Kind: tiaki.RevokedToken, ID: "x"}); err == nil {
		t.Error("a revocation without times was accepted")
	}
}

// BenchmarkRevoked is the gateway's per-request question, with revocations in force.
func BenchmarkRevoked(b *testing.B) {
	l := revocation.New(nil, revocation.Options{})
	now := time.Now()
	for i := range 1000 {
		_ = l.Revoke(context.Background(), tiaki.Revocation{Kind: tiaki.RevokedToken, ID: string(rune('a'+i%26)) + time.Duration(i).String(),
			At: now, Until: now.Add(time.Hour)})
	}
	b.ReportAllocs()
	for b.Loop() {
		if l.Revoked("jti", "grant", "client", "", now) {
			b.Fatal("revoked")
		}
	}
}
