package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// tcpProxy forwards connections to a backend until cut, which stops listening and drops
// every connection: the backend becomes "an address where nothing listens".
type tcpProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startTCPProxy(t *testing.T, backend string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.DialTimeout("tcp", backend, 2*time.Second)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, b)
			p.mu.Unlock()
			go func() { io.Copy(b, c); b.Close() }()
			go func() { io.Copy(c, b); c.Close() }()
		}
	}()
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// needRedis returns the local Redis address, or skips (fails in CI) when none answers.
func needRedis(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("TIAKI_TEST_REDIS")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("Redis unreachable: %v", err)
		}
		t.Fatalf("Redis unreachable, and CI must not skip: %v", err)
	}
	c.Close()
	return addr
}

// checkJSONLines fails unless every line of out is one JSON object with no key repeated at any
// depth.
func checkJSONLines(t *testing.T, what, out string) {
	t.Helper()
	n := 0
	for line := range strings.Lines(out) {
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			continue
		}
		n++
		if err := uniqueKeysJSON(line); err != nil {
			t.Errorf("%s: line is not a JSON object with unique keys (%v):\n%s", what, err, line)
		}
	}
	if n == 0 {
		t.Errorf("%s: no lines", what)
	}
}

// uniqueKeysJSON parses one JSON object and reports a duplicate key in any object within it.
func uniqueKeysJSON(s string) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("not an object")
	}
	if err := uniqueKeysObject(dec); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data")
	}
	return nil
}

// uniqueKeysObject reads an object's members after its '{', up to and including its '}'.
func uniqueKeysObject(dec *json.Decoder) error {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key := tok.(string)
		if seen[key] {
			return fmt.Errorf("key %q repeated", key)
		}
		seen[key] = true
		if err := uniqueKeysValue(dec); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

func uniqueKeysValue(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		return uniqueKeysObject(dec)
	case json.Delim('['):
		for dec.More() {
			if err := uniqueKeysValue(dec); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ']'
		return err
	}
	return nil
}

// TestReadyzFollowsRedis is issue #11 item 17: /readyz names Redis when it is unreachable:
// 503 when an API's limits fail closed, 200 "degraded" when they fail open; and with Redis
// gone, every line on stderr (go-redis's own complaints included) is still JSON. The
// subtests run one after the other: go-redis has one process-wide logger, and the last node
// started owns it.
func TestReadyzFollowsRedis(t *testing.T) {
	t.Parallel()
	redisAddr := needRedis(t)
	var stderr strings.Builder
	for _, tc := range []struct {
		mode       string
		wantStatus int
		wantBody   []string
	}{
		{"fail_open", http.StatusOK, []string{"degraded\n", "store: ok", "redis: unreachable (degraded: rate limits fail open)"}},
		{"fail_closed", http.StatusServiceUnavailable, []string{"not ready\n", "store: ok", "redis: unreachable (rate limits fail closed)"}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			proxy := startTCPProxy(t, redisAddr)
			dir := t.TempDir()
			cfgFile := filepath.Join(dir, "tiaki.yaml")
			os.WriteFile(cfgFile, []byte(fmt.Sprintf(`log: {format: json}
redis: {addr: %q}
apis:
  - name: ready-%d-%d
    upstream: builtin:echo
    match: {path_prefix: /open}
    auth: {api_key: off}
    rate_limit: {per_ip: 1000/second, on_store_error: %s}
`, proxy.addr(), tc.wantStatus, time.Now().UnixNano(), tc.mode)), 0o600)
			r := startTiaki(t, filepath.Join(dir, "data"), "--config", cfgFile)
			readyz := func() (int, string) {
				resp, err := http.Get("http://" + r.Ops + "/readyz")
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(body)
			}
			if code, body := readyz(); code != http.StatusOK || body != "ready\nstore: ok\nredis: ok\n" {
				t.Fatalf("/readyz with Redis up: %d %q", code, body)
			}
			if resp, _ := r.get(t, "https://"+r.Gateway+"/open/x"); resp.StatusCode != http.StatusOK {
				t.Fatalf("gateway with Redis up: %d", resp.StatusCode)
			}

			proxy.cut()
			code, body := readyz()
			if code != tc.wantStatus {
				t.Errorf("/readyz with Redis gone: %d %q, want %d", code, body, tc.wantStatus)
			}
			for _, want := range tc.wantBody {
				if !strings.Contains(body, want) {
					t.Errorf("/readyz body %q lacks %q", body, want)
				}
			}
			// Traffic while Redis is gone makes go-redis and the subscriber complain.
			for range 5 {
				r.get(t, "https://"+r.Gateway+"/open/x")
			}
			time.Sleep(1500 * time.Millisecond)
			r.stop(t)
			checkJSONLines(t, "stderr", r.stderr.String())
			stderr.WriteString(r.stderr.String())
		})
	}
	// go-redis's "failed to dial" reached the process log, as a record of its own.
	if !strings.Contains(stderr.String(), `"component":"go-redis"`) {
		t.Errorf("no go-redis line in the process log:\n%s", stderr.String())
	}
}
