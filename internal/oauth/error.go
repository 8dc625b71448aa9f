package oauth

import (
	"encoding/json"
	"fmt"
)

// Error codes of RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1, RFC 8628 §3.5,
// RFC 8707 §2 and OpenID Connect Core §3.1.2.6.
const (
	ErrInvalidRequest          = "invalid_request"
	ErrInvalidClient           = "invalid_client"
	ErrInvalidGrant            = "invalid_grant"
	ErrUnauthorizedClient      = "unauthorized_client"
	ErrUnsupportedGrantType    = "unsupported_grant_type"
	ErrUnsupportedResponseType = "unsupported_response_type"
	ErrInvalidScope            = "invalid_scope"
	ErrAccessDenied            = "access_denied"
	ErrServerError             = "server_error"
	ErrTemporarilyUnavailable  = "temporarily_unavailable"
	ErrUnsupportedTokenType    = "unsupported_token_type"
	ErrInvalidToken            = "invalid_token"
	ErrInsufficientScope       = "insufficient_scope"
	ErrInvalidTarget           = "invalid_target"
	ErrAuthorizationPending    = "authorization_pending"
	ErrSlowDown                = "slow_down"
	ErrExpiredToken            = "expired_token"
	ErrLoginRequired           = "login_required"
	ErrConsentRequired         = "consent_required"
)

// Error is an OAuth error response body (RFC 6749 §5.2): a code from the list above, an
// optional human-readable description and an optional link to more. It carries no cause and no
// status: callers keep those apart, so nothing internal reaches a client through this type.
type Error struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	URI         string `json:"error_uri,omitempty"`
}

// Error implements error with the code and, when present, the description.
func (e *Error) Error() string {
	if e.Description == "" {
		return "oauth: " + e.Code
	}
	return fmt.Sprintf("oauth: %s: %s", e.Code, e.Description)
}

// Is makes errors.Is match two Errors by code alone, so callers can test
// errors.Is(err, &oauth.Error{Code: oauth.ErrInvalidGrant}).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// ParseError decodes an error response body. It reports false when the body is not a JSON
// object with a non-empty "error" member, which is how a client tells an OAuth error from
// anything else a server or proxy might send with a 4xx status.
func ParseError(body []byte) (*Error, bool) {
	var e Error
	if err := json.Unmarshal(body, &e); err != nil || e.Code == "" {
		return nil, false
	}
	return &e, true
}
