package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tiaki-nz/tiaki/internal/oauth"
	"github.com/tiaki-nz/tiaki/internal/policy/scope"
)

// TestScopeLengthJudgedAlike: issue #11 item 3. A scope of 129 to 255 characters passed config
// check and then stopped serve (the authorization server allowed 128); one definition
// (oauth.ValidScope) now judges it in config check, the authorization server and the scope
// policy, so each length is accepted by all three or refused by all three.
func TestScopeLengthJudgedAlike(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	for _, n := range []int{128, 129, 200, oauth.MaxScopeLength, oauth.MaxScopeLength + 1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := "permits:" + strings.Repeat("r", n-len("permits:"))
			src := fmt.Sprintf(`clients:
  - id: long-scope
    auth_method: client_secret_basic
    secret: %s
    grant_types: [client_credentials]
    scopes: [%s]
apis:
  - name: permits
    upstream: builtin:echo
    methods: [GET]
    auth:
      api_key: "off"
      oauth2: {audience: "https://permits.example", scopes: {GET: [%s]}}
`, strings.Repeat("k", 32), s, s)
			path := filepath.Join(dir, fmt.Sprintf("scope%d.yaml", n))
			if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			want := n <= oauth.MaxScopeLength

			code, _, stderr := runMain(t, "config", "check", path)
			if checkOK := code == exitOK; checkOK != want {
				t.Errorf("config check: exit %d, want valid=%v:\n%s", code, want, stderr)
			}
			if !want && !strings.Contains(stderr, fmt.Sprintf("%s:6: clients[0].scopes[0]: ", path)) {
				t.Errorf("config check does not name the client's scope at its line:\n%s", stderr)
			}
			if _, err := scope.New(scope.Config{ByMethod: map[string][]string{"GET": {s}}}); (err == nil) != want {
				t.Errorf("scope policy: %v, want valid=%v", err, want)
			}
			// serve builds the authorization server (which registers every configured scope) and
			// the gateway's scope policy: it starts exactly when config check said valid.
			if want {
				r := startTiaki(t, data, "--config", path)
				r.stop(t)
				return
			}
			code, _, stderr = runMain(t, "serve", "--config", path, "--data", data,
				"--authserver-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0", "--ops-addr", "127.0.0.1:0")
			if code != exitError || !strings.Contains(stderr, fmt.Sprintf("%s:6: clients[0].scopes[0]: ", path)) {
				t.Errorf("serve: exit %d, want 1 naming the scope:\n%s", code, stderr)
			}
		})
	}
}
