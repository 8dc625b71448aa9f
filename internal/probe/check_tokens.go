package probe

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/tiaki-nz/tiaki/internal/oauth"
)

// OAUTH-19 and RFC 6749 §5.1: a token response carries Cache-Control: no-store (HTTP-13:
// nothing sensitive in shared caches).
func checkTokenResponse(ctx context.Context, s *session) []result {
	if _, r, ok := s.needIssuer(ctx); !ok {
		return []result{r}
	}
	subject := s.issuer.String()
	if s.opts.ClientID == "" {
		return []result{skip(subject, "needs --client-id and --client-secret")}
	}
	cc := s.clientCredentials(ctx)
	if cc.token == nil {
		return []result{errResult(subject, cc.err)}
	}
	var problems []string
	if !hasDirective(cc.resp.Header, "no-store") {
		problems = append(problems, fmt.Sprintf("Cache-Control is %q, not no-store (RFC 6749 §5.1)", cc.resp.Header.Get("Cache-Control")))
	}
	if !strings.EqualFold(cc.token.TokenType, oauth.TokenTypeBearer) && !strings.EqualFold(cc.token.TokenType, oauth.TokenTypeDPoP) {
		problems = append(problems, fmt.Sprintf("token_type %q", cc.token.TokenType))
	}
	if len(problems) > 0 {
		return []result{fail(subject, "%s", strings.Join(problems, "; "))}
	}
	return []result{pass(subject, "client credentials token response has Cache-Control: no-store")}
}

func hasDirective(h http.Header, directive string) bool {
	for _, v := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(d), directive) {
				return true
			}
		}
	}
	return false
}

// maxAccessTokenLife is TOKEN-07's 60 minutes, in seconds.
const maxAccessTokenLife = 3600

// TOKEN-07: access tokens live 60 minutes; TOKEN-01: as short as practical; TTM-05: limited
// lifetime against replay.
func checkTokenLifetime(ctx context.Context, s *session) []result {
	var found []string
	var problems []string
	judge := func(source string, seconds int64) {
		found = append(found, fmt.Sprintf("%s %ds", source, seconds))
		if seconds > maxAccessTokenLife {
			problems = append(problems, fmt.Sprintf("%s is %d s, over %d", source, seconds, maxAccessTokenLife))
		}
	}
	subject := s.target.String()
	if s.issuer != nil {
		subject = s.issuer.String()
	}
	if s.opts.ClientID != "" {
		cc := s.clientCredentials(ctx)
		if cc.token == nil {
			return []result{errResult(subject, cc.err)}
		}
		if cc.token.ExpiresIn > 0 {
			judge("expires_in", cc.token.ExpiresIn)
		} else {
			problems = append(problems, "the token response has no expires_in (RFC 6749 §5.1 recommends it)")
		}
		if life, ok := jwtLifetime(cc.token.AccessToken); ok {
			judge("the access token's exp − iat", life)
		}
	}
	if !s.opts.Token.IsZero() {
		if life, ok := jwtLifetime(s.opts.Token.Reveal()); ok {
			judge("the given token's exp − iat", life)
		}
	}
	switch {
	case len(problems) > 0:
		return []result{fail(subject, "%s", strings.Join(problems, "; "))}
	case len(found) == 0:
		return []result{skip(subject, "no token to judge: give --client-id and --client-secret, or a JWT --token")}
	}
	return []result{pass(subject, "%s", strings.Join(found, "; "))}
}

// jwtLifetime reads exp − iat from a JWT's payload, without verifying it: the probe judges
// the lifetime the server chose, not the token's validity.
func jwtLifetime(token string) (int64, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || len(parts[1]) > 16<<10 {
		return 0, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return 0, false
	}
	var c struct {
		Exp, Iat int64
	}
	if json.Unmarshal(b, &c) != nil || c.Exp == 0 || c.Iat == 0 {
		return 0, false
	}
	return c.Exp - c.Iat, true
}

// apiToken is a bearer token the API accepted, with where it came from.
func (s *session) apiToken(ctx context.Context) (token, source string, err error) {
	switch {
	case !s.opts.Token.IsZero():
		return s.opts.Token.Reveal(), "--token", nil
	case s.opts.ClientID != "":
		cc := s.clientCredentials(ctx)
		if cc.token == nil {
			return "", "", cc.err
		}
		return cc.token.AccessToken, "client credentials", nil
	}
	return "", "", errors.New("needs --token, or --client-id and --client-secret")
}

// TOKEN-05 / TOKEN-06: tokens travel in the Authorization header only (RFC 6750 §2.1; OAuth 2.1
// drops the query form). As with API keys, the probe never puts a real token in a URL: it sends
// the token in its header and a made-up one in ?access_token=. RFC 6750 §2 then expects
// invalid_request, since a client must not use more than one method.
func checkTokenInQuery(ctx context.Context, s *session) []result {
	if r, ok := s.needAPI(); !ok {
		return []result{r}
	}
	subject := s.api.String()
	tok, source, err := s.apiToken(ctx)
	if err != nil {
		return []result{skip(subject, "%v", err)}
	}
	h := http.Header{"Authorization": {"Bearer " + tok}}
	good, err := s.send(ctx, request{method: http.MethodGet, url: s.api.String(), header: h, secret: true, cache: "bearer"})
	if err != nil {
		return []result{errResult(subject, err)}
	}
	if good.Status >= 300 {
		return []result{skip(subject, "the API answered %d to the token from %s; cannot judge", good.Status, source)}
	}
	resp, err := s.send(ctx, request{method: http.MethodGet, url: withQuery(s.api, "access_token", s.canaryToken), header: h, secret: true})
	if err != nil {
		return []result{errResult(subject, err)}
	}
	if resp.Status >= 400 && resp.Status < 500 {
		return []result{pass(subject, "a token in ?access_token= is refused (%d) even with a valid token in the header", resp.Status)}
	}
	return []result{warn(subject, "%d: a token in ?access_token= was ignored rather than refused; the probe does not send a real token in a URL, so it cannot tell whether one would be accepted", resp.Status)}
}

// TTM-05 / TOKEN-09 (and RFC 9700 §4.14.2): a refresh token is single-use; reuse fails with
// invalid_grant. Only when a token response carried a refresh token.
func checkRefreshRotation(ctx context.Context, s *session) []result {
	m, r, ok := s.needIssuer(ctx)
	if !ok {
		return []result{r}
	}
	subject := s.issuer.String()
	if s.opts.ClientID == "" {
		return []result{skip(subject, "needs --client-id and --client-secret")}
	}
	cc := s.clientCredentials(ctx)
	if cc.token == nil {
		return []result{errResult(subject, cc.err)}
	}
	old := cc.token.RefreshToken
	if old == "" {
		return []result{skip(subject, "no refresh token was issued (client credentials issues none, RFC 6749 §4.4.3): rotation cannot be seen from outside")}
	}
	refresh := func() (*response, *oauth.TokenResponse, error) {
		resp, err := s.tokenRequest(ctx, m, url.Values{"grant_type": {string(oauth.GrantRefreshToken)}, "refresh_token": {old}})
		if err != nil {
			return nil, nil, err
		}
		var t oauth.TokenResponse
		if resp.Status == http.StatusOK && json.Unmarshal(resp.Body, &t) == nil {
			s.addSecret(t.AccessToken)
			s.addSecret(t.RefreshToken)
			return resp, &t, nil
		}
		return resp, nil, nil
	}
	resp, first, err := refresh()
	if err != nil {
		return []result{errResult(subject, err)}
	}
	if first == nil {
		return []result{warn(subject, "refreshing the issued refresh token got %d", resp.Status)}
	}
	if first.RefreshToken == "" || first.RefreshToken == old {
		return []result{fail(subject, "refreshing did not rotate the refresh token")}
	}
	resp, again, err := refresh()
	if err != nil {
		return []result{errResult(subject, err)}
	}
	if again != nil {
		return []result{fail(subject, "a spent refresh token was accepted a second time")}
	}
	if e, ok := oauth.ParseError(resp.Body); !ok || e.Code != oauth.ErrInvalidGrant {
		return []result{warn(subject, "reusing a spent refresh token got %d, not invalid_grant", resp.Status)}
	}
	return []result{pass(subject, "refresh tokens rotate; a spent one gets invalid_grant")}
}
