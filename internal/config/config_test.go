package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki"
)

const examplePath = "../../tiaki.example.yaml"

// setExampleEnv sets every ${VAR} the example file names to a value long enough for any
// secret rule.
func setExampleEnv(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`).FindAllSubmatch(data, -1) {
		t.Setenv(string(m[1]), "example-value-"+strings.Repeat("x", 32))
	}
}

// lineContaining returns the 1-based line of the first line of path containing s.
func lineContaining(t *testing.T, path, s string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%s has no line containing %q", path, s)
	return 0
}

func TestLoadExample(t *testing.T) {
	setExampleEnv(t, examplePath)
	c, err := Load(examplePath)
	if err != nil {
		t.Fatalf("the repository's example does not load:\n%v", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"tls.cert resolved against the file's directory", c.TLS.Cert, filepath.Join(root, "certs/server.pem")},
		{"openapi resolved", c.APIs[0].OpenAPI, filepath.Join(root, "specs/payments.yaml")},
		{"sqlite dsn resolved", c.Store.DSN.Reveal(), filepath.Join(root, "tiaki-data/tiaki.db")},
		{"per_ip", c.APIs[0].RateLimit.PerIP, Rate{N: 1000, Per: time.Minute}},
		{"quota", c.APIs[0].Quota.PerConsumer, Rate{N: 10000, Per: 24 * time.Hour}},
		{"max_body", c.APIs[0].Limits.MaxBody, ByteSize(1 << 20)},
		{"scopes", c.APIs[0].Auth.OAuth2.Scopes, map[string][]string{"GET": {"payments:read"}, "POST": {"payments:write"}}},
		{"auth method", c.Clients[0].AuthMethod, tiaki.AuthSecretBasic},
		{"secret from env", c.Clients[0].Secret.Reveal(), os.Getenv("TIAKI_BILLING_SECRET")},
		{"jwks as JSON", string(c.Clients[1].JWKS), `{"keys":[{"crv":"P-256","kid":"rep-1","kty":"EC","x":"...","y":"..."}]}`},
		{"claims", c.Users[0].Claims, map[string]any{"name": "Alice Smith", "email": "alice@example.govt.nz"}},
		{"prepublish", c.Keys.Prepublish.Duration, time.Hour},
	}
	for _, ch := range checks {
		if diff := cmp.Diff(ch.want, ch.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", ch.name, diff)
		}
	}
	file, line := c.Position("tls.cert")
	if want := lineContaining(t, examplePath, "  cert: certs/server.pem"); file != examplePath || line != want {
		t.Errorf("Position(tls.cert) = %s:%d, want %s:%d", file, line, examplePath, want)
	}
}

// yamlKeys lists every key path of t, with "[]" for list items and "*" for map keys, so the
// tests can check that the example and the reference mention every key.
func yamlKeys(t reflect.Type, prefix string) []string {
	var out []string
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return nil
	}
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("yaml")
		if tag == "" || tag == "-" {
			continue
		}
		out = append(out, prefix+tag)
		child := prefix + tag + "."
		if t.Field(i).Type.Kind() == reflect.Slice {
			child = prefix + tag + "[]."
		}
		out = append(out, yamlKeys(t.Field(i).Type, child)...)
	}
	return out
}

func TestExampleAndReferenceNameEveryKey(t *testing.T) {
	t.Parallel()
	example, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	reference, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range yamlKeys(reflect.TypeFor[Config](), "") {
		leaf := key[strings.LastIndex(key, ".")+1:]
		if !regexp.MustCompile(`(?m)(^|[\s{,])` + regexp.QuoteMeta(leaf) + `:`).Match(example) {
			t.Errorf("tiaki.example.yaml does not show key %s", key)
		}
		if !strings.Contains(string(reference), "`"+key+"`") {
			t.Errorf("docs/configuration.md does not describe key `%s`", key)
		}
	}
}

func TestPositionAndErrorf(t *testing.T) {
	t.Parallel()
	c, err := Parse("dir/tiaki.yaml", []byte(`# line 1
apis:
  - name: payments
    upstream: builtin:echo
    openapi: specs/payments.yaml
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key  string
		line int
	}{
		{"apis[0].openapi", 5},
		{"apis[0].name", 3},
		{"apis[0]", 3},
		{"apis", 2},
		{"apis[0].limits.max_body", 3}, // absent: the nearest present ancestor
		{"tls.cert", 0},
	}
	for _, tt := range tests {
		if file, line := c.Position(tt.key); file != "dir/tiaki.yaml" || line != tt.line {
			t.Errorf("Position(%q) = %s:%d, want dir/tiaki.yaml:%d", tt.key, file, line, tt.line)
		}
	}
	if c.APIs[0].OpenAPI != filepath.Join("dir", "specs/payments.yaml") {
		t.Errorf("openapi = %q, want it relative to dir/", c.APIs[0].OpenAPI)
	}
	err = c.Errorf("apis[0].openapi", "cannot read: %s", "does not exist")
	if got, want := err.Error(), "dir/tiaki.yaml:5: apis[0].openapi: cannot read: does not exist"; got != want {
		t.Errorf("Errorf = %q, want %q", got, want)
	}
}

func TestLoadFileProblems(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", maxFileSize)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
		notExist         bool
	}{
		{"missing", filepath.Join(dir, "nope.yaml"), "nope.yaml: does not exist", true},
		{"directory", dir, "not a regular file", false},
		{"too large", big, "big.yaml: file is larger than 1048576 bytes", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load(%s) = %v, want %q", tt.path, err, tt.want)
			}
			if got := errors.Is(err, fs.ErrNotExist); got != tt.notExist {
				t.Errorf("errors.Is(err, fs.ErrNotExist) = %v, want %v", got, tt.notExist)
			}
			var e *Error
			if !errors.As(err, &e) || e.File != tt.path {
				t.Errorf("errors.As(*Error) = %+v, want File %s", e, tt.path)
			}
		})
	}
}

func TestRelativePaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "tiaki.yaml")
	if err := os.WriteFile(path, []byte(`
tls: {cert: c.pem, key: /abs/k.pem, client_ca: ca/ca.pem, crl: ca/crl.pem}
store: {dsn: data/t.db}
apis: [{name: a, upstream: builtin:echo, openapi: ../specs/a.yaml}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{c.TLS.Cert, c.TLS.Key, c.TLS.ClientCA, c.TLS.CRL, c.Store.DSN.Reveal(), c.APIs[0].OpenAPI}
	want := []string{
		filepath.Join(dir, "c.pem"), "/abs/k.pem", filepath.Join(dir, "ca/ca.pem"), filepath.Join(dir, "ca/crl.pem"),
		filepath.Join(dir, "data/t.db"), filepath.Join(filepath.Dir(dir), "specs/a.yaml"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resolved paths (-want +got):\n%s", diff)
	}

	// A PostgreSQL DSN is not a path.
	c, err = Parse(path, []byte("store: {driver: postgres, dsn: 'postgres://tiaki@127.0.0.1:5432/tiaki'}"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Store.DSN.Reveal(); got != "postgres://tiaki@127.0.0.1:5432/tiaki" {
		t.Errorf("postgres dsn = %q", got)
	}
}

// TestValidVariants guards against over-strict validation: each snippet is valid.
func TestValidVariants(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("k", 32)
	tests := map[string]string{
		"loopback redirects": `
clients:
  - id: app
    auth_method: none
    grant_types: [authorization_code, refresh_token]
    redirect_uris: ["http://127.0.0.1:8788/cb", "http://[::1]/cb", "http://localhost:3000/cb", "https://x.example/cb?a=1"]`,
		"listeners on port 0 and distinct hosts": `
listen: {authserver: "127.0.0.1:0", gateway: "127.0.0.1:0", ops: "[::1]:8443"}`,
		"every grant type": `
clients:
  - id: all
    auth_method: client_secret_post
    secret: ` + secret + `
    redirect_uris: [https://a.example/cb]
    grant_types: [authorization_code, refresh_token, client_credentials, "urn:ietf:params:oauth:grant-type:device_code", "urn:openid:params:grant-type:ciba", "urn:ietf:params:oauth:grant-type:token-exchange", "urn:ietf:params:oauth:grant-type:jwt-bearer"]`,
		"open API, http upstream, host match": `
apis:
  - name: open-data
    upstream: http://127.0.0.1:8080/base
    match: {host: Data.Example.govt.nz, path_prefix: /}
    auth: {api_key: "off"}
    methods: [GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE]
    rate_limit: {per_ip: 10/second, burst: 0}
    injection_protection: strict
  - name: open-data-2
    upstream: https://data2.internal
    match: {host: other.example.govt.nz, path_prefix: /}`,
		"require any, mtls, fapi2": `
profile: fapi2
tls: {client_ca: ca.pem, crl: crl.pem}
keys: {algorithms: [EdDSA, PS256], rotate_every: 1h, prepublish: 0s}
tokens: {access_token_ttl: 1h, refresh_token_ttl: 61m, authorization_code_ttl: 60s, access_token_format: opaque}
clients:
  - id: m
    auth_method: tls_client_auth
    tls_subject: CN=m
    grant_types: [client_credentials]
    access_token_format: jwt
apis:
  - name: strong
    upstream: builtin:echo
    auth: {api_key: required, mtls: optional, require: any, oauth2: {audience: "urn:example:strong", scopes: {GET: [s]}}}`,
		"postgres, redis, log, gateway": `
store: {driver: postgres, dsn: "postgres://tiaki@db.internal:5432/tiaki?sslmode=verify-full"}
redis: {addr: "redis.internal:6379", username: tiaki, password: pw}
log: {level: debug, format: json}
gateway: {unknown_route_status: 501, trusted_proxies: ["10.0.0.0/8", "192.168.1.10", "fd00::/8"]}
demo: true`,
	}
	for name, y := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse("tiaki.yaml", []byte(y)); err != nil {
				t.Fatalf("valid configuration refused:\n%v", err)
			}
		})
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	t.Parallel()
	c, err := Parse("tiaki.yaml", []byte(`
apis:
  - name: a
    upstream: builtin:echo
    match: {path_prefix: /a}
    limits: &lim {max_body: 2MiB, timeout: 5s}
  - name: b
    upstream: builtin:echo
    match: {path_prefix: /b}
    limits: {timeout: 9s, <<: *lim}
  - name: c
    upstream: builtin:echo
    match: {path_prefix: /c}
    limits: *lim
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Limits{
		{MaxBody: 2 << 20, BodyTimeout: Duration{DefaultBodyTimeout}, Timeout: Duration{5 * time.Second}},
		{MaxBody: 2 << 20, BodyTimeout: Duration{DefaultBodyTimeout}, Timeout: Duration{9 * time.Second}}, // explicit keys win wherever << is written
		{MaxBody: 2 << 20, BodyTimeout: Duration{DefaultBodyTimeout}, Timeout: Duration{5 * time.Second}},
	}
	for i, w := range want {
		if c.APIs[i].Limits != w {
			t.Errorf("apis[%d].limits = %+v, want %+v", i, c.APIs[i].Limits, w)
		}
	}
}

func TestErrorFormatting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  Error
		want string
	}{
		{Error{File: "t.yaml", Line: 3, Key: "a.b", Msg: "bad"}, "t.yaml:3: a.b: bad"},
		{Error{File: "t.yaml", Key: "a.b", Msg: "bad"}, "t.yaml: a.b: bad"},
		{Error{File: "t.yaml", Line: 3, Msg: "bad"}, "t.yaml:3: bad"},
		{Error{Msg: "bad"}, "bad"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}

	l := &errorList{file: "t.yaml"}
	for i := maxErrors + 5; i > 0; i-- {
		l.add(i, "k", "e%d", i)
	}
	var es Errors
	if !errors.As(l.err(), &es) || len(es) != maxErrors+1 {
		t.Fatalf("got %d errors, want %d plus a summary", len(es), maxErrors)
	}
	if es[0].Line != 1 || es[maxErrors-1].Line != maxErrors || es[maxErrors].Msg != "5 more errors not shown" {
		t.Errorf("errors not sorted and truncated: first %v, last %v", es[0], es[maxErrors])
	}
}

func TestTooComplexInputsRefusedQuickly(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"nested flow":     "a: " + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000),
		"nested blocks":   strings.Repeat("- ", 100_000) + "x",
		"too many lines":  strings.Repeat("k: v\n", maxLines+1),
		"nested mappings": "a: " + strings.Repeat("{a: ", 10_000) + "1" + strings.Repeat("}", 10_000),
		// A self-referencing alias in a wide list: once the alias budget is spent, decoding
		// must stop rather than visit every item at every level of the expansion.
		"wide recursive alias": "users: [{username: u, password: 12345678, claims: {a: &c [" + strings.Repeat("*c, ", 100_000) + "x]}}]",
		"wide alias fan-out":   "users: [{username: u, password: 12345678, claims: {a: &a [x], b: [" + strings.Repeat("*a, ", 100_000) + "x]}}]",
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			_, err := Parse("t.yaml", []byte(data))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			// A blow-up takes minutes. Parsing 100,000 aliases honestly takes 0.8 s, about 7 s
			// under -race; 30 s leaves room for that on a loaded 2-core machine.
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("Parse took %v", d)
			}
		})
	}
}
