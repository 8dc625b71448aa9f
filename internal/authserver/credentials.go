package authserver

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
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
