package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestClientCommandsEndToEnd registers clients with `tiaki client` while the server runs and
// uses them at once: a native app on a loopback port, a machine client whose secret is
// rotated, and a deleted client; then checks the clients survive a restart.
func TestClientCommandsEndToEnd(t *testing.T) {
	s := startAuthServer(t)
	cli := func(args ...string) (int, string, string) {
		return run(t, append([]string{"--config", s.cfgPath, "--data", s.dataDir, "client"}, args...)...)
	}
	token := func(id, secret string) int {
		resp, _ := s.post(t, "/token", url.Values{"grant_type": {"client_credentials"}}, basicAuth(id, secret))
		return resp.StatusCode
	}

	t.Run("native app", func(t *testing.T) {
		code, stdout, stderr := cli("create", "--id", "cli-app", "--name", "CLI App", "--auth-method", "none",
			"--grant-type", "authorization_code", "--redirect-uri", "http://127.0.0.1/callback", "--scope", "openid")
		if code != 0 || !strings.Contains(stdout, "registered client cli-app") {
			t.Fatalf("create: exit %d: %s %s", code, stdout, stderr)
		}
		conf := &oauth2.Config{ClientID: "cli-app", Endpoint: s.provider.Endpoint(), RedirectURL: "http://127.0.0.1:49152/callback",
			Scopes: []string{"openid"}}
		v := oauth2.GenerateVerifier()
		q := s.person(t).signIn(s.Issuer, conf.AuthCodeURL("n", oauth2.S256ChallengeOption(v)))
		tok, err := conf.Exchange(s.ctx, q.Get("code"), oauth2.VerifierOption(v))
		if err != nil || tok.Extra("id_token") == nil {
			t.Fatalf("exchange for the CLI-created public client: %v", err)
		}
	})

	var secret string
	t.Run("secret printed once, rotated", func(t *testing.T) {
		code, stdout, stderr := cli("create", "--id", "cli-batch", "--scope", "payments:read")
		first := strings.TrimSpace(stdout)
		if code != 0 || len(first) != 43 || strings.Contains(stderr, first) {
			t.Fatalf("create: exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
		code, stdout, _ = cli("rotate-secret", "cli-batch")
		secret = strings.TrimSpace(stdout)
		if code != 0 || len(secret) != 43 || secret == first {
			t.Fatalf("rotate-secret: exit %d %q", code, stdout)
		}
		if got := token("cli-batch", first); got != http.StatusUnauthorized {
			t.Errorf("the old secret: %d", got)
		}
		if got := token("cli-batch", secret); got != http.StatusOK {
			t.Errorf("the new secret: %d", got)
		}
	})

	t.Run("list and show never print secrets", func(t *testing.T) {
		code, stdout, _ := cli("list", "--output", "json")
		var list []map[string]any
		if code != 0 || json.Unmarshal([]byte(stdout), &list) != nil {
			t.Fatalf("list: exit %d %s", code, stdout)
		}
		sources := map[string]any{}
		for _, c := range list {
			sources[c["id"].(string)] = c["source"]
		}
		if sources["cli-batch"] != "runtime" || sources["portal"] != "config" {
			t.Errorf("sources %v", sources)
		}
		_, shown, _ := cli("show", "cli-batch", "--output", "json")
		_, table, _ := cli("list")
		for _, out := range []string{stdout, shown, table} {
			if strings.Contains(out, secret) || strings.Contains(strings.ToLower(out), "secret_hash") {
				t.Errorf("a secret or its hash is printed:\n%s", out)
			}
		}
		if !strings.Contains(shown, `"grant_types": [`) || !strings.Contains(table, "cli-batch") {
			t.Errorf("show:\n%s\nlist:\n%s", shown, table)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			code int
			want string
		}{
			{[]string{"create", "--id", "legacy", "--grant-type", "password"}, exitUsage, "OAuth 2.1"},
			{[]string{"create", "--id", "web", "--grant-type", "authorization_code", "--redirect-uri", "https://x.example/*"}, exitUsage, "wildcards"},
			{[]string{"create", "--id", "cli-batch"}, exitError, "already exists"},
			{[]string{"create"}, exitUsage, "--id is required"},
			{[]string{"rotate-secret", "portal"}, exitError, "declared in"},
			{[]string{"delete", "portal"}, exitError, "declared in"},
			{[]string{"rotate-secret", "cli-app"}, exitError, "not a secret"},
			{[]string{"show", "nobody"}, exitError, "no client"},
			{[]string{"list", "--output", "yaml"}, exitUsage, "table or json"},
		} {
			code, _, stderr := cli(tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("%v: exit %d, want %d with %q:\n%s", tc.args, code, tc.code, tc.want, stderr)
			}
		}
	})

	t.Run("delete", func(t *testing.T) {
		_, stdout, _ := cli("create", "--id", "cli-doomed", "--scope", "payments:read")
		doomed := strings.TrimSpace(stdout)
		if code, stdout, stderr := cli("delete", "cli-doomed"); code != 0 || !strings.Contains(stdout, "deleted client cli-doomed") {
			t.Fatalf("delete: exit %d %s %s", code, stdout, stderr)
		}
		if got := token("cli-doomed", doomed); got != http.StatusUnauthorized {
			t.Errorf("a deleted client: %d", got)
		}
	})

	// Clients created at run time survive a restart, with the secret they had.
	s.stop(t)
	s.running = startTiaki(t, s.dataDir, "--config", s.cfgPath, "--authserver-addr", strings.TrimPrefix(s.Issuer, "https://"))
	if got := token("cli-batch", secret); got != http.StatusOK {
		t.Errorf("after a restart: %d", got)
	}
}
