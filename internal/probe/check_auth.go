package probe

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// AUTHN-01: a request without credentials gets 401 with a challenge (RFC 9110 §15.5.2 requires
// WWW-Authenticate on every 401; RFC 6750 §3 gives the Bearer form). AUTHN-04: anonymous access
// is not recommended, so a 2xx is a failure unless the OpenAPI document declares the operation
// public.
func checkAuthRequired(ctx context.Context, s *session) []result {
	if r, ok := s.needAPI(); !ok {
		return []result{r}
	}
	subject := s.api.String()
	resp, err := s.unauthenticated(ctx)
	if err != nil {
		return []result{errResult(subject, err)}
	}
	cs := parseChallenges(resp.Header.Values("WWW-Authenticate"))
	switch {
	case resp.Status == http.StatusUnauthorized && len(cs) == 0:
		return []result{fail(subject, "401 without a WWW-Authenticate challenge (RFC 9110 §15.5.2 requires one)")}
	case resp.Status == http.StatusUnauthorized:
		return []result{pass(subject, "401 with challenge %s", schemes(cs))}
	case resp.Status < 300:
		if s.spec != nil && s.spec.public(s.api, http.MethodGet) {
			return []result{warn(subject, "%d without credentials; the OpenAPI document declares this operation public (anonymous access is not recommended)", resp.Status)}
		}
		return []result{fail(subject, "%d without any credentials: the API is open to anyone", resp.Status)}
	case resp.Status == http.StatusNotFound:
		return []result{warn(subject, "404: point the probe at an API resource that exists")}
	default:
		return []result{warn(subject, "%d without credentials, not 401", resp.Status)}
	}
}

func schemes(cs []challenge) string {
	var names []string
	for _, c := range cs {
		names = append(names, c.Scheme)
	}
	return strings.Join(names, ", ")
}

// HTTP-06: an invalid token gets 401; OAUTH-04: the resource server checks every token.
func checkInvalidToken(ctx context.Context, s *session) []result {
	if r, ok := s.needAPI(); !ok {
		return []result{r}
	}
	subject := s.api.String()
	resp, err := s.send(ctx, request{method: http.MethodGet, url: s.api.String(),
		header: http.Header{"Authorization": {"Bearer " + s.canaryToken}}})
	if err != nil {
		return []result{errResult(subject, err)}
	}
	switch {
	case resp.Status == http.StatusUnauthorized:
		if c, ok := find(parseChallenges(resp.Header.Values("WWW-Authenticate")), "Bearer"); ok && c.Params["error"] == "invalid_token" {
			return []result{pass(subject, `401 with Bearer error="invalid_token"`)}
		}
		return []result{pass(subject, "401 (RFC 6750 §3.1 suggests a Bearer challenge with error=\"invalid_token\")")}
	case resp.Status < 300:
		return []result{fail(subject, "%d with a made-up bearer token", resp.Status)}
	default:
		return []result{warn(subject, "%d with a made-up bearer token, not 401", resp.Status)}
	}
}

// AUTHN-05 / AUTHN-13: username and password (HTTP Basic) are for development only. A route that
// accepts Basic or challenges with it is a finding.
func checkBasicRefused(ctx context.Context, s *session) []result {
	if r, ok := s.needAPI(); !ok {
		return []result{r}
	}
	subject := s.api.String()
	unauth, err := s.unauthenticated(ctx)
	if err != nil {
		return []result{errResult(subject, err)}
	}
	if _, ok := find(parseChallenges(unauth.Header.Values("WWW-Authenticate")), "Basic"); ok {
		return []result{fail(subject, "challenges with WWW-Authenticate: Basic (username and password)")}
	}
	resp, err := s.send(ctx, request{method: http.MethodGet, url: s.api.String(), header: http.Header{"Authorization": {s.canaryBasic}}})
	if err != nil {
		return []result{errResult(subject, err)}
	}
	if resp.Status < 300 {
		return []result{fail(subject, "%d with made-up Basic credentials", resp.Status)}
	}
	return []result{pass(subject, "Basic not offered; made-up Basic credentials got %d", resp.Status)}
}

// keyHeader is the API key header name and where the probe learnt it.
type keyHeader struct {
	name, source string
}

// keyHeader learns the API key header: from the OpenAPI document, else from an APIKey
// challenge (Tiaki's `APIKey header="Api-Key"`), else the Part C example name.
func (s *session) keyHeader(ctx context.Context) keyHeader {
	if s.keyHeaderCache != nil {
		return *s.keyHeaderCache
	}
	kh := keyHeader{name: "API-Key", source: "default"}
	if s.spec != nil {
		for _, sc := range s.spec.apiKeySchemes() {
			if sc.In == "header" {
				kh = keyHeader{name: sc.Name, source: "the OpenAPI document"}
				break
			}
		}
	}
	if kh.source == "default" && s.api != nil {
		if resp, err := s.unauthenticated(ctx); err == nil {
			for _, c := range parseChallenges(resp.Header.Values("WWW-Authenticate")) {
				if strings.EqualFold(c.Scheme, "APIKey") && c.Params["header"] != "" {
					kh = keyHeader{name: c.Params["header"], source: "the WWW-Authenticate challenge"}
					break
				}
			}
		}
	}
	s.keyHeaderCache = &kh
	return kh
}

// KEY-08: keys travel in a header, never in the URL. The probe never puts a real key in a URL
// (it would end up in logs): it sends the key in its header plus a made-up key in ?api_key=.
// A server that refuses the request refuses keys in URLs; one that answers 2xx ignored the
// query parameter, which the probe cannot tell apart from accepting it.
func checkKeyInQuery(ctx context.Context, s *session) []result {
	if r, ok := s.needAPI(); !ok {
		return []result{r}
	}
	subject := s.api.String()
	if s.opts.APIKey.IsZero() {
		return []result{skip(subject, "needs --api-key")}
	}
	kh := s.keyHeader(ctx)
	good, err := s.send(ctx, request{method: http.MethodGet, url: s.api.String(), header: http.Header{kh.name: {s.opts.APIKey.Reveal()}}, secret: true, cache: "api-key"})
	if err != nil {
		return []result{errResult(subject, err)}
	}
	if good.Status >= 300 {
		return []result{skip(subject, "the API answered %d to the key in the %s header (learnt from %s); cannot judge", good.Status, kh.name, kh.source)}
	}
	u := withQuery(s.api, "api_key", "tiaki-probe-"+randomID())
	resp, err := s.send(ctx, request{method: http.MethodGet, url: u, header: http.Header{kh.name: {s.opts.APIKey.Reveal()}}, secret: true})
	if err != nil {
		return []result{errResult(subject, err)}
	}
	if resp.Status >= 400 && resp.Status < 500 {
		return []result{pass(subject, "a key in ?api_key= is refused (%d) even with a valid key in the header", resp.Status)}
	}
	return []result{warn(subject, "%d: a key in ?api_key= was ignored rather than refused; the probe does not send a real key in a URL, so it cannot tell whether one would be accepted", resp.Status)}
}

func withQuery(u *url.URL, name, value string) string {
	c := *u
	q := c.Query()
	q.Set(name, value)
	c.RawQuery = q.Encode()
	return c.String()
}

// KEY-08: the key header must not use the X- prefix (RFC 6648); KEY-09: nor Authorization.
func checkKeyHeader(ctx context.Context, s *session) []result {
	if r, ok := s.needAPI(); !ok {
		return []result{r}
	}
	subject := s.api.String()
	kh := s.keyHeader(ctx)
	if kh.source == "default" {
		return []result{skip(subject, "the API names no key header (no APIKey challenge, no OpenAPI apiKey scheme)")}
	}
	switch {
	case strings.HasPrefix(strings.ToLower(kh.name), "x-"):
		return []result{fail(subject, "API key header %q (from %s) uses the X- prefix (RFC 6648)", kh.name, kh.source)}
	case strings.EqualFold(kh.name, "Authorization"):
		return []result{fail(subject, "API keys travel in Authorization (from %s); keep it for authorisation credentials", kh.source)}
	}
	return []result{pass(subject, "API key header %q (from %s)", kh.name, kh.source)}
}
