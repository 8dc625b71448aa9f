package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// TestServeOnPostgres runs Tiaki with store.driver postgres (a fresh schema of the local test
// database) and checks what a multi-node deployment relies on: the store is migrated at start,
// readiness follows it, and a second node on the same database serves the same signing keys.
func TestServeOnPostgres(t *testing.T) {
	dsn := testPostgresSchema(t)

	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "tiaki.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`issuer: https://127.0.0.1:8443
store:
  driver: postgres
  dsn: "%s"
apis:
  - name: open
    upstream: builtin:echo
    match: {path_prefix: /open}
    auth: {api_key: off}
`, dsn)), 0o600)

	// Two nodes with their own data directories (own master key file would differ, so share
	// the master key as a real deployment does: through TIAKI_MASTER_KEY).
	key := make([]byte, 32)
	rand.Read(key)
	env := func(name string) string {
		if name == "TIAKI_MASTER_KEY" {
			return hex.EncodeToString(key)
		}
		return ""
	}
	n1 := startTiakiEnv(t, filepath.Join(dir, "node1"), env, "--config", cfgFile)
	n2 := startTiakiEnv(t, filepath.Join(dir, "node2"), env, "--config", cfgFile)
	for _, n := range []*running{n1, n2} {
		resp, err := http.Get("http://" + n.Ops + "/readyz")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("/readyz: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	// The configured issuer names port 8443; these nodes listen on other ports, so ask each
	// listener directly.
	jwks := func(n *running) string {
		resp, body := n.get(t, "https://"+n.AuthServer+"/jwks")
		if resp.StatusCode != 200 {
			t.Fatalf("jwks: %d", resp.StatusCode)
		}
		return string(body)
	}
	if a, b := jwks(n1), jwks(n2); a != b {
		t.Errorf("two nodes on one database publish different keys:\n%s\n%s", a, b)
	}
}
