package gateway

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki/internal/certs"
)

// MTLS-03: the gateway presents a client certificate to an upstream that requires one, and the
// certificate comes from files that can be renewed without a restart.
func TestUpstreamClientCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Now()
	pki, err := certs.EnsureDevPKI(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	_, certPEM, keyPEM, err := pki.IssueClientCert("tiaki-gateway", now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "gw.pem"), filepath.Join(dir, "gw-key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	reloader, err := certs.NewCertReloader(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reloader.Close() })

	serverCert, err := tls.LoadX509KeyPair(pki.CertFile, pki.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Peer", r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	up.TLS = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{serverCert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.CAPool()}
	up.StartTLS()
	t.Cleanup(up.Close)

	withCert := certs.ClientConfig(pki.CAPool(), nil)
	withCert.GetClientCertificate = reloader.GetClientCertificate
	g, err := New([]Route{
		{Name: "mtls", PathPrefix: "/m", Upstream: mustURL(t, up.URL), UpstreamTLS: withCert, Methods: []string{"GET"}},
		{Name: "no-cert", PathPrefix: "/n", Upstream: mustURL(t, up.URL), UpstreamTLS: certs.ClientConfig(pki.CAPool(), nil), Methods: []string{"GET"}},
		{Name: "untrusted", PathPrefix: "/u", Upstream: mustURL(t, up.URL), Methods: []string{"GET"}},
	}, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.CloseIdleConnections)
	front, client := serveTLS(t, g)

	res := send(t, client, "GET", front.URL+"/m", nil, nil)
	if res.status != 200 || res.header.Get("Peer") != "tiaki-gateway" {
		t.Errorf("with a client certificate: %d, upstream saw %q", res.status, res.header.Get("Peer"))
	}
	for _, path := range []string{"/n", "/u"} {
		if res := send(t, client, "GET", front.URL+path, nil, nil); res.status != 502 {
			t.Errorf("%s: %d, want 502", path, res.status)
		}
	}
}
