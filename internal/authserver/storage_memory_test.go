package authserver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/luikyv/go-oidc/pkg/goidc"
)

func TestTTLMap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(t *testing.T, m *ttlMap[int], clock *fakeClock)
	}{
		{"expires after its TTL", func(t *testing.T, m *ttlMap[int], clock *fakeClock) {
			must(t, m.put("a", 1, 10*time.Second))
			clock.Advance(10*time.Second - time.Nanosecond)
			if v, ok := m.get("a"); !ok || v != 1 {
				t.Fatalf("get before expiry = %v, %v", v, ok)
			}
			clock.Advance(time.Nanosecond)
			if _, ok := m.get("a"); ok {
				t.Fatal("get at expiry found the entry")
			}
		}},
		{"refuses when full rather than dropping", func(t *testing.T, m *ttlMap[int], clock *fakeClock) {
			must(t, m.put("a", 1, time.Minute))
			must(t, m.put("b", 2, time.Minute))
			if err := m.put("c", 3, time.Minute); !errors.Is(err, errStoreFull) {
				t.Fatalf("put into a full map: %v, want errStoreFull", err)
			}
			for _, k := range []string{"a", "b"} {
				if _, ok := m.get(k); !ok {
					t.Errorf("%s was dropped", k)
				}
			}
			clock.Advance(time.Minute)
			must(t, m.put("c", 3, time.Minute)) // the expired entries made room
			if n := m.size(); n != 1 {
				t.Errorf("len = %d after expiry, want 1", n)
			}
		}},
		{"saving again keeps the first expiry", func(t *testing.T, m *ttlMap[int], clock *fakeClock) {
			must(t, m.put("a", 1, 10*time.Second))
			clock.Advance(6 * time.Second)
			must(t, m.put("a", 2, 10*time.Second))
			if v, _ := m.get("a"); v != 2 {
				t.Fatalf("value = %d, want the new one", v)
			}
			clock.Advance(4 * time.Second)
			if _, ok := m.get("a"); ok {
				t.Fatal("saving again extended the entry's life")
			}
		}},
		{"a full map still updates what it holds", func(t *testing.T, m *ttlMap[int], _ *fakeClock) {
			must(t, m.put("a", 1, time.Minute))
			must(t, m.put("b", 2, time.Minute))
			must(t, m.put("a", 3, time.Minute))
		}},
		{"touch extends the life, never shortens it", func(t *testing.T, m *ttlMap[int], clock *fakeClock) {
			must(t, m.put("a", 1, 10*time.Second))
			clock.Advance(6 * time.Second)
			if !m.touch("a", 10*time.Second) {
				t.Fatal("touch of a live entry reported none")
			}
			if m.touch("a", time.Second) != true {
				t.Fatal("touch with a shorter TTL reported no entry")
			}
			clock.Advance(10*time.Second - time.Nanosecond)
			if v, ok := m.get("a"); !ok || v != 1 {
				t.Fatalf("get before the new expiry = %v, %v", v, ok)
			}
			clock.Advance(time.Nanosecond)
			if _, ok := m.get("a"); ok {
				t.Fatal("get at the new expiry found the entry")
			}
		}},
		{"touch finds nothing absent or expired", func(t *testing.T, m *ttlMap[int], clock *fakeClock) {
			if m.touch("a", time.Minute) {
				t.Fatal("touch of an absent key reported an entry")
			}
			must(t, m.put("a", 1, time.Second))
			clock.Advance(time.Second)
			if m.touch("a", time.Minute) {
				t.Fatal("touch of an expired entry revived it")
			}
		}},
		{"a touched entry is dropped at its new expiry, and only then", func(t *testing.T, m *ttlMap[int], clock *fakeClock) {
			must(t, m.put("a", 1, 10*time.Second))
			clock.Advance(5 * time.Second)
			m.touch("a", 10*time.Second) // now due at 15 s; its heap entry still says 10 s
			clock.Advance(6 * time.Second)
			must(t, m.put("b", 2, time.Minute)) // pops a's stale heap entry: a must stay
			if _, ok := m.get("a"); !ok || m.size() != 2 {
				t.Fatalf("a was dropped at its first expiry (size %d)", m.size())
			}
			clock.Advance(4 * time.Second)
			must(t, m.put("c", 3, time.Minute)) // a is due: room for c in a map of two
			if _, ok := m.get("a"); ok || m.size() != 2 {
				t.Fatalf("a outlived its new expiry (size %d)", m.size())
			}
			if n := len(m.heap); n != m.size() {
				t.Errorf("%d heap entries for %d entries", n, m.size())
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
			tc.run(t, newTTLMap[int](clock.Now, 2), clock)
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestGrantStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	s := newGrantStore(clock.Now, 10, time.Minute)
	g := &goidc.Grant{ID: "g1", ClientID: "c", Subject: "c", Scopes: "a b", CreatedAt: 1_700_000_000,
		Resources: goidc.Resources{"https://api.test"}, JWKThumbprint: "jkt"}
	must(t, s.SaveGrant(ctx, g))
	got, err := s.Grant(ctx, "g1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(g, got); diff != "" {
		t.Errorf("round trip (-saved +loaded):\n%s", diff)
	}
	if _, err := s.Grant(ctx, "nope"); !errors.Is(err, goidc.ErrNotFound) {
		t.Errorf("unknown grant: %v, want goidc.ErrNotFound (the engine relies on it)", err)
	}
	if err := s.SaveGrant(ctx, &goidc.Grant{ID: "g2", RefreshToken: "rt"}); !errors.Is(err, errNotShortLived) {
		t.Errorf("grant with a refresh token: %v, want errNotShortLived", err)
	}
	clock.Advance(time.Minute)
	if _, err := s.Grant(ctx, "g1"); !errors.Is(err, goidc.ErrNotFound) {
		t.Errorf("expired grant: %v, want goidc.ErrNotFound", err)
	}
}
