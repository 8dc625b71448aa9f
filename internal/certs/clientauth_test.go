package certs

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// makeCRL returns a PEM CRL signed by p's CA listing the given certificates as revoked.
func makeCRL(t *testing.T, p *DevPKI, thisUpdate, nextUpdate time.Time, revoked ...*x509.Certificate) []byte {
	t.Helper()
	tmpl := &x509.RevocationList{
		Number:     big.NewInt(thisUpdate.Unix()),
		ThisUpdate: thisUpdate,
		NextUpdate: nextUpdate,
	}
	for _, c := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: thisUpdate})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, p.ca, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func clientCert(t *testing.T, p *DevPKI, name string, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	c, _, _, err := p.IssueClientCert(name, notBefore, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mtlsServer starts a TLS 1.3 server taking client certificates through auth in mode.
func mtlsServer(t *testing.T, p *DevPKI, auth *ClientAuth, mode Mode) (string, <-chan error) {
	t.Helper()
	cert := serverCert(t, p)
	cfg := ServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil })
	auth.Apply(cfg, mode)
	return serve(t, cfg)
}

func mtlsClient(p *DevPKI, cert *tls.Certificate) *tls.Config {
	cfg := ClientConfig(p.CAPool(), cert)
	cfg.ServerName = "localhost"
	return cfg
}

// TestClientAuthHandshake covers MTLS-01 and TLS-03 at the handshake: chain, expiry, usage and
// CRL, with real crypto/tls clients.
func TestClientAuthHandshake(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	other := newPKI(t)
	now := time.Now()
	valid := clientCert(t, p, "valid", now.Add(-time.Hour), now.Add(24*time.Hour))
	expired := clientCert(t, p, "expired", now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	revoked := clientCert(t, p, "revoked", now.Add(-time.Hour), now.Add(24*time.Hour))
	untrusted := clientCert(t, other, "untrusted", now.Add(-time.Hour), now.Add(24*time.Hour))
	serverOnly := *serverCert(t, p) // serverAuth EKU only

	crlFile := filepath.Join(t.TempDir(), "clients.crl")
	writeFile(t, crlFile, makeCRL(t, p, now.Add(-time.Hour), now.Add(24*time.Hour), revoked.Leaf))
	auth, err := NewClientAuth(p.CAFile, crlFile, WithPollInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { auth.Close() })
	requireAddr, requireResults := mtlsServer(t, p, auth, Require)
	requestAddr, requestResults := mtlsServer(t, p, auth, Request)

	isUnknownAuthority := func(err error) bool {
		_, ok := errors.AsType[x509.UnknownAuthorityError](err)
		return ok
	}
	isExpired := func(err error) bool {
		e, ok := errors.AsType[x509.CertificateInvalidError](err)
		return ok && e.Reason == x509.Expired
	}
	isWrongUsage := func(err error) bool {
		e, ok := errors.AsType[x509.CertificateInvalidError](err)
		return ok && e.Reason == x509.IncompatibleUsage
	}
	isRevoked := func(err error) bool { return errors.Is(err, ErrRevoked) }
	anyErr := func(err error) bool { return err != nil }

	tests := []struct {
		name    string
		request bool // Request mode listener instead of Require
		cert    *tls.Certificate
		wantErr func(error) bool // on the server's handshake error; nil means accepted
	}{
		{name: "valid", cert: &valid},
		{name: "untrusted CA", cert: &untrusted, wantErr: isUnknownAuthority},
		{name: "expired", cert: &expired, wantErr: isExpired},
		{name: "revoked", cert: &revoked, wantErr: isRevoked},
		{name: "server certificate used as client", cert: &serverOnly, wantErr: isWrongUsage},
		{name: "none", wantErr: anyErr},
		{name: "request mode: none", request: true},
		{name: "request mode: valid", request: true, cert: &valid},
		{name: "request mode: revoked", request: true, cert: &revoked, wantErr: isRevoked},
		{name: "request mode: untrusted", request: true, cert: &untrusted, wantErr: isUnknownAuthority},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, results := requireAddr, requireResults
			if tc.request {
				addr, results = requestAddr, requestResults
			}
			_, cliErr := dial(t, addr, mtlsClient(p, tc.cert))
			srvErr := serverResult(t, results)
			if tc.wantErr == nil {
				if cliErr != nil || srvErr != nil {
					t.Fatalf("refused: client %v, server %v", cliErr, srvErr)
				}
				return
			}
			if cliErr == nil {
				t.Error("client saw the connection succeed")
			}
			if !tc.wantErr(srvErr) {
				t.Errorf("server error = %v (%T)", srvErr, srvErr)
			}
		})
	}
	// The message says what happened, so an operator reading the log knows why.
	_, _ = dial(t, requireAddr, mtlsClient(p, &revoked))
	if err := serverResult(t, requireResults); err == nil || !strings.Contains(err.Error(), "revoked") ||
		!strings.Contains(err.Error(), revoked.Leaf.SerialNumber.Text(16)) {
		t.Errorf("revocation error %q does not name the serial", err)
	}
}

// TestClientAuthCRLReload: revoking a certificate by rewriting the CRL file after the server
// started refuses the next handshake, resumed sessions included; a bad file keeps the old CRL.
func TestClientAuthCRLReload(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	now := time.Now()
	cert := clientCert(t, p, "app", now.Add(-time.Hour), now.Add(24*time.Hour))
	crlFile := filepath.Join(t.TempDir(), "clients.crl")
	writeFile(t, crlFile, makeCRL(t, p, now.Add(-time.Hour), now.Add(24*time.Hour)))
	logger, logs := testLogger()
	auth, err := NewClientAuth(p.CAFile, crlFile, WithPollInterval(0), WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { auth.Close() })
	addr, results := mtlsServer(t, p, auth, Require)
	cfg := mtlsClient(p, &cert)
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)

	handshake := func() (tls.ConnectionState, error) {
		t.Helper()
		cs, cliErr := dial(t, addr, cfg)
		srvErr := serverResult(t, results)
		if (cliErr == nil) != (srvErr == nil) {
			t.Fatalf("client %v, server %v", cliErr, srvErr)
		}
		return cs, srvErr
	}
	if _, err := handshake(); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	if cs, err := handshake(); err != nil || !cs.DidResume {
		t.Fatalf("second handshake: resumed %v, error %v; want a resumed session", cs.DidResume, err)
	}

	// A damaged file is refused and the previous CRL stays in force.
	writeFile(t, crlFile, []byte("-----BEGIN X509 CRL-----\nnot base64\n"))
	if err := auth.Reload(); err == nil || !strings.Contains(err.Error(), crlFile) {
		t.Fatalf("Reload of a damaged CRL = %v, want an error naming %s", err, crlFile)
	}
	if _, err := handshake(); err != nil {
		t.Fatalf("after a bad reload: %v", err)
	}

	writeFile(t, crlFile, makeCRL(t, p, now, now.Add(24*time.Hour), cert.Leaf))
	if err := auth.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := handshake(); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after revocation (resuming) = %v, want ErrRevoked", err)
	}
	cfg.ClientSessionCache = nil
	if _, err := handshake(); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after revocation (full handshake) = %v, want ErrRevoked", err)
	}
	if logs.String() != "" {
		t.Errorf("unexpected log output: %s", logs)
	}
}

// TestClientAuthCAReload: a new CA bundle applies to the next handshake.
func TestClientAuthCAReload(t *testing.T) {
	t.Parallel()
	p, other := newPKI(t), newPKI(t)
	now := time.Now()
	fromOther := clientCert(t, other, "app", now.Add(-time.Hour), now.Add(time.Hour))
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	caPEM, err := os.ReadFile(p.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, caFile, caPEM)
	auth, err := NewClientAuth(caFile, "", WithPollInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { auth.Close() })
	if err := auth.VerifyPeer([]*x509.Certificate{fromOther.Leaf}); err == nil {
		t.Fatal("certificate from a CA not yet trusted was accepted")
	}
	otherPEM, err := os.ReadFile(other.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, caFile, append(caPEM, otherPEM...))
	if err := auth.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := auth.VerifyPeer([]*x509.Certificate{fromOther.Leaf}); err != nil {
		t.Fatalf("after adding its CA: %v", err)
	}
}

// TestClientAuthCRLFreshness: the fail-closed rule for CRLs past nextUpdate (DefaultCRLGrace).
func TestClientAuthCRLFreshness(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	base := time.Now()
	next := base.Add(24 * time.Hour)
	cert := clientCert(t, p, "app", base.Add(-time.Hour), base.Add(30*24*time.Hour))
	crlFile := filepath.Join(t.TempDir(), "clients.crl")
	writeFile(t, crlFile, makeCRL(t, p, base.Add(-time.Hour), next))

	tests := []struct {
		name     string
		now      time.Time
		grace    time.Duration
		wantErr  error
		wantWarn bool
	}{
		{name: "current", now: next.Add(-time.Minute), grace: DefaultCRLGrace},
		{name: "within grace", now: next.Add(30 * time.Minute), grace: DefaultCRLGrace, wantWarn: true},
		{name: "past grace", now: next.Add(DefaultCRLGrace + time.Minute), grace: DefaultCRLGrace, wantErr: ErrCRLStale},
		{name: "longer grace configured", now: next.Add(2 * time.Hour), grace: 3 * time.Hour, wantWarn: true},
		{name: "no grace", now: next.Add(time.Second), grace: 0, wantErr: ErrCRLStale},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			logger, logs := testLogger()
			// The CRL is loaded at base, so only verification sees the later clock.
			clock := base
			auth, err := NewClientAuth(p.CAFile, crlFile, WithPollInterval(0), WithLogger(logger),
				WithCRLGrace(tc.grace), WithClock(func() time.Time { return clock }))
			if err != nil {
				t.Fatal(err)
			}
			clock = tc.now
			for range 2 { // the warning is logged once, not per handshake
				if err := auth.VerifyPeer([]*x509.Certificate{cert.Leaf}); !errors.Is(err, tc.wantErr) {
					t.Fatalf("VerifyPeer = %v, want %v", err, tc.wantErr)
				}
			}
			if got := strings.Count(logs.String(), "past its nextUpdate"); got != map[bool]int{true: 1}[tc.wantWarn] {
				t.Errorf("%d warnings, want warning %v:\n%s", got, tc.wantWarn, logs)
			}
		})
	}
}
