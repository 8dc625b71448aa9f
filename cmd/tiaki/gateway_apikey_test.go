package main

import (
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
