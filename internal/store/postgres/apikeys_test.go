package postgres

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki"
)

// TestAPIKeysFromBeforeScopes: a key written without scopes, as Tiaki wrote keys before
// migration 0003 added the column, reads back with none (the column's default, which the
// migration also gives existing rows), so the gateway refuses it on every method that requires
// a scope; keys written now keep theirs.
func TestAPIKeysFromBeforeScopes(t *testing.T) {
	t.Parallel()
	schema, dsn := newSchema(t)
	open(t, dsn).Close()
	exec(t, "INSERT INTO "+schema+".api_keys (id, hash, api, name, consumer, source) VALUES ('old', '\\x01', 'billing', 'old key', 'app', 'runtime')")

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
