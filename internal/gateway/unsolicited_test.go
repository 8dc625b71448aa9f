package gateway

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki/internal/certs"
	"github.com/tiaki-nz/tiaki/internal/policy"
)

// pathResponse answers with the request's path as the body, so a client can tell whose
// response it received.
func pathResponse(path string) string {
	return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(path)) + "\r\n\r\n" + path
}

// extraResponse is what the misbehaving upstream sends nobody asked for.
var extraResponse = pathResponse("/EXTRA-not-yours")

// Issue 11 item 6: an upstream that sends a response nobody asked for on a kept-alive
// connection (a second copy, a late 408, a bug) must not have it delivered to the next
// client whose request takes that connection; http.Transport drops such a connection
// ("Unsolicited response received on idle HTTP channel") and so must the pool.
func TestSyncTransportUnsolicitedResponse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Now()
	pki, err := certs.EnsureDevPKI(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	serverCert, err := tls.LoadX509KeyPair(pki.CertFile, pki.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tls  bool
		// when the extra response is sent: "with" the real one (one write: one TLS record),
		// "after" it (a second write at once: a second TLS record, which crypto/tls may read
		// from the socket with the first and hold), or "later", once the gateway has pooled
		// the connection.
		when string
	}{
		{"plain, with", false, "with"},
		{"plain, after", false, "after"},
		{"plain, later", false, "later"},
		{"TLS, with", true, "with"},
		{"TLS, after", true, "after"},
		{"TLS, later", true, "later"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			scheme := "http"
			if tc.tls {
				l = tls.NewListener(l, &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{serverCert}})
				scheme = "https"
			}
			sent := make(chan struct{})
			var conns atomic.Int32
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					first := conns.Add(1) == 1
					go func() {
						defer c.Close()
						br := bufio.NewReader(c)
						for n := 0; ; n++ {
							req, err := readRequest(br)
							if err != nil {
								return
							}
							resp := pathResponse(req.URL.Path)
							if !first || n > 0 {
								io.WriteString(c, resp)
								continue
							}
							switch tc.when {
							case "with":
								io.WriteString(c, resp+extraResponse)
							case "after":
								io.WriteString(c, resp)
								io.WriteString(c, extraResponse)
							default:
								io.WriteString(c, resp)
								time.Sleep(50 * time.Millisecond) // the gateway has pooled the connection by now
								io.WriteString(c, extraResponse)
							}
							close(sent)
						}
					}()
				}
			}()

			rt := Route{Name: "s", PathPrefix: "/s", StripPrefix: true, Upstream: mustURL(t, scheme+"://"+l.Addr().String()),
				Methods: []string{"GET", "POST"}, Policies: []policy.Policy{bufferingPolicy{}}}
			if tc.tls {
				rt.UpstreamTLS = certs.ClientConfig(pki.CAPool(), nil)
			}
			g, err := New([]Route{rt}, Options{Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(g.CloseIdleConnections)
			front, client := serveTLS(t, g)

			if res := send(t, client, "GET", front.URL+"/s/one", nil, nil); res.status != 200 || string(res.body) != "/one" {
				t.Fatalf("first request: status %d: %q", res.status, res.body)
			}
			<-sent
			time.Sleep(20 * time.Millisecond) // the extra bytes reach the gateway's socket
			for i, method := range []string{"GET", "POST", "GET"} {
				var body io.Reader
				if method == "POST" {
					body = strings.NewReader("not idempotent")
				}
				path := "/req" + strconv.Itoa(i)
				res := send(t, client, method, front.URL+"/s"+path, nil, body)
				if res.status != 200 || string(res.body) != path {
					t.Fatalf("%s %s: status %d: %q: another request's response (or none)", method, path, res.status, res.body)
				}
			}
			if n := conns.Load(); n != 2 {
				t.Errorf("upstream accepted %d connections, want 2 (the spoilt one dropped, one new)", n)
			}
		})
	}
}
