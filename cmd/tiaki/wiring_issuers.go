package main

import (
	"crypto/x509"
	"fmt"
	"net/http"

	"github.com/tiaki-nz/tiaki/internal/authserver"
	"github.com/tiaki-nz/tiaki/internal/config"
	"github.com/tiaki-nz/tiaki/internal/policy/bearer"
)

// tokenIssuers turns an API's auth.oauth2.issuers into the bearer policy's issuers: "self" is
// this Tiaki, verified with its own key set in process; any other name is a trusted_issuers
// entry, reached over HTTPS with a client per issuer (shared by the routes of one load).
func tokenIssuers(n *node, cfg *config.Config, key string, names []string, clients map[string]*http.Client) ([]bearer.Issuer, error) {
	if len(names) == 0 {
		names = []string{config.SelfIssuer}
	}
	out := make([]bearer.Issuer, 0, len(names))
	for j, name := range names {
		if name == config.SelfIssuer {
			// Tiaki's own tokens: JWTs verified against its keys; opaque ones opened in process
			// by the authorization server (every node runs one, and all share the sealing key),
			// which checks expiry, revocation and the grant. The answer is cached for the
			// introspection TTL (5 s, never past exp); the revocation list is asked on every
			// request.
			self := bearer.Issuer{Issuer: cfg.Issuer, JWKS: n.keys.JWKS}
			if a := n.auth.Load(); a != nil {
				self.Introspect, self.OpaquePrefix = a.IntrospectToken, authserver.OpaquePrefix
			}
			out = append(out, self)
			continue
		}
		i := trustedIssuerIndex(cfg, name)
		if i < 0 {
			return nil, cfg.Errorf(fmt.Sprintf("%s.auth.oauth2.issuers[%d]", key, j), "%q is not in trusted_issuers", name)
		}
		t := cfg.TrustedIssuers[i]
		client, ok := clients[name]
		if !ok {
			var err error
			if client, err = issuerClient(t); err != nil {
				return nil, cfg.Errorf(fmt.Sprintf("trusted_issuers[%d].ca", i), "%v", err)
			}
			clients[name] = client
		}
		is := bearer.Issuer{Issuer: t.Issuer, JWKSURL: t.JWKSURI, Discover: t.Discover(), HTTPClient: client}
		if in := t.Introspection; in != nil {
			is.IntrospectionURL, is.ClientID, is.ClientSecret = in.Endpoint, in.ClientID, in.ClientSecret
		}
		out = append(out, is)
	}
	return out, nil
}

func trustedIssuerIndex(cfg *config.Config, name string) int {
	for i, t := range cfg.TrustedIssuers {
		if t.Name == name {
			return i
		}
	}
	return -1
}

// issuerClient is the HTTPS client for one trusted issuer: its CA file's certificates, or the
// system roots.
func issuerClient(t config.TrustedIssuer) (*http.Client, error) {
	if t.CA == "" {
		return bearer.NewHTTPClient(nil), nil
	}
	pem, err := readBounded(t.CA, maxCAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", t.CA)
	}
	return bearer.NewHTTPClient(pool), nil
}
