package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync/atomic"
	"time"
)

// DefaultCRLGrace is how long past its nextUpdate a CRL is still used. After that every
// certificate from its issuer is refused (ErrCRLStale): Tiaki fails closed, because a CRL that
// has stopped being refreshed can no longer tell us about revocations (TLS-03 makes the CRL
// check a MUST, so "no current CRL" cannot mean "not revoked"). Between nextUpdate and the end of
// the grace period certificates are still accepted and a warning is logged, so a CRL publisher
// that runs a little late does not lock every client out. Change it with WithCRLGrace.
const DefaultCRLGrace = time.Hour

// Errors a client certificate check can wrap; match them with errors.Is.
var (
	// ErrNoCertificate: the peer presented no certificate where one is required.
	ErrNoCertificate = errors.New("certs: no client certificate")
	// ErrRevoked: the certificate's serial number is on its issuer's CRL.
	ErrRevoked = errors.New("certs: certificate revoked")
	// ErrCRLStale: the issuer's CRL is past nextUpdate by more than the grace period.
	ErrCRLStale = errors.New("certs: CRL out of date")
	// ErrNoCRL: a CRL file is configured but holds no CRL from the certificate's issuer.
	ErrNoCRL = errors.New("certs: no CRL for the certificate's issuer")
)

// crl is one parsed, signature-checked CRL, reduced to what checks need.
type crl struct {
	issuer     string // the issuer's DN, for messages
	thisUpdate time.Time
	nextUpdate time.Time
	revoked    map[string]time.Time // serial (serialKey) -> revocation time
	warned     atomic.Bool          // a "past nextUpdate" warning has been logged
}

// crlSet maps an issuing CA (issuerKey) to its current CRL.
type crlSet map[string]*crl

// issuerKey identifies a CA by subject and public key, so a re-issued or cross-signed
// certificate for the same CA finds the same CRL. DER is self-delimiting, so concatenating the
// two encodings is unambiguous.
func issuerKey(c *x509.Certificate) string {
	return string(c.RawSubject) + string(c.RawSubjectPublicKeyInfo)
}

func serialKey(n *big.Int) string { return n.Text(16) }

// parseCRLs parses one or more CRLs (PEM "X509 CRL" blocks, or a single DER CRL) and checks
// each against the CA certificates it claims to come from.
func parseCRLs(data []byte, cas []*x509.Certificate) (crlSet, error) {
	var ders [][]byte
	if bytes.Contains(data, []byte("-----BEGIN")) {
		var err error
		if ders, err = pemBlocks(data, "X509 CRL"); err != nil {
			return nil, err
		}
	} else {
		ders = [][]byte{data}
	}
	set := crlSet{}
	for _, der := range ders {
		rl, err := x509.ParseRevocationList(der)
		if err != nil {
			return nil, err
		}
		ca, err := crlIssuer(rl, cas)
		if err != nil {
			return nil, err
		}
		if err := checkCRLExtensions(rl); err != nil {
			return nil, err
		}
		// RFC 5280 §5.1.2.5: conforming CAs MUST include nextUpdate; without it we could
		// never tell a current CRL from an abandoned one.
		if rl.NextUpdate.IsZero() {
			return nil, fmt.Errorf("CRL from %s has no nextUpdate", rl.Issuer)
		}
		c := &crl{
			issuer:     rl.Issuer.String(),
			thisUpdate: rl.ThisUpdate,
			nextUpdate: rl.NextUpdate,
			revoked:    make(map[string]time.Time, len(rl.RevokedCertificateEntries)),
		}
		for _, e := range rl.RevokedCertificateEntries {
			c.revoked[serialKey(e.SerialNumber)] = e.RevocationTime
		}
		key := issuerKey(ca)
		// Two CRLs from one CA in the bundle: the newer one wins.
		if old, ok := set[key]; !ok || c.thisUpdate.After(old.thisUpdate) {
			set[key] = c
		}
	}
	return set, nil
}

// crlIssuer finds the CA that signed rl. A CRL we cannot verify is refused: anyone could have
// written an unsigned "nothing is revoked" list.
func crlIssuer(rl *x509.RevocationList, cas []*x509.Certificate) (*x509.Certificate, error) {
	var sigErr error
	for _, ca := range cas {
		if !bytes.Equal(ca.RawSubject, rl.RawIssuer) {
			continue
		}
		// CheckSignatureFrom also requires the CA's keyUsage to allow cRLSign
		// (RFC 5280 §4.2.1.3).
		err := rl.CheckSignatureFrom(ca)
		if err == nil {
			return ca, nil
		}
		sigErr = err
	}
	if sigErr != nil {
		return nil, fmt.Errorf("CRL from %s: signature does not verify against the CA file: %w",
			rl.Issuer, sigErr)
	}
	return nil, fmt.Errorf("CRL from %s: issuer is not in the CA file", rl.Issuer)
}

// checkCRLExtensions refuses CRLs whose meaning we would get wrong. RFC 5280 §5.2 and §5.3: a
// CRL (or entry) with a critical extension the application cannot process MUST NOT be used.
// That covers delta CRLs (deltaCRLIndicator), partitioned CRLs (issuingDistributionPoint) and
// indirect CRLs (certificateIssuer entries), none of which a "full CRL per CA" check handles.
func checkCRLExtensions(rl *x509.RevocationList) error {
	for _, ext := range rl.Extensions {
		if ext.Critical {
			return fmt.Errorf("CRL from %s has critical extension %s, which Tiaki does not process",
				rl.Issuer, ext.Id)
		}
	}
	for _, e := range rl.RevokedCertificateEntries {
		for _, ext := range e.Extensions {
			if ext.Critical {
				return fmt.Errorf("CRL from %s: entry has critical extension %s, which Tiaki does not process",
					rl.Issuer, ext.Id)
			}
		}
	}
	return nil
}

// check reports whether the certificates of a verified chain (leaf first, root last) are
// revoked. The leaf's issuer must have a CRL (ErrNoCRL otherwise: a configured CRL file is a
// promise that revocation is checked). Intermediates are checked when their issuer has a CRL.
func (s crlSet) check(chain []*x509.Certificate, now time.Time, grace time.Duration, logger *slog.Logger) error {
	for i := 0; i+1 < len(chain); i++ {
		cert, issuer := chain[i], chain[i+1]
		c := s[issuerKey(issuer)]
		if c == nil {
			if i == 0 {
				return fmt.Errorf("%w: %s", ErrNoCRL, issuer.Subject)
			}
			continue
		}
		if now.After(c.nextUpdate.Add(grace)) {
			return fmt.Errorf("%w: CRL from %s was due by %s", ErrCRLStale, c.issuer,
				c.nextUpdate.UTC().Format(time.RFC3339))
		}
		if now.After(c.nextUpdate) && c.warned.CompareAndSwap(false, true) {
			logger.Warn("certs: CRL past its nextUpdate; still used within the grace period",
				slog.String("issuer", c.issuer), slog.Time("next_update", c.nextUpdate),
				slog.Duration("grace", grace))
		}
		if at, ok := c.revoked[serialKey(cert.SerialNumber)]; ok {
			return fmt.Errorf("%w: serial %s (%s) revoked by %s at %s", ErrRevoked,
				serialKey(cert.SerialNumber), cert.Subject, c.issuer, at.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// pemBlocks returns the DER bytes of every PEM block in data, which must all be of type want.
// Text around the blocks is allowed (openssl writes a human-readable dump before them), but a
// block of another type or a damaged block is an error, never silently skipped.
func pemBlocks(data []byte, want string) ([][]byte, error) {
	var out [][]byte
	rest := data
	for {
		block, next := pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != want {
			return nil, fmt.Errorf("unexpected PEM block %q (want %q)", block.Type, want)
		}
		out = append(out, block.Bytes)
		rest = next
	}
	if bytes.Contains(rest, []byte("-----BEGIN")) {
		return nil, errors.New("damaged or truncated PEM block")
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %q PEM block", want)
	}
	return out, nil
}
