package config

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/tiaki-nz/tiaki"
)

// SelfIssuer is the name under which auth.oauth2.issuers lists Tiaki's own authorization
// server; an API that names no issuers trusts it alone.
const SelfIssuer = "self"

// TrustedIssuer is an authorization server other than this Tiaki whose access tokens an API
// may accept (auth.oauth2.issuers names it): an agency's Keycloak or Entra ID, or another
// Tiaki during a staged migration. Tokens are checked exactly as Tiaki's own are: issuer,
// audience, expiry, scopes, sender constraint.
type TrustedIssuer struct {
	// Name is how APIs refer to the issuer.
	Name string `yaml:"name" json:"name"`
	// Issuer is the exact "iss" value (RFC 9068 §4), an https URL.
	Issuer string `yaml:"issuer" json:"issuer"`
	// JWKSURI is where the issuer publishes its keys; empty: its metadata's jwks_uri (RFC 8414,
	// OpenID Connect Discovery), fetched when first needed and followed as the issuer rotates.
	JWKSURI string `yaml:"jwks_uri" json:"jwks_uri,omitempty"`
	// Introspection, when set, sends tokens that are not JWTs (opaque ones) to the issuer's
	// RFC 7662 endpoint.
	Introspection *Introspection `yaml:"introspection" json:"introspection,omitempty"`
	// CA is a PEM file of the CA certificates that issued the issuer's TLS certificate; empty:
	// the system roots. Absolute once loaded.
	CA string `yaml:"ca" json:"ca,omitempty"`
}

// Introspection is how the gateway asks an issuer about opaque tokens (RFC 7662 §2.1): as a
// client of that issuer, with client_secret_basic.
type Introspection struct {
	// Endpoint is the introspection URL; empty: the issuer's metadata's introspection_endpoint.
	Endpoint     string       `yaml:"endpoint" json:"endpoint,omitempty"`
	ClientID     string       `yaml:"client_id" json:"client_id"`
	ClientSecret tiaki.Secret `yaml:"client_secret" json:"client_secret"`
}

// Discover reports whether an endpoint is left to the issuer's metadata.
func (t TrustedIssuer) Discover() bool {
	return t.JWKSURI == "" || t.Introspection != nil && t.Introspection.Endpoint == ""
}

var issuerName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// trustedIssuers checks the trusted_issuers list and every API's references to it.
func (v *checker) trustedIssuers() {
	names := map[string]int{}
	idents := map[string]int{}
	for i, t := range v.c.TrustedIssuers {
		key := indexKey("trusted_issuers", i)
		switch {
		case t.Name == "":
			v.errorf(key+".name", "is required")
		case t.Name == SelfIssuer:
			v.errorf(key+".name", "%q names Tiaki's own authorization server; choose another name", SelfIssuer)
		case len(t.Name) > 63 || !issuerName.MatchString(t.Name):
			v.errorf(key+".name", "%s must be lowercase letters, digits and '-', at most 63 long", quoteShort(t.Name))
		default:
			if j, dup := names[t.Name]; dup {
				v.errorf(key+".name", "%s is already used by trusted_issuers[%d]", quoteShort(t.Name), j)
			} else {
				names[t.Name] = i
			}
		}
		switch {
		case t.Issuer == "":
			v.errorf(key+".issuer", "is required: the exact iss value of the issuer's tokens")
		case !httpsURL(t.Issuer, false):
			v.errorf(key+".issuer", "%s must be an https URL without query or fragment (RFC 8414 §2)", quoteShort(t.Issuer))
		case t.Issuer == v.c.Issuer:
			v.errorf(key+".issuer", "is this Tiaki's own issuer; list %q in auth.oauth2.issuers instead", SelfIssuer)
		default:
			if j, dup := idents[t.Issuer]; dup {
				v.errorf(key+".issuer", "is already trusted as trusted_issuers[%d]", j)
			} else {
				idents[t.Issuer] = i
			}
		}
		if t.JWKSURI != "" && !httpsURL(t.JWKSURI, true) {
			v.errorf(key+".jwks_uri", "%s must be an https URL without credentials", quoteShort(t.JWKSURI))
		}
		if in := t.Introspection; in != nil {
			ik := key + ".introspection"
			if in.Endpoint != "" && !httpsURL(in.Endpoint, true) {
				v.errorf(ik+".endpoint", "%s must be an https URL without credentials", quoteShort(in.Endpoint))
			}
			// RFC 7662 §2.1: the endpoint requires some client authentication.
			if in.ClientID == "" {
				v.errorf(ik+".client_id", "is required: the gateway authenticates to the introspection endpoint (RFC 7662 §2.1)")
			}
			if in.ClientSecret.IsZero() {
				v.errorf(ik+".client_secret", "is required (RFC 7662 §2.1)")
			}
		}
	}
	for i, a := range v.c.APIs {
		o := a.Auth.OAuth2
		if o == nil {
			continue
		}
		key := indexKey("apis", i) + ".auth.oauth2.issuers"
		seen := map[string]bool{}
		introspecting := ""
		for j, n := range o.Issuers {
			jk := indexKey(key, j)
			if seen[n] {
				v.errorf(jk, "%s is listed twice", quoteShort(n))
				continue
			}
			seen[n] = true
			if n == SelfIssuer {
				continue
			}
			ti, ok := names[n]
			if !ok {
				v.errorf(jk, "%s is not in trusted_issuers (or %q for this Tiaki)", quoteShort(n), SelfIssuer)
				continue
			}
			// An opaque token names no issuer, so a route can send it to one issuer only;
			// sending it to two would hand one issuer's tokens to the other.
			if v.c.TrustedIssuers[ti].Introspection != nil {
				if introspecting != "" {
					v.errorf(jk, "%s and %s both introspect opaque tokens; an API may trust one of them", quoteShort(introspecting), quoteShort(n))
				}
				introspecting = n
			}
		}
	}
}

// httpsURL reports whether s is an absolute https URL with a host, no credentials and no
// fragment; with query false, no query either.
func httpsURL(s string, query bool) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil && u.Fragment == "" &&
		!strings.Contains(s, "#") && (query || u.RawQuery == "" && !strings.Contains(s, "?"))
}
