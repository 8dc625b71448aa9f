package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// chainInfo is what one full handshake with an origin showed: the certificates and whether
// they verify against the trusted roots for the origin's name.
type chainInfo struct {
	state *tls.ConnectionState
	err   error // why the chain does not verify (or the handshake failed); nil when trusted
}

// chain handshakes with an origin once (any version, any group) and verifies its certificate
// chain, as TLS-03 asks every client to. The result decides whether credentials may be sent.
func (s *session) chain(ctx context.Context, origin *url.URL) *chainInfo {
	if ci, ok := s.chains[origin.Host]; ok {
		return ci
	}
	ci := &chainInfo{}
	if origin.Scheme != "https" {
		ci.err = errors.New("plain http: no certificate to verify")
	} else if st, err := s.handshake(ctx, origin, &tls.Config{MinVersion: tls.VersionTLS10}); err != nil {
		ci.err = fmt.Errorf("handshake: %w", err)
		if errors.Is(err, errBudget) {
			return ci // not remembered: a later check may not need the budget
		}
	} else {
		ci.state = st
		ci.err = s.verify(origin, st.PeerCertificates)
	}
	s.chains[origin.Host] = ci
	return ci
}

// verify checks the chain the server sent against the roots, the host name and the time.
func (s *session) verify(origin *url.URL, certs []*x509.Certificate) error {
	if len(certs) == 0 {
		return errors.New("no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{DNSName: origin.Hostname(), Roots: s.roots, Intermediates: inter, CurrentTime: s.now()})
	return err
}

// handshake completes one TLS handshake with cfg and closes the connection. It never verifies
// the certificate itself (chain does): the version and group checks must see servers whose
// certificates a client would refuse.
func (s *session) handshake(ctx context.Context, origin *url.URL, cfg *tls.Config) (*tls.ConnectionState, error) {
	if err := s.spend(ctx); err != nil {
		return nil, err
	}
	cfg = cfg.Clone()
	cfg.ServerName = origin.Hostname()
	cfg.InsecureSkipVerify = true //nolint:gosec // verified separately in chain, with the roots
	if cfg.NextProtos == nil {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	d := tls.Dialer{NetDialer: &net.Dialer{}, Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", hostPort(origin))
	if err != nil {
		return nil, err
	}
	st := conn.(*tls.Conn).ConnectionState()
	conn.Close()
	return &st, nil
}

func httpsOnly(origin *url.URL) (result, bool) {
	if origin.Scheme != "https" {
		return fail(origin.Host, "the API is served over plain http: nothing is protected in transit"), false
	}
	return result{}, true
}

// TLS-01: all communication uses TLS 1.3 or higher.
func checkTLS13(ctx context.Context, s *session, origin *url.URL) result {
	if r, ok := httpsOnly(origin); !ok {
		return r
	}
	st, err := s.handshake(ctx, origin, &tls.Config{MinVersion: tls.VersionTLS13})
	if err != nil {
		if errors.Is(err, errBudget) {
			return errResult(origin.Host, err)
		}
		return fail(origin.Host, "a TLS 1.3 handshake failed: %v", err)
	}
	return pass(origin.Host, "TLS 1.3 negotiated with %s, %s", st.CurveID, tls.CipherSuiteName(st.CipherSuite))
}

// TLS-02: other versions disabled. TLS-01 makes a server that lets a client negotiate TLS 1.2 a
// MUST failure too, as the catalogue notes.
func checkTLSLegacy(ctx context.Context, s *session, origin *url.URL) result {
	if r, ok := httpsOnly(origin); !ok {
		return r
	}
	var accepted []string
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS11, tls.VersionTLS10} {
		_, err := s.handshake(ctx, origin, &tls.Config{MinVersion: v, MaxVersion: v})
		if errors.Is(err, errBudget) {
			return errResult(origin.Host, err)
		}
		if err == nil {
			accepted = append(accepted, tls.VersionName(v))
		}
	}
	if len(accepted) > 0 {
		return fail(origin.Host, "accepts %s: a client can negotiate less than TLS 1.3", strings.Join(accepted, ", "))
	}
	return pass(origin.Host, "TLS 1.2, 1.1 and 1.0 handshakes refused")
}

// groups are the TLS 1.3 key exchange groups the probe offers one at a time.
var groups = []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256, tls.CurveP384}

// TLS-04 / TTM-03: TLS 1.3 with (EC)DHE. Every TLS 1.3 full handshake is (EC)DHE, so the check
// lists the groups accepted and fails a server that still completes a TLS 1.2 handshake with
// RSA key exchange, which has no forward secrecy.
func checkKeyExchange(ctx context.Context, s *session, origin *url.URL) result {
	if r, ok := httpsOnly(origin); !ok {
		return r
	}
	var ok []string
	for _, g := range groups {
		st, err := s.handshake(ctx, origin, &tls.Config{MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{g}})
		if errors.Is(err, errBudget) {
			return errResult(origin.Host, err)
		}
		if err == nil && st.CurveID == g {
			ok = append(ok, g.String())
		}
	}
	st, err := s.handshake(ctx, origin, &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS12, CipherSuites: rsaKeyExchange})
	if errors.Is(err, errBudget) {
		return errResult(origin.Host, err)
	}
	if err == nil && st.CurveID == 0 {
		return fail(origin.Host, "completes a %s handshake with RSA key exchange (%s): no forward secrecy", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
	}
	if len(ok) == 0 {
		return fail(origin.Host, "no TLS 1.3 handshake with %v succeeded", groups)
	}
	return pass(origin.Host, "(EC)DHE groups accepted: %s; RSA key exchange refused", strings.Join(ok, ", "))
}

// rsaKeyExchange are the TLS 1.2 suites without forward secrecy (no ECDHE).
var rsaKeyExchange = []uint16{
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA,
}

// expiryWarning is how close to expiry a certificate earns a WARN.
const expiryWarning = 14 * 24 * time.Hour

// TLS-03: the client validates the chain (and the CRL: see checkRevocation).
func checkCertificate(ctx context.Context, s *session, origin *url.URL) result {
	if r, ok := httpsOnly(origin); !ok {
		return r
	}
	ci := s.chain(ctx, origin)
	if ci.state == nil {
		return errResult(origin.Host, ci.err)
	}
	leaf := ci.state.PeerCertificates[0]
	if ci.err != nil {
		return fail(origin.Host, "certificate for %s does not verify: %v", leaf.Subject, ci.err)
	}
	left := leaf.NotAfter.Sub(s.now())
	if left < expiryWarning {
		return warn(origin.Host, "certificate verifies but expires in %s (%s)", left.Round(time.Hour), leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	return pass(origin.Host, "chain verifies for %s; valid until %s; issuer %s", origin.Hostname(), leaf.NotAfter.UTC().Format(time.DateOnly), leaf.Issuer.CommonName)
}

// maxCRL bounds a downloaded CRL (large public CAs publish CRLs of several MiB).
const maxCRL = 16 << 20

// TLS-03 asks clients to check the CRL; they can only if the certificate says where it is.
func checkRevocation(ctx context.Context, s *session, origin *url.URL) result {
	if r, ok := httpsOnly(origin); !ok {
		return r
	}
	ci := s.chain(ctx, origin)
	if ci.state == nil {
		return errResult(origin.Host, ci.err)
	}
	certs := ci.state.PeerCertificates
	leaf := certs[0]
	var crlURL string
	for _, dp := range leaf.CRLDistributionPoints {
		if strings.HasPrefix(dp, "http://") || strings.HasPrefix(dp, "https://") {
			crlURL = dp
			break
		}
	}
	switch {
	case crlURL == "" && len(leaf.OCSPServer) > 0:
		return pass(origin.Host, "the certificate names an OCSP responder (%s); not queried", leaf.OCSPServer[0])
	case crlURL == "":
		return warn(origin.Host, "the certificate names no CRL distribution point and no OCSP responder: clients cannot check revocation")
	}
	resp, err := s.send(ctx, request{method: http.MethodGet, url: crlURL, limit: maxCRL})
	if err != nil {
		return errResult(origin.Host, err)
	}
	if resp.Status != http.StatusOK {
		return warn(origin.Host, "the CRL at %s answered %d", crlURL, resp.Status)
	}
	crl, err := x509.ParseRevocationList(resp.Body)
	if err != nil {
		return warn(origin.Host, "the CRL at %s does not parse: %v", crlURL, err)
	}
	if len(certs) > 1 {
		if err := crl.CheckSignatureFrom(certs[1]); err != nil {
			return warn(origin.Host, "the CRL at %s is not signed by the certificate's issuer: %v", crlURL, err)
		}
	}
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
			return fail(origin.Host, "the certificate is revoked (CRL %s, since %s)", crlURL, e.RevocationTime.UTC().Format(time.DateOnly))
		}
	}
	if crl.NextUpdate.Before(s.now()) {
		return warn(origin.Host, "the CRL at %s is stale (next update was %s)", crlURL, crl.NextUpdate.UTC().Format(time.DateOnly))
	}
	return pass(origin.Host, "not revoked according to the CRL at %s", crlURL)
}

// AUTHN-15, OAUTH-18: credentials never travel in clear. The probe sends made-up Basic
// credentials over plain HTTP, to the same port and, for a server on 443, to port 80; any
// answer but a refusal or a redirect to https is a failure.
func checkPlainHTTP(ctx context.Context, s *session, origin *url.URL) result {
	if origin.Scheme == "http" {
		return fail(origin.Host, "the target itself is plain http")
	}
	path := "/"
	if s.api != nil && s.api.Host == origin.Host {
		path = s.api.EscapedPath()
	} else if s.issuer != nil {
		if m, err := s.metadata(ctx); err == nil && m.TokenEndpoint != "" {
			if u, err := url.Parse(m.TokenEndpoint); err == nil && u.Host == origin.Host {
				path = u.EscapedPath()
			}
		}
	}
	hosts := []string{origin.Host}
	if hostPort(origin) == net.JoinHostPort(origin.Hostname(), "443") {
		hosts = append(hosts, origin.Hostname()) // port 80
	}
	var notes []string
	for _, h := range hosts {
		u := "http://" + h + path
		resp, err := s.send(ctx, request{method: http.MethodGet, url: u, header: http.Header{"Authorization": {s.canaryBasic}}})
		switch {
		case errors.Is(err, errBudget):
			return errResult(origin.Host, err)
		case err != nil:
			notes = append(notes, fmt.Sprintf("%s refused", u))
		case resp.Status >= 300 && resp.Status < 400 && strings.HasPrefix(resp.Header.Get("Location"), "https://"):
			notes = append(notes, fmt.Sprintf("%s redirects to https", u))
		case resp.Status < 300:
			return fail(origin.Host, "%s answered %d over plain HTTP to a request carrying credentials", u, resp.Status)
		case resp.Status >= 300 && resp.Status < 400:
			return fail(origin.Host, "%s redirects to %q, not to https", u, resp.Header.Get("Location"))
		default:
			notes = append(notes, fmt.Sprintf("%s answered %d", u, resp.Status))
		}
	}
	return pass(origin.Host, "%s", strings.Join(notes, "; "))
}
