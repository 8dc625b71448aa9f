package main

import (
	"fmt"
	"strings"
	"testing"
)

func TestAPIKeyCommandUsage(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"help", []string{"apikey", "create", "--help"}, exitOK, "printed once"},
		{"no --api", []string{"apikey", "create", "--name", "x"}, exitUsage, "--api is required"},
		{"no --name", []string{"apikey", "create", "--api", "demo"}, exitUsage, "--name is required"},
		{"control characters", []string{"apikey", "create", "--api", "demo", "--name", "a\nb"}, exitUsage, "printable"},
		{"bad output", []string{"apikey", "list", "--output", "yaml"}, exitUsage, "want table or json"},
		{"revoke needs an ID", []string{"apikey", "revoke"}, exitUsage, ""},
		{"not a scope", []string{"apikey", "create", "--api", "demo", "--name", "x", "--scope", `a\b`}, exitUsage, "not a scope"},
		{"too many scopes", []string{"apikey", "create", "--api", "demo", "--name", "x", "--scope", manyScopes()}, exitUsage, "at most 64 scopes"},
		{"show needs an ID", []string{"apikey", "show"}, exitUsage, ""},
		{"show an unknown key", []string{"apikey", "show", "nosuchkeyid0"}, exitError, "no API key has the ID"},
		{"list on an empty store", []string{"apikey", "list"}, exitOK, "ID"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, append(tt.args, "--data", data)...)
			if code != tt.code || !strings.Contains(stdout+stderr, tt.want) {
				t.Errorf("exit %d, want %d; output lacks %q:\n%s%s", code, tt.code, tt.want, stdout, stderr)
			}
		})
	}
}

func manyScopes() string {
	var b strings.Builder
	for i := range 65 {
		fmt.Fprintf(&b, "s%d ", i)
	}
	return b.String()
}
