package sqlite

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki"
)

// TestUpgradeFromV1: a database made by a Tiaki without sessions gains the tables on open and
// keeps what it held.
func TestUpgradeFromV1(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tiaki.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutClient(t.Context(), &tiaki.Client{ID: "app", Name: "App"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Undo the migrations after 0001 by hand, leaving the schema version 1 had.
	sqliteFile(t, path, "DROP TABLE token_revocations", "ALTER TABLE api_keys DROP COLUMN scopes",
		"DROP TABLE session_indexes", "DROP TABLE sessions",
		"ALTER TABLE clients DROP COLUMN id_token_signed_response_alg",
		"DELETE FROM schema_migrations WHERE version >= 2",
		`INSERT INTO api_keys (id, hash, api, name, consumer, source) VALUES ('old', x'01', 'billing', 'old key', 'app', 'runtime')`)

	s, err = Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open of a version 1 database: %v", err)
	}
	defer s.Close()
	if c, err := s.Client(t.Context(), "app"); err != nil || c.Name != "App" {
		t.Errorf("Client after upgrade = %+v, %v", c, err)
	}
	// A key stored before keys had scopes (0003) holds none: the gateway refuses it on every
	// method that requires a scope.
	if k, err := s.APIKey(t.Context(), "old"); err != nil || k.Scopes != nil || k.API != "billing" {
		t.Errorf("API key from before scopes = %+v, %v; want its fields and no scopes", k, err)
	}
	sess := &tiaki.Session{Kind: tiaki.SessionGrant, ID: "g", Indexes: map[string]string{"code": "h"}}
	if err := s.CreateSession(t.Context(), sess); err != nil {
		t.Fatalf("CreateSession after upgrade: %v", err)
	}
	got, err := s.SessionByIndex(t.Context(), tiaki.SessionGrant, "code", "h")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(sess, got); d != "" {
		t.Errorf("SessionByIndex after upgrade (-want +got):\n%s", d)
	}
}

// TestSessionQueriesUseIndexes: the lookups the token endpoint makes, and the purge, must not
// scan a table, or they slow down as sessions pile up.
func TestSessionQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	for _, tc := range []struct {
		name, query string
		args        []any
	}{
		{"by ID", sessionByID, []any{"grant", "g"}},
		{"by index", sessionByIndex, []any{"grant", "code", "h"}},
		{"own indexes", deleteSessionIndexes, []any{"grant", "g"}},
		{"expired", deleteExpired, []any{1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := s.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tc.query, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			for _, step := range plan {
				if strings.HasPrefix(step, "SCAN ") {
					t.Errorf("query plan scans a table:\n%s", strings.Join(plan, "\n"))
				}
			}
		})
	}
}

// BenchmarkSessionCAS measures what one authorization code costs the store: creating the
// grant with its code's hash as an index, then the compare-and-set that redeems it (drops the
// code, adds a refresh token's hash).
func BenchmarkSessionCAS(b *testing.B) {
	s := openTemp(b)
	ctx := b.Context()
	data := []byte(`{"client_id":"billing","sub":"aroha","scope":"openid profile","redirect_uri":"https://app.example.govt.nz/cb","code_challenge":"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM","auth_time":1741064767}`)
	hash := func(kind string, i int) string {
		h := sha256.Sum256(fmt.Appendf(nil, "%s-%d", kind, i))
		return hex.EncodeToString(h[:])
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sess := &tiaki.Session{Kind: tiaki.SessionGrant, ID: fmt.Sprint("g", i),
			Indexes: map[string]string{"code": hash("code", i)}, Data: data,
			ExpiresAt: time.Now().Add(time.Minute)}
		if err := s.CreateSession(ctx, sess); err != nil {
			b.Fatal(err)
		}
		sess.Indexes = map[string]string{"refresh_token": hash("refresh", i)}
		sess.ExpiresAt = time.Now().Add(24 * time.Hour)
		if err := s.UpdateSession(ctx, sess); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
