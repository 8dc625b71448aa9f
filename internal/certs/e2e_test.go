package certs

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"testing"
	"time"
)

// TestReloadEndToEnd: an HTTPS server built from ServerConfig and a CertReloader keeps its
// established connections across a certificate renewal, and new connections get the new
// certificate.
func TestReloadEndToEnd(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	certFile, keyFile := copyPair(t, p)
	reloader, err := NewCertReloader(certFile, keyFile, WithPollInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer reloader.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, r.Proto)
		}),
		TLSConfig:         ServerConfig(reloader.GetCertificate),
		ReadHeaderTimeout: 5 * time.Second,
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("ServeTLS: %v", err)
		}
	})
	url := "https://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) + "/"

	newClient := func() *http.Client {
		tr := &http.Transport{
			TLSClientConfig:   ClientConfig(p.CAPool(), nil),
			ForceAttemptHTTP2: true,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, ln.Addr().String())
			},
		}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 5 * time.Second}
	}
	// get makes a request and reports the server certificate's serial and whether the
	// connection was reused.
	get := func(c *http.Client) (serial *big.Int, reused bool) {
		t.Helper()
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if string(body) != "HTTP/2.0" || resp.TLS.Version != tls.VersionTLS13 {
			t.Errorf("got %s over %s, want HTTP/2.0 over TLS 1.3", body, tls.VersionName(resp.TLS.Version))
		}
		return resp.TLS.PeerCertificates[0].SerialNumber, reused
	}

	keepAlive := newClient()
	first, _ := get(keepAlive)

	newCert, newKey := reissue(t, p)
	writeFile(t, keyFile, newKey)
	writeFile(t, certFile, newCert)
	if err := reloader.Reload(); err != nil {
		t.Fatal(err)
	}

	again, reused := get(keepAlive)
	if !reused || again.Cmp(first) != 0 {
		t.Errorf("established connection: reused %v, serial %x; want reused, serial %x", reused, again, first)
	}
	fresh, reused := get(newClient())
	if reused || fresh.Cmp(first) == 0 {
		t.Errorf("new connection: reused %v, serial %x; want a new connection with a new serial", reused, fresh)
	}
}
