package probe

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki"
)

// pki is a test CA that issues server certificates for 127.0.0.1.
type pki struct {
	cert *x509.Certificate
	key  crypto.Signer
	pool *x509.CertPool
}

var serial atomic.Int64

func newPKI(t *testing.T) *pki {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "probe test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &pki{cert: cert, key: key, pool: pool}
}

type leafOpts struct {
	rsa       bool
	notAfter  time.Time
	crlURL    string
	ocspURL   string
	serialOut *big.Int
}

func (p *pki) leaf(t *testing.T, o leafOpts) tls.Certificate {
	t.Helper()
	var key crypto.Signer
	if o.rsa {
		key, _ = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if o.notAfter.IsZero() {
		o.notAfter = time.Now().Add(24 * time.Hour)
	}
	sn := big.NewInt(100 + serial.Add(1))
	if o.serialOut != nil {
		o.serialOut.Set(sn)
	}
	tmpl := &x509.Certificate{SerialNumber: sn, Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: o.notAfter,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if o.crlURL != "" {
		tmpl.CRLDistributionPoints = []string{o.crlURL}
	}
	if o.ocspURL != "" {
		tmpl.OCSPServer = []string{o.ocspURL}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, key.Public(), p.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der, p.cert.Raw}, PrivateKey: key}
}

// crl signs a CRL listing the serials.
func (p *pki) crl(t *testing.T, serials ...*big.Int) []byte {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, s := range serials {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: time.Now().Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1),
		ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(time.Hour), RevokedCertificateEntries: entries}, p.cert, p.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// serveTLS starts an HTTPS test server with the certificate and a config shaped by tune.
func serveTLS(t *testing.T, h http.Handler, cert tls.Certificate, tune func(*tls.Config)) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
	if tune != nil {
		tune(srv.TLS)
	}
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// fast are Options that keep a test run short: a high rate, a small burst.
func fast(o Options) Options {
	if o.MaxRPS == 0 {
		o.MaxRPS = 1000
	}
	if o.Burst == 0 {
		o.Burst = 8
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	return o
}

// verdicts maps each check (and subject, when a check has several) to its verdict.
func verdicts(r *Report) map[string]string {
	counts := map[string]int{}
	for _, f := range r.Findings {
		counts[f.Check]++
	}
	m := map[string]string{}
	for _, f := range r.Findings {
		key := f.Check
		if counts[f.Check] > 1 {
			key += " " + f.Subject
		}
		m[key] = f.Verdict.String()
	}
	return m
}

func run(t *testing.T, o Options) *Report {
	t.Helper()
	rep, err := Run(context.Background(), fast(o))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

func reasons(r *Report) string {
	var s string
	for _, f := range r.Findings {
		s += f.Verdict.String() + " " + f.Check + " [" + f.Subject + "] " + f.Reason + "\n"
	}
	return s
}

var testKey = tiaki.Secret("tk_test_0123456789abcdefghijklmnopqrstuvwxyzABCD")
