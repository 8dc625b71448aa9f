package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServeRefusesAForeignDatabaseAndLeavesItAlone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "tiaki.db")
	junk := bytes.Repeat([]byte("not a database "), 100)
	if err := os.WriteFile(db, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, "serve", "--data", dir,
		"--authserver-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0", "--ops-addr", "127.0.0.1:0")
	if code != exitError {
		t.Fatalf("exit %d, want %d", code, exitError)
	}
	if !strings.Contains(errOut, db) || !strings.Contains(errOut, "not a Tiaki store") {
		t.Errorf("error does not name the file and the problem: %q", errOut)
	}
	got, err := os.ReadFile(db)
	if err != nil || !bytes.Equal(got, junk) {
		t.Fatal("the foreign file was changed")
	}
}
