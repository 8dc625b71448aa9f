package main

import (
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki/internal/certs"
)

// writeCRL writes a CRL signed by the client CA in dir, revoking the given certificates.
func writeCRL(t *testing.T, dir, path string, number int64, revoked ...*x509.Certificate) {
	t.Helper()
	caCert, caKey := loadCA(t, dir)
	var entries []x509.RevocationListEntry
	for _, c := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(number), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(24 * time.Hour),
		RevokedCertificateEntries: entries,
	}, caCert, caKey)
	if err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, path, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
}

func loadCA(t *testing.T, dir string) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return c, pair.PrivateKey.(crypto.Signer)
}

// writeAtomic replaces path the way cert-manager and editors do: write aside, then rename.
func writeAtomic(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, to, b)
}

// TestConfiguredTLSFilesReloadAndCRL covers TLS-01…04 through the real binary's wiring:
// certificates, client CA and CRL from files named in the config, reloaded when they change,
// without dropping an established connection; a revoked client certificate fails the handshake.
func TestConfiguredTLSFilesReloadAndCRL(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	serverA, err := certs.EnsureDevPKI(filepath.Join(dir, "server-a"), now)
	if err != nil {
		t.Fatal(err)
	}
	serverB, err := certs.EnsureDevPKI(filepath.Join(dir, "server-b"), now)
	if err != nil {
		t.Fatal(err)
	}
	clientsDir := filepath.Join(dir, "clients")
	clients, err := certs.EnsureDevPKI(clientsDir, now)
	if err != nil {
		t.Fatal(err)
	}
	alice, _, _, err := clients.IssueClientCert("alice", now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	mallory, _, _, err := clients.IssueClientCert("mallory", now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	aliceX509, _ := x509.ParseCertificate(alice.Certificate[0])
	malloryX509, _ := x509.ParseCertificate(mallory.Certificate[0])

	live := filepath.Join(dir, "live")
	os.MkdirAll(live, 0o700)
	copyFile(t, serverA.CertFile, filepath.Join(live, "server.pem"))
	copyFile(t, serverA.KeyFile, filepath.Join(live, "server-key.pem"))
	copyFile(t, clients.CAFile, filepath.Join(live, "clients-ca.pem"))
	writeCRL(t, clientsDir, filepath.Join(live, "clients.crl"), 1, malloryX509)

	cfgFile := filepath.Join(dir, "tiaki.yaml")
	os.WriteFile(cfgFile, []byte(`tls:
  cert: live/server.pem
  key: live/server-key.pem
  client_ca: live/clients-ca.pem
  crl: live/clients.crl
apis:
  - name: open
    upstream: builtin:echo
    match: {path_prefix: /open}
    auth: {api_key: off}
`), 0o600)
	r := startTiaki(t, filepath.Join(dir, "data"), "--config", cfgFile)

	roots := x509.NewCertPool()
	roots.AddCert(mustParse(t, serverA.CAFile))
	roots.AddCert(mustParse(t, serverB.CAFile))
	dial := func(cert *tls.Certificate) (*tls.Conn, error) {
		conf := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
		if cert != nil {
			conf.Certificates = []tls.Certificate{*cert}
		}
		c, err := tls.Dial("tcp", r.Gateway, conf)
		if err != nil {
			return nil, err
		}
		// TLS 1.3 client certificates are checked after the client's Finished: a refusal
		// arrives on the first read.
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := fmt.Fprintf(c, "GET /open/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"); err != nil {
			c.Close()
			return nil, err
		}
		buf := make([]byte, 12)
		if _, err := io.ReadFull(c, buf); err != nil {
			c.Close()
			return nil, err
		}
		if string(buf) != "HTTP/1.1 200" {
			c.Close()
			return nil, fmt.Errorf("status line %q", buf)
		}
		return c, nil
	}
	serialOf := func(c *tls.Conn) *big.Int { return c.ConnectionState().PeerCertificates[0].SerialNumber }

	c, err := dial(&alice)
	if err != nil {
		t.Fatalf("alice's certificate refused: %v", err)
	}
	firstSerial := serialOf(c)
	c.Close()
	if c, err := dial(&mallory); err == nil {
		c.Close()
		t.Fatal("mallory's revoked certificate was accepted")
	}
	if c, err := dial(nil); err != nil {
		t.Fatalf("no certificate on a Request-mode listener: %v", err)
	} else {
		c.Close()
	}

	// An established HTTP/2 connection, to prove reloads do not drop it.
	client := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true,
		TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{alice}}}}
	get := func() *http.Response {
		resp, err := client.Get("https://" + r.Gateway + "/open/y")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	before := get().TLS.PeerCertificates[0].SerialNumber

	// Rotate the server certificate and revoke alice.
	copyFile(t, serverB.KeyFile, filepath.Join(live, "server-key.pem.new"))
	copyFile(t, serverB.CertFile, filepath.Join(live, "server.pem.new"))
	os.Rename(filepath.Join(live, "server-key.pem.new"), filepath.Join(live, "server-key.pem"))
	os.Rename(filepath.Join(live, "server.pem.new"), filepath.Join(live, "server.pem"))
	writeCRL(t, clientsDir, filepath.Join(live, "clients.crl"), 2, malloryX509, aliceX509)

	deadline := time.Now().Add(8 * time.Second)
	for {
		c, err := dial(nil)
		if err == nil {
			s := serialOf(c)
			c.Close()
			if s.Cmp(firstSerial) != 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the new server certificate was not served within 8 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	for {
		c, err := dial(&alice)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("alice's certificate still accepted 8 s after the CRL revoked it")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if resp := get(); resp.TLS.PeerCertificates[0].SerialNumber.Cmp(before) != 0 || resp.ProtoMajor != 2 {
		t.Error("the established connection was not kept across the reload")
	}
}

func mustParse(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
