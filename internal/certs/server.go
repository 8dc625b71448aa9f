package certs

import (
	"crypto/tls"
	"crypto/x509"
	"slices"
)

// groups are the key exchange mechanisms Tiaki offers and accepts. Every one is an ephemeral
// (EC)DHE or hybrid KEM exchange, so every connection has forward secrecy (TLS-04: "TLS 1.3 with
// a cipher suite that includes DHE or ECDHE"). CurveP384, P-521 and the FFDHE groups are left
// out: they add nothing over these three and widen what a peer can push us into. Go ignores the
// order of this list and applies its own preference (post-quantum hybrid first).
var groups = []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256}

// nextProtos lists the ALPN protocols of every Tiaki listener, HTTP/2 preferred.
var nextProtos = []string{"h2", "http/1.1"}

// ServerConfig returns the TLS configuration every Tiaki listener uses (gateway, authorization
// server, portal, metrics), serving the certificate getCert returns (usually
// CertReloader.GetCertificate, so a renewed certificate applies to new handshakes).
//
// TLS-01: TLS 1.3 only. TLS-02: a ClientHello offering only TLS 1.2 or lower is refused with a
// protocol_version alert (RFC 8446 §4.2.1), because MaxVersion and MinVersion are both 1.3.
// TLS-04: only (EC)DHE groups are configured. Session tickets stay enabled: Go's TLS 1.3 server
// resumes only with psk_dhe_ke (RFC 8446 §4.2.9), never psk_ke, so a resumed session still runs
// a fresh (EC)DHE exchange and keeps forward secrecy; a client offering only psk_ke gets a full
// handshake.
//
// The caller adds client authentication with ClientAuth.Apply on listeners that take client
// certificates.
func ServerConfig(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		MaxVersion:             tls.VersionTLS13,
		CurvePreferences:       slices.Clone(groups),
		NextProtos:             slices.Clone(nextProtos),
		GetCertificate:         getCert,
		SessionTicketsDisabled: false,
	}
}

// ClientConfig returns the TLS configuration for Tiaki's outgoing connections (gateway to
// backend, authorization server to other servers): TLS 1.3 only with the same (EC)DHE groups as
// ServerConfig (TLS-01 applies "between all components"). The server's chain is verified against
// roots (nil means the system roots). A non-nil clientCert is presented when the server asks for
// one, for mutual TLS to the backend (MTLS-03); for a certificate that is renewed on disk, set
// GetClientCertificate to CertReloader.GetClientCertificate instead.
//
// Go verifies the chain and host name before any VerifyConnection callback runs; to add a CRL
// check on the upstream's certificate (TLS-03), set VerifyConnection to call
// ClientAuth.CheckRevocation on the verified chains.
func ClientConfig(roots *x509.CertPool, clientCert *tls.Certificate) *tls.Config {
	cfg := &tls.Config{
		MinVersion:       tls.VersionTLS13,
		MaxVersion:       tls.VersionTLS13,
		CurvePreferences: slices.Clone(groups),
		RootCAs:          roots,
	}
	if clientCert != nil {
		cfg.Certificates = []tls.Certificate{*clientCert}
	}
	return cfg
}
