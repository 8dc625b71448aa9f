package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki"
)

// TestAPIKeysFromBeforeScopes: a key stored before keys had scopes (migration 0003) reads back
// with none, so the gateway refuses it on every method that requires a scope, and the upgraded
// table stores the scopes of new keys.
func TestAPIKeysFromBeforeScopes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tiaki.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Back to the schema before 0003, holding a key written as that version wrote it.
	sqliteFile(t, path, "ALTER TABLE api_keys DROP COLUMN scopes", "DELETE FROM schema_migrations WHERE version >= 3",
		`INSERT INTO api_keys (id, hash, api, name, consumer, source) VALUES ('old', x'01', 'billing', 'old key', 'app', 'runtime')`)

	s, err = Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open of a version 2 database: %v", err)
	}
	defer s.Close()
	old, err := s.APIKey(t.Context(), "old")
	if err != nil {
		t.Fatal(err)
	}
	if old.Scopes != nil || old.API != "billing" {
		t.Errorf("key from before scopes: %+v; want its fields and no scopes", old)
	}
	k := &tiaki.APIKey{ID: "new", Hash: []byte{2}, API: "billing", Scopes: []string{"billing:read"}}
	if err := s.CreateAPIKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	got, err := s.APIKey(t.Context(), "new")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(k.Scopes, got.Scopes); d != "" {
		t.Errorf("scopes after upgrade (-want +got):\n%s", d)
	}
}
