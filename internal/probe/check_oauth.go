package probe

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/tiaki-nz/tiaki/internal/oauth"
)

// metaResult is the issuer's metadata as fetched from both well-known paths.
type metaResult struct {
	rfc, oidc       *response
	rfcURL, oidcURL string
	m               *oauth.Metadata
	err             error
}

// metadata fetches and decodes the issuer's metadata once: the RFC 8414 document if it
// parses, else the OpenID Connect one.
func (s *session) metadata(ctx context.Context) (*oauth.Metadata, error) {
	if s.meta != nil {
		return s.meta.m, s.meta.err
	}
	mr := &metaResult{}
	var err error
	if mr.rfcURL, mr.oidcURL, err = oauth.MetadataURLs(s.issuer.String()); err != nil {
		return nil, err
	}
	var errs []error
	for _, u := range []string{mr.rfcURL, mr.oidcURL} {
		resp, err := s.get(ctx, u)
		if errors.Is(err, errBudget) {
			return nil, err // not remembered
		}
		if u == mr.rfcURL {
			mr.rfc = resp
		} else {
			mr.oidc = resp
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if m, err := decodeMetadata(resp); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
		} else if mr.m == nil {
			mr.m = m
		}
	}
	if mr.m == nil {
		mr.err = fmt.Errorf("no metadata document: %w", errors.Join(errs...))
	}
	s.meta = mr
	return mr.m, mr.err
}

func decodeMetadata(resp *response) (*oauth.Metadata, error) {
	if resp.Status != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.Status)
	}
	var m oauth.Metadata
	if err := json.Unmarshal(resp.Body, &m); err != nil {
		return nil, fmt.Errorf("not a JSON metadata document: %w", err)
	}
	if m.Issuer == "" {
		return nil, errors.New("no issuer member")
	}
	return &m, nil
}

// OAUTH-20 (RFC 8414 listed), AUTHN-09 (OpenID Connect): metadata at both paths, and RFC 8414
// §3.3: the issuer in the document is identical to the one it was fetched for.
func checkMetadata(ctx context.Context, s *session) []result {
	if _, r, ok := s.needIssuer(ctx); !ok && s.meta == nil {
		return []result{r}
	}
	subject := s.issuer.String()
	mr := s.meta
	var problems, good []string
	want := strings.TrimSuffix(s.issuer.String(), "/")
	for _, d := range []struct {
		name, url string
		resp      *response
	}{{"RFC 8414", mr.rfcURL, mr.rfc}, {"OpenID Connect", mr.oidcURL, mr.oidc}} {
		if d.resp == nil {
			problems = append(problems, fmt.Sprintf("%s document: could not fetch %s", d.name, d.url))
			continue
		}
		m, err := decodeMetadata(d.resp)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s document at %s: %v", d.name, d.url, err))
			continue
		}
		if strings.TrimSuffix(m.Issuer, "/") != want {
			problems = append(problems, fmt.Sprintf("%s document names issuer %q, not %q (RFC 8414 §3.3)", d.name, m.Issuer, s.issuer))
			continue
		}
		for _, e := range []struct{ name, u string }{{"token_endpoint", m.TokenEndpoint}, {"jwks_uri", m.JWKSURI}, {"authorization_endpoint", m.AuthorizationEndpoint}} {
			if e.u != "" && !strings.HasPrefix(e.u, "https://") {
				problems = append(problems, fmt.Sprintf("%s %s is not https", e.name, e.u))
			}
		}
		good = append(good, d.name)
	}
	if len(problems) > 0 {
		return []result{fail(subject, "%s", strings.Join(problems, "; "))}
	}
	return []result{pass(subject, "%s documents served; issuer exact", strings.Join(good, " and "))}
}

// tokenRequest posts a form to the token endpoint with the client's credentials
// (client_secret_basic, or client_secret_post when that is all the server offers).
func (s *session) tokenRequest(ctx context.Context, m *oauth.Metadata, form url.Values) (*response, error) {
	if m.TokenEndpoint == "" {
		return nil, errors.New("the metadata names no token_endpoint")
	}
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}}
	methods := m.TokenEndpointAuthMethodsSupported
	if len(methods) > 0 && !slices.Contains(methods, "client_secret_basic") && slices.Contains(methods, "client_secret_post") {
		form.Set("client_id", s.opts.ClientID)
		form.Set("client_secret", s.opts.ClientSecret.Reveal())
	} else {
		// RFC 6749 §2.3.1: both parts are form-encoded before Basic encoding.
		cred := url.QueryEscape(s.opts.ClientID) + ":" + url.QueryEscape(s.opts.ClientSecret.Reveal())
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cred)))
	}
	return s.send(ctx, request{method: http.MethodPost, url: m.TokenEndpoint, header: h, body: []byte(form.Encode()), secret: true})
}

// ccResult is the outcome of the client credentials request.
type ccResult struct {
	resp  *response
	token *oauth.TokenResponse
	err   error
}

// clientCredentials gets a token with the client's credentials once.
func (s *session) clientCredentials(ctx context.Context) *ccResult {
	if s.cc != nil {
		return s.cc
	}
	if s.opts.ClientID == "" || s.issuer == nil {
		return &ccResult{err: errors.New("needs --client-id and --client-secret")}
	}
	m, err := s.metadata(ctx)
	if err != nil {
		return &ccResult{err: err}
	}
	resp, err := s.tokenRequest(ctx, m, url.Values{"grant_type": {string(oauth.GrantClientCredentials)}})
	if errors.Is(err, errBudget) {
		return &ccResult{err: err}
	}
	cc := &ccResult{resp: resp, err: err}
	if err == nil {
		var t oauth.TokenResponse
		switch {
		case resp.Status != http.StatusOK:
			if e, ok := oauth.ParseError(resp.Body); ok {
				cc.err = fmt.Errorf("client credentials refused: %d %s", resp.Status, e.Code)
			} else {
				cc.err = fmt.Errorf("client credentials refused: %d", resp.Status)
			}
		case json.Unmarshal(resp.Body, &t) != nil || t.AccessToken == "":
			cc.err = errors.New("the token response is not a JSON object with access_token")
		default:
			s.addSecret(t.AccessToken)
			s.addSecret(t.RefreshToken)
			s.addSecret(t.IDToken)
			cc.token = &t
		}
	}
	s.cc = cc
	return cc
}

// OAUTH-10 / OIDC-07 (implicit) and OAUTH-11 (password) are not recommended; OAuth 2.1 removes
// both. The metadata must not advertise them; with client credentials the probe also asks for a
// password grant with made-up user credentials: invalid_grant means the grant is enabled.
func checkNoImplicitPassword(ctx context.Context, s *session) []result {
	m, r, ok := s.needIssuer(ctx)
	if !ok {
		return []result{r}
	}
	subject := s.issuer.String()
	var problems []string
	if m.OffersImplicit() {
		if m.GrantTypesSupported == nil {
			problems = append(problems, "grant_types_supported is omitted, and RFC 8414 §2 then defaults it to authorization_code and implicit")
		} else {
			problems = append(problems, fmt.Sprintf("the implicit grant is offered (response_types_supported %q, grant_types_supported %q)", m.ResponseTypesSupported, m.GrantTypesSupported))
		}
	}
	if m.OffersGrant(oauth.GrantPassword) {
		problems = append(problems, "grant_types_supported lists password")
	}
	note := "(not exercised: give --client-id and --client-secret)"
	if s.opts.ClientID != "" {
		form := url.Values{"grant_type": {string(oauth.GrantPassword)}, "username": {"tiaki-probe"}, "password": {"tiaki-probe-" + randomID()}}
		resp, err := s.tokenRequest(ctx, m, form)
		if errors.Is(err, errBudget) {
			return []result{errResult(subject, err)}
		}
		var e *oauth.Error
		if err == nil {
			e, _ = oauth.ParseError(resp.Body)
		}
		switch {
		case err != nil:
			note = fmt.Sprintf("the password grant was not exercised: %v", err)
		case resp.Status < 300:
			problems = append(problems, fmt.Sprintf("a password grant with made-up credentials got %d", resp.Status))
		case e != nil && e.Code == oauth.ErrInvalidGrant:
			problems = append(problems, "a password grant with made-up credentials got invalid_grant: the grant is enabled")
		case e != nil:
			note = fmt.Sprintf("a password grant request got %s", e.Code)
		default:
			note = fmt.Sprintf("a password grant request got %d", resp.Status)
		}
	}
	if len(problems) > 0 {
		return []result{fail(subject, "%s", strings.Join(problems, "; "))}
	}
	return []result{pass(subject, "neither implicit nor password advertised; %s", note)}
}

// OAUTH-09 / OAUTH-06 / PAT-08: authorization code with PKCE, S256 only (RFC 9700 §2.1.1, OAuth
// 2.1 §4.1.1). With a client ID the probe sends an authorization request without a challenge.
func checkPKCE(ctx context.Context, s *session) []result {
	m, r, ok := s.needIssuer(ctx)
	if !ok {
		return []result{r}
	}
	subject := s.issuer.String()
	if !m.OffersGrant(oauth.GrantAuthorizationCode) || m.AuthorizationEndpoint == "" {
		return []result{skip(subject, "no authorization code grant offered")}
	}
	methods := m.CodeChallengeMethodsSupported
	switch {
	case slices.Contains(methods, oauth.PKCEPlain):
		return []result{fail(subject, "code_challenge_methods_supported offers plain")}
	case !slices.Contains(methods, oauth.PKCES256):
		return []result{fail(subject, "code_challenge_methods_supported does not list S256 (%q)", methods)}
	}
	if s.opts.ClientID == "" {
		return []result{pass(subject, "S256 only advertised (not exercised: give --client-id)")}
	}
	u, err := url.Parse(m.AuthorizationEndpoint)
	if err != nil {
		return []result{fail(subject, "authorization_endpoint %q does not parse", m.AuthorizationEndpoint)}
	}
	q := u.Query()
	q.Set("client_id", s.opts.ClientID)
	q.Set("response_type", string(oauth.ResponseCode))
	q.Set("state", "tiaki-probe-"+randomID())
	u.RawQuery = q.Encode()
	resp, err := s.send(ctx, request{method: http.MethodGet, url: u.String(), browser: true})
	if err != nil {
		return []result{errResult(subject, err)}
	}
	s.pkceResponse = resp
	if resp.Status >= 300 && resp.Status < 400 {
		p := redirectParams(resp)
		switch {
		case p.Get("error") == oauth.ErrInvalidRequest:
			return []result{pass(subject, "an authorization request without code_challenge is refused (invalid_request)")}
		case p.Get("code") != "":
			return []result{fail(subject, "an authorization request without code_challenge was answered with a code")}
		case p.Get("error") != "":
			return []result{warn(subject, "an authorization request without code_challenge got %s; cannot tell whether PKCE is required", p.Get("error"))}
		}
		return []result{fail(subject, "an authorization request without code_challenge was accepted (redirected to %s)", stripQuery(resp.Header.Get("Location")))}
	}
	if resp.Status == http.StatusOK && strings.Contains(strings.ToLower(string(resp.Body)), `type="password"`) {
		return []result{fail(subject, "an authorization request without code_challenge led to a login page")}
	}
	got := fmt.Sprint(resp.Status)
	if e, ok := oauth.ParseError(resp.Body); ok {
		got += " " + e.Code
	}
	return []result{warn(subject, "an authorization request without code_challenge got %s; cannot tell whether PKCE is required (give an authorization code client, which may need a registered redirect_uri)", got)}
}

// redirectParams are the parameters of a redirect's Location, from the query or the fragment.
func redirectParams(resp *response) url.Values {
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return url.Values{}
	}
	p := loc.Query()
	if f, err := url.ParseQuery(loc.Fragment); err == nil {
		for k, v := range f {
			p[k] = v
		}
	}
	return p
}

func stripQuery(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		return s[:i]
	}
	return s
}

// RFC 9207 (Appendix H) puts iss in authorization responses, a defence against mix-up attacks
// that keeps the response bound to the server the client meant (INT-01, TTM-04).
func checkISS(ctx context.Context, s *session) []result {
	m, r, ok := s.needIssuer(ctx)
	if !ok {
		return []result{r}
	}
	subject := s.issuer.String()
	if m.AuthorizationEndpoint == "" {
		return []result{skip(subject, "no authorization endpoint")}
	}
	if resp := s.pkceResponse; resp != nil && resp.Status >= 300 && resp.Status < 400 {
		iss := redirectParams(resp).Get("iss")
		switch {
		case iss == "":
			return []result{fail(subject, "the authorization error response carries no iss (RFC 9207 §2)")}
		case strings.TrimSuffix(iss, "/") != strings.TrimSuffix(m.Issuer, "/"):
			return []result{fail(subject, "the authorization response's iss %q is not the issuer %q", iss, m.Issuer)}
		}
		return []result{pass(subject, "iss present in the authorization response")}
	}
	if !m.AuthorizationResponseISSParameterSupported {
		return []result{fail(subject, "authorization_response_iss_parameter_supported is not true (RFC 9207 §3)")}
	}
	return []result{pass(subject, "authorization_response_iss_parameter_supported is true (not exercised)")}
}

// OAUTH-21 / OAUTH-22: revocation and introspection authenticate the caller first (RFC 7009
// §2.1, RFC 7662 §2.1). The probe posts a made-up token without client authentication.
func checkEndpointAuth(ctx context.Context, s *session) []result {
	m, r, ok := s.needIssuer(ctx)
	if !ok {
		return []result{r}
	}
	subject := s.issuer.String()
	var notes []string
	for _, e := range []struct{ name, u string }{{"introspection", m.IntrospectionEndpoint}, {"revocation", m.RevocationEndpoint}} {
		if e.u == "" {
			notes = append(notes, "no "+e.name+" endpoint")
			continue
		}
		resp, err := s.send(ctx, request{method: http.MethodPost, url: e.u,
			header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
			body:   []byte(url.Values{"token": {s.canaryToken}}.Encode())})
		if err != nil {
			return []result{errResult(subject, err)}
		}
		if resp.Status < 300 {
			return []result{fail(subject, "the %s endpoint answered %d without client authentication", e.name, resp.Status)}
		}
		notes = append(notes, fmt.Sprintf("%s without client authentication: %d", e.name, resp.Status))
	}
	if m.IntrospectionEndpoint == "" && m.RevocationEndpoint == "" {
		return []result{skip(subject, "neither an introspection nor a revocation endpoint is advertised")}
	}
	return []result{pass(subject, "%s", strings.Join(notes, "; "))}
}

// isJSON reports whether a Content-Type names JSON (application/json or a +json type).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}
