package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// maxPeerChain bounds the certificates a peer may present; real client chains have two or three.
const maxPeerChain = 8

// Mode says whether a listener demands a client certificate.
type Mode int

const (
	// Require refuses a handshake without a valid client certificate (MTLS-01: the alert is
	// certificate_required, RFC 8446 §4.4.2.4). It is the zero value, so a forgotten mode
	// fails closed.
	Require Mode = iota
	// Request asks for a certificate and verifies it if one is presented; a connection
	// without one proceeds, and the routes that need mTLS refuse it later.
	Request
)

// ClientAuth verifies client certificates against a CA bundle and, optionally, CRLs, both read
// from files and reloaded when they change. Attach it to a listener with Apply; check a
// connection again per route with VerifyPeer. Create one with NewClientAuth, stop it with Close.
type ClientAuth struct {
	trust  atomic.Pointer[trust]
	w      *watcher
	now    func() time.Time
	grace  time.Duration
	logger *slog.Logger
}

// trust is what one load of the files produced; it is swapped whole, so a handshake sees a CA
// bundle and the CRLs that were checked against it, never a mix of old and new.
type trust struct {
	roots *x509.CertPool
	crls  crlSet // nil: no CRL file configured
}

// NewClientAuth loads the PEM CA bundle in caFile and, if crlFile is not empty, the CRLs in it
// (PEM "X509 CRL" blocks or one DER CRL), each of which must be signed by a CA in caFile. It then
// polls both files (see WithPollInterval); a bad new file is logged and the previous state keeps
// serving. With a CRL file, every CA that directly issues client certificates needs a CRL in it:
// a certificate whose issuer has none is refused (ErrNoCRL). Without one, chains are checked
// but revocation is not.
func NewClientAuth(caFile, crlFile string, opts ...Option) (*ClientAuth, error) {
	o := buildOptions(opts)
	a := &ClientAuth{now: o.now, grace: o.crlGrace, logger: o.logger}
	a.w = &watcher{
		paths:  []string{caFile},
		limits: []int64{maxPEMFile},
		load:   a.load,
		logger: o.logger,
		what:   "client CA and CRL",
	}
	if crlFile != "" {
		a.w.paths = append(a.w.paths, crlFile)
		a.w.limits = append(a.w.limits, maxCRLFile)
	}
	if err := a.w.check(true); err != nil {
		return nil, err
	}
	a.w.start(o.poll)
	return a, nil
}

func (a *ClientAuth) load(contents [][]byte) error {
	caFile := a.w.paths[0]
	cas, err := parseCABundle(contents[0])
	if err != nil {
		return fmt.Errorf("certs: %s: %w", caFile, err)
	}
	t := &trust{roots: x509.NewCertPool()}
	for _, ca := range cas {
		t.roots.AddCert(ca)
	}
	if len(contents) > 1 {
		crlFile := a.w.paths[1]
		if t.crls, err = parseCRLs(contents[1], cas); err != nil {
			return fmt.Errorf("certs: %s: %w", crlFile, err)
		}
		now := a.now()
		for _, c := range t.crls {
			if now.After(c.nextUpdate) {
				a.logger.Warn("certs: loaded a CRL that is past its nextUpdate",
					slog.String("file", crlFile), slog.String("issuer", c.issuer),
					slog.Time("next_update", c.nextUpdate))
			}
		}
	}
	a.trust.Store(t)
	return nil
}

// parseCABundle parses PEM certificates, all of which must be CAs: a leaf certificate in a
// trust bundle is a configuration mistake that would let that one certificate sign others.
func parseCABundle(data []byte) ([]*x509.Certificate, error) {
	ders, err := pemBlocks(data, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	cas := make([]*x509.Certificate, 0, len(ders))
	for _, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, err
		}
		if !c.BasicConstraintsValid || !c.IsCA {
			return nil, fmt.Errorf("%s is not a CA certificate", c.Subject)
		}
		cas = append(cas, c)
	}
	return cas, nil
}

// Apply makes cfg ask for client certificates and check them in VerifyConnection, which Go
// calls on every handshake, resumed ones included, so a certificate revoked after its session
// ticket was issued is refused too. Go's own verification (RequireAndVerifyClientCert) is not
// used because it reads cfg.ClientCAs, fixed when cfg was built; VerifyConnection reads the
// current CA bundle and CRLs, so a reload applies to the next handshake. A VerifyConnection
// already set on cfg still runs, after this check.
func (a *ClientAuth) Apply(cfg *tls.Config, mode Mode) {
	if mode == Request {
		cfg.ClientAuth = tls.RequestClientCert
	} else {
		mode = Require
		cfg.ClientAuth = tls.RequireAnyClientCert
	}
	prev := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			if mode == Require {
				return ErrNoCertificate
			}
		} else if err := a.VerifyPeer(cs.PeerCertificates); err != nil {
			return err
		}
		if prev != nil {
			return prev(cs)
		}
		return nil
	}
}

// VerifyPeer checks a presented chain (leaf first, as in tls.ConnectionState.PeerCertificates)
// against the current CA bundle: a path to a trusted CA, every certificate within its validity
// period (by the injected clock), the clientAuth extended key usage (RFC 5280 §4.2.1.12), and
// no certificate revoked by a current CRL. The gateway calls it again per route when a route
// demands mTLS on a listener in Request mode.
func (a *ClientAuth) VerifyPeer(certs []*x509.Certificate) error {
	if len(certs) == 0 {
		return ErrNoCertificate
	}
	if len(certs) > maxPeerChain {
		return fmt.Errorf("certs: client presented %d certificates, more than %d", len(certs), maxPeerChain)
	}
	t := a.trust.Load()
	now := a.now()
	opts := x509.VerifyOptions{
		Roots:         t.roots,
		Intermediates: x509.NewCertPool(),
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	chains, err := certs[0].Verify(opts)
	if err != nil {
		return fmt.Errorf("certs: client certificate %s: %w", certs[0].Subject, err)
	}
	return a.checkRevocation(t, chains, now)
}

// CheckRevocation checks already verified chains (tls.ConnectionState.VerifiedChains) against
// the current CRLs. It is for outgoing connections, where Go has verified the server's chain and
// TLS-03 still asks for the CRL check: use it in the client tls.Config's VerifyConnection. With
// no CRL file configured it accepts everything.
func (a *ClientAuth) CheckRevocation(chains [][]*x509.Certificate) error {
	return a.checkRevocation(a.trust.Load(), chains, a.now())
}

// checkRevocation passes if some chain is fully checked and clean, but a revocation found on any
// chain refuses outright: a CA we trust has said the certificate must not be used.
func (a *ClientAuth) checkRevocation(t *trust, chains [][]*x509.Certificate, now time.Time) error {
	if t.crls == nil {
		return nil
	}
	if len(chains) == 0 {
		return errors.New("certs: no verified chain to check for revocation")
	}
	var first error
	ok := false
	for _, chain := range chains {
		err := t.crls.check(chain, now, a.grace, a.logger)
		switch {
		case err == nil:
			ok = true
		case errors.Is(err, ErrRevoked):
			return err
		case first == nil:
			first = err
		}
	}
	if ok {
		return nil
	}
	return first
}

// Reload reads the CA and CRL files now, whether or not they look changed. On error the
// previous state keeps serving.
func (a *ClientAuth) Reload() error { return a.w.check(true) }

// Close stops the background poll; checks keep using the last loaded state.
func (a *ClientAuth) Close() error {
	a.w.close()
	return nil
}
