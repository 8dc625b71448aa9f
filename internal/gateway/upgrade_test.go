package gateway

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/auditlog"
)

// upgradingUpstream switches to whatever protocol a request offers, as an h2c-capable or
// WebSocket backend would, and then echoes what it reads; a request without an upgrade gets
// "plain". It records the upgrade headers it received.
type upgradingUpstream struct {
	mu   sync.Mutex
	seen []http.Header
}

func (u *upgradingUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.seen = append(u.seen, r.Header.Clone())
	u.mu.Unlock()
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
}

func (u *upgradingUpstream) last() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		return nil
	}
	return u.seen[len(u.seen)-1]
}

// upgradeGateway fronts an upgrading upstream with two routes: /plain enables no upgrade,
// /ws enables websocket.
func upgradeGateway(t *testing.T) (up *upgradingUpstream, addr string, conf *tls.Config) {
	t.Helper()
	up = &upgradingUpstream{}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	g, err := New([]Route{
		{Name: "plain", PathPrefix: "/plain", Upstream: mustURL(t, srv.URL), Methods: []string{"GET"}},
		{Name: "ws", PathPrefix: "/ws", Upstream: mustURL(t, srv.URL), Methods: []string{"GET"}, Upgrades: []string{"websocket"}},
	}, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.CloseIdleConnections)
	front, client := serveTLS(t, g)
	return up, front.Listener.Addr().String(), client.Transport.(*http.Transport).TLSClientConfig
}

// rawExchange sends a request written by hand and reads the response head; the connection
// stays open for what follows an upgrade.
func rawExchange(t *testing.T, addr string, conf *tls.Config, request string) (*http.Response, *tls.Conn, *bufio.Reader) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
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

const (
	h2cRequest = "GET /%s/x HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n" +
		"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
	wsRequest = "GET /%s/x HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
)

// Issue 11 item 7: an h2c upgrade is never tunnelled, whatever the route enables: HTTP/2
// streams behind it would reach the upstream with no key check, identity assertion or audit
// line. The request goes on as a plain HTTP/1.1 one, as nginx forwards it.
func TestUpgradeH2CNeverForwarded(t *testing.T) {
	t.Parallel()
	up, addr, conf := upgradeGateway(t)
	for _, route := range []string{"plain", "ws"} {
		resp, _, _ := rawExchange(t, addr, conf, strings.ReplaceAll(h2cRequest, "%s", route))
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || string(body) != "plain" {
			t.Fatalf("/%s: status %d %q, want the plain 200: the h2c upgrade went through", route, resp.StatusCode, body)
		}
		seen := up.last()
		if seen == nil {
			t.Fatalf("/%s: the upstream saw no request", route)
		}
		for _, k := range []string{"Upgrade", "Http2-Settings"} {
			if v, ok := seen[k]; ok {
				t.Errorf("/%s: the upstream received %s: %q", route, k, v)
			}
		}
	}
}

func TestUpgradeWebSocket(t *testing.T) {
	t.Parallel()
	up, addr, conf := upgradeGateway(t)

	t.Run("off by default", func(t *testing.T) {
		resp, _, _ := rawExchange(t, addr, conf, strings.ReplaceAll(wsRequest, "%s", "plain"))
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || string(body) != "plain" {
			t.Fatalf("status %d %q, want the plain 200: a route without upgrades tunnelled a WebSocket", resp.StatusCode, body)
		}
		if v, ok := up.last()["Upgrade"]; ok {
			t.Errorf("the upstream received Upgrade: %q", v)
		}
	})

	t.Run("enabled", func(t *testing.T) {
		resp, c, br := rawExchange(t, addr, conf, strings.ReplaceAll(wsRequest, "%s", "ws"))
		if resp.StatusCode != http.StatusSwitchingProtocols || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
			t.Fatalf("status %d, Upgrade %q: want 101 to websocket", resp.StatusCode, resp.Header.Get("Upgrade"))
		}
		seen := up.last()
		if got := seen.Get("Upgrade"); got != "websocket" {
			t.Errorf("the upstream received Upgrade %q, want websocket", got)
		}
		if v, ok := seen["Http2-Settings"]; ok {
			t.Errorf("the upstream received HTTP2-Settings: %q", v)
		}
		if _, err := io.WriteString(c, "ping through the tunnel"); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len("ping through the tunnel"))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != "ping through the tunnel" {
			t.Fatalf("through the tunnel: %q, %v", got, err)
		}
	})
}

func TestRouteUpgradeHeaders(t *testing.T) {
	t.Parallel()
	rt, err := compileRoute(Route{Name: "ws", Upstream: mustURL(t, "http://up.test"), Methods: []string{"GET"}, Upgrades: []string{"websocket"}})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := compileRoute(Route{Name: "plain", Upstream: mustURL(t, "http://up.test"), Methods: []string{"GET"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		rt   *route
		in   http.Header
		want http.Header
	}{
		{"no upgrade", rt, http.Header{"Connection": {"keep-alive"}}, http.Header{"Connection": {"keep-alive"}}},
		{"websocket enabled", rt, http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}},
			http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}},
		{"websocket in another case", rt, http.Header{"Connection": {"upgrade"}, "Upgrade": {"WebSocket"}},
			http.Header{"Connection": {"upgrade"}, "Upgrade": {"WebSocket"}}},
		{"websocket not enabled", plain, http.Header{"Connection": {"keep-alive, Upgrade"}, "Upgrade": {"websocket"}},
			http.Header{"Connection": {"keep-alive"}}},
		{"h2c", rt, http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Upgrade": {"h2c"}, "Http2-Settings": {"AAMAAABkAARAAAAAAAIAAAAA"}},
			http.Header{}},
		{"h2c offered with websocket", rt, http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Upgrade": {"h2c, websocket"}, "Http2-Settings": {"AA"}},
			http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}},
		{"HTTP2-Settings alone", plain, http.Header{"Connection": {"HTTP2-Settings"}, "Http2-Settings": {"AA"}}, http.Header{}},
		{"versioned protocol", rt, http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket/13"}},
			http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket/13"}}},
		{"empty Upgrade", rt, http.Header{"Connection": {"Upgrade"}, "Upgrade": {""}}, http.Header{}},
	} {
		h := tc.in.Clone()
		tc.rt.upgrade(h)
		if !equalHeader(h, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, h, tc.want)
		}
	}
}

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestRouteUpgradesValidated(t *testing.T) {
	t.Parallel()
	for _, ups := range [][]string{{"h2c"}, {"websocket", "h2c"}, {"WebSocket/13"}, {""}, {"tls/1.3"}} {
		_, err := compileRoute(Route{Name: "r", Upstream: mustURL(t, "http://up.test"), Methods: []string{"GET"}, Upgrades: ups})
		if !errors.Is(err, tiaki.ErrInvalid) {
			t.Errorf("upgrades %q: err %v, want ErrInvalid", ups, err)
		}
	}
}

// TestUpgradeAudited: an upgraded request is audited with the 101 its client received, not
// as 200 (ReverseProxy hijacks the connection and writes the 101 itself).
func TestUpgradeAudited(t *testing.T) {
	t.Parallel()
	up := &upgradingUpstream{}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	mem := auditlog.NewMemory(0)
	g, err := New([]Route{
		{Name: "ws", PathPrefix: "/ws", Upstream: mustURL(t, srv.URL), Methods: []string{"GET"}, Upgrades: []string{"websocket"}},
	}, Options{Logger: quietLogger(), Audit: mem})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.CloseIdleConnections)
	front, client := serveTLS(t, g)
	resp, c, _ := rawExchange(t, front.Listener.Addr().String(), client.Transport.(*http.Transport).TLSClientConfig,
		strings.ReplaceAll(wsRequest, "%s", "ws"))
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	c.Close() // the tunnel ends; the request is audited as it finishes
	ev := waitEvents(t, mem, 1)
	if len(ev) != 1 || ev[0].Status != http.StatusSwitchingProtocols || ev[0].Route != "ws" {
		t.Fatalf("audit events %+v, want one with status 101 for route ws", ev)
	}
}
