package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
	"unicode"
	"unicode/utf8"
)

// File names and lifetimes EnsureDevPKI uses.
const (
	devCAFile     = "ca.pem"
	devCAKeyFile  = "ca-key.pem"
	devCertFile   = "server.pem"
	devKeyFile    = "server-key.pem"
	devCAName     = "Tiaki development CA"
	devRenewAhead = 30 * 24 * time.Hour
	// devBackdate absorbs clock skew between the machine issuing and the machine checking.
	devBackdate = time.Hour
)

// Reasons loadPair gives for a pair that is not usable as it stands.
var (
	errHalfPair = errors.New("only one of certificate and key exists")
	errMismatch = errors.New("key and certificate do not match")
	errNotCA    = errors.New("not a CA certificate")
)

// DevPKI is a development certificate authority and a server certificate it issued for
// localhost, so `tiaki serve` can speak TLS 1.3 with no certificates configured. Trust CAFile in
// a browser or pass it to curl --cacert. It is for development and tests only: the CA key sits
// unencrypted beside the certificates.
type DevPKI struct {
	// CAFile is the PEM CA certificate (ca.pem).
	CAFile string
	// CertFile is the PEM server certificate (server.pem), for localhost, 127.0.0.1 and ::1.
	CertFile string
	// KeyFile is the PEM server private key (server-key.pem), mode 0600.
	KeyFile string

	ca    *x509.Certificate
	caKey crypto.Signer
}

// EnsureDevPKI makes sure dir holds the development CA and a current server certificate, and
// returns them. The first call creates dir (mode 0700), a self-signed ECDSA P-256 CA valid for
// ten years and a one-year server certificate. Later calls reuse both; the server certificate is
// reissued from the same CA when it expires within 30 days, was not issued by this CA, does not
// match its key, or has lost one of its two files. A file that exists but does not parse is an
// error naming it, and is never overwritten: it may be something the user wants to keep. So is
// a CA certificate without its key or the other way round. now is the issuing time.
func EnsureDevPKI(dir string, now time.Time) (*DevPKI, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	p := &DevPKI{
		CAFile:   filepath.Join(dir, devCAFile),
		CertFile: filepath.Join(dir, devCertFile),
		KeyFile:  filepath.Join(dir, devKeyFile),
	}
	caKeyFile := filepath.Join(dir, devCAKeyFile)
	var err error
	p.ca, p.caKey, err = loadPair(p.CAFile, caKeyFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := p.createCA(caKeyFile, now); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case !p.ca.IsCA:
		return nil, fmt.Errorf("certs: %s: %w", p.CAFile, errNotCA)
	case now.After(p.ca.NotAfter):
		return nil, fmt.Errorf("certs: development CA %s expired at %s; remove %s to start a new one",
			p.CAFile, p.ca.NotAfter.UTC().Format(time.RFC3339), dir)
	}

	leaf, _, err := loadPair(p.CertFile, p.KeyFile)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, errHalfPair), errors.Is(err, errMismatch):
		// Reissue below.
	case err != nil:
		return nil, err
	case leaf.NotAfter.Sub(now) > devRenewAhead && leaf.CheckSignatureFrom(p.ca) == nil:
		return p, nil
	}
	if err := p.issueServerCert(now); err != nil {
		return nil, err
	}
	return p, nil
}

// CAPool returns a pool holding the development CA, for clients of the dev server and for
// client-certificate checks in tests.
func (p *DevPKI) CAPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return pool
}

// IssueClientCert issues a client certificate (ECDSA P-256, extended key usage clientAuth,
// subject CN name) from the development CA, valid from notBefore to notAfter, for tests and
// demos of mutual TLS. It returns the pair ready for a tls.Config, and the certificate and key
// as PEM for files or curl.
func (p *DevPKI) IssueClientCert(name string, notBefore, notAfter time.Time) (cert tls.Certificate, certPEM, keyPEM []byte, err error) {
	// RFC 5280 Appendix A: ub-common-name is 64 characters.
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > 64 || hasControl(name) {
		return tls.Certificate{}, nil, nil, errors.New("certs: client certificate name must be 1 to 64 printable characters")
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, key, err := p.issue(tmpl)
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	return pairPEM(der, key)
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

func (p *DevPKI) createCA(keyFile string, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: devCAName},
		NotBefore:             now.Add(-devBackdate),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// MaxPathLen 0: the CA signs leaves only, never another CA (RFC 5280 §4.2.1.9).
		MaxPathLen:     0,
		MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return fmt.Errorf("certs: create development CA: %w", err)
	}
	if p.ca, err = x509.ParseCertificate(der); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	p.caKey = key
	return writePair(p.CAFile, keyFile, der, key)
}

func (p *DevPKI) issueServerCert(now time.Time) error {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		NotBefore:   now.Add(-devBackdate),
		NotAfter:    now.AddDate(1, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, key, err := p.issue(tmpl)
	if err != nil {
		return err
	}
	return writePair(p.CertFile, p.KeyFile, der, key)
}

// issue signs tmpl, with a fresh P-256 key and serial, by the development CA.
func (p *DevPKI) issue(tmpl *x509.Certificate) ([]byte, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: %w", err)
	}
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, key.Public(), p.caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: issue certificate: %w", err)
	}
	return der, key, nil
}

// newSerial returns a random positive serial of at most 129 bits (RFC 5280 §4.1.2.2: positive,
// at most 20 octets, unique per CA; 128 random bits make a collision negligible).
func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("certs: serial: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

func pairPEM(der []byte, key *ecdsa.PrivateKey) (tls.Certificate, []byte, []byte, error) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, nil, fmt.Errorf("certs: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, nil, nil, fmt.Errorf("certs: %w", err)
	}
	return cert, certPEM, keyPEM, nil
}

// writePair writes the key (0600) and then the certificate (0644), each atomically. A crash
// between the two leaves a key without its certificate: for the CA the next call reports it,
// for the server pair the next call reissues.
func writePair(certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) error {
	_, certPEM, keyPEM, err := pairPEM(der, key)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certFile, certPEM, 0o644)
}

// loadPair reads a PEM certificate and its PEM private key. Its error wraps fs.ErrNotExist
// when neither file exists, errHalfPair when one does, errMismatch when the key is not the
// certificate's; any other error means a file is damaged, and names it.
func loadPair(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	certData, certErr := readBounded(certFile, maxPEMFile)
	keyData, keyErr := readBounded(keyFile, maxPEMFile)
	certMissing, keyMissing := errors.Is(certErr, fs.ErrNotExist), errors.Is(keyErr, fs.ErrNotExist)
	switch {
	case certMissing && keyMissing:
		return nil, nil, certErr
	case certErr != nil && !certMissing:
		return nil, nil, fmt.Errorf("certs: %w", certErr)
	case keyErr != nil && !keyMissing:
		return nil, nil, fmt.Errorf("certs: %w", keyErr)
	}
	var cert *x509.Certificate
	if !certMissing {
		ders, err := pemBlocks(certData, "CERTIFICATE")
		if err == nil && len(ders) != 1 {
			err = errors.New("want exactly one certificate")
		}
		if err == nil {
			cert, err = x509.ParseCertificate(ders[0])
		}
		if err != nil {
			return nil, nil, fmt.Errorf("certs: %s is damaged (%w); move it aside to regenerate", certFile, err)
		}
	}
	var key crypto.Signer
	if !keyMissing {
		var err error
		if key, err = parseKey(keyData); err != nil {
			return nil, nil, fmt.Errorf("certs: %s is damaged (%w); move it aside to regenerate", keyFile, err)
		}
	}
	switch {
	case certMissing:
		return nil, nil, fmt.Errorf("certs: %s exists without %s: %w", keyFile, certFile, errHalfPair)
	case keyMissing:
		return nil, nil, fmt.Errorf("certs: %s exists without %s: %w", certFile, keyFile, errHalfPair)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("certs: %s and %s: %w", keyFile, certFile, errMismatch)
	}
	return cert, key, nil
}

// parseKey parses a PEM PKCS #8 or SEC 1 private key. Its errors never quote key bytes.
func parseKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM private key")
	}
	var k any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unexpected PEM block %q", block.Type)
	}
	if err != nil {
		return nil, errors.New("private key does not parse")
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("unsupported private key type")
	}
	return s, nil
}

// writeFileAtomic writes data to a temporary file in the same directory and renames it over
// path, so a reader (a CertReloader polling, the next start after a crash) never sees a
// half-written file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("certs: write %s: %w", path, err)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
