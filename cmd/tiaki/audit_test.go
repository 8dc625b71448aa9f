package main

import (
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// weakAPI is the deliberately weak server: TLS 1.2 allowed, no authentication, 200 to
// TRACE, the implicit grant offered.
func weakAPI(t *testing.T) (url, caFile string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(r.URL.Path, "/.well-known/") {
			fmt.Fprintf(w, `{"issuer":"https://%s","authorization_endpoint":"https://%[1]s/authorize","token_endpoint":"https://%[1]s/token","response_types_supported":["code","token"]}`, r.Host)
			return
		}
		fmt.Fprintf(w, `{"method":%q}`, r.Method)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return srv.URL, caFile
}

func TestAuditFindsAWeakServer(t *testing.T) {
	t.Parallel()
	u, ca := weakAPI(t)
	code, out, errOut := run(t, "audit", u+"/v1/things", "--issuer", u, "--ca", ca, "--format", "json", "--max-rps", "200")
	if code != exitError {
		t.Fatalf("exit %d, want 1; stderr %s", code, errOut)
	}
	got := map[string]string{}
	for _, f := range decodeAudit(t, out) {
		got[f.Check] = f.Verdict
	}
	for _, check := range []string{"tls-legacy", "auth-required", "methods", "as-no-implicit-password"} {
		if got[check] != "FAIL" {
			t.Errorf("%s: %s, want FAIL", check, got[check])
		}
	}
}

func TestAuditUsage(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "https://" + ln.Addr().String() + "/"
	ln.Close()
	u, ca := weakAPI(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"audit"}, "accepts 1 arg"},
		{[]string{"audit", closed}, "target unreachable"},
		{[]string{"audit", u, "--format", "xml"}, "want text, json or junit"},
		{[]string{"audit", u, "--token", "t", "--client-id", "c", "--client-secret", "s"}, "not both"},
		{[]string{"audit", u, "--ca", "/nonexistent/ca.pem"}, "--ca"},
		{[]string{"audit", u, "--ca", ca, "--openapi", ca}, "--openapi"},
		{[]string{"audit", u, "--only", "NOPE-01"}, "neither a requirement ID"},
		{[]string{"audit", u, "--max-rps", "0"}, "must be positive"},
	} {
		code, _, errOut := run(t, c.args...)
		if code != exitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}

func TestAuditSecretsFromEnvironment(t *testing.T) {
	t.Parallel()
	m := &Main{Getenv: func(k string) string { return map[string]string{envAuditAPIKey: "from-env"}[k] }}
	if got := m.secretFlag("", envAuditAPIKey); got.Reveal() != "from-env" {
		t.Errorf("secretFlag = %q", got.Reveal())
	}
	if got := m.secretFlag("flag", envAuditAPIKey); got.Reveal() != "flag" {
		t.Errorf("the flag does not win: %q", got.Reveal())
	}
}
