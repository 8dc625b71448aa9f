package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"
)

// running is a Tiaki started in process by startTiaki.
type running struct {
	Endpoints
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	done           chan int
	client         *http.Client // trusts the data directory's CA, TLS 1.3
}

// syncBuffer is a bytes.Buffer safe for the server goroutines and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startTiaki runs `tiaki serve` in process on 127.0.0.1:0 ports with the given data directory
// and extra arguments, and waits until every listener is serving.
func startTiaki(t *testing.T, dataDir string, extra ...string) *running {
	t.Helper()
	return startTiakiEnv(t, dataDir, func(string) string { return "" }, extra...)
}

// startTiakiEnv is startTiaki with an environment.
func startTiakiEnv(t *testing.T, dataDir string, getenv func(string) string, extra ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	ready := make(chan Endpoints, 1)
	m := &Main{Stdout: r.stdout, Stderr: r.stderr, Getenv: getenv, Ready: func(ep Endpoints) { ready <- ep }}
	args := append([]string{"serve", "--data", dataDir,
		"--authserver-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0", "--ops-addr", "127.0.0.1:0"}, extra...)
	go func() { r.done <- m.Run(ctx, args) }()
	select {
	case r.Endpoints = <-ready:
	case code := <-r.done:
		t.Fatalf("tiaki exited with %d before serving:\n%s", code, r.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("tiaki did not start in time:\n%s", r.stderr.String())
	}
	t.Cleanup(func() { r.stop(t) })
	pem, err := os.ReadFile(r.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("ca.pem holds no certificate")
	}
	r.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}, ForceAttemptHTTP2: true}}
	return r
}

// stop cancels the context (as SIGTERM does) and waits for a clean exit.
func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case code := <-r.done:
		if code != exitOK {
			t.Errorf("tiaki exited with %d:\n%s", code, r.stderr.String())
		}
	case <-time.After(40 * time.Second):
		t.Error("tiaki did not stop in time")
	}
}

func (r *running) get(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func (r *running) jwks(t *testing.T) string {
	t.Helper()
	_, body := r.get(t, r.Issuer+"/.well-known/openid-configuration")
	var meta struct {
		JWKSURI       string `json:"jwks_uri"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.Unmarshal(body, &meta); err != nil || meta.JWKSURI == "" {
		t.Fatalf("discovery: %v %s", err, body)
	}
	resp, keys := r.get(t, meta.JWKSURI)
	if resp.StatusCode != 200 {
		t.Fatalf("jwks status %d", resp.StatusCode)
	}
	return string(keys)
}

func TestEmbeddedDefaultEndToEnd(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "tiaki-data")
	r := startTiaki(t, dataDir)

	t.Run("data directory", func(t *testing.T) {
		for _, f := range []string{"tiaki.db", "ca.pem", "master.key"} {
			if _, err := os.Stat(filepath.Join(dataDir, f)); err != nil {
				t.Errorf("%s not created: %v", f, err)
			}
		}
		st, err := os.Stat(filepath.Join(dataDir, "master.key"))
		if err == nil && st.Mode().Perm() != 0o600 {
			t.Errorf("master.key mode %v, want 0600", st.Mode().Perm())
		}
	})

	t.Run("banner", func(t *testing.T) {
		out := r.stdout.String()
		for _, want := range []string{"https://" + r.AuthServer, "https://" + r.Gateway, "http://" + r.Ops,
			"demo-client", "grant_type=client_credentials", "Authorization: Bearer $TOKEN", "API-Key: tk_"} {
			if !strings.Contains(out, want) {
				t.Errorf("banner lacks %q:\n%s", want, out)
			}
		}
		if strings.Count(out, "Get a token") != 1 {
			t.Errorf("banner not printed exactly once:\n%s", out)
		}
	})

	t.Run("TLS 1.3 only on both listeners", func(t *testing.T) {
		pool := r.client.Transport.(*http.Transport).TLSClientConfig.RootCAs
		for _, addr := range []string{r.AuthServer, r.Gateway} {
			conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"h2", "http/1.1"}})
			if err != nil {
				t.Fatalf("%s: TLS 1.3 handshake: %v", addr, err)
			}
			st := conn.ConnectionState()
			conn.Close()
			if st.Version != tls.VersionTLS13 || st.NegotiatedProtocol != "h2" {
				t.Errorf("%s: version %x alpn %q", addr, st.Version, st.NegotiatedProtocol)
			}
			if _, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS12}); err == nil {
				t.Errorf("%s: a TLS 1.2 ClientHello was accepted", addr)
			}
			for _, curve := range []tls.CurveID{tls.X25519, tls.CurveP256} {
				c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", CurvePreferences: []tls.CurveID{curve}})
				if err != nil {
					t.Errorf("%s: group %v refused: %v", addr, curve, err)
					continue
				}
				c.Close()
			}
		}
	})

	t.Run("ops endpoints", func(t *testing.T) {
		// /metrics last: by then the ops listener has counted the two requests before it.
		for _, c := range []struct{ path, want string }{{"/healthz", "ok"}, {"/readyz", "ready"}, {"/metrics", `tiaki_http_requests_total{code="200",listener="ops"}`}} {
			path, want := c.path, c.want
			resp, err := http.Get("http://" + r.Ops + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
				t.Errorf("%s: status %d, body lacks %q", path, resp.StatusCode, want)
			}
		}
	})

	t.Run("demo: token, then the demo API with it and with the API key", func(t *testing.T) {
		secret := bannerValue(t, r.stdout.String(), "client   demo-client  secret ")
		key := bannerValue(t, r.stdout.String(), "API key  ")
		cc := clientcredentials.Config{ClientID: "demo-client", ClientSecret: secret, TokenURL: r.Issuer + "/token",
			Scopes: []string{"demo:read"}, EndpointParams: map[string][]string{"resource": {"https://127.0.0.1:8444/demo"}}}
		ctx := context.WithValue(context.Background(), oauth2HTTPClient, r.client)
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("client credentials token: %v", err)
		}
		resp, body := r.get(t, "https://"+r.Gateway+"/demo/hello", "Authorization", "Bearer "+tok.AccessToken)
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"path": "/hello"`) {
			t.Fatalf("with token: %d %s", resp.StatusCode, body)
		}
		resp, body = r.get(t, "https://"+r.Gateway+"/demo/hello", "API-Key", key)
		if resp.StatusCode != 200 {
			t.Fatalf("with API key: %d %s", resp.StatusCode, body)
		}
		if id := resp.Header.Get("Response-Correlation-Id"); id == "" {
			t.Error("no Response-Correlation-Id")
		}
		// The demo key holds demo:read, as the README says: POST needs demo:write.
		req, _ := http.NewRequest("POST", "https://"+r.Gateway+"/demo/hello", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("API-Key", key)
		if resp, err := r.client.Do(req); err != nil || resp.StatusCode != 403 {
			t.Errorf("POST with the demo key: %v %v, want 403 insufficient_scope", resp, err)
		} else {
			resp.Body.Close()
		}
		resp, _ = r.get(t, "https://"+r.Gateway+"/demo/hello")
		if resp.StatusCode != 401 {
			t.Errorf("without credentials: %d, want 401", resp.StatusCode)
		}
	})

	t.Run("no secret in the log", func(t *testing.T) {
		secret := bannerValue(t, r.stdout.String(), "client   demo-client  secret ")
		key := bannerValue(t, r.stdout.String(), "API key  ")
		if logs := r.stderr.String(); strings.Contains(logs, secret) || strings.Contains(logs, key) {
			t.Error("a demo secret reached the log")
		}
	})

	firstJWKS := r.jwks(t)
	firstBanner := r.stdout.String()
	r.stop(t)

	// A second start on the same data directory reuses keys, clients and secrets.
	r2 := startTiaki(t, dataDir)
	if got := r2.jwks(t); got != firstJWKS {
		t.Errorf("JWKS changed across restart:\n%s\n%s", firstJWKS, got)
	}
	if a, b := bannerValue(t, firstBanner, "API key  "), bannerValue(t, r2.stdout.String(), "API key  "); a != b {
		t.Errorf("demo API key changed across restart")
	}
}

// bannerValue returns the first word after prefix in the banner.
func bannerValue(t *testing.T, banner, prefix string) string {
	t.Helper()
	i := strings.Index(banner, prefix)
	if i < 0 {
		t.Fatalf("banner lacks %q:\n%s", prefix, banner)
	}
	return strings.Fields(banner[i+len(prefix):])[0]
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	// The echo upstream answers at once, so hold a request open from the client side instead:
	// start a large upload to the gateway and cancel the server mid-request.
	r := startTiaki(t, t.TempDir())
	cc := clientcredentials.Config{ClientID: "demo-client", ClientSecret: bannerValue(t, r.stdout.String(), "client   demo-client  secret "),
		TokenURL: r.Issuer + "/token", Scopes: []string{"demo:write"},
		EndpointParams: map[string][]string{"resource": {"https://127.0.0.1:8444/demo"}}}
	tok, err := cc.Token(context.WithValue(context.Background(), oauth2HTTPClient, r.client))
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "https://"+r.Gateway+"/demo/slow", pr)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	type result struct {
		status int
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := r.client.Do(req)
		if err != nil {
			res <- result{err: err}
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		res <- result{status: resp.StatusCode}
	}()
	_, _ = pw.Write([]byte(`{"part":`))
	time.Sleep(200 * time.Millisecond) // the request is now in flight at the gateway
	r.cancel()
	r.cancel = nil
	time.Sleep(200 * time.Millisecond)
	_, _ = pw.Write([]byte(`1}`))
	pw.Close()
	got := <-res
	if got.err != nil || got.status != 200 {
		t.Fatalf("in-flight request during shutdown: status %d err %v", got.status, got.err)
	}
	if code := <-r.done; code != exitOK {
		t.Fatalf("exit %d", code)
	}
}
