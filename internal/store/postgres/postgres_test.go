package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/store/storetest"
)

// testDSN is the PostgreSQL the tests use: TIAKI_TEST_POSTGRES, or the local trust-auth
// server CI starts.
func testDSN() string {
	if dsn := os.Getenv("TIAKI_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// connect opens a plain connection for test setup. Without a server, tests skip on a
// developer's machine but fail in CI (CI is set), which must never pass by skipping.
func connect(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testDSN())
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("PostgreSQL unreachable (set TIAKI_TEST_POSTGRES): %v", err)
		}
		t.Fatalf("PostgreSQL unreachable, and CI must not skip: %v", err)
	}
	return conn
}

// exec runs statements on a setup connection.
func exec(t testing.TB, stmts ...string) {
	t.Helper()
	conn := connect(t)
	defer conn.Close(context.Background())
	for _, q := range stmts {
		if _, err := conn.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// newSchema creates an empty schema for one test, dropped when the test ends, and returns
// its name and the DSN that selects it.
func newSchema(t testing.TB) (schema, dsn string) {
	t.Helper()
	schema = "t_" + strings.ToLower(rand.Text()) // base32: letters and digits only
	exec(t, "CREATE SCHEMA "+schema)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, testDSN())
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return schema, withSearchPath(t, testDSN(), schema)
}

// withSearchPath adds search_path to a DSN in either of the forms pgx accepts; pgx sends
// it to the server as a run-time parameter of each connection.
func withSearchPath(t testing.TB, dsn, schema string) string {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("TIAKI_TEST_POSTGRES does not parse as a URL")
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func open(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	connect(t).Close(context.Background()) // skip or fail once, up front
	storetest.Run(t, func(t *testing.T) tiaki.Store {
		_, dsn := newSchema(t)
		return open(t, dsn)
	})
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

// TestConcurrentOpen: nodes starting together must all succeed and migrate once.
func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	schema, dsn := newSchema(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s, err := Open(t.Context(), dsn)
			if err != nil {
				t.Error(err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	s := open(t, dsn)
	var n int
	if err := s.pool.QueryRow(t.Context(), "SELECT count(*) FROM "+schema+"."+migrationsTable).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if known, _ := loadMigrations(); n != len(known) {
		t.Errorf("%d migration rows, want %d", n, len(known))
	}
}

// TestRefusesForeignSchema: Tiaki must never take over, or change, a schema it did not make.
func TestRefusesForeignSchema(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		setup   func(schema string) []string
		wantErr error
		wantMsg string
	}{
		{"another application's tables", func(schema string) []string {
			return []string{"CREATE TABLE " + schema + ".clients (id text)", "INSERT INTO " + schema + ".clients VALUES ('x')"}
		}, tiaki.ErrStoreForeign, "not Tiaki's"},
		{"another tool's schema_migrations", func(schema string) []string {
			return []string{"CREATE TABLE " + schema + ".schema_migrations (version bigint, dirty boolean)"}
		}, tiaki.ErrStoreForeign, "not Tiaki's"},
		{"newer Tiaki", func(schema string) []string {
			return []string{"CREATE TABLE " + schema + "." + migrationsTable +
				" (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)",
				"INSERT INTO " + schema + "." + migrationsTable + " VALUES (9999, '9999_future', now())"}
		}, ErrSchemaNewer, "schema version 9999"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			schema, dsn := newSchema(t)
			exec(t, tc.setup(schema)...)
			before := tables(t, schema)
			s, err := Open(t.Context(), dsn)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Open: got %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), schema) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("Open: error %q should name %s and say %q", err, schema, tc.wantMsg)
			}
			if after := tables(t, schema); after != before {
				t.Errorf("Open changed the schema: tables %q before, %q after", before, after)
			}
		})
	}
}

// tables lists a schema's tables.
func tables(t *testing.T, schema string) string {
	t.Helper()
	conn := connect(t)
	defer conn.Close(context.Background())
	var names string
	err := conn.QueryRow(t.Context(), `SELECT coalesce(string_agg(tablename, ',' ORDER BY tablename), '')
		FROM pg_tables WHERE schemaname = $1`, schema).Scan(&names)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	connect(t).Close(context.Background())
	t.Run("missing schema", func(t *testing.T) {
		_, err := Open(t.Context(), withSearchPath(t, testDSN(), "t_does_not_exist"))
		if !errors.Is(err, tiaki.ErrInvalid) || !strings.Contains(err.Error(), "search_path") {
			t.Errorf("Open: got %v, want ErrInvalid naming search_path", err)
		}
	})
	t.Run("DSN with password does not parse", func(t *testing.T) {
		_, err := Open(t.Context(), "postgres://tiaki:hunter2-s3cret@db:notaport/tiaki")
		if !errors.Is(err, tiaki.ErrInvalid) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open: got %v, want ErrInvalid without the password", err)
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := Open(ctx, testDSN()); !errors.Is(err, context.Canceled) {
			t.Errorf("Open: got %v, want context.Canceled", err)
		}
	})
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
		{`\`, false},
	} {
		if got := hasEscapedNUL([]byte(tc.json)); got != tc.want {
			t.Errorf("hasEscapedNUL(%s) = %v, want %v", tc.json, got, tc.want)
		}
	}
}
