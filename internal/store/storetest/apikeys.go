package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki"
)

// newAPIKey returns a key for api with every field set.
func newAPIKey(id, api string) *tiaki.APIKey {
	return &tiaki.APIKey{
		ID:        id,
		Hash:      []byte{0xff, 0, 0x10, 0x20, 0},
		API:       api,
		Name:      "nightly export " + id,
		Consumer:  "app-" + id,
		Scopes:    []string{"invoices:read", "invoices:write"},
		Source:    tiaki.SourceRuntime,
		CreatedAt: at(time.Minute),
		ExpiresAt: at(365 * 24 * time.Hour),
	}
}

// wantAPIKey is what a store must return for k.
func wantAPIKey(k *tiaki.APIKey) *tiaki.APIKey {
	w := *k
	w.Hash = nilIfEmpty(k.Hash)
	w.Scopes = nilIfEmpty(k.Scopes)
	w.CreatedAt = stored(k.CreatedAt)
	w.ExpiresAt = stored(k.ExpiresAt)
	w.RevokedAt = stored(k.RevokedAt)
	return &w
}

func checkAPIKey(t *testing.T, s tiaki.Store, want *tiaki.APIKey) {
	t.Helper()
	got, err := s.APIKey(ctx(t), want.ID)
	mustNot(t, "APIKey", err)
	diff(t, "APIKey "+want.ID, got, wantAPIKey(want))
	checkUTC(t, "APIKey "+want.ID, got.CreatedAt, got.ExpiresAt, got.RevokedAt)
}

func apiKeyIDs(keys []tiaki.APIKey) []string {
	ids := []string{}
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	return ids
}

var apiKeyTests = []test{
	{"RoundTrip", func(t *testing.T, s tiaki.Store) {
		k := newAPIKey("tk_1", "billing")
		k.RevokedAt = at(2 * time.Hour)
		mustNot(t, "CreateAPIKey", s.CreateAPIKey(ctx(t), k))
		checkAPIKey(t, s, k)
		plain := &tiaki.APIKey{ID: "tk_2", Hash: []byte{}, Scopes: []string{}}
		mustNot(t, "CreateAPIKey", s.CreateAPIKey(ctx(t), plain))
		checkAPIKey(t, s, plain)
	}},
	{"CreateConflict", func(t *testing.T, s tiaki.Store) {
		k := newAPIKey("tk_1", "billing")
		mustNot(t, "CreateAPIKey", s.CreateAPIKey(ctx(t), k))
		wantErr(t, "second CreateAPIKey", s.CreateAPIKey(ctx(t), newAPIKey("tk_1", "other")), tiaki.ErrConflict)
		checkAPIKey(t, s, k)
	}},
	{"Put", func(t *testing.T, s tiaki.Store) {
		k := newAPIKey("tk_1", "billing")
		mustNot(t, "PutAPIKey (insert)", s.PutAPIKey(ctx(t), k))
		checkAPIKey(t, s, k)
		k.Hash = []byte{9, 9, 9}
		k.API = "payroll"
		k.Scopes = []string{"payroll:read"}
		k.ExpiresAt = time.Time{}
		k.RevokedAt = at(time.Hour)
		mustNot(t, "PutAPIKey (replace)", s.PutAPIKey(ctx(t), k))
		checkAPIKey(t, s, k)
		k.Scopes = nil // a key's scopes can be taken away: none read back as nil
		mustNot(t, "PutAPIKey (no scopes)", s.PutAPIKey(ctx(t), k))
		checkAPIKey(t, s, k)
	}},
	{"NotFound", func(t *testing.T, s tiaki.Store) {
		_, err := s.APIKey(ctx(t), "ghost")
		wantErr(t, "APIKey", err, tiaki.ErrNotFound)
		wantErr(t, "RevokeAPIKey", s.RevokeAPIKey(ctx(t), "ghost", at(0)), tiaki.ErrNotFound)
		list, err := s.APIKeys(ctx(t), tiaki.APIKeyFilter{})
		mustNot(t, "APIKeys", err)
		if len(list) != 0 {
			t.Errorf("APIKeys of an empty store: got %d, want none", len(list))
		}
	}},
	{"ListAndFilter", func(t *testing.T, s tiaki.Store) {
		// Ordered by creation time, then ID; a zero creation time sorts first.
		keys := []*tiaki.APIKey{
			newAPIKey("c", "billing"),
			newAPIKey("a", "payroll"),
			newAPIKey("b", "billing"),
			newAPIKey("old", "billing"),
			newAPIKey("undated", "payroll"),
		}
		keys[0].CreatedAt = at(-time.Microsecond)
		keys[3].CreatedAt = at(-time.Hour)
		keys[4].CreatedAt = time.Time{}
		for _, k := range keys {
			mustNot(t, "CreateAPIKey "+k.ID, s.CreateAPIKey(ctx(t), k))
		}
		for _, tc := range []struct {
			api  string
			want []string
		}{
			{"", []string{"undated", "old", "c", "a", "b"}},
			{"billing", []string{"old", "c", "b"}},
			{"payroll", []string{"undated", "a"}},
			{"nothing", []string{}},
			{"bad\x00api", []string{}},
		} {
			t.Run(fmt.Sprintf("api=%q", tc.api), func(t *testing.T) {
				list, err := s.APIKeys(ctx(t), tiaki.APIKeyFilter{API: tc.api})
				mustNot(t, "APIKeys", err)
				diff(t, "APIKeys IDs", apiKeyIDs(list), tc.want)
				for _, k := range list {
					if k.ID == "a" {
						diff(t, "listed key", &k, wantAPIKey(keys[1]))
					}
				}
			})
		}
	}},
	{"Revoke", func(t *testing.T, s tiaki.Store) {
		k := newAPIKey("tk_1", "billing")
		mustNot(t, "CreateAPIKey", s.CreateAPIKey(ctx(t), k))
		first := at(time.Hour)
		mustNot(t, "RevokeAPIKey", s.RevokeAPIKey(ctx(t), "tk_1", first))
		k.RevokedAt = first
		checkAPIKey(t, s, k)
		// A second revocation, earlier or later, must not move the recorded time: audit
		// trails and revocation feeds rely on the first.
		mustNot(t, "RevokeAPIKey (later)", s.RevokeAPIKey(ctx(t), "tk_1", at(2*time.Hour)))
		mustNot(t, "RevokeAPIKey (earlier)", s.RevokeAPIKey(ctx(t), "tk_1", at(-time.Hour)))
		checkAPIKey(t, s, k)
		wantErr(t, "RevokeAPIKey at the zero time", s.RevokeAPIKey(ctx(t), "tk_1", time.Time{}), tiaki.ErrInvalid)
	}},
	{"RevokedSince", func(t *testing.T, s tiaki.Store) {
		for i, id := range []string{"k0", "k1", "k2", "k3", "live"} {
			mustNot(t, "CreateAPIKey", s.CreateAPIKey(ctx(t), newAPIKey(id, "billing")))
			if id != "live" {
				mustNot(t, "RevokeAPIKey", s.RevokeAPIKey(ctx(t), id, at(time.Duration(i)*time.Minute)))
			}
		}
		for _, tc := range []struct {
			name  string
			since time.Time
			want  []string
		}{
			{"zero", time.Time{}, []string{"k0", "k1", "k2", "k3"}},
			{"exactly at k2 (inclusive)", at(2 * time.Minute), []string{"k2", "k3"}},
			{"just after k2", at(2*time.Minute + time.Microsecond), []string{"k3"}},
			{"after all", at(time.Hour), nil},
			{"far future", time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC), nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.APIKeysRevokedSince(ctx(t), tc.since)
				mustNot(t, "APIKeysRevokedSince", err)
				slices.Sort(got)
				diff(t, "revoked IDs", nilIfEmpty(got), tc.want)
			})
		}
	}},
	{"Copies", func(t *testing.T, s tiaki.Store) {
		k := newAPIKey("tk_1", "billing")
		want := wantAPIKey(k)
		mustNot(t, "CreateAPIKey", s.CreateAPIKey(ctx(t), k))
		k.Hash[0] = 1
		k.API = "changed"
		k.Scopes[0] = "changed"
		got, err := s.APIKey(ctx(t), "tk_1")
		mustNot(t, "APIKey", err)
		got.Hash[1] = 1
		got.Scopes[1] = "changed"
		list, err := s.APIKeys(ctx(t), tiaki.APIKeyFilter{})
		mustNot(t, "APIKeys", err)
		list[0].Hash[2] = 1
		got, err = s.APIKey(ctx(t), "tk_1")
		mustNot(t, "APIKey", err)
		diff(t, "APIKey", got, want)
	}},
	{"ConcurrentCreate", func(t *testing.T, s tiaki.Store) {
		race(t, 8, func(i int) error {
			return s.CreateAPIKey(ctx(t), newAPIKey("tk_1", fmt.Sprint("api", i)))
		})
	}},
	{"Invalid", func(t *testing.T, s tiaki.Store) {
		for _, write := range []struct {
			name string
			f    func(*tiaki.APIKey) error
		}{
			{"CreateAPIKey", func(k *tiaki.APIKey) error { return s.CreateAPIKey(ctx(t), k) }},
			{"PutAPIKey", func(k *tiaki.APIKey) error { return s.PutAPIKey(ctx(t), k) }},
		} {
			wantErr(t, write.name+"(nil)", write.f(nil), tiaki.ErrInvalid)
			for _, bad := range badKeys {
				wantErr(t, write.name+" with "+bad.name+" ID", write.f(newAPIKey(bad.s, "billing")), tiaki.ErrInvalid)
			}
			for _, bad := range badText {
				wantErr(t, write.name+" with "+bad.name+" API", write.f(newAPIKey("tk", bad.s)), tiaki.ErrInvalid)
				k := newAPIKey("tk", "billing")
				k.Scopes = []string{"ok", bad.s}
				wantErr(t, write.name+" with "+bad.name+" scope", write.f(k), tiaki.ErrInvalid)
			}
		}
		for _, bad := range badKeys {
			_, err := s.APIKey(ctx(t), bad.s)
			wantErr(t, "APIKey with "+bad.name+" ID", err, tiaki.ErrNotFound)
			wantErr(t, "RevokeAPIKey with "+bad.name+" ID", s.RevokeAPIKey(ctx(t), bad.s, at(0)), tiaki.ErrNotFound)
		}
	}},
}
