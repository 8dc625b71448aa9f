package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki/internal/certs"
	"github.com/tiaki-nz/tiaki/internal/config"
	"github.com/tiaki-nz/tiaki/internal/gateway"
	"github.com/tiaki-nz/tiaki/internal/keys"
	"github.com/tiaki-nz/tiaki/internal/revocation"
	"github.com/tiaki-nz/tiaki/internal/store/memory"
	"github.com/tiaki-nz/tiaki/internal/store/sqlite"
)

// brokenRef is a configuration naming a file that is missing or does not parse.
type brokenRef struct {
	name string
	// yaml is the configuration; {{dir}} is the fixture directory.
	yaml string
	// key is the key the error must name, at the line holding mark.
	key, mark string
	// msg is a part of the message.
	msg string
	// reloadable: the broken file is under apis, which a reload applies (a broken tls.* on
	// reload is kept at its running value and reported as needing a restart).
	reloadable bool
}

// fixtures writes the files the broken references name: good PEM files from a development CA,
// and files that are no PEM, no YAML or no OpenAPI 3.
func fixtures(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	pki, err := certs.EnsureDevPKI(filepath.Join(dir, "pki"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	copyTo := func(from, to string) {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, to), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	copyTo(pki.CAFile, "ca.pem")
	copyTo(pki.CertFile, "cert.pem")
	copyTo(pki.KeyFile, "key.pem")
	for name, data := range map[string]string{
		"garbage.pem":   "this is not PEM\n",
		"broken.yaml":   "openapi: 3.0.3\npaths: {/a: [\n",
		"swagger2.yaml": "swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}\n",
		"invalid.yaml":  "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {/a: {get: {responses: {'200': {description: ok, content: {application/json: {schema: {type: frobnicate}}}}}}}}\n",
		"good.yaml":     "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {/a: {get: {responses: {'200': {description: ok}}}}}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const refAPI = `
  - name: %s
    upstream: %s
    match: {path_prefix: /%s}
    auth: {api_key: "off"}
`

var brokenRefs = []brokenRef{
	{name: "tls cert missing", yaml: "tls: {cert: nowhere.pem, key: key.pem}\n", key: "tls.cert", mark: "tls:", msg: "nowhere.pem"},
	{name: "tls cert not PEM", yaml: "tls: {cert: garbage.pem, key: key.pem}\n", key: "tls.cert", mark: "tls:", msg: "garbage.pem"},
	{name: "tls key missing", yaml: "tls:\n  cert: cert.pem\n  key: nokey.pem\n", key: "tls.cert", mark: "cert:", msg: "nokey.pem"},
	{name: "client CA missing", yaml: "tls: {client_ca: noca.pem}\n", key: "tls.client_ca", mark: "tls:", msg: "noca.pem"},
	{name: "client CA not a CA", yaml: "tls:\n  client_ca: cert.pem\n", key: "tls.client_ca", mark: "client_ca:", msg: "not a CA certificate"},
	{name: "CRL not PEM", yaml: "tls:\n  client_ca: ca.pem\n  crl: garbage.pem\n", key: "tls.client_ca", mark: "client_ca:", msg: "garbage.pem"},
	{name: "upstream CA missing", yaml: "apis:" + fmt.Sprintf(refAPI, "u", "https://127.0.0.1:1", "u") + "    upstream_tls: {ca: noca.pem}\n",
		key: "apis[0].upstream_tls.ca", mark: "upstream_tls:", msg: "noca.pem", reloadable: true},
	{name: "upstream CA not PEM", yaml: "apis:" + fmt.Sprintf(refAPI, "u", "https://127.0.0.1:1", "u") + "    upstream_tls:\n      ca: garbage.pem\n",
		key: "apis[0].upstream_tls.ca", mark: "ca: garbage", msg: "holds no PEM certificate", reloadable: true},
	{name: "upstream client cert missing", yaml: "apis:" + fmt.Sprintf(refAPI, "u", "https://127.0.0.1:1", "u") + "    upstream_tls:\n      cert: nocert.pem\n      key: key.pem\n",
		key: "apis[0].upstream_tls.cert", mark: "cert: nocert", msg: "nocert.pem", reloadable: true},
	{name: "openapi missing", yaml: "apis:" + fmt.Sprintf(refAPI, "o", "builtin:echo", "o") + "    openapi: nothere.yaml\n",
		key: "apis[0].openapi", mark: "openapi:", msg: "nothere.yaml", reloadable: true},
	{name: "openapi not YAML", yaml: "apis:" + fmt.Sprintf(refAPI, "o", "builtin:echo", "o") + "    openapi: broken.yaml\n",
		key: "apis[0].openapi", mark: "openapi:", msg: "broken.yaml", reloadable: true},
	{name: "openapi Swagger 2", yaml: "apis:" + fmt.Sprintf(refAPI, "o", "builtin:echo", "o") + "    openapi: swagger2.yaml\n",
		key: "apis[0].openapi", mark: "openapi:", msg: "only OpenAPI 3.0 and 3.1", reloadable: true},
	{name: "openapi invalid schema", yaml: "apis:" + fmt.Sprintf(refAPI, "o", "builtin:echo", "o") + "    openapi: invalid.yaml\n",
		key: "apis[0].openapi", mark: "openapi:", msg: "frobnicate", reloadable: true},
	{name: "second API's openapi", yaml: "apis:" + fmt.Sprintf(refAPI, "good", "builtin:echo", "good") + "    openapi: good.yaml\n" +
		fmt.Sprintf(refAPI, "bad", "builtin:echo", "bad") + "    openapi: nothere.yaml\n",
		key: "apis[1].openapi", mark: "openapi: nothere", msg: "nothere.yaml", reloadable: true},
	{name: "trusted issuer CA missing", yaml: "trusted_issuers:\n  - name: other\n    issuer: https://other.example\n    ca: noca.pem\napis:\n" +
		"  - {name: t, upstream: builtin:echo, match: {path_prefix: /t}, auth: {api_key: \"off\", oauth2: {audience: https://t.example, issuers: [self, other]}}}\n",
		key: "trusted_issuers[0].ca", mark: "ca: noca", msg: "noca.pem"}, // trusted_issuers apply on restart
	{name: "file: secret missing", yaml: "users:\n  - username: alice\n    password: file:nosecret.txt\n",
		key: "users[0].password", mark: "password:", msg: `secret file "nosecret.txt": does not exist`, reloadable: true},
}

// want is the FILE:LINE: KEY: prefix and message part every path must report.
func (b brokenRef) want(path, src string) []string {
	return []string{fmt.Sprintf("%s:%d: %s: ", path, lineOf(src, b.mark), b.key), b.msg}
}

func runMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb syncBuffer
	m := &Main{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code = m.Run(ctx, args)
	return code, out.String(), errb.String()
}

// TestBrokenFileReferences: issue #11 item 1. A configuration naming a missing or unparseable
// file is refused by config check with FILE:LINE: KEY: message, and serve exits 1 with the same
// message instead of panicking (a panic here would end the test binary).
func TestBrokenFileReferences(t *testing.T) {
	dir := fixtures(t)
	data := filepath.Join(t.TempDir(), "data")
	for _, b := range brokenRefs {
		t.Run(b.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(b.name, " ", "_")+".yaml")
			if err := os.WriteFile(path, []byte(b.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := runMain(t, "config", "check", path)
			if code != exitError || strings.Contains(stdout, "valid") {
				t.Fatalf("config check: exit %d, stdout %q, stderr %q; want exit 1", code, stdout, stderr)
			}
			for _, w := range b.want(path, b.yaml) {
				if !strings.Contains(stderr, w) {
					t.Errorf("config check says %q, want it to contain %q", stderr, w)
				}
			}

			code, _, stderr = runMain(t, "serve", "--config", path, "--data", data,
				"--authserver-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0", "--ops-addr", "127.0.0.1:0")
			if code != exitError {
				t.Fatalf("serve: exit %d, want 1:\n%s", code, stderr)
			}
			for _, w := range b.want(path, b.yaml) {
				if !strings.Contains(stderr, w) {
					t.Errorf("serve says %q, want it to contain %q", stderr, w)
				}
			}
			if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
				t.Errorf("serve panicked:\n%s", stderr)
			}
		})
	}
	// The good files themselves pass, so the failures above are the broken references'.
	good := filepath.Join(dir, "good-refs.yaml")
	src := "tls: {cert: cert.pem, key: key.pem, client_ca: ca.pem}\napis:" + fmt.Sprintf(refAPI, "o", "https://127.0.0.1:1", "o") +
		"    openapi: good.yaml\n    upstream_tls: {ca: ca.pem, cert: cert.pem, key: key.pem}\n"
	if err := os.WriteFile(good, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := runMain(t, "config", "check", good); code != exitOK || !strings.Contains(stdout, "valid") {
		t.Errorf("config check of good references: exit %d, %s %s", code, stdout, stderr)
	}
}

// TestReloadWithBrokenReferences: a reload to a file with a broken reference, or to a broken
// file, keeps the running routes serving and logs why, one FILE:LINE: KEY: message per problem.
func TestReloadWithBrokenReferences(t *testing.T) {
	dir := fixtures(t)
	cfgPath := filepath.Join(dir, "tiaki.yaml")
	running := "apis:" + fmt.Sprintf(refAPI, "keep", "builtin:echo", "keep")
	writeAtomic(t, cfgPath, []byte(running))
	r := startTiaki(t, filepath.Join(dir, "data"), "--config", cfgPath)
	status := func() int {
		resp, _ := r.get(t, "https://"+r.Gateway+"/keep/x")
		return resp.StatusCode
	}
	if s := status(); s != 200 {
		t.Fatalf("before reloads: %d", s)
	}
	cases := append([]brokenRef{}, brokenRefs...)
	cases = append(cases, brokenRef{name: "YAML syntax", yaml: "apis:\n  - name: a\n upstream: b\n", key: "", mark: "upstream:", msg: "YAML syntax error", reloadable: true})
	for i, b := range cases {
		if !b.reloadable {
			continue
		}
		// The running API stays in every file, so only the broken part can make it fail.
		src := b.yaml
		if strings.HasPrefix(src, "apis:") {
			src += fmt.Sprintf(refAPI, "keep", "builtin:echo", "keep")
		}
		src += fmt.Sprintf("# reload %d\n", i)
		writeAtomic(t, cfgPath, []byte(src))
		want := b.want(cfgPath, src)
		if b.key == "" {
			want = []string{fmt.Sprintf("%s:%d: ", cfgPath, lineOf(src, b.mark)), b.msg}
		}
		eventually(t, 10*time.Second, func() string {
			logs := r.stderr.String()
			if !strings.Contains(logs, "configuration reload rejected") {
				return b.name + ": no rejection logged yet"
			}
			for _, w := range want {
				if w = strings.ReplaceAll(w, `"`, `\"`); !strings.Contains(logs, w) { // as JSON writes it
					return b.name + ": log lacks " + w
				}
			}
			return ""
		})
		if s := status(); s != 200 {
			t.Fatalf("%s: the running API answers %d after a rejected reload", b.name, s)
		}
	}
	// A good file still applies after all those rejections.
	writeAtomic(t, cfgPath, []byte(running+fmt.Sprintf(refAPI, "new", "builtin:echo", "new")))
	eventually(t, 10*time.Second, func() string {
		if resp, _ := r.get(t, "https://"+r.Gateway+"/new/x"); resp.StatusCode != 200 {
			return fmt.Sprintf("new API answers %d", resp.StatusCode)
		}
		return ""
	})
}

// buildNode is a node with real parts (SQLite store, keys, development PKI, in-process shared
// state) for building routes the way serve does, without listeners.
func buildNode(t testing.TB) *node {
	t.Helper()
	dir := t.TempDir()
	n := &node{logger: slog.New(slog.NewTextHandler(io.Discard, nil)), dataDir: dir}
	var err error
	if n.master, err = keys.LoadMasterKey(dir, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	n.hasher = keys.NewHasher(n.master)
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	n.store = st
	if n.pki, err = certs.EnsureDevPKI(dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	n.keys = keys.NewManager(st, n.master, keys.Options{Logger: n.logger})
	local := memory.New(memory.Options{})
	n.shared = &sharedState{limiter: local, quotas: local, replay: local}
	n.revocations = revocation.New(st, revocation.Options{Logger: n.logger})
	t.Cleanup(func() {
		_ = n.echoUp.close()
		_ = st.Close()
	})
	return n
}

// FuzzConfigCheckAgreesWithServe: for any configuration file, config check (load, then every
// referenced file) finds it valid exactly when serve's build succeeds (load, the server's TLS
// files, every API's route and policies), and neither panics. Errors name the file.
func FuzzConfigCheckAgreesWithServe(f *testing.F) {
	dir := fixtures(f)
	for _, b := range brokenRefs {
		f.Add(b.yaml)
	}
	f.Add("apis:" + fmt.Sprintf(refAPI, "o", "https://127.0.0.1:1", "o") + "    openapi: good.yaml\n    upstream_tls: {ca: ca.pem, cert: cert.pem, key: key.pem}\n")
	f.Add("tls: {cert: cert.pem, key: key.pem, client_ca: ca.pem}\napis:\n  - {name: m, upstream: builtin:echo, auth: {api_key: \"off\", mtls: required}}\n")
	f.Add("apis:\n  - {name: s, upstream: builtin:echo, methods: [GET], auth: {api_key: \"off\", oauth2: {audience: https://s.example, scopes: {GET: [s:read]}}}}\n")
	n := buildNode(f)
	name := filepath.Join(dir, "fuzz.yaml")
	f.Fuzz(func(t *testing.T, src string) {
		cfg, err := config.Parse(name, []byte(src))
		if err != nil {
			return // FuzzLoadBytes in internal/config holds loading to its properties
		}
		checkErr := checkFiles(cfg)
		var es config.Errors
		if checkErr != nil && (!errors.As(checkErr, &es) || len(es) == 0 || es[0].File != name) {
			t.Fatalf("checkFiles error %v (%T) is not Errors naming the file", checkErr, checkErr)
		}

		buildErr := func() error {
			logger := n.logger
			if c, err := serverCert(cfg, n.pki, logger); err != nil {
				return err
			} else if c != nil {
				defer c.Close()
			}
			a, err := clientAuth(cfg, logger)
			if err != nil {
				return err
			}
			if a != nil {
				defer a.Close()
			}
			n.clientAuth = a
			rs, err := buildRoutes(n, cfg)
			if err == nil {
				rs.close()
			}
			return err
		}()
		if (checkErr == nil) != (buildErr == nil) {
			t.Fatalf("config check and serve disagree on\n%s\ncheck: %v\nserve: %v", src, checkErr, buildErr)
		}
	})
}

// TestConfigBoundsAreTheGateways: config check refuses exactly the route timeouts the gateway
// would (a 10m timeout passed check and then failed serve without a line number).
func TestConfigBoundsAreTheGateways(t *testing.T) {
	t.Parallel()
	if config.MaxTimeout != gateway.MaxTimeout {
		t.Errorf("config.MaxTimeout %v, gateway.MaxTimeout %v", config.MaxTimeout, gateway.MaxTimeout)
	}
}
