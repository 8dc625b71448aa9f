// Package postgres is Tiaki's store for many nodes: clients, API-key hashes, users, sealed
// signing keys and the authorization server's sessions in a PostgreSQL database that every
// node shares, through pgx's pool. (A single node can use the sqlite package's embedded store
// instead; both pass storetest.Run.)
//
// Start with Open in this file: it refuses a schema that is not Tiaki's and applies the
// embedded migrations (migrations/*.sql) under an advisory lock, so nodes starting together
// migrate once. clients.go, apikeys.go, users.go, signingkeys.go and sessions.go hold the SQL
// for each entity; values.go says how Go values become columns.
//
// Tiaki uses the first schema on the connection's search_path (set it with the DSN's
// search_path parameter) and expects that schema to be its own.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tiaki-nz/tiaki"
)

// ErrSchemaNewer means the database was migrated by a newer Tiaki than this binary. Tiaki
// refuses to run on a schema it does not know rather than misread or damage it.
var ErrSchemaNewer = errors.New("store schema is newer than this Tiaki")

// migrationsTable records applied migrations and marks a schema as Tiaki's. Its name carries
// "tiaki_" so that another tool's schema_migrations (golang-migrate, Rails, ...) in the same
// schema is never taken for Tiaki's.
const migrationsTable = "tiaki_schema_migrations"

// lockClass is the first half of the advisory lock key that serialises migrations ("TIKI");
// the second half is derived from the schema name, so Tiaki instances in different schemas
// of one database do not wait for each other.
const lockClass = 0x54494b49

// Store is a tiaki.Store in a PostgreSQL schema. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

var _ tiaki.Store = (*Store)(nil)

// Open connects to the database dsn names (a postgres:// URL or key=value string, as pgx
// accepts), checks the schema is Tiaki's or empty, and migrates it to this binary's schema.
// A schema with tables but no Tiaki migrations table fails with an error wrapping
// tiaki.ErrStoreForeign; one migrated by a newer Tiaki fails with ErrSchemaNewer.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message quotes the DSN, password and all when it cannot parse it.
		return nil, fmt.Errorf("postgres: the DSN does not parse (details withheld: it may hold a password): %w", tiaki.ErrInvalid)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// migration is one embedded schema change.
type migration struct {
	version int
	name    string
	sql     string
}

//go:embed migrations/*.sql
var migrationFiles embed.FS

// loadMigrations reads the embedded migrations, which must be numbered 1, 2, 3, ... with no
// gaps (0001_init.sql, 0002_....sql), so the highest version is also their count.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	var ms []migration
	for i, e := range entries { // ReadDir sorts by name
		name := strings.TrimSuffix(e.Name(), ".sql")
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v != i+1 || len(num) != 4 {
			return nil, fmt.Errorf("postgres: migration %s: want a name starting %04d_", e.Name(), i+1)
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("postgres: migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	return ms, nil
}

// migrate checks the schema is Tiaki's (or empty) and applies the migrations it lacks, all
// in one transaction: DDL is transactional in PostgreSQL, so a failure leaves the old schema.
func (s *Store) migrate(ctx context.Context) (err error) {
	known, err := loadMigrations()
	if err != nil {
		return err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	var schema *string
	if err := tx.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if schema == nil {
		return fmt.Errorf("postgres: no schema on the search_path exists; create it, or set search_path in the DSN: %w", tiaki.ErrInvalid)
	}
	// Nodes starting together queue here; the first migrates, the rest find nothing to do.
	// The lock ends with the transaction.
	h := fnv.New32a()
	h.Write([]byte(*schema))
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, $2)", int32(lockClass), int32(h.Sum32())); err != nil {
		return fmt.Errorf("postgres: schema %q: taking the migration lock: %w", *schema, err)
	}
	var marked bool
	var tables int
	err = tx.QueryRow(ctx, `SELECT coalesce(bool_or(tablename = $2), false), count(*) FROM pg_catalog.pg_tables
		WHERE schemaname = $1`, *schema, migrationsTable).Scan(&marked, &tables)
	if err != nil {
		return fmt.Errorf("postgres: schema %q: %w", *schema, err)
	}
	if !marked && tables > 0 {
		return fmt.Errorf("postgres: schema %q has %d tables but no %s table, so it is not Tiaki's; "+
			"refusing to use it (give Tiaki its own database or schema): %w",
			*schema, tables, migrationsTable, tiaki.ErrStoreForeign)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+migrationsTable+` (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL
	)`); err != nil {
		return fmt.Errorf("postgres: schema %q: %w", *schema, err)
	}
	var current int
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+migrationsTable).Scan(&current); err != nil {
		return fmt.Errorf("postgres: schema %q: reading schema version: %w", *schema, err)
	}
	if current > len(known) {
		return fmt.Errorf("postgres: schema %q: schema version %d, but this Tiaki knows only up to %d; upgrade Tiaki: %w",
			*schema, current, len(known), ErrSchemaNewer)
	}
	for _, m := range known[current:] {
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("postgres: schema %q: migration %s: %w", *schema, m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+migrationsTable+" (version, name, applied_at) VALUES ($1, $2, $3)",
			m.version, m.name, time.Now().UTC()); err != nil {
			return fmt.Errorf("postgres: schema %q: migration %s: %w", *schema, m.name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: schema %q: migrating: %w", *schema, err)
	}
	return nil
}

// Ping reports whether the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close closes the pool, waiting for connections in use to be returned. Closing twice is
// harmless.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// rowsOf collects rows into a slice with scan, which decodes one row.
func rowsOf[T any](rows pgx.Rows, err error, what string, scan func(pgx.Row) (*T, error)) ([]T, error) {
	if err != nil {
		return nil, storeErr(what, err)
	}
	defer rows.Close()
	var list []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, storeErr(what, err)
		}
		list = append(list, *v)
	}
	if err := rows.Err(); err != nil {
		return nil, storeErr(what, err)
	}
	return list, nil
}
