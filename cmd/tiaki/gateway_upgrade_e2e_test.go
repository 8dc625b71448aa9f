package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestGatewayUpgradesEndToEnd drives protocol upgrades through the real HTTP/1.1 listener
// (issue 11 item 7): h2c is never tunnelled and HTTP2-Settings never forwarded, a WebSocket
// handshake reaches the backend only on an API that lists websocket in upgrades, and there
// the tunnel carries bytes both ways.
func TestGatewayUpgradesEndToEnd(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var seen []http.Header
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		proto := r.Header.Get("Upgrade")
		if proto == "" {
			io.WriteString(w, "plain")
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + proto + "\r\n\r\n")
		brw.Flush()
		io.Copy(conn, brw)
	}))
	t.Cleanup(upstream.Close)
	lastSeen := func() http.Header {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) == 0 {
			return nil
		}
		return seen[len(seen)-1]
	}
	cfgPath := filepath.Join(dir, "tiaki.yaml")
	writeAtomic(t, cfgPath, []byte(fmt.Sprintf(`
apis:
  - name: plain
    upstream: %[1]s
    match: {path_prefix: /plain}
    auth: {api_key: "off"}
  - name: ws
    upstream: %[1]s
    match: {path_prefix: /ws}
    auth: {api_key: "off"}
    upgrades: [websocket]
`, upstream.URL)))
	r := startTiaki(t, filepath.Join(dir, "data"), "--config", cfgPath)
	conf := &tls.Config{RootCAs: r.client.Transport.(*http.Transport).TLSClientConfig.RootCAs,
		MinVersion: tls.VersionTLS13, NextProtos: []string{"http/1.1"}}
	exchange := func(t *testing.T, request string) (*http.Response, *tls.Conn, *bufio.Reader) {
		t.Helper()
		c, err := tls.Dial("tcp", r.Gateway, conf)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, request); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		return resp, c, br
	}
	h2c := "GET /%s/x HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n" +
		"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
	ws := "GET /%s/x HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"

	for _, tc := range []struct{ name, request, api string }{
		{"h2c on an API without upgrades", h2c, "plain"},
		{"h2c on an API with websocket", h2c, "ws"},
		{"websocket on an API without upgrades", ws, "plain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _, _ := exchange(t, strings.ReplaceAll(tc.request, "%s", tc.api))
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || string(body) != "plain" {
				t.Fatalf("status %d %q, want the backend's plain 200 (no 101)", resp.StatusCode, body)
			}
			h := lastSeen()
			for _, k := range []string{"Upgrade", "Http2-Settings"} {
				if v, ok := h[k]; ok {
					t.Errorf("the backend received %s: %q", k, v)
				}
			}
		})
	}
	t.Run("websocket on an API with websocket", func(t *testing.T) {
		resp, c, br := exchange(t, strings.ReplaceAll(ws, "%s", "ws"))
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("status %d, want 101", resp.StatusCode)
		}
		if got := lastSeen().Get("Upgrade"); got != "websocket" {
			t.Errorf("the backend received Upgrade %q", got)
		}
		msg := "frames both ways"
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
			t.Fatalf("through the tunnel: %q, %v", got, err)
		}
	})
}
