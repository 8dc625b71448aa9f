// Package mtls is the client-certificate policy of routes with auth.mtls (Part B MTLS-01): the
// caller proves who it is with the TLS client certificate of its connection, which names the
// consumer (subject CN, DNS SAN or URI SAN). Start with New and Verifier.Authenticate.
//
// The listener asks for client certificates in Request mode and verifies any certificate
// presented, chain and CRL, in the handshake (internal/certs ClientAuth). One listener serves
// routes that need a certificate and routes that do not, so a connection without one gets
// through the handshake, and this policy refuses it with a 401 on the routes that require one.
// It also verifies the chain again, with the current CA bundle and CRLs, at most every
// RecheckInterval: a CRL published after the handshake applies to connections that were open
// before it, which HTTP/2 and keep-alive hold for hours.
package mtls

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
)

// ConsumerFrom names the part of the client certificate that identifies the consumer.
type ConsumerFrom string

// Where the consumer's name is read from (config auth.mtls_consumer).
const (
	// SubjectCN is the subject's common name, the default.
	SubjectCN ConsumerFrom = "subject_cn"
	// SANDNS is the first DNS name of the subject alternative names (RFC 5280 §4.2.1.6).
	SANDNS ConsumerFrom = "san_dns"
	// SANURI is the first URI of the subject alternative names, such as a SPIFFE ID.
	SANURI ConsumerFrom = "san_uri"
)

// RecheckInterval bounds how long a verified certificate chain is trusted before it is
// verified again against the current CRLs: a certificate revoked mid-connection stops working
// within it (the catalogue's revocation bound is 5 s). Verifying on every request would cost
// an ECDSA or RSA signature check per request; this costs one per chain every 5 s.
const RecheckInterval = 5 * time.Second

const (
	cacheSize      = 10000
	maxConsumerLen = 255
	// challenge answers a request without a certificate. RFC 9110 §15.5.2 requires a challenge
	// on every 401 and no scheme is registered for TLS client certificates; clients ignore a
	// scheme they do not know, and a person reading the header learns what is wanted.
	challenge = `MutualTLS realm="tiaki"`
)

// Config is one route's client-certificate policy.
type Config struct {
	// Required refuses requests whose connection presented no certificate (auth.mtls:
	// required); otherwise they pass without a principal (optional).
	Required bool
	// Consumer says which certificate field names the consumer; SubjectCN if empty.
	Consumer ConsumerFrom
}

// PeerVerifier verifies a presented chain (leaf first) against the current CA bundle and CRLs.
// certs.ClientAuth implements it.
type PeerVerifier interface {
	VerifyPeer(certs []*x509.Certificate) error
}

// Deps are what the policy needs from the rest of Tiaki.
type Deps struct {
	// Peers verifies chains again after the handshake; required.
	Peers PeerVerifier
	// Now is the clock for the recheck interval; time.Now if nil.
	Now func() time.Time
}

// Verifier is the client-certificate policy for one route. It implements policy.Checker and
// policy.Authenticator.
type Verifier struct {
	required bool
	consumer ConsumerFrom
	peers    PeerVerifier
	now      func() time.Time
	cache    *policy.Cache[certInfo]

	missing, refused, unnamed *policy.Denial
}

// certInfo is what the cache keeps of a verified chain.
type certInfo struct {
	consumer, thumbprint string
	notAfter             time.Time
}

// New validates cfg and builds the policy.
func New(cfg Config, deps Deps) (*Verifier, error) {
	if deps.Peers == nil {
		return nil, errors.New("mtls: Deps.Peers is required: certificates are verified again after the handshake")
	}
	v := &Verifier{required: cfg.Required, consumer: cfg.Consumer, peers: deps.Peers, now: deps.Now,
		cache: policy.NewCache[certInfo](cacheSize)}
	switch v.consumer {
	case "":
		v.consumer = SubjectCN
	case SubjectCN, SANDNS, SANURI:
	default:
		return nil, fmt.Errorf("mtls: consumer %q: want %s, %s or %s: %w", cfg.Consumer, SubjectCN, SANDNS, SANURI, tiaki.ErrInvalid)
	}
	if v.now == nil {
		v.now = time.Now
	}
	v.missing = &policy.Denial{Status: http.StatusUnauthorized, Type: "client-certificate-required",
		Title: "Client certificate required", Detail: "Connect with a client certificate issued for this API.",
		Challenge: challenge, Reason: "no client certificate"}
	v.refused = &policy.Denial{Status: http.StatusUnauthorized, Type: "invalid-client-certificate",
		Title: "Invalid client certificate", Detail: "The client certificate is not valid for this API.",
		Challenge: challenge, Reason: "client certificate refused"}
	v.unnamed = &policy.Denial{Status: http.StatusUnauthorized, Type: "invalid-client-certificate",
		Title:     "Invalid client certificate",
		Detail:    "The client certificate does not name a consumer in its " + string(v.consumer) + ".",
		Challenge: challenge, Reason: "client certificate names no consumer in " + string(v.consumer)}
	return v, nil
}

// Authenticate implements policy.Authenticator.
func (v *Verifier) Authenticate(r *http.Request, p *tiaki.Principal) (found bool, d *policy.Denial) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return false, nil
	}
	chain := r.TLS.PeerCertificates
	now := v.now()
	key := chainKey(chain)
	info, ok := v.cache.Get(key, now)
	if !ok {
		if err := v.peers.VerifyPeer(chain); err != nil {
			return true, v.refusal(err)
		}
		leaf := chain[0]
		name := v.name(leaf)
		if name == "" {
			return true, v.unnamed
		}
		sum := sha256.Sum256(leaf.Raw)
		info = certInfo{consumer: name, thumbprint: base64.RawURLEncoding.EncodeToString(sum[:]), notAfter: leaf.NotAfter}
		until := now.Add(RecheckInterval)
		for _, c := range chain {
			if c.NotAfter.Before(until) {
				until = c.NotAfter
			}
		}
		v.cache.Put(key, info, until, now)
	}
	// The credential ID is the certificate's RFC 8705 thumbprint: public, and the same value
	// a certificate-bound token carries in cnf.
	policy.Admit(p, tiaki.CredentialMTLS, info.consumer, info.thumbprint, info.notAfter)
	return true, nil
}

// refusal records why a chain failed; the reason names the certificate's subject, which is
// public, and never anything secret.
func (v *Verifier) refusal(err error) *policy.Denial {
	d := *v.refused
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	d.Reason = "client certificate refused: " + msg
	return &d
}

// name returns the consumer the certificate names, or "" when the configured field is absent
// or holds something unfit for logs and headers.
func (v *Verifier) name(leaf *x509.Certificate) string {
	var s string
	switch v.consumer {
	case SubjectCN:
		s = leaf.Subject.CommonName
	case SANDNS:
		if len(leaf.DNSNames) > 0 {
			s = leaf.DNSNames[0]
		}
	case SANURI:
		if len(leaf.URIs) > 0 {
			s = leaf.URIs[0].String()
		}
	}
	if len(s) > maxConsumerLen || !utf8.ValidString(s) {
		return ""
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return ""
		}
	}
	return s
}

// chainKey identifies a presented chain: every certificate counts, since the intermediates
// decide which paths (and so which CRLs) verification takes.
func chainKey(chain []*x509.Certificate) [sha256.Size]byte {
	if len(chain) == 1 {
		return sha256.Sum256(chain[0].Raw)
	}
	h := sha256.New()
	for _, c := range chain {
		h.Write(c.Raw)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// Missing implements policy.Authenticator.
func (v *Verifier) Missing() *policy.Denial { return v.missing }

// Check implements policy.Checker.
func (v *Verifier) Check(r *http.Request, p *tiaki.Principal) *policy.Denial {
	found, d := v.Authenticate(r, p)
	if d != nil {
		return d
	}
	if !found && v.required {
		return v.missing
	}
	return nil
}

// Enforce implements policy.Policy.
func (v *Verifier) Enforce(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	return policy.Apply(v, w, r, next)
}
