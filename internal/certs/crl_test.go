package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// newCA returns an in-memory CA named cn (no files), for tests needing CAs with distinct names.
func newCA(t *testing.T, cn string) (*DevPKI, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &DevPKI{ca: ca, caKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestParseCRLs(t *testing.T) {
	t.Parallel()
	a, _ := newCA(t, "CA A")
	b, _ := newCA(t, "CA B")
	impostor, _ := newCA(t, "CA A") // same name as a, different key
	now := time.Now()
	day := 24 * time.Hour
	cert := clientCert(t, a, "app", now.Add(-time.Hour), now.Add(day))
	older := makeCRL(t, a, now.Add(-2*day), now.Add(day))
	newer := makeCRL(t, a, now.Add(-time.Hour), now.Add(day), cert.Leaf)
	derBlock, _ := pem.Decode(newer)

	critical := func() []byte {
		tmpl := &x509.RevocationList{
			Number: big.NewInt(2), ThisUpdate: now, NextUpdate: now.Add(day),
			// RFC 5280 §5.2.4 deltaCRLIndicator, always critical.
			ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 27}, Critical: true, Value: []byte{2, 1, 1}}},
		}
		der, err := x509.CreateRevocationList(rand.Reader, tmpl, a.ca, a.caKey)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	}()

	cas := []*x509.Certificate{a.ca, b.ca}
	tests := []struct {
		name        string
		data        []byte
		wantErr     string
		wantRevoked []bool // per CA in cas: does the CRL for it list cert's serial (nil: no CRL)
	}{
		{name: "PEM", data: newer, wantRevoked: []bool{true}},
		{name: "DER", data: derBlock.Bytes, wantRevoked: []bool{true}},
		{name: "text before PEM", data: append([]byte("Certificate Revocation List (CRL):\n"), newer...), wantRevoked: []bool{true}},
		{name: "newer of two wins", data: concat(newer, older), wantRevoked: []bool{true}},
		{name: "two CAs", data: concat(older, makeCRL(t, b, now, now.Add(day))), wantRevoked: []bool{false, false}},
		{name: "signed by another key", data: makeCRL(t, impostor, now, now.Add(day)), wantErr: "signature does not verify"},
		{name: "issuer not in CA file", data: makeCRL(t, mustCA(newCA(t, "CA C")), now, now.Add(day)), wantErr: "not in the CA file"},
		{name: "critical extension", data: critical, wantErr: "critical extension 2.5.29.27"},
		{name: "certificate instead", data: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.ca.Raw}), wantErr: "unexpected PEM block"},
		{name: "truncated PEM", data: newer[:len(newer)/2], wantErr: "damaged or truncated"},
		{name: "garbage", data: []byte("hello"), wantErr: "x509"},
		{name: "empty", data: nil, wantErr: "x509"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			set, err := parseCRLs(tc.data, cas)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []bool
			for _, ca := range cas {
				if c := set[issuerKey(ca)]; c != nil {
					_, revoked := c.revoked[serialKey(cert.Leaf.SerialNumber)]
					got = append(got, revoked)
				}
			}
			if diff := cmp.Diff(tc.wantRevoked, got); diff != "" {
				t.Errorf("revoked per CA (-want +got):\n%s", diff)
			}
		})
	}
}

func mustCA(p *DevPKI, _ []byte) *DevPKI { return p }

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestClientAuthIssuers: with a CRL file, a CA without a CRL in it fails closed; chains already
// verified elsewhere (outgoing connections) are checked with CheckRevocation.
func TestClientAuthIssuers(t *testing.T) {
	t.Parallel()
	a, aPEM := newCA(t, "CA A")
	b, bPEM := newCA(t, "CA B")
	now := time.Now()
	fromA := clientCert(t, a, "a", now.Add(-time.Hour), now.Add(time.Hour))
	revokedA := clientCert(t, a, "revoked", now.Add(-time.Hour), now.Add(time.Hour))
	fromB := clientCert(t, b, "b", now.Add(-time.Hour), now.Add(time.Hour))
	dir := t.TempDir()
	caFile, crlFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "crl.pem")
	writeFile(t, caFile, concat(aPEM, bPEM))
	writeFile(t, crlFile, makeCRL(t, a, now.Add(-time.Hour), now.Add(time.Hour), revokedA.Leaf))
	auth, err := NewClientAuth(caFile, crlFile, WithPollInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { auth.Close() })

	chains := func(leaf *x509.Certificate) [][]*x509.Certificate {
		pool := x509.NewCertPool()
		pool.AddCert(a.ca)
		pool.AddCert(b.ca)
		c, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name    string
		leaf    *x509.Certificate
		wantErr error
	}{
		{name: "issuer with CRL", leaf: fromA.Leaf},
		{name: "revoked", leaf: revokedA.Leaf, wantErr: ErrRevoked},
		{name: "issuer without CRL", leaf: fromB.Leaf, wantErr: ErrNoCRL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := auth.VerifyPeer([]*x509.Certificate{tc.leaf}); !errors.Is(err, tc.wantErr) {
				t.Errorf("VerifyPeer = %v, want %v", err, tc.wantErr)
			}
			if err := auth.CheckRevocation(chains(tc.leaf)); !errors.Is(err, tc.wantErr) {
				t.Errorf("CheckRevocation = %v, want %v", err, tc.wantErr)
			}
		})
	}
	if err := auth.CheckRevocation(nil); err == nil {
		t.Error("CheckRevocation accepted no chains")
	}
}

func TestVerifyPeerBounds(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	auth, err := NewClientAuth(p.CAFile, "", WithPollInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { auth.Close() })
	now := time.Now()
	leaf := clientCert(t, p, "app", now.Add(-time.Hour), now.Add(time.Hour)).Leaf
	if err := auth.VerifyPeer(nil); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("no certificates: %v", err)
	}
	long := make([]*x509.Certificate, maxPeerChain+1)
	for i := range long {
		long[i] = leaf
	}
	if err := auth.VerifyPeer(long); err == nil {
		t.Error("accepted an over-long chain")
	}
	// Without a CRL file, revocation is not checked.
	if err := auth.CheckRevocation(nil); err != nil {
		t.Errorf("CheckRevocation without CRL: %v", err)
	}
}

func TestNewClientAuthErrors(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	dir := t.TempDir()
	leafFile := filepath.Join(dir, "leaf.pem")
	certPEM, err := os.ReadFile(p.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, leafFile, certPEM)
	badCRL := filepath.Join(dir, "bad.crl")
	writeFile(t, badCRL, []byte("nope"))
	big := filepath.Join(dir, "big.pem")
	writeFile(t, big, make([]byte, maxPEMFile+1))

	tests := []struct {
		name, ca, crl, want string
	}{
		{name: "missing CA file", ca: filepath.Join(dir, "none.pem"), want: "none.pem"},
		{name: "leaf in CA file", ca: leafFile, want: "not a CA certificate"},
		{name: "oversized CA file", ca: big, want: "larger than"},
		{name: "bad CRL", ca: p.CAFile, crl: badCRL, want: "bad.crl"},
		{name: "missing CRL", ca: p.CAFile, crl: filepath.Join(dir, "none.crl"), want: "none.crl"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewClientAuth(tc.ca, tc.crl, WithPollInterval(0))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// FuzzParseCRLs: whatever is in the CRL file, parsing returns an error or a set, never panics.
func FuzzParseCRLs(f *testing.F) {
	a, key := fuzzCA(f)
	now := time.Now()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: now, NextUpdate: now.Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: big.NewInt(7), RevocationTime: now}},
	}, a, key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(der)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
	f.Add([]byte("-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := parseCRLs(data, []*x509.Certificate{a})
		if err == nil && len(set) == 0 {
			t.Error("no error and no CRL")
		}
	})
}

func fuzzCA(f *testing.F) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Fuzz CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		f.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		f.Fatal(err)
	}
	return ca, key
}
