package bearer

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
)

// DPoP defaults and bounds.
const (
	// DefaultDPoPWindow is how far a proof's iat may be from the gateway's clock (RFC 9449
	// §11.1 leaves the window to the server; a minute absorbs ordinary clock drift).
	DefaultDPoPWindow = 60 * time.Second

	maxDPoPWindow = 5 * time.Minute
	// maxProofLen bounds the DPoP header: a proof carries a public key (an RSA-4096 JWK is
	// about 750 bytes) and a few short claims.
	maxProofLen = 8 << 10
	// maxJTILen bounds what one proof may store in the replay cache.
	maxJTILen     = 256
	replayTimeout = 2 * time.Second
)

// DefaultDPoPAlgorithms are the proof algorithms accepted when Config.DPoPAlgorithms is empty.
var DefaultDPoPAlgorithms = []string{"ES256", "PS256", "EdDSA"}

// proofChecker verifies DPoP proofs (RFC 9449 §4.3) for one route.
type proofChecker struct {
	algs   []jose.SignatureAlgorithm
	window time.Duration
	replay tiaki.ReplayCache
	// realm is the bare DPoP challenge, naming the accepted algorithms (RFC 9449 §7.1).
	realm string

	missing, several, malformed, typ, key, signature, claims     *policy.Denial
	method, target, stale, ath, wrongKey, replayed, unboundToken *policy.Denial
	unavailable                                                  *policy.Denial
}

func newProofChecker(cfg Config, replay tiaki.ReplayCache) (*proofChecker, error) {
	algs, err := algorithms(cfg.DPoPAlgorithms, DefaultDPoPAlgorithms)
	if err != nil {
		return nil, fmt.Errorf("%w (DPoP)", err)
	}
	c := &proofChecker{algs: algs, window: cfg.DPoPWindow, replay: replay}
	switch {
	case c.window == 0:
		c.window = DefaultDPoPWindow
	case c.window < 0 || c.window > maxDPoPWindow:
		return nil, fmt.Errorf("bearer: DPoP window %v: between 0 and %v: %w", c.window, maxDPoPWindow, tiaki.ErrInvalid)
	}
	names := make([]string, len(algs))
	for i, a := range algs {
		names[i] = string(a)
	}
	c.realm = `DPoP realm="tiaki", algs="` + strings.Join(names, " ") + `"`

	invalid := func(description, reason string) *policy.Denial {
		return &policy.Denial{Status: http.StatusUnauthorized, Type: "invalid-dpop-proof",
			Title:     "Invalid DPoP proof",
			Detail:    "The DPoP proof was refused: " + description + ".",
			Challenge: c.realm + `, error="invalid_dpop_proof", error_description="` + description + `"`,
			Reason:    reason}
	}
	c.missing = invalid("send a DPoP proof in the DPoP header", "no DPoP proof")
	c.several = invalid("send one DPoP header", "several DPoP headers")
	c.malformed = invalid("the proof is not a signed JWT with an accepted algorithm", "proof malformed or refused alg")
	c.typ = invalid("the proof typ must be dpop+jwt", "proof typ is not dpop+jwt")
	c.key = invalid("the proof must carry a public key in its jwk header", "proof jwk missing, private or not for alg")
	c.signature = invalid("the proof signature does not verify with its jwk", "proof signature does not verify")
	c.claims = invalid("the proof lacks jti, htm, htu or iat", "proof claims missing")
	c.method = invalid("the proof htm does not match the request method", "htm mismatch")
	c.target = invalid("the proof htu does not match the request URL", "htu mismatch")
	c.stale = invalid("the proof iat is too far from the current time", "proof iat outside the window")
	c.ath = invalid("the proof ath does not match the access token", "ath mismatch")
	c.wrongKey = invalid("the proof key is not the key the access token is bound to", "proof key is not cnf.jkt")
	c.replayed = invalid("the proof has been used before", "proof jti replayed")
	c.unboundToken = &policy.Denial{Status: http.StatusUnauthorized, Type: "invalid-token",
		Title:     "Invalid access token",
		Detail:    "The access token was refused: the access token is not DPoP-bound; send it with the Bearer scheme.",
		Challenge: c.realm + `, error="invalid_token", error_description="the access token is not DPoP-bound"`,
		Reason:    "DPoP scheme with an unbound token"}
	c.unavailable = &policy.Denial{Status: http.StatusServiceUnavailable, Type: "unavailable",
		Title: "Service unavailable", Detail: "The DPoP proof could not be checked; try again shortly.",
		Reason: "replay cache unavailable", RetryAfter: time.Second}
	return c, nil
}

// proofClaims are the DPoP-specific claims of a proof (RFC 9449 §4.2).
type proofClaims struct {
	Method string `json:"htm"`
	Target string `json:"htu"`
	ATH    string `json:"ath"`
}

// check verifies the request's DPoP proof for token, which is bound to the key with thumbprint
// jkt, following RFC 9449 §4.3 and §7.1 step by step. A proof is an ECDSA (or RSA, EdDSA)
// signature verification: that is the cost of this path, and each proof is new, so nothing of
// it can be cached.
func (c *proofChecker) check(r *http.Request, token, jkt string, now time.Time) *policy.Denial {
	// §4.3 (1): exactly one DPoP header.
	vals := r.Header["Dpop"]
	switch {
	case len(vals) == 0:
		return c.missing
	case len(vals) > 1:
		return c.several
	case len(vals[0]) > maxProofLen:
		return c.malformed
	}
	// §4.3 (2), (5): a well-formed JWS with an asymmetric algorithm from the allow-list; none
	// and HS* never parse.
	tok, err := jwt.ParseSigned(vals[0], c.algs)
	if err != nil || len(tok.Headers) != 1 {
		return c.malformed
	}
	h := tok.Headers[0]
	// §4.3 (4): typ dpop+jwt, so no other JWT made with the same key passes as a proof.
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "dpop+jwt") {
		return c.typ
	}
	// §4.3 (6), (7): the key is in the jwk header, public, and (if it says) for this alg.
	jwk := h.JSONWebKey
	if jwk == nil || !jwk.Valid() || !jwk.IsPublic() || jwk.Algorithm != "" && jwk.Algorithm != h.Algorithm {
		return c.key
	}
	var std jwt.Claims
	var pc proofClaims
	if tok.Claims(jwk.Key, &std, &pc) != nil {
		return c.signature
	}
	// §4.3 (3): the required claims.
	if std.ID == "" || len(std.ID) > maxJTILen || pc.Method == "" || pc.Target == "" || std.IssuedAt == nil {
		return c.claims
	}
	// §4.3 (8): htm is the request method, compared exactly (methods are case-sensitive).
	if pc.Method != r.Method {
		return c.method
	}
	// §4.3 (9): htu is the request URL without query and fragment.
	if !targetMatches(pc.Target, r) {
		return c.target
	}
	// §4.3 (11): iat within the window either way (§11.1).
	if iat := std.IssuedAt.Time(); now.Sub(iat) > c.window || iat.Sub(now) > c.window {
		return c.stale
	}
	// §4.3 (10), §7.1: ath is the hash of this very access token, so a proof captured with
	// another token cannot be paired with this one.
	sum := sha256.Sum256([]byte(token))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(pc.ATH), []byte(want)) != 1 {
		return c.ath
	}
	// §7.1: the proof's key is the key the token is bound to (RFC 7638 thumbprint).
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return c.key
	}
	thumb := base64.RawURLEncoding.EncodeToString(tp)
	if subtle.ConstantTimeCompare([]byte(thumb), []byte(jkt)) != 1 {
		return c.wrongKey
	}
	// §4.3 (12), §11.1: each proof once. Last, so only proofs that passed everything else
	// take space in the cache; keyed by the key's thumbprint so one client's jti values never
	// collide with another's. A proof stays acceptable while iat is within the window, so it
	// is remembered for twice the window.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), replayTimeout)
	defer cancel()
	fresh, err := c.replay.Consume(ctx, "dpop:"+thumb+":"+std.ID, 2*c.window)
	switch {
	case err != nil:
		return c.unavailable // fail closed: an unchecked proof might be a replay
	case !fresh:
		return c.replayed
	}
	return nil
}

// targetMatches compares htu with the URL the client addressed: https, the Host header, the
// path. Behind Tiaki the client always spoke TLS, so the scheme is https whatever the listener
// saw. Scheme and host compare case-insensitively with the default port dropped, and paths
// compare decoded (RFC 3986 §6.2.2 and §6.2.3 normalisation, as RFC 9449 §4.3 asks).
func targetMatches(htu string, r *http.Request) bool {
	u, err := url.Parse(htu)
	if err != nil || !strings.EqualFold(u.Scheme, "https") || u.Opaque != "" || u.User != nil || r.Host == "" {
		return false
	}
	if normalHost(u.Host) != normalHost(r.Host) {
		return false
	}
	return orRoot(u.Path) == orRoot(r.URL.Path)
}

func normalHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(h), ":443")
}

func orRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}
