package sqlite

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/store/storetest"
)

func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "tiaki.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) tiaki.Store { return openTemp(t) })
}

func TestMigrationsNumbered(t *testing.T) {
	t.Parallel()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].name != "0001_init" {
		t.Fatalf("migrations = %v, want 0001_init first", ms)
	}
}

// TestCreatesPrivateFiles: the database holds credential hashes and sealed keys, so only its
// owner may read it.
func TestCreatesPrivateFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state", "tiaki")
	path := filepath.Join(dir, "tiaki.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if err := s.PutUser(t.Context(), &tiaki.User{Username: "u"}); err != nil {
		t.Fatal(err)
	}
	// SQLite gives the WAL the database file's mode; the WAL holds recent writes in full.
	for name, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, path: 0o600, path + "-wal": 0o600} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode(), want)
		}
	}
	var mode string
	if err := s.r.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	var appID int
	if err := s.r.QueryRow("PRAGMA application_id").Scan(&appID); err != nil || appID != ApplicationID {
		t.Errorf("application_id = %#x, %v; want %#x", appID, err, ApplicationID)
	}
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "weird ?#% name.db")
	ctx := t.Context()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.PutClient(ctx, &tiaki.Client{ID: "app", Name: "App"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		s, err = Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		c, err := s.Client(ctx, "app")
		if err != nil || c.Name != "App" {
			t.Errorf("reopen %d: Client = %+v, %v", i, c, err)
		}
		var n int
		known, _ := loadMigrations()
		if err := s.r.QueryRow("SELECT count(*) FROM schema_migrations").Scan(&n); err != nil || n != len(known) {
			t.Errorf("reopen %d: %d schema_migrations rows, %v; want %d", i, n, err, len(known))
		}
		s.Close()
	}
}

// TestConcurrentOpen: nodes (or a CLI command beside the server) opening one new file at the
// same moment must all succeed and migrate it once.
func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tiaki.db")
	errs := make(chan error, 4)
	for range cap(errs) {
		go func() {
			s, err := Open(t.Context(), path)
			if err == nil {
				err = s.PutUser(t.Context(), &tiaki.User{Username: "u"})
				s.Close()
			}
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// sqliteFile makes a SQLite database at path with another program's idea of a schema.
func sqliteFile(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestRefusesForeignFiles: Tiaki must never take over, or damage, a file it did not make.
func TestRefusesForeignFiles(t *testing.T) {
	t.Parallel()
	random := make([]byte, 8192)
	rand.Read(random)
	for _, tc := range []struct {
		name    string
		make    func(t *testing.T, path string)
		wantErr error
		wantMsg string
	}{
		{"random bytes", func(t *testing.T, path string) {
			os.WriteFile(path, random, 0o600)
		}, tiaki.ErrStoreForeign, "not a SQLite database"},
		{"text file", func(t *testing.T, path string) {
			os.WriteFile(path, []byte("listen: :8443\nstore: sqlite\n"), 0o644)
		}, tiaki.ErrStoreForeign, "not a SQLite database"},
		{"SQLite magic then garbage", func(t *testing.T, path string) {
			os.WriteFile(path, append([]byte("SQLite format 3\x00"), random...), 0o600)
		}, tiaki.ErrStoreForeign, ""},
		{"directory", func(t *testing.T, path string) {
			os.Mkdir(path, 0o700)
		}, tiaki.ErrStoreForeign, "not a regular file"},
		{"another application's database", func(t *testing.T, path string) {
			sqliteFile(t, path, "PRAGMA application_id = 1234", "CREATE TABLE notes (body TEXT)")
		}, tiaki.ErrStoreForeign, "another application"},
		{"another application's empty database", func(t *testing.T, path string) {
			sqliteFile(t, path, "PRAGMA application_id = 1234")
		}, tiaki.ErrStoreForeign, "another application"},
		{"unmarked tables", func(t *testing.T, path string) {
			sqliteFile(t, path, "CREATE TABLE clients (id TEXT)", "INSERT INTO clients VALUES ('x')")
		}, tiaki.ErrStoreForeign, "no Tiaki marker"},
		{"unmarked WAL database", func(t *testing.T, path string) {
			sqliteFile(t, path, "PRAGMA journal_mode = WAL", "CREATE TABLE schema_migrations (version INTEGER)")
		}, tiaki.ErrStoreForeign, "no Tiaki marker"},
		{"marker without migrations table", func(t *testing.T, path string) {
			sqliteFile(t, path, fmt.Sprintf("PRAGMA application_id = %d", ApplicationID))
		}, tiaki.ErrStoreForeign, "no schema_migrations"},
		{"newer Tiaki", func(t *testing.T, path string) {
			s, err := Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			sqliteFile(t, path, "INSERT INTO schema_migrations VALUES (9999, '9999_future', 0)")
		}, ErrSchemaNewer, "schema version 9999"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "tiaki.db")
			tc.make(t, path)
			before := snapshot(t, path)
			s, err := Open(t.Context(), path)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Open: got %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("Open: error %q should name %s and say %q", err, path, tc.wantMsg)
			}
			if after := snapshot(t, path); !bytes.Equal(before, after) {
				t.Errorf("Open changed the file (%d bytes before, %d after)", len(before), len(after))
			}
		})
	}
}

// snapshot is the file's bytes, or nil for a directory.
func snapshot(t *testing.T, path string) []byte {
	t.Helper()
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	if _, err := Open(t.Context(), ""); !errors.Is(err, tiaki.ErrInvalid) {
		t.Errorf("Open(\"\"): got %v, want ErrInvalid", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Open(ctx, filepath.Join(t.TempDir(), "tiaki.db")); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with canceled context: got %v, want context.Canceled", err)
	}
}

func TestEscapedNUL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		json string
		want bool
	}{
		{`{"a":"\u0000"}`, true},
		{`{"a":"\\u0000"}`, false},
		{`{"a":"\\\u0000"}`, true},
		{`{"a":"x\"u0000"}`, false},
		{`{"a":"\u00001"}`, true},
		{`\`, false},
	} {
		if got := hasEscapedNUL([]byte(tc.json)); got != tc.want {
			t.Errorf("hasEscapedNUL(%s) = %v, want %v", tc.json, got, tc.want)
		}
	}
}

// BenchmarkClientLookup measures Client by ID, which the token endpoint does for every
// request (a cache sits above it; this is the cost of a miss).
func BenchmarkClientLookup(b *testing.B) {
	s := openTemp(b)
	ctx := b.Context()
	for i := range 1000 {
		c := &tiaki.Client{ID: fmt.Sprintf("client-%04d", i), Name: "bench", AuthMethod: tiaki.AuthSecretBasic,
			SecretHash: make([]byte, 32), GrantTypes: []string{"client_credentials"},
			Scopes: []string{"read", "write"}, CreatedAt: time.Now()}
		if err := s.CreateClient(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.Client(ctx, fmt.Sprintf("client-%04d", i%1000)); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
