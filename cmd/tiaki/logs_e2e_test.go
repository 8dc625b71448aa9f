package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"
)

// TestEveryLogLineIsJSON is issue #11 item 18: through the real Main, a token, a gateway
// success, a denial, a client that goes away, a reload and a shutdown; then every line on
// stderr (process log and audit stream) is one JSON object with unique keys, durations are
// float milliseconds in *_ms fields (never nanosecond integers), and the client that left is
// audited and counted as 499, not as a 504 upstream timeout.
func TestEveryLogLineIsJSON(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(up.Close)

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "tiaki.yaml")
	const secret = "0123456789abcdef0123456789abcdef0123456789abcdef"
	cfg := func(extra string) []byte {
		return fmt.Appendf(nil, `log: {format: json}
clients:
  - id: logs-client
    auth_method: client_secret_basic
    secret: %s
    grant_types: [client_credentials]
    scopes: [echo:read]
apis:
  - name: open
    upstream: builtin:echo
    match: {path_prefix: /open}
    auth: {api_key: "off"}
  - name: keyed
    upstream: builtin:echo
    match: {path_prefix: /keyed}
  - name: slow
    upstream: %s
    match: {path_prefix: /slow}
    auth: {api_key: "off"}
%s`, secret, up.URL, extra)
	}
	writeAtomic(t, cfgPath, cfg(""))
	r := startTiaki(t, filepath.Join(dir, "data"), "--config", cfgPath)

	// A token.
	cc := clientcredentials.Config{ClientID: "logs-client", ClientSecret: secret, TokenURL: "https://" + r.AuthServer + "/token", Scopes: []string{"echo:read"}}
	if _, err := cc.Token(context.WithValue(context.Background(), oauth2HTTPClient, r.client)); err != nil {
		t.Fatalf("token: %v", err)
	}
	// A gateway success, with the caller's own request ID, and a denial.
	if resp, _ := r.get(t, "https://"+r.Gateway+"/open/x", "Request-Transaction-Id", "logs-e2e-1"); resp.StatusCode != 200 {
		t.Fatalf("open API: %d", resp.StatusCode)
	}
	if resp, _ := r.get(t, "https://"+r.Gateway+"/keyed/x"); resp.StatusCode != 401 {
		t.Fatalf("keyed API without a key: %d", resp.StatusCode)
	}
	// A client that gives up while the upstream is still thinking, over HTTP/2 and over
	// HTTP/1.1 (the gateway's own h1 server notices a closed connection its own way).
	h1Transport := r.client.Transport.(*http.Transport).Clone()
	h1Transport.ForceAttemptHTTP2 = false
	h1Transport.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	h1Transport.TLSClientConfig.NextProtos = []string{"http/1.1"}
	for i, c := range []*http.Client{r.client, {Transport: h1Transport}} {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+r.Gateway+"/slow/x", nil)
		go func() {
			<-arrived
			cancel()
		}()
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("slow request answered %d, want the client to have given up", resp.StatusCode)
		} else if !errors.Is(err, context.Canceled) {
			t.Fatalf("slow request: %v, want the client to have given up", err)
		}
		eventually(t, 10*time.Second, func() string {
			// The audit line; the process log's line about it has no reason.
			if n := strings.Count(r.stderr.String(), `"reason":"client closed the request"`); n < i+1 {
				return fmt.Sprintf("%d audit lines with 499, want %d:\n%s", n, i+1, r.stderr.String())
			}
			return ""
		})
	}
	// A reload.
	writeAtomic(t, cfgPath, cfg(`  - name: added
    upstream: builtin:echo
    match: {path_prefix: /added}
    auth: {api_key: "off"}
`))
	eventually(t, 10*time.Second, func() string {
		if !strings.Contains(r.stderr.String(), "configuration reloaded") {
			return "no reload yet"
		}
		return ""
	})
	resp, err := http.Get("http://" + r.Ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.stop(t) // shutdown

	out := r.stderr.String()
	checkJSONLines(t, "stderr", out)
	for _, want := range []string{
		`"request_id":"logs-e2e-1"`,                            // the caller's ID, in the audit line
		`"status":499`, `"reason":"client closed the request"`, // the client that left
		`"grace_ms":30000`, // a duration in the process log
		`"latency_ms":`,    // the audit stream's latency
		`"msg":"configuration reloaded"`, `"msg":"stopped"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lacks %s", want)
		}
	}
	for _, bad := range []string{`"status":504`, `upstream timed out`, `"duration":`, `"grace":`, `"window_s":`} {
		if strings.Contains(out, bad) {
			t.Errorf("stderr has %s", bad)
		}
	}
	// No duration as a bare integer of nanoseconds: a number of 10 digits or more.
	if m := regexp.MustCompile(`"[a-z_]+":\d{10,}[,}]`).FindString(out); m != "" {
		t.Errorf("a nanosecond integer in the log: %s", m)
	}
	if !strings.Contains(string(metrics), `tiaki_gateway_requests_total{code="499",consumer="",route="slow"} 2`) {
		t.Errorf("metrics do not count the 499:\n%s", grepLines(string(metrics), "tiaki_gateway_requests_total"))
	}
	if strings.Contains(string(metrics), `code="504"`) {
		t.Errorf("metrics count a 504")
	}
}

func grepLines(s, sub string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}
