package authserver

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/luikyv/go-oidc/pkg/goidc"
)

const (
	// maxFormBytes bounds the body of token, introspection and revocation requests. The largest
	// legitimate one carries a client assertion and a DPoP-bound token: a few KiB.
	maxFormBytes = 64 << 10
	// maxAuthorizationLen bounds the Authorization header of those requests.
	maxAuthorizationLen = 4096
)

// multiValued names the parameters that may repeat: resource (RFC 8707 §2) and audience
// (RFC 8693 §2.1). RFC 6749 §3.2 forbids repeating any other.
var multiValued = map[string]bool{"resource": true, "audience": true}

// readForm reads and checks the form of a back-channel request before the engine sees it, and
// leaves HTTP Basic credentials in the form the engine can compare (see decodeBasic).
func readForm(w http.ResponseWriter, r *http.Request) *oauthError {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return refuse(http.StatusRequestEntityTooLarge, codeInvalidRequest, "the request body is too large")
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The listener bounds the time to send a body (issue 11 item 5): a client that
			// stalls gets 408 (RFC 9110 §15.5.9) and the connection is closed, since the rest
			// of its body may still arrive.
			w.Header().Set("Connection", "close")
			return refuse(http.StatusRequestTimeout, codeInvalidRequest, "the request body did not arrive in time")
		}
		return refuse(http.StatusBadRequest, codeInvalidRequest, "the request body is not a valid form")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 && !multiValued[k] {
			return refuse(http.StatusBadRequest, codeInvalidRequest, "request parameters must not be repeated (RFC 6749 §3.2)")
		}
	}
	// RFC 6749 §2.3.1: client credentials never belong in the request URI.
	if q := r.URL.Query(); q.Has("client_secret") || q.Has("client_assertion") {
		return refuse(http.StatusBadRequest, codeInvalidRequest, "client credentials must not be sent in the URL")
	}
	return decodeBasic(r)
}

// decodeBasic closes engine gap 1. RFC 6749 §2.3.1 has the client form-URL-encode its ID and
// secret before HTTP Basic encodes them, so "demo-client" may arrive as "demo%2Dclient"; the
// engine compares the raw values and would refuse. This decodes them and puts them back
// unencoded. A request using Basic must not also send a secret in the body (RFC 6749 §2.3:
// one authentication method per request).
func decodeBasic(r *http.Request) *oauthError {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return nil
	}
	if len(values) > 1 {
		return refuse(http.StatusBadRequest, codeInvalidRequest, "more than one Authorization header")
	}
	scheme, _, _ := strings.Cut(values[0], " ")
	if !strings.EqualFold(scheme, "Basic") {
		return nil
	}
	if len(values[0]) > maxAuthorizationLen {
		return refuse(http.StatusUnauthorized, codeInvalidClient, "malformed HTTP Basic credentials")
	}
	id, secret, err := parseBasic(r)
	if err != nil {
		return refuse(http.StatusUnauthorized, codeInvalidClient, "malformed HTTP Basic credentials")
	}
	if r.PostForm.Has("client_secret") || r.PostForm.Has("client_assertion") {
		return refuse(http.StatusBadRequest, codeInvalidRequest, "use one client authentication method per request (RFC 6749 §2.3)")
	}
	r.SetBasicAuth(id, secret)
	return nil
}

var errBadBasic = errors.New("malformed HTTP Basic credentials")

// secretMismatch is the cause logged for a secret that does not match, with a hint when the
// secret as received shows the likely reason: a space is what a '+' sent without form-encoding
// becomes. RFC 6749 §2.3.1 has clients form-encode the ID and secret before HTTP Basic
// encodes them (curl -u does not), and a client_secret_post body is a form; a base64 secret
// with '+' then fails. The hint never quotes the secret.
func secretMismatch(presented string) error {
	if strings.ContainsRune(presented, ' ') {
		return fmt.Errorf("%w; hint: the secret received holds a space, which is what a '+' sent without form-encoding becomes "+
			"(RFC 6749 §2.3.1: HTTP Basic credentials are form-encoded first, '+' as %%2B and '%%' as %%25); "+
			"encode it, or use URL-safe secrets (openssl rand -hex 32)", errSecretMismatch)
	}
	return errSecretMismatch
}

// parseBasic returns the form-URL-decoded client ID and secret of r's Basic credentials. An ID
// holding a colon cannot be passed on (Basic splits at the first colon) and is refused.
func parseBasic(r *http.Request) (id, secret string, err error) {
	rawID, rawSecret, ok := r.BasicAuth()
	if !ok {
		return "", "", errBadBasic
	}
	if id, err = url.QueryUnescape(rawID); err != nil {
		return "", "", errBadBasic
	}
	if secret, err = url.QueryUnescape(rawSecret); err != nil {
		return "", "", errBadBasic
	}
	if id == "" || strings.ContainsRune(id, ':') {
		return "", "", errBadBasic
	}
	return id, secret, nil
}

// clientID returns the client ID a back-channel request names, from Basic credentials
// (already decoded by readForm) or the form.
func clientID(r *http.Request) string {
	if id, _, ok := r.BasicAuth(); ok {
		return id
	}
	return r.PostForm.Get("client_id")
}

// attestationHeader carries an OAuth client attestation; the engine reads a client ID from it.
const attestationHeader = "OAuth-Client-Attestation"

// secretClient authenticates a back-channel request made with client_secret_basic or
// client_secret_post, by the engine's rules (client.Authenticated: every client ID the request
// names must agree, the client's registered method decides, the secret is checked by
// verifySecret), for the fast paths. It reports false whenever the engine could answer
// otherwise (another method, a client assertion, conflicting IDs, a wrong secret, a failed
// lookup), and the caller then hands the request to the engine, which gives the refusal its
// usual shape.
func (s *Server) secretClient(r *http.Request) (*registered, bool) {
	if r.PostForm.Has("client_assertion") || len(r.Header.Values(attestationHeader)) > 0 {
		return nil, false
	}
	postID := r.PostForm.Get("client_id")
	basicID, basicSecret, hasBasic := r.BasicAuth()
	id := postID
	switch {
	case basicID == "":
	case id == "":
		id = basicID
	case basicID != id:
		return nil, false
	}
	reg, err := s.clients.lookup(r.Context(), id)
	if err != nil {
		return nil, false
	}
	c := &reg.engine
	var presented string
	switch c.TokenAuthnMethod {
	case goidc.AuthnMethodSecretBasic:
		if !hasBasic || basicID != c.ID {
			return nil, false
		}
		presented = basicSecret
	case goidc.AuthnMethodSecretPost:
		if postID != c.ID {
			return nil, false
		}
		presented = r.PostForm.Get("client_secret")
	default:
		return nil, false
	}
	if presented == "" && c.TokenAuthnMethod == goidc.AuthnMethodSecretPost ||
		s.verifySecret(r.Context(), c.Secret, presented) != nil || c.SecretExpiresAt != 0 {
		return nil, false
	}
	return reg, true
}

// formRequest reports whether r's media type is the one the engine's token, introspection and
// revocation endpoints accept: a form, or none given.
func formRequest(r *http.Request) bool {
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	ct = strings.ToLower(strings.TrimSpace(ct))
	return ct == "" || ct == "application/x-www-form-urlencoded"
}
