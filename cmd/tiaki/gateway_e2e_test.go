package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tiaki-nz/tiaki/internal/certs"
)

// headerEcho is an upstream that answers with the request headers it received, as JSON.
func headerEcho(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		out := map[string]any{"upstream": name, "path": r.URL.Path, "headers": r.Header}
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			out["peer"] = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	}
}

type echoReply struct {
	Upstream string      `json:"upstream"`
	Path     string      `json:"path"`
	Headers  http.Header `json:"headers"`
	Peer     string      `json:"peer"`
}

func decodeEcho(t *testing.T, body []byte) echoReply {
	t.Helper()
	var e echoReply
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("upstream reply: %v: %s", err, body)
	}
	return e
}

// eventually retries check every 100 ms until it returns "" or the deadline passes, and fails
// with its last complaint.
func eventually(t *testing.T, within time.Duration, check func() string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		msg := check()
		if msg == "" {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("after %v: %s", within, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAPIKeyLifecycleEndToEnd issues a key with the CLI while the server runs on the same data
// directory, calls an API with it, revokes it with the CLI and sees the running server refuse it
// within 5 s (KEY-03). On the way it checks what the upstream receives (the identity assertion,
// no API key; MTLS-03 client certificate), the audit events and the metrics.
func TestAPIKeyLifecycleEndToEnd(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	// The development PKI is made before the server starts so the test can issue the gateway's
	// client certificate for the upstream from the same CA; serve reuses it.
	pki, err := certs.EnsureDevPKI(dataDir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, certPEM, keyPEM, err := pki.IssueClientCert("tiaki-gateway", time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, filepath.Join(dir, "gw.pem"), certPEM)
	writeAtomic(t, filepath.Join(dir, "gw-key.pem"), keyPEM)
	serverCert, err := tls.LoadX509KeyPair(pki.CertFile, pki.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewUnstartedServer(headerEcho("payments"))
	up.TLS = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{serverCert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.CAPool()}
	up.StartTLS()
	t.Cleanup(up.Close)

	cfgPath := filepath.Join(dir, "tiaki.yaml")
	writeAtomic(t, cfgPath, []byte(fmt.Sprintf(`
apis:
  - name: payments
    upstream: %s
    upstream_tls: {ca: %s, cert: gw.pem, key: gw-key.pem}
    match: {path_prefix: /payments}
    strip_prefix: true
    injection_protection: "off"
`, up.URL, pki.CAFile)))
	r := startTiaki(t, dataDir, "--config", cfgPath)
	cli := func(args ...string) (int, string, string) {
		return run(t, append([]string{"--config", cfgPath, "--data", dataDir}, args...)...)
	}

	code, stdout, stderr := cli("apikey", "create", "--api", "payments", "--name", "ledger batch", "--consumer", "ledger")
	if code != 0 {
		t.Fatalf("apikey create: exit %d: %s", code, stderr)
	}
	key := strings.TrimSpace(stdout)
	id := strings.Split(key, "_")[1]
	if !strings.HasPrefix(key, "tk_") || strings.Contains(stderr, key) || !strings.Contains(stderr, id) {
		t.Fatalf("create printed %q, then %q: want the key alone on stdout, its ID on stderr", stdout, stderr)
	}
	if code, _, stderr := cli("apikey", "create", "--api", "nope", "--name", "x"); code == 0 || !strings.Contains(stderr, "no API named") {
		t.Errorf("a key for an unknown API: exit %d: %s", code, stderr)
	}

	resp, body := r.get(t, "https://"+r.Gateway+"/payments/invoices?page=2", "API-Key", key, "Request-Transaction-Id", "e2e-1")
	if resp.StatusCode != 200 {
		t.Fatalf("with the new key: %d %s", resp.StatusCode, body)
	}
	e := decodeEcho(t, body)
	t.Run("what the upstream receives", func(t *testing.T) {
		if e.Peer != "tiaki-gateway" {
			t.Errorf("upstream saw client certificate %q, want tiaki-gateway (MTLS-03)", e.Peer)
		}
		if v := e.Headers.Get("Api-Key"); v != "" {
			t.Error("the API key reached the upstream")
		}
		claims := verifyIdentity(t, r, e.Headers.Get("Tiaki-Identity"))
		for k, want := range map[string]any{"iss": r.Issuer, "aud": up.URL, "client_id": "ledger", "sub": "ledger", "jti": "e2e-1"} {
			if claims[k] != want {
				t.Errorf("assertion %s = %v, want %v", k, claims[k], want)
			}
		}
	})

	t.Run("list never shows the key", func(t *testing.T) {
		code, out, stderr := cli("apikey", "list", "--output", "json")
		if code != 0 {
			t.Fatalf("list: %d %s", code, stderr)
		}
		var keys []map[string]any
		if err := json.Unmarshal([]byte(out), &keys); err != nil || len(keys) != 1 {
			t.Fatalf("list json: %v %s", err, out)
		}
		if keys[0]["id"] != id || keys[0]["consumer"] != "ledger" || keys[0]["api"] != "payments" || keys[0]["revoked_at"] != nil {
			t.Errorf("listed %v", keys[0])
		}
		secret := key[len("tk_")+len(id)+1:] // the secret half may itself contain "_"
		if _, table, _ := cli("apikey", "list"); strings.Contains(out+table, secret) || strings.Contains(out, "hash") || !strings.Contains(table, id) {
			t.Errorf("list shows too much or too little:\n%s\n%s", out, table)
		}
	})

	if code, out, stderr := cli("apikey", "revoke", id); code != 0 || !strings.Contains(out, id) {
		t.Fatalf("revoke: exit %d: %s %s", code, out, stderr)
	}
	took := eventually(t, 5*time.Second, func() string {
		resp, body := r.get(t, "https://"+r.Gateway+"/payments/invoices", "API-Key", key)
		if resp.StatusCode != 401 {
			return fmt.Sprintf("revoked key still gets %d %s", resp.StatusCode, body)
		}
		return ""
	})
	t.Logf("revocation took effect after %v", took)
	if code, _, stderr := cli("apikey", "revoke", "nosuchkeyid0"); code == 0 || !strings.Contains(stderr, "no API key") {
		t.Errorf("revoking an unknown ID: exit %d %s", code, stderr)
	}

	t.Run("audit events", func(t *testing.T) {
		// The audit stream is flushed in batches (at most 200 ms apart).
		var logs string
		var ok, denied bool
		eventually(t, 5*time.Second, func() string {
			logs = r.stderr.String()
			ok, denied = auditHas(logs, id)
			if !ok || !denied {
				return "audit events not written yet"
			}
			return ""
		})
		if !ok || !denied {
			t.Errorf("audit log lacks the request (%v) or the refusal of the revoked key (%v):\n%s", ok, denied, logs)
		}
		if strings.Contains(logs, key[3:]) || strings.Contains(logs, "page=2") {
			t.Error("the key or the query string reached the log")
		}
	})

	t.Run("metrics", func(t *testing.T) {
		resp, err := http.Get("http://" + r.Ops + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{`tiaki_gateway_requests_total{code="200",consumer="ledger",route="payments"} `,
			`tiaki_gateway_request_duration_seconds_count{route="payments"}`} {
			if !strings.Contains(string(b), want) {
				t.Errorf("metrics lack %s:\n%s", want, gatewayMetrics(string(b)))
			}
		}
	})
}

// auditHas reports whether logs hold the audit event of request e2e-1 made with key id, and
// the refusal of that key once revoked.
func auditHas(logs, id string) (ok, denied bool) {
	for _, line := range strings.Split(logs, "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) != nil {
			continue
		}
		switch {
		case ev["msg"] == "gateway.request" && ev["request_id"] == "e2e-1":
			ok = ev["consumer"] == "ledger" && ev["credential_id"] == id && ev["path"] == "/payments/invoices" &&
				ev["status"] == 200.0 && ev["route"] == "payments"
		case ev["msg"] == "gateway.denial" && ev["rule"] == "invalid-api-key" && ev["reason"] == "API key revoked":
			denied = true
		}
	}
	return ok, denied
}

// gatewayMetrics returns the gateway's lines of a metrics exposition.
func gatewayMetrics(exposition string) string {
	var out []string
	for _, l := range strings.Split(exposition, "\n") {
		if strings.HasPrefix(l, "tiaki_gateway_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// lineOf returns the 1-based line of the first occurrence of sub in s.
func lineOf(s, sub string) int {
	return strings.Count(s[:strings.Index(s, sub)], "\n") + 1
}

// verifyIdentity checks the Tiaki-Identity assertion against the authorization server's JWKS.
func verifyIdentity(t *testing.T, r *running, tok string) map[string]any {
	t.Helper()
	if tok == "" {
		t.Fatal("no Tiaki-Identity header upstream")
	}
	// The issuer names the default port, not the one the test bound: ask the listener itself.
	resp, body := r.get(t, "https://"+r.AuthServer+"/jwks")
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil || resp.StatusCode != 200 {
		t.Fatalf("jwks: %d %v", resp.StatusCode, err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256, jose.PS256})
	if err != nil {
		t.Fatal(err)
	}
	if typ := parsed.Headers[0].ExtraHeaders["typ"]; typ != "tiaki-identity+jwt" {
		t.Errorf("assertion typ %v", typ)
	}
	keys := set.Key(parsed.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("assertion kid %q not in the JWKS", parsed.Headers[0].KeyID)
	}
	var claims map[string]any
	if err := parsed.Claims(keys[0].Key, &claims); err != nil {
		t.Fatalf("assertion signature: %v", err)
	}
	return claims
}

// TestConfigReloadEndToEnd changes the configuration file of a running server: a new API is
// served within seconds, a broken file is refused with its file:line:key errors while the old
// routes keep serving, SIGHUP reloads too, and a request in flight across reloads completes.
func TestConfigReloadEndToEnd(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	var slowDone atomic.Bool
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/slow") {
			arrived <- struct{}{}
			<-release
			slowDone.Store(true)
		}
		headerEcho("up")(w, r)
	}))
	t.Cleanup(up.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "tiaki.yaml")
	api := func(name string) string {
		return fmt.Sprintf(`
  - name: %s
    upstream: %s
    match: {path_prefix: /%s}
    auth: {api_key: "off"}
    limits: {timeout: 60s}
    injection_protection: "off"
`, name, up.URL, name)
	}
	writeAtomic(t, cfgPath, []byte("apis:"+api("one")))
	r := startTiaki(t, filepath.Join(dir, "data"), "--config", cfgPath)
	status := func(path string) int {
		resp, _ := r.get(t, "https://"+r.Gateway+path)
		return resp.StatusCode
	}
	if s1, s2 := status("/one/x"), status("/two/x"); s1 != 200 || s2 != 404 {
		t.Fatalf("before reload: /one %d, /two %d", s1, s2)
	}

	// A request in flight across every reload below.
	inflight := make(chan int, 1)
	slowClient := &http.Client{Transport: r.client.Transport} // no client timeout: the test releases it
	go func() {
		resp, err := slowClient.Get("https://" + r.Gateway + "/one/slow")
		if err != nil {
			t.Errorf("in-flight request: %v", err)
			inflight <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		inflight <- resp.StatusCode
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request never reached the upstream")
	}

	writeAtomic(t, cfgPath, []byte("apis:"+api("one")+api("two")))
	took := eventually(t, 10*time.Second, func() string {
		if s := status("/two/x"); s != 200 {
			return fmt.Sprintf("new API answers %d", s)
		}
		return ""
	})
	t.Logf("new API served %v after the file changed", took)
	if s := status("/one/x"); s != 200 {
		t.Errorf("old API after reload: %d", s)
	}

	// A broken file: refused, every problem logged with file:line: key, old routes serve on.
	broken := "apis:" + api("one") + api("two") + "\n  - name: Bad_Name\n    upstream: ftp://nowhere\n    match: {path_prefix: /bad}\n"
	writeAtomic(t, cfgPath, []byte(broken))
	eventually(t, 10*time.Second, func() string {
		logs := r.stderr.String()
		for _, want := range []string{"configuration reload rejected",
			fmt.Sprintf("%s:%d: apis[2].name", cfgPath, lineOf(broken, "Bad_Name")),
			fmt.Sprintf("%s:%d: apis[2].upstream", cfgPath, lineOf(broken, "ftp://"))} {
			if !strings.Contains(logs, want) {
				return "log lacks " + want + ":\n" + logs
			}
		}
		return ""
	})
	if s1, s2 := status("/one/x"), status("/two/x"); s1 != 200 || s2 != 200 {
		t.Errorf("after a rejected reload: /one %d, /two %d; want the old routes", s1, s2)
	}

	// SIGHUP: a file that drops /two and changes a token lifetime, which needs a restart.
	writeAtomic(t, cfgPath, []byte("tokens: {access_token_ttl: 5m}\napis:"+api("one")))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() string {
		logs := r.stderr.String()
		if !strings.Contains(logs, `"trigger":"SIGHUP"`) || !strings.Contains(logs, "need a restart") || status("/two/x") != 404 {
			return "SIGHUP reload not seen:\n" + logs
		}
		return ""
	})
	if !strings.Contains(r.stderr.String(), `"settings":["tokens"]`) {
		t.Errorf("restart-needed settings not named:\n%s", r.stderr.String())
	}

	if slowDone.Load() {
		t.Fatal("the slow request finished early")
	}
	close(release)
	select {
	case code := <-inflight:
		if code != 200 {
			t.Errorf("request in flight across reloads: %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Error("request in flight across reloads never finished")
	}
}
