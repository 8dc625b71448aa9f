// Package certs holds everything Tiaki does with TLS itself: the TLS 1.3 server and client
// configurations every listener and upstream hop uses, the development CA that lets `tiaki serve`
// start with no certificates configured, reloading of certificate files without a restart, and
// verification of client certificates (chain and CRL) for mutual TLS.
//
// Start with server.go: ServerConfig and ClientConfig state the TLS policy (TLS-01, TLS-02,
// TLS-04 in nz-api-security.md §2.10). Then reload.go (CertReloader, the file poller),
// clientauth.go (ClientAuth, client certificates against a reloadable CA pool and CRL: TLS-03,
// MTLS-01), crl.go (parsing and checking CRLs) and devpki.go (EnsureDevPKI).
//
// Only the standard library is used, so the package can be read against crypto/tls and
// crypto/x509 alone.
package certs
