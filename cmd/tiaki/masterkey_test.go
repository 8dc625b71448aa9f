package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// runEnv runs the CLI with the given TIAKI_MASTER_KEY (none if empty).
func runEnv(t *testing.T, masterKey string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errb, Getenv: func(name string) string {
		if name == "TIAKI_MASTER_KEY" {
			return masterKey
		}
		return ""
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code = m.Run(ctx, args)
	return code, out.String(), errb.String()
}

func newMasterKeyText(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// testPostgresSchema makes a fresh schema in the local test database, dropped at the end, and
// returns a DSN whose search_path is that schema.
func testPostgresSchema(t *testing.T) string {
	t.Helper()
	base := os.Getenv("TIAKI_TEST_POSTGRES")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("PostgreSQL unreachable: %v", err)
		}
		t.Fatalf("PostgreSQL unreachable, and CI must not skip: %v", err)
	}
	defer conn.Close(context.Background())
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_mk_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	})
	return base + "&search_path=" + schema
}

// noKeyFile fails if the data directory holds a master key file.
func noKeyFile(t *testing.T, dataDir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dataDir, "master.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a master key file was created in %s (stat: %v)", dataDir, err)
	}
}

// wantRefused checks that a command failed, printed nothing on stdout (no key that never
// works) and named what is missing.
func wantRefused(t *testing.T, what string, code int, stdout, stderr string, mention ...string) {
	t.Helper()
	if code == exitOK {
		t.Fatalf("%s: exit 0, want a refusal; stdout %q", what, stdout)
	}
	if strings.TrimSpace(stdout) != "" {
		t.Errorf("%s: printed %q although it failed", what, stdout)
	}
	for _, m := range mention {
		if !strings.Contains(stderr, m) {
			t.Errorf("%s: the error does not mention %q:\n%s", what, m, stderr)
		}
	}
}

// TestDataCommandsRefuseANewMasterKeyOnPostgres is issue #11 item 4: a data command (and serve)
// on a shared PostgreSQL store without the master key must not create ./tiaki-data/master.key
// and print a key that never works; it names TIAKI_MASTER_KEY and the file. A wrong key is
// refused too, and the right one works.
func TestDataCommandsRefuseANewMasterKeyOnPostgres(t *testing.T) {
	t.Parallel()
	dsn := testPostgresSchema(t)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "tiaki.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`store:
  driver: postgres
  dsn: %q
apis:
  - name: permits
    upstream: builtin:echo
    match: {path_prefix: /permits}
`, dsn)), 0o600)
	key := newMasterKeyText(t)
	node1 := filepath.Join(dir, "node1")
	if code, _, errOut := runEnv(t, key, "keys", "rotate", "--config", cfgFile, "--data", node1); code != exitOK {
		t.Fatalf("keys rotate with the master key: %d %s", code, errOut)
	}
	if code, out, errOut := runEnv(t, key, "apikey", "create", "--api", "permits", "--name", "first", "--config", cfgFile, "--data", node1); code != exitOK || out == "" {
		t.Fatalf("apikey create with the master key: %d %q %s", code, out, errOut)
	}

	node2 := filepath.Join(dir, "node2")
	for _, args := range [][]string{
		{"apikey", "create", "--api", "permits", "--name", "second"},
		{"apikey", "list"},
		{"client", "create", "--id", "c2", "--scope", "echo:read"},
		{"keys", "rotate"},
	} {
		args = append(args, "--config", cfgFile, "--data", node2)
		code, out, errOut := runEnv(t, "", args...)
		wantRefused(t, strings.Join(args[:2], " ")+" without a master key", code, out, errOut,
			"TIAKI_MASTER_KEY", filepath.Join(node2, "master.key"))
		noKeyFile(t, node2)

		code, out, errOut = runEnv(t, newMasterKeyText(t), args...)
		wantRefused(t, strings.Join(args[:2], " ")+" with another master key", code, out, errOut, "TIAKI_MASTER_KEY")
	}

	// serve refuses the same way, before listening.
	code, out, errOut := runEnv(t, "", "serve", "--config", cfgFile, "--data", node2,
		"--authserver-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0", "--ops-addr", "127.0.0.1:0")
	wantRefused(t, "serve without a master key", code, out, errOut, "TIAKI_MASTER_KEY", filepath.Join(node2, "master.key"))
	noKeyFile(t, node2)

	// The right key works from the second machine.
	if code, out, errOut := runEnv(t, key, "apikey", "create", "--api", "permits", "--name", "third", "--config", cfgFile, "--data", node2); code != exitOK || out == "" {
		t.Fatalf("apikey create with the shared master key: %d %q %s", code, out, errOut)
	}
}

// TestDataCommandsRefuseANewMasterKeyOnSQLite: a data directory whose master.key was lost
// keeps its SQLite store; a command must not make a new key over it.
func TestDataCommandsRefuseANewMasterKeyOnSQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "tiaki.yaml")
	os.WriteFile(cfgFile, []byte(`apis:
  - name: permits
    upstream: builtin:echo
    match: {path_prefix: /permits}
`), 0o600)
	data := filepath.Join(dir, "data")
	// The first command on an empty store creates the key, as before.
	if code, out, errOut := runEnv(t, "", "apikey", "create", "--api", "permits", "--name", "first", "--config", cfgFile, "--data", data); code != exitOK || out == "" {
		t.Fatalf("apikey create on an empty store: %d %q %s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(data, "master.key")); err != nil {
		t.Fatalf("no master key created for an empty store: %v", err)
	}
	if err := os.Remove(filepath.Join(data, "master.key")); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runEnv(t, "", "apikey", "create", "--api", "permits", "--name", "second", "--config", cfgFile, "--data", data)
	wantRefused(t, "apikey create after master.key was lost", code, out, errOut, "TIAKI_MASTER_KEY", filepath.Join(data, "master.key"), "1 API keys")
	noKeyFile(t, data)

	// Signing keys sealed under one key refuse another given through the environment.
	data2 := filepath.Join(dir, "data2")
	if code, _, errOut := runEnv(t, "", "keys", "rotate", "--config", cfgFile, "--data", data2); code != exitOK {
		t.Fatalf("keys rotate: %d %s", code, errOut)
	}
	code, out, errOut = runEnv(t, newMasterKeyText(t), "apikey", "create", "--api", "permits", "--name", "x", "--config", cfgFile, "--data", data2)
	wantRefused(t, "apikey create with another master key", code, out, errOut, "TIAKI_MASTER_KEY", "does not open")
}
