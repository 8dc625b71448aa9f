package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// oauth2HTTPClient is the context key golang.org/x/oauth2 reads its HTTP client from.
var oauth2HTTPClient = oauth2.HTTPClient

var update = flag.Bool("update", false, "rewrite golden files")

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code = m.Run(context.Background(), args)
	return code, out.String(), errb.String()
}

func TestHelpForEverySubcommand(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"config", "check", "--help"}, {"keys", "rotate", "--help"}, {"version", "--help"}} {
		code, out, _ := run(t, args...)
		if code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("%v: exit %d, output %q", args, code, out)
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	code, out, _ := run(t, "version")
	if code != 0 || !strings.HasPrefix(out, "tiaki ") {
		t.Fatalf("version: %d %q", code, out)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"nonsense"}, {"config", "check"}, {"serve", "--no-such-flag"}} {
		if code, _, _ := run(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("profile: nz-baseline\n"), 0o600)
	os.WriteFile(bad, []byte("profile: nz-baseline\nlisten:\n  gatway: 127.0.0.1:1\n"), 0o600)

	if code, out, errOut := run(t, "config", "check", good); code != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("good config: %d %q %q", code, out, errOut)
	}
	code, _, errOut := run(t, "config", "check", bad)
	if code != exitError {
		t.Fatalf("bad config exit %d, want 1", code)
	}
	golden := filepath.Join("testdata", "config-check-bad.golden")
	got := strings.ReplaceAll(errOut, dir+string(filepath.Separator), "")
	if *update {
		os.WriteFile(golden, []byte(got), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("config check output:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(got, "bad.yaml:3") || !strings.Contains(got, "gatway") {
		t.Errorf("error does not name file:line and key: %q", got)
	}
}

func TestServeRefusesBadConfigWithFileLineKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "tiaki.yaml")
	os.WriteFile(bad, []byte("tokens:\n  access_token_ttl: 10 minutes\n"), 0o600)
	code, _, errOut := run(t, "serve", "--config", bad, "--data", filepath.Join(dir, "data"))
	if code != exitError || !strings.Contains(errOut, "tiaki.yaml:2") || !strings.Contains(errOut, "access_token_ttl") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestKeysRotatePublishesNextKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, out, errOut := run(t, "keys", "rotate", "--data", dir)
	if code != 0 {
		t.Fatalf("keys rotate: %d %s", code, errOut)
	}
	if n := strings.Count(out, "published "); n != 2 {
		t.Errorf("want one new key per default algorithm (2), got %d:\n%s", n, out)
	}
}
