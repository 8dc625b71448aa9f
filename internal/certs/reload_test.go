package certs

import (
	"crypto/tls"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// copyPair copies p's server pair into a fresh directory and returns the copies' paths, so a
// test can rewrite them without touching p.
func copyPair(t *testing.T, p *DevPKI) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	for src, dst := range map[string]string{p.CertFile: certFile, p.KeyFile: keyFile} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, dst, b)
	}
	return certFile, keyFile
}

// reissue makes p issue a new server pair (a new serial) and returns it as PEM.
func reissue(t *testing.T, p *DevPKI) (certPEM, keyPEM []byte) {
	t.Helper()
	if err := p.issueServerCert(time.Now()); err != nil {
		t.Fatal(err)
	}
	certPEM, err := os.ReadFile(p.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err = os.ReadFile(p.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}

func serialOf(t *testing.T, r *CertReloader) *big.Int {
	t.Helper()
	c, err := r.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil || c == nil || c.Leaf == nil {
		t.Fatalf("GetCertificate = %v, %v", c, err)
	}
	return c.Leaf.SerialNumber
}

func TestNewCertReloaderErrors(t *testing.T) {
	t.Parallel()
	p, other := newPKI(t), newPKI(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	writeFile(t, garbage, []byte("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n"))
	tests := []struct {
		name, cert, key string
		now             time.Time
		want            string
	}{
		{name: "missing certificate", cert: filepath.Join(dir, "none.pem"), key: p.KeyFile, want: "none.pem"},
		{name: "missing key", cert: p.CertFile, key: filepath.Join(dir, "none-key.pem"), want: "none-key.pem"},
		{name: "damaged certificate", cert: garbage, key: p.KeyFile, want: "garbage.pem"},
		{name: "mismatched key", cert: p.CertFile, key: other.KeyFile, want: "private key does not match"},
		{name: "expired", cert: p.CertFile, key: p.KeyFile, now: time.Now().AddDate(2, 0, 0), want: "expired"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := []Option{WithPollInterval(0)}
			if !tc.now.IsZero() {
				opts = append(opts, WithClock(func() time.Time { return tc.now }))
			}
			r, err := NewCertReloader(tc.cert, tc.key, opts...)
			if err == nil {
				r.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY-----") {
				t.Errorf("error quotes key material: %v", err)
			}
		})
	}
}

// TestCertReloaderPoll drives the poll by hand: a changed pair is picked up, a bad pair is logged
// once and the old one keeps serving, a touched but identical pair is not reloaded.
func TestCertReloaderPoll(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	certFile, keyFile := copyPair(t, p)
	logger, logs := testLogger()
	r, err := NewCertReloader(certFile, keyFile, WithPollInterval(0), WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	first := serialOf(t, r)

	// Nothing changed: nothing reloaded (the same *tls.Certificate is served).
	before, _ := r.GetCertificate(nil)
	r.w.poll()
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(certFile, later, later); err != nil {
		t.Fatal(err)
	}
	r.w.poll()
	if after, _ := r.GetCertificate(nil); after != before {
		t.Error("an unchanged or merely touched pair was reloaded")
	}

	// Half a renewal: the new certificate is there, its key not yet. Old pair keeps serving.
	newCert, newKey := reissue(t, p)
	writeFile(t, certFile, newCert)
	r.w.poll()
	r.w.poll()
	if got := serialOf(t, r); got.Cmp(first) != 0 {
		t.Fatalf("serving serial %x after a half-written renewal, want the old %x", got, first)
	}
	if n := strings.Count(logs.String(), "reload failed"); n != 1 {
		t.Errorf("logged %d failures, want 1:\n%s", n, logs)
	}
	if strings.Contains(logs.String(), "PRIVATE KEY") {
		t.Errorf("log quotes key material:\n%s", logs)
	}

	// The renewal completes by a rename, as cert-manager and editors do.
	tmp := keyFile + ".new"
	writeFile(t, tmp, newKey)
	if err := os.Rename(tmp, keyFile); err != nil {
		t.Fatal(err)
	}
	r.w.poll()
	if got := serialOf(t, r); got.Cmp(first) == 0 {
		t.Fatal("the renewed pair was not picked up")
	}
}

// TestCertReloaderBackground: the background poll notices a new pair without Reload, and Close
// stops it.
func TestCertReloaderBackground(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	certFile, keyFile := copyPair(t, p)
	r, err := NewCertReloader(certFile, keyFile, WithPollInterval(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	first := serialOf(t, r)
	newCert, newKey := reissue(t, p)
	writeFile(t, keyFile, newKey)
	writeFile(t, certFile, newCert)
	deadline := time.Now().Add(5 * time.Second)
	for serialOf(t, r).Cmp(first) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("background poll did not pick up the new pair")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if _, err := r.GetCertificate(nil); err != nil {
		t.Errorf("GetCertificate after Close: %v", err)
	}
}

func TestCertReloaderReloadBad(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	certFile, keyFile := copyPair(t, p)
	r, err := NewCertReloader(certFile, keyFile, WithPollInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	first := serialOf(t, r)
	writeFile(t, keyFile, []byte("not a key"))
	if err := r.Reload(); err == nil || !strings.Contains(err.Error(), keyFile) {
		t.Errorf("Reload = %v, want an error naming %s", err, keyFile)
	}
	if got := serialOf(t, r); got.Cmp(first) != 0 {
		t.Errorf("serving %x after a bad reload, want %x", got, first)
	}
	cc, err := r.GetClientCertificate(nil)
	if err != nil || cc.Leaf.SerialNumber.Cmp(first) != 0 {
		t.Errorf("GetClientCertificate = %v, %v", cc, err)
	}
}
