package bearer

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/tiaki-nz/tiaki/internal/policy"
)

// confirmation is the cnf claim (RFC 7800 §3.1) of a sender-constrained token, in a JWT or an
// introspection response (RFC 7662 §2.2 allows it there too).
type confirmation struct {
	// JKT is the RFC 7638 thumbprint of the DPoP key (RFC 9449 §6.1).
	JKT string
	// X5T is the SHA-256 thumbprint of the client certificate (RFC 8705 §3.1).
	X5T string
}

// UnmarshalJSON reads the members Tiaki understands; other confirmation methods leave both
// empty, and the token is refused rather than accepted as an unbound one.
func (c *confirmation) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for name, dst := range map[string]*string{"jkt": &c.JKT, "x5t#S256": &c.X5T} {
		if raw, ok := m[name]; ok {
			if err := json.Unmarshal(raw, dst); err != nil || *dst == "" {
				return errors.New("bearer: cnf member " + name + " is not a thumbprint")
			}
		}
	}
	return nil
}

// known reports whether the token is bound by a method Tiaki checks.
func (c *confirmation) known() bool { return c.JKT != "" || c.X5T != "" }

// bind checks that the request proves possession of whatever the token is bound to.
func (v *Verifier) bind(r *http.Request, s scheme, token string, info *tokenInfo, now time.Time) *policy.Denial {
	// RFC 8705 §3: the certificate of the TLS connection the token arrived on must be the one
	// the token was issued to; no certificate, or another one, and the token is refused.
	if info.x5t != "" && !certificateMatches(r.TLS, info.x5t) {
		return v.refuse(s, deniedCertBound)
	}
	switch {
	case s == schemeDPoP:
		if info.jkt == "" {
			// RFC 9449 §7.1: the DPoP scheme is for DPoP-bound tokens; a proof for a token
			// bound to nothing would prove nothing.
			return v.dpop.unboundToken
		}
		return v.dpop.check(r, token, info.jkt, now)
	case info.jkt != "":
		return v.boundAsBearer
	case info.x5t == "" && v.requireBinding:
		return v.unbound
	}
	return nil
}

// certificateMatches reports whether the connection's client certificate has the SHA-256
// thumbprint x5t (base64url, RFC 8705 §3.1). The certificate has proven possession of its key in
// the handshake (CertificateVerify, RFC 8446 §4.4.3); whether a CA vouches for it is the
// listener's and the mtls policy's business, not the binding's.
func certificateMatches(cs *tls.ConnectionState, x5t string) bool {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return false
	}
	sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
	var enc [43]byte // base64url of 32 bytes, unpadded
	base64.RawURLEncoding.Encode(enc[:], sum[:])
	// Both halves are public (the thumbprint travels in the token), so a plain comparison.
	return string(enc[:]) == x5t
}
