package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestExpandEnv(t *testing.T) {
	t.Parallel()
	env := func(name string) (string, bool) {
		v, ok := map[string]string{"A": "alpha", "B": "beta", "EMPTY": "", "NESTED": "${A}"}[name]
		return v, ok
	}
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "alpha"},
		{in: "pre-${A}-${B}-post", want: "pre-alpha-beta-post"},
		{in: "${EMPTY}", want: ""},
		{in: "${NESTED}", want: "${A}"}, // substituted once, never again
		{in: "$${A}", want: "${A}"},
		{in: "a$${A}${B}", want: "a${A}beta"},
		{in: "$A and $ and {A}", want: "$A and $ and {A}"},
		{in: "${UNSET}", wantErr: "environment variable UNSET is not set"},
		{in: "${UNSET}${A}${UNSET2}", wantErr: "environment variables UNSET, UNSET2 are not set"},
		{in: "${A", wantErr: `unterminated "${"`},
		{in: "${}", wantErr: "not a valid environment variable reference"},
		{in: "${1A}", wantErr: "not a valid environment variable reference"},
		{in: "${A-B}", wantErr: "not a valid environment variable reference"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := expandEnv(tt.in, env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("expandEnv(%q) = %q, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("expandEnv(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestEnvInTypedValues(t *testing.T) {
	t.Setenv("TIAKI_TEST_DEMO", "true")
	t.Setenv("TIAKI_TEST_TTL", "5m")
	t.Setenv("TIAKI_TEST_BURST", "7")
	t.Setenv("TIAKI_TEST_HOST", "auth.example.govt.nz")
	c, err := Parse("t.yaml", []byte(`
demo: ${TIAKI_TEST_DEMO}
issuer: https://${TIAKI_TEST_HOST}/tiaki
tokens: {access_token_ttl: "${TIAKI_TEST_TTL}"}
apis: [{name: a, upstream: builtin:echo, rate_limit: {per_ip: 1/second, burst: "${TIAKI_TEST_BURST}"}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Demo || c.Issuer != "https://auth.example.govt.nz/tiaki" || c.Tokens.AccessTokenTTL.Duration != 5*time.Minute || c.APIs[0].RateLimit.Burst != 7 {
		t.Errorf("demo %v, issuer %q, ttl %v, burst %d", c.Demo, c.Issuer, c.Tokens.AccessTokenTTL, c.APIs[0].RateLimit.Burst)
	}
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("secrets/lf", "password-from-file\n")
	write("secrets/crlf", "password-crlf\r\n")
	write("secrets/two-newlines", "keeps-one\n\n")
	abs := write("abs", "absolute-password")
	write("big", strings.Repeat("x", maxSecretSize+1))
	t.Setenv("TIAKI_TEST_SECRET_SOURCE", "file:secrets/lf")

	tests := []struct {
		name, value, want, wantErr string
	}{
		{name: "relative, newline trimmed", value: "file:secrets/lf", want: "password-from-file"},
		{name: "CRLF trimmed", value: "file:secrets/crlf", want: "password-crlf"},
		{name: "only one newline trimmed", value: "file:secrets/two-newlines", want: "keeps-one\n"},
		{name: "absolute", value: "file:" + abs, want: "absolute-password"},
		{name: "through an environment variable", value: "${TIAKI_TEST_SECRET_SOURCE}", want: "password-from-file"},
		{name: "plain value", value: "not-from-a-file", want: "not-from-a-file"},
		{name: "missing", value: "file:secrets/none", wantErr: `t.yaml:4: users[0].password: secret file "secrets/none": does not exist`},
		{name: "directory", value: "file:secrets", wantErr: `secret file "secrets": not a regular file`},
		{name: "too large", value: "file:big", wantErr: `secret file "big": larger than 65536 bytes`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := fmt.Sprintf("users:\n  - username: alice\n\n    password: %q\n", tt.value) // password on line 4
			c, err := Parse(filepath.Join(dir, "t.yaml"), []byte(data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "xxxxxxxx") {
					t.Errorf("error message shows the file's contents: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Users[0].Password.Reveal(); got != tt.want {
				t.Errorf("password = %q, want %q", got, tt.want)
			}
		})
	}

	// "file:" is only special for secrets.
	c, err := Parse(filepath.Join(dir, "t.yaml"), []byte("clients: [{id: a, name: 'file:secrets/lf', auth_method: none, grant_types: [authorization_code], redirect_uris: ['https://a.example/cb']}]"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Clients[0].Name != "file:secrets/lf" {
		t.Errorf("name = %q, want the text as written", c.Clients[0].Name)
	}
}

// TestSecretsNeverPrinted checks every way a Config is commonly printed or encoded.
func TestSecretsNeverPrinted(t *testing.T) {
	dir := t.TempDir()
	secrets := map[string]string{
		"TIAKI_TEST_PASSWORD": "pw-Zq8h3-env-password",
		"TIAKI_TEST_SECRET":   "cs-Zq8h3-client-secret-0123456789abcdef",
		"TIAKI_TEST_REDIS":    "rd-Zq8h3-redis-password",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	const filePassword = "fp-Zq8h3-file-password"
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte(filePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const dsn = "postgres://tiaki:pg-Zq8h3-db-password@db.internal:5432/tiaki"
	data := `
store: {driver: postgres, dsn: "` + dsn + `"}
redis: {addr: "127.0.0.1:6379", password: "${TIAKI_TEST_REDIS}"}
users:
  - {username: a, password: "${TIAKI_TEST_PASSWORD}"}
  - {username: b, password: "file:pw"}
  - {username: c, password: inline-Zq8h3-password}
clients:
  - {id: x, auth_method: client_secret_basic, secret: "${TIAKI_TEST_SECRET}", grant_types: [client_credentials]}
`
	c, err := Parse(filepath.Join(dir, "t.yaml"), []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v":   fmt.Sprintf("%v", c),
		"%+v":  fmt.Sprintf("%+v", c),
		"%#v":  fmt.Sprintf("%#v", c),
		"%s":   fmt.Sprintf("%s", c.Users),
		"json": string(js),
	}
	// A validation error about a secret must not quote it either.
	_, verr := Parse("t.yaml", []byte("clients: [{id: x, auth_method: client_secret_post, secret: short-Zq8h3, grant_types: [client_credentials]}]"))
	if verr == nil {
		t.Fatal("short secret accepted")
	}
	outputs["validation error"] = verr.Error()
	for name, out := range outputs {
		if strings.Contains(out, "Zq8h3") {
			t.Errorf("%s output contains a secret:\n%s", name, out)
		}
	}
	// And the values are all there for the code that needs them.
	got := []string{c.Store.DSN.Reveal(), c.Redis.Password.Reveal(), c.Users[0].Password.Reveal(), c.Users[1].Password.Reveal(), c.Clients[0].Secret.Reveal()}
	want := []string{dsn, secrets["TIAKI_TEST_REDIS"], secrets["TIAKI_TEST_PASSWORD"], filePassword, secrets["TIAKI_TEST_SECRET"]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("revealed secrets (-want +got):\n%s", diff)
	}
}

func TestAllErrorsReportedWithLocation(t *testing.T) {
	t.Parallel()
	_, err := Parse("t.yaml", []byte(`
listen: {ops: nowhere}
tokens: {access_token_ttl: 2h}
apis: [{name: A, upstream: builtin:echo}]
`))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %v is not Errors", err)
	}
	var got []string
	for _, e := range es {
		got = append(got, fmt.Sprintf("%s:%d %s", e.File, e.Line, e.Key))
	}
	want := []string{"t.yaml:2 listen.ops", "t.yaml:3 tokens.access_token_ttl", "t.yaml:4 apis[0].name"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}
