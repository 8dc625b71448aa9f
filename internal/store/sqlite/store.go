// Package sqlite is Tiaki's embedded default store: one SQLite file, written through the pure
// Go driver modernc.org/sqlite, holding clients, API-key hashes, users, sealed signing keys and
// the authorization server's sessions for a single node. (Many nodes share the postgres
// package's store instead; both pass storetest.Run.)
//
// Start with Open in this file: it refuses files that are not Tiaki's, turns on WAL, and
// applies the embedded migrations (migrations/*.sql). clients.go, apikeys.go, users.go,
// signingkeys.go and sessions.go hold the SQL for each entity; values.go says how Go values
// become columns.
package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tiaki-nz/tiaki"
)

// ApplicationID marks a SQLite file as Tiaki's (PRAGMA application_id, bytes 68-71 of the file
// header): "TIKI" in ASCII. A file with another application ID belongs to someone else.
const ApplicationID = 0x54494b49

// ErrSchemaNewer means the database was migrated by a newer Tiaki than this binary. Tiaki
// refuses to run on a schema it does not know rather than misread or damage it.
var ErrSchemaNewer = errors.New("store schema is newer than this Tiaki")

const (
	// readConns bounds the reader pool. WAL lets readers run beside the one writer, and the
	// token endpoint's client lookups are reads.
	readConns = 4
	// busyTimeout is how long (ms) a connection waits for a lock another process holds, such
	// as a backup or a second Tiaki on the same file, before failing with SQLITE_BUSY.
	busyTimeout = 10000
)

// sqliteMagic starts every SQLite database file (https://sqlite.org/fileformat.html §1.3).
var sqliteMagic = []byte("SQLite format 3\x00")

// Store is a tiaki.Store in one SQLite file. It is safe for concurrent use.
type Store struct {
	path string
	// w is the only connection that writes. SQLite allows one writer at a time; queueing
	// writers in the pool rather than in SQLite means they wait in Go instead of failing
	// with SQLITE_BUSY, and its transactions begin IMMEDIATE so a read never has to be
	// upgraded to a write lock mid-transaction.
	w *sql.DB
	// r serves reads, with query_only set so a mistake here cannot write.
	r *sql.DB
	// clientByID is prepared once: the token endpoint looks clients up on every cache miss,
	// and preparing the query each time nearly doubles the lookup's cost
	// (BenchmarkClientLookup).
	clientByID *sql.Stmt
}

var _ tiaki.Store = (*Store)(nil)

// Open opens the Tiaki database at path, creating it (and its directory, mode 0700) if it
// does not exist, and migrates it to this binary's schema. A file that is not a Tiaki
// database fails with an error wrapping tiaki.ErrStoreForeign, and is left byte for byte as
// it was; a database from a newer Tiaki fails with ErrSchemaNewer.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("sqlite: empty database path: %w", tiaki.ErrInvalid)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	if err := prepareFile(abs); err != nil {
		return nil, err
	}
	s := &Store{path: abs}
	if s.w, err = sql.Open("sqlite", dsn(abs, false)); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", abs, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	if err := s.setUp(ctx); err != nil {
		s.w.Close()
		return nil, err
	}
	if s.r, err = sql.Open("sqlite", dsn(abs, true)); err == nil {
		s.r.SetMaxOpenConns(readConns)
		s.r.SetMaxIdleConns(readConns)
		s.clientByID, err = s.r.PrepareContext(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = ?`)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: %s: opening readers: %w", abs, err)
	}
	return s, nil
}

// dsn is the driver's name for the file: a file: URI (so a '?' or '#' in the path is escaped,
// not taken for a query) with the pragmas every connection needs.
func dsn(path string, reader bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.Itoa(busyTimeout)+")")
	q.Add("_pragma", "foreign_keys(1)")
	if reader {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate")
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	return u.String()
}

// prepareFile creates the directory and an empty file with owner-only permissions if they are
// missing (the database holds credential hashes and sealed keys), and otherwise checks that
// the file is at least a SQLite database before SQLite is let near it.
func prepareFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("sqlite: %w", err)
	}
	if f, err = os.Open(path); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return foreign(path, "not a regular file")
	}
	if fi.Size() == 0 {
		return nil // new, or made empty by touch: SQLite treats it as an empty database
	}
	head := make([]byte, len(sqliteMagic))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, sqliteMagic) {
		return foreign(path, "not a SQLite database")
	}
	return nil
}

// foreign is the error for a file Tiaki must not touch.
func foreign(path, why string) error {
	return fmt.Errorf("sqlite: %s: %s; refusing to use it (move it away or choose another path): %w",
		path, why, tiaki.ErrStoreForeign)
}

// setUp checks that the database is Tiaki's (or empty), then turns on WAL and migrates it.
// Nothing is written until the check has passed.
func (s *Store) setUp(ctx context.Context) error {
	known, err := loadMigrations()
	if err != nil {
		return err
	}
	var appID, objects, marker int64
	err = s.w.QueryRowContext(ctx, `SELECT
		(SELECT application_id FROM pragma_application_id),
		(SELECT count(*) FROM sqlite_schema),
		(SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations')`,
	).Scan(&appID, &objects, &marker)
	if err != nil {
		return s.openErr(err)
	}
	switch {
	case appID == ApplicationID && marker == 0:
		return foreign(s.path, "marked as Tiaki's but has no schema_migrations table (damaged?)")
	case appID == ApplicationID:
		if _, err := s.version(ctx, s.w, len(known)); err != nil {
			return err
		}
	case appID != 0:
		return foreign(s.path, fmt.Sprintf("a SQLite database of another application (application_id %#08x)", appID))
	case objects > 0:
		return foreign(s.path, "a SQLite database with tables but no Tiaki marker")
	}
	// WAL: readers never block the writer or each other, and a crash cannot tear a commit.
	// It is a property of the file, so set once here, outside any transaction.
	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return s.openErr(err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqlite: %s: cannot use WAL journal mode (got %q); is it on a network file system?", s.path, mode)
	}
	return s.migrate(ctx, known)
}

// openErr wraps an error from the first statements run on the file; SQLite's "not a database"
// and "malformed" mean a foreign or corrupt file.
func (s *Store) openErr(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB:
			return foreign(s.path, "not a SQLite database")
		case sqlite3.SQLITE_CORRUPT:
			return foreign(s.path, "a corrupt SQLite database")
		}
	}
	return fmt.Errorf("sqlite: %s: %w", s.path, err)
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
		return nil, fmt.Errorf("sqlite: migrations: %w", err)
	}
	var ms []migration
	for i, e := range entries { // ReadDir sorts by name
		name := strings.TrimSuffix(e.Name(), ".sql")
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v != i+1 || len(num) != 4 {
			return nil, fmt.Errorf("sqlite: migration %s: want a name starting %04d_", e.Name(), i+1)
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("sqlite: migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	return ms, nil
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// version returns the schema version recorded in schema_migrations, or ErrSchemaNewer if it
// is beyond the latest this binary knows.
func (s *Store) version(ctx context.Context, q querier, latest int) (int, error) {
	var v int
	if err := q.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("sqlite: %s: reading schema version: %w", s.path, err)
	}
	if v > latest {
		return 0, fmt.Errorf("sqlite: %s: schema version %d, but this Tiaki knows only up to %d; upgrade Tiaki: %w",
			s.path, v, latest, ErrSchemaNewer)
	}
	return v, nil
}

// migrate applies the migrations the database lacks, all in one transaction with the marker,
// so a crash leaves either the old schema or the new one. The transaction begins IMMEDIATE,
// so a second process opening the same file at the same time waits, then finds nothing to do.
func (s *Store) migrate(ctx context.Context, known []migration) (err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: %s: migrating: %w", s.path, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY NOT NULL,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("sqlite: %s: migrating: %w", s.path, err)
	}
	current, err := s.version(ctx, tx, len(known))
	if err != nil {
		return err
	}
	for _, m := range known[current:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("sqlite: %s: migration %s: %w", s.path, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
			m.version, m.name, time.Now().UTC().UnixMicro()); err != nil {
			return fmt.Errorf("sqlite: %s: migration %s: %w", s.path, m.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, "PRAGMA application_id = "+strconv.Itoa(ApplicationID)); err != nil {
		return fmt.Errorf("sqlite: %s: marking the file: %w", s.path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: %s: migrating: %w", s.path, err)
	}
	return nil
}

// rowsOf collects rows into a slice with scan, which decodes one row.
func rowsOf[T any](rows *sql.Rows, err error, what string, scan func(scanner) (*T, error)) ([]T, error) {
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	defer rows.Close()
	var list []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s: %w", what, err)
		}
		list = append(list, *v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return list, nil
}

// Ping reports whether the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close closes the database; SQLite checkpoints the WAL into the file when the last
// connection closes. Closing twice is harmless.
func (s *Store) Close() error {
	var errs []error
	if s.clientByID != nil {
		errs = append(errs, s.clientByID.Close())
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	return errors.Join(errs...)
}
