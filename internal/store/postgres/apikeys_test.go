package postgres

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki"
)

// TestAPIKeysFromBeforeScopes: a key stored before keys had scopes (migration 0003) reads back
// with none, so the gateway refuses it on every method that requires a scope, and the upgraded
// table stores the scopes of new keys.
func TestAPIKeysFromBeforeScopes(t *testing.T) {
	t.Parallel()
	schema, dsn := newSchema(t)
	open(t, dsn).Close()
	// Back to the schema before 0003, holding a key written as that version wrote it.
	exec(t, "ALTER TABLE "+schema+".api_keys DROP COLUMN scopes",
		"DELETE FROM "+schema+"."+migrationsTable+" WHERE version >= 3",
		"INSERT INTO "+schema+".api_keys (id, hash, api, name, consumer, source) VALUES ('old', '\\x01', 'billing', 'old key', 'app', 'runtime')")

	s := open(t, dsn)
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
