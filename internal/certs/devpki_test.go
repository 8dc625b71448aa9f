package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// readCert loads a certificate written by EnsureDevPKI (x.pem beside x-key.pem).
func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	c, _, err := loadPair(path, strings.TrimSuffix(path, ".pem")+"-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readAll(t *testing.T, paths ...string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestEnsureDevPKICreates(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "certs")
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p, err := EnsureDevPKI(dir, now)
	if err != nil {
		t.Fatal(err)
	}

	modes := map[string]os.FileMode{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"."}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	for _, name := range names {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		modes[name] = fi.Mode().Perm()
	}
	wantModes := map[string]os.FileMode{".": 0o700, "ca.pem": 0o644, "ca-key.pem": 0o600, "server.pem": 0o644, "server-key.pem": 0o600}
	if diff := cmp.Diff(wantModes, modes); diff != "" {
		t.Errorf("files and modes (-want +got), no temporary files expected:\n%s", diff)
	}

	ca := readCert(t, p.CAFile)
	caKey, ok := ca.PublicKey.(*ecdsa.PublicKey)
	if !ok || caKey.Curve != elliptic.P256() {
		t.Errorf("CA key %T, want ECDSA P-256", ca.PublicKey)
	}
	gotCA := []any{ca.Subject.CommonName, ca.IsCA, ca.MaxPathLen, ca.MaxPathLenZero,
		ca.NotAfter.Equal(now.AddDate(10, 0, 0)), ca.CheckSignatureFrom(ca) == nil}
	if diff := cmp.Diff([]any{"Tiaki development CA", true, 0, true, true, true}, gotCA); diff != "" {
		t.Errorf("CA (-want +got):\n%s", diff)
	}

	leaf := readCert(t, p.CertFile)
	gotLeaf := []any{leaf.DNSNames, ipStrings(leaf.IPAddresses), leaf.ExtKeyUsage, leaf.IsCA,
		leaf.NotAfter.Equal(now.AddDate(1, 0, 0)), leaf.CheckSignatureFrom(ca) == nil}
	wantLeaf := []any{[]string{"localhost"}, []string{"127.0.0.1", "::1"},
		[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, false, true, true}
	if diff := cmp.Diff(wantLeaf, gotLeaf); diff != "" {
		t.Errorf("server certificate (-want +got):\n%s", diff)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: p.CAPool(), DNSName: host, CurrentTime: now})
		if err != nil {
			t.Errorf("verify for %s: %v", host, err)
		}
	}
}

func ipStrings(ips []net.IP) []string {
	var out []string
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

func TestEnsureDevPKIReuseAndRenew(t *testing.T) {
	t.Parallel()
	now := time.Now()
	unchanged := func(*testing.T, *DevPKI) {}
	tests := []struct {
		name        string
		change      func(t *testing.T, p *DevPKI) // between the two calls
		later       time.Duration                 // clock of the second call, after the first
		wantReissue bool
	}{
		{name: "reused", change: unchanged},
		{name: "reused 300 days on", change: unchanged, later: 300 * 24 * time.Hour},
		{name: "expires within 30 days", change: unchanged, later: 340 * 24 * time.Hour, wantReissue: true},
		{name: "server key missing", change: func(t *testing.T, p *DevPKI) { os.Remove(p.KeyFile) }, wantReissue: true},
		{name: "server certificate missing", change: func(t *testing.T, p *DevPKI) { os.Remove(p.CertFile) }, wantReissue: true},
		{name: "issued by another CA", change: func(t *testing.T, p *DevPKI) {
			o := newPKI(t)
			b := readAll(t, o.CertFile, o.KeyFile)
			writeFile(t, p.CertFile, b[0])
			writeFile(t, p.KeyFile, b[1])
		}, wantReissue: true},
		{name: "key of another pair", change: func(t *testing.T, p *DevPKI) {
			writeFile(t, p.KeyFile, readAll(t, newPKI(t).KeyFile)[0])
		}, wantReissue: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p, err := EnsureDevPKI(dir, now)
			if err != nil {
				t.Fatal(err)
			}
			caFiles := []string{p.CAFile, filepath.Join(dir, "ca-key.pem")}
			caBefore := readAll(t, caFiles...)
			serial := readCert(t, p.CertFile).SerialNumber
			tc.change(t, p)
			if _, err := EnsureDevPKI(dir, now.Add(tc.later)); err != nil {
				t.Fatal(err)
			}
			if !cmp.Equal(caBefore, readAll(t, caFiles...)) {
				t.Error("the CA changed")
			}
			leaf := readCert(t, p.CertFile)
			if reissued := leaf.SerialNumber.Cmp(serial) != 0; reissued != tc.wantReissue {
				t.Errorf("reissued = %v, want %v", reissued, tc.wantReissue)
			}
			if err := leaf.CheckSignatureFrom(readCert(t, p.CAFile)); err != nil {
				t.Errorf("server certificate not from the CA: %v", err)
			}
		})
	}
}

// TestEnsureDevPKIRefuses: damaged files, and a CA half of which is missing or foreign, are
// errors naming the file, and nothing is overwritten.
func TestEnsureDevPKIRefuses(t *testing.T) {
	t.Parallel()
	damage := func(name string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, name), []byte("-----BEGIN CERTIFICATE-----\ntruncated"))
		}
	}
	remove := func(name string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, name)) }
	}
	tests := []struct {
		name   string
		change func(t *testing.T, dir string)
		want   string
	}{
		{name: "damaged CA certificate", change: damage("ca.pem"), want: "ca.pem is damaged"},
		{name: "damaged CA key", change: damage("ca-key.pem"), want: "ca-key.pem is damaged"},
		{name: "damaged server certificate", change: damage("server.pem"), want: "server.pem is damaged"},
		{name: "damaged server key", change: damage("server-key.pem"), want: "server-key.pem is damaged"},
		{name: "CA key missing", change: remove("ca-key.pem"), want: "ca.pem exists without"},
		{name: "CA certificate missing", change: remove("ca.pem"), want: "ca-key.pem exists without"},
		{name: "CA key of another CA", change: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "ca-key.pem"), readAll(t, filepath.Join(filepath.Dir(newPKI(t).CAFile), "ca-key.pem"))[0])
		}, want: "do not match"},
	}
	files := []string{"ca.pem", "ca-key.pem", "server.pem", "server-key.pem"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if _, err := EnsureDevPKI(dir, time.Now()); err != nil {
				t.Fatal(err)
			}
			tc.change(t, dir)
			snapshot := func() map[string]string {
				m := map[string]string{}
				for _, n := range files {
					b, _ := os.ReadFile(filepath.Join(dir, n))
					m[n] = string(b)
				}
				return m
			}
			before := snapshot()
			_, err := EnsureDevPKI(dir, time.Now())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
			if diff := cmp.Diff(before, snapshot()); diff != "" {
				t.Errorf("files changed (-before +after):\n%s", diff)
			}
		})
	}
}

func TestIssueClientCert(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	now := time.Now()
	cert, certPEM, keyPEM, err := p.IssueClientCert("billing-app", now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	_, err = cert.Leaf.Verify(x509.VerifyOptions{Roots: p.CAPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		t.Errorf("client certificate does not verify for clientAuth: %v", err)
	}
	_, err = cert.Leaf.Verify(x509.VerifyOptions{Roots: p.CAPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err == nil {
		t.Error("client certificate verifies for serverAuth")
	}
	if cert.Leaf.Subject.CommonName != "billing-app" {
		t.Errorf("CN = %q", cert.Leaf.Subject.CommonName)
	}
	if !bytes.HasPrefix(certPEM, []byte("-----BEGIN CERTIFICATE-----")) || !bytes.HasPrefix(keyPEM, []byte("-----BEGIN PRIVATE KEY-----")) {
		t.Error("PEM outputs are not a certificate and a PKCS #8 key")
	}
	for _, name := range []string{"", strings.Repeat("a", 65), "bad\nname", "\xff"} {
		if _, _, _, err := p.IssueClientCert(name, now, now.Add(time.Hour)); err == nil {
			t.Errorf("IssueClientCert(%q) succeeded", name)
		}
	}
}
