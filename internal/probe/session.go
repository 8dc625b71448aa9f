package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tiaki-nz/tiaki/internal/oauth"
	"github.com/tiaki-nz/tiaki/internal/standard"
)

// session is the state of one run: the targets, the clients, the pacing and budget every
// request and handshake goes through, and what has been fetched so far.
type session struct {
	opts   Options
	target *url.URL // as given
	api    *url.URL // the API resource judged; nil when the target is the authorization server
	issuer *url.URL // nil when there is none
	spec   *spec    // nil without --openapi
	roots  *x509.CertPool

	pace           *pacer
	budget, used   int
	timeout        time.Duration
	client         *http.Client // verifies certificates
	insecure       *http.Client // does not; never carries a credential
	now            func() time.Time
	canaryBasic    string // "Basic …" of made-up credentials
	canaryToken    string
	transactionID  string
	secrets        []string
	cache          map[string]*response
	seen           []*response // every response, in order
	chains         map[string]*chainInfo
	meta           *metaResult
	cc             *ccResult
	pkceResponse   *response // the authorization endpoint's answer to the PKCE probe
	keyHeaderCache *keyHeader
}

// errBudget ends a check that would exceed the request budget: it is reported as SKIP.
var errBudget = errors.New("request budget exhausted")

// errUntrusted refuses to send a credential to a server whose certificate did not verify.
var errUntrusted = errors.New("not sending credentials: the server's certificate did not verify (see tls-certificate)")

func newSession(o Options) (*session, error) {
	s := &session{opts: o, cache: map[string]*response{}, chains: map[string]*chainInfo{}}
	var err error
	if s.target, err = parseTarget(o.Target, "target"); err != nil {
		return nil, err
	}
	if o.Issuer != "" {
		if s.issuer, err = parseTarget(o.Issuer, "--issuer"); err != nil {
			return nil, err
		}
	}
	if (o.ClientID == "") != o.ClientSecret.IsZero() {
		return nil, errors.New("--client-id and --client-secret go together")
	}
	if o.ClientID != "" && s.issuer == nil && !isRoot(s.target) {
		return nil, errors.New("--client-id needs --issuer: the probe gets tokens from the issuer's token endpoint")
	}
	if o.OpenAPI != nil {
		if s.spec, err = parseSpec(o.OpenAPI); err != nil {
			return nil, fmt.Errorf("--openapi %s: %w", o.OpenAPIName, err)
		}
	}
	s.roots = o.RootCAs
	if s.roots == nil {
		if s.roots, err = x509.SystemCertPool(); err != nil {
			return nil, fmt.Errorf("system certificates: %w", err)
		}
	}
	s.now = o.Now
	if s.now == nil {
		s.now = time.Now
	}
	rps := o.MaxRPS
	if rps <= 0 {
		rps = DefaultMaxRPS
	}
	s.pace = newPacer(rps, s.now, o.Sleep)
	s.budget = cmpOr(o.Budget, DefaultBudget)
	s.timeout = cmpOr(o.Timeout, DefaultTimeout)
	s.client = s.httpClient(false)
	s.insecure = s.httpClient(true)
	s.canaryBasic = "Basic " + base64.StdEncoding.EncodeToString([]byte("tiaki-probe:not-a-real-password"))
	s.canaryToken = "tiaki-probe-" + randomID()
	s.transactionID = "tiaki-probe-" + randomID()
	for _, sec := range []string{o.APIKey.Reveal(), o.Token.Reveal(), o.ClientSecret.Reveal()} {
		s.addSecret(sec)
	}
	if o.ClientID != "" {
		s.addSecret(base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(o.ClientID) + ":" + url.QueryEscape(o.ClientSecret.Reveal()))))
	}
	return s, nil
}

func cmpOr[T int | int64 | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

func (s *session) httpClient(insecure bool) *http.Client {
	return &http.Client{
		Timeout: s.timeout,
		// Never follow a redirect: it could carry a credential header to another host, and
		// the checks judge the redirect itself.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			Proxy:               nil,                                                                                       // the probe judges the server's own TLS, so it connects directly
			TLSClientConfig:     &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure}, //nolint:gosec // insecure is only for requests without credentials, after tls-certificate has reported the failure
			ForceAttemptHTTP2:   true,
			TLSHandshakeTimeout: s.timeout,
			MaxIdleConnsPerHost: 2,
		},
	}
}

// addSecret remembers a value that must never appear in a report.
func (s *session) addSecret(v string) {
	if len(v) >= 4 && !slices.Contains(s.secrets, v) {
		s.secrets = append(s.secrets, v)
	}
}

// redact is the last line of defence: no finding may carry a secret, whatever a server echoed.
func (s *session) redact(rep *Report) {
	for i := range rep.Findings {
		f := &rep.Findings[i]
		for _, sec := range s.secrets {
			// Case-insensitively: a server may have echoed a secret in a header name, which
			// HTTP canonicalises.
			re := regexp.MustCompile("(?i)" + regexp.QuoteMeta(sec))
			f.Reason = re.ReplaceAllString(f.Reason, "[redacted]")
			f.Subject = re.ReplaceAllString(f.Subject, "[redacted]")
		}
	}
}

func isRoot(u *url.URL) bool { return u.Path == "" || u.Path == "/" }

func originOf(u *url.URL) *url.URL { return &url.URL{Scheme: u.Scheme, Host: u.Host} }

// preflight makes sure the target answers at all, and decides what it is: an API resource, an
// authorization server (a bare origin serving metadata), or both with --issuer.
func (s *session) preflight(ctx context.Context) error {
	if err := s.spend(ctx); err != nil {
		return err
	}
	d := net.Dialer{Timeout: s.timeout}
	conn, err := d.DialContext(ctx, "tcp", hostPort(s.target))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	conn.Close()
	s.api = s.target
	switch {
	case s.issuer != nil && strings.TrimSuffix(s.issuer.String(), "/") == strings.TrimSuffix(s.target.String(), "/"):
		s.api = nil
	case s.issuer == nil && isRoot(s.target):
		// A bare origin: if it publishes metadata, it is an authorization server.
		s.issuer = s.target
		if m, err := s.metadata(ctx); err == nil && m != nil {
			s.api = nil
		} else {
			s.issuer, s.meta = nil, nil
		}
	}
	return nil
}

// hostPort is the URL's host with its port made explicit.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "http" {
		return net.JoinHostPort(u.Hostname(), "80")
	}
	return net.JoinHostPort(u.Hostname(), "443")
}

// origins are the distinct origins judged: the API's and the issuer's.
func (s *session) origins() []*url.URL {
	var out []*url.URL
	for _, u := range []*url.URL{s.api, s.issuer} {
		if u != nil && !slices.ContainsFunc(out, func(o *url.URL) bool { return o.Host == u.Host && o.Scheme == u.Scheme }) {
			out = append(out, originOf(u))
		}
	}
	return out
}

func perOrigin(f func(ctx context.Context, s *session, origin *url.URL) result) func(context.Context, *session) []result {
	return func(ctx context.Context, s *session) []result {
		var out []result
		for _, o := range s.origins() {
			out = append(out, f(ctx, s, o))
		}
		return out
	}
}

// run performs one check and turns its results into findings with their requirements.
func (s *session) run(ctx context.Context, c Check) []Finding {
	reqs := make([]standard.Requirement, 0, len(c.IDs))
	var strongest standard.Strength
	for _, id := range c.IDs {
		r, ok := standard.Lookup(id)
		if !ok {
			continue // TestChecksCiteCatalogueIDs keeps this from happening
		}
		reqs = append(reqs, r)
		strongest = max(strongest, r.Strength)
	}
	var out []Finding
	for _, r := range c.run(ctx, s) {
		out = append(out, Finding{Check: c.Name, Title: c.Title, Area: c.Area, Subject: r.subject,
			Verdict: r.verdict, Reason: r.reason, Requirements: reqs, Strength: strongest})
	}
	return out
}

// spend takes one request from the budget and waits for the rate limit.
func (s *session) spend(ctx context.Context) error {
	if s.used >= s.budget {
		return errBudget
	}
	s.used++
	return s.pace.wait(ctx)
}

// errResult reports a check that could not finish: SKIP for the budget or a refused
// credential, WARN for anything the network did.
func errResult(subject string, err error) result {
	if errors.Is(err, errBudget) || errors.Is(err, errUntrusted) {
		return skip(subject, "%v", err)
	}
	return warn(subject, "could not tell: %v", err)
}

// response is what the probe keeps of one HTTP exchange. Bodies are capped at maxBody.
type response struct {
	Method  string
	URL     string
	Status  int
	Header  http.Header
	Body    []byte
	Browser bool // a page meant for a person's browser (the authorization endpoint), not an API
}

const maxBody = 1 << 20

// request is what a check asks the session to send.
type request struct {
	method  string
	url     string
	header  http.Header
	body    []byte
	auth    bool   // add the API credential (and refuse if the server is not trusted)
	secret  bool   // header or body carries a secret: refuse if the server is not trusted
	cache   string // when set, reuse an earlier response under this key
	limit   int64  // body bytes kept; 0 means maxBody
	browser bool   // the endpoint serves people (HTML errors are right there)
}

// send performs r under the budget and rate limit. Only a trusted server (one whose
// certificate verified) ever receives a credential.
func (s *session) send(ctx context.Context, r request) (*response, error) {
	if r.cache != "" {
		if resp, ok := s.cache[r.cache]; ok {
			return resp, nil
		}
	}
	u, err := url.Parse(r.url)
	if err != nil {
		return nil, err
	}
	trusted := u.Scheme == "https" && s.chain(ctx, originOf(u)).err == nil
	if (r.auth || r.secret) && !trusted {
		return nil, errUntrusted
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, bytes.NewReader(r.body))
	if err != nil {
		return nil, err
	}
	if r.body == nil {
		req.Body = http.NoBody
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", "tiaki-audit")
	if r.auth {
		name, value, ok := s.credential(ctx)
		if !ok {
			return nil, errors.New("no credential the API accepts")
		}
		req.Header.Set(name, value)
	}
	if err := s.spend(ctx); err != nil {
		return nil, err
	}
	c := s.client
	if !trusted {
		c = s.insecure
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, cmpOr(r.limit, maxBody)))
	if err != nil {
		return nil, err
	}
	out := &response{Method: r.method, URL: r.url, Status: resp.StatusCode, Header: resp.Header, Body: body, Browser: r.browser}
	s.seen = append(s.seen, out)
	if r.cache != "" {
		s.cache[r.cache] = out
	}
	return out, nil
}

// get is send for a GET without credentials, cached by URL.
func (s *session) get(ctx context.Context, u string) (*response, error) {
	return s.send(ctx, request{method: http.MethodGet, url: u, cache: "GET " + u})
}

// unauthenticated is the API resource fetched with no credential at all: several checks read it.
func (s *session) unauthenticated(ctx context.Context) (*response, error) {
	h := http.Header{"Request-Transaction-Id": {s.transactionID}, "Accept": {"application/json"}}
	return s.send(ctx, request{method: http.MethodGet, url: s.api.String(), header: h, cache: "unauthenticated"})
}

// authenticated is the API resource fetched with the best credential the probe has.
func (s *session) authenticated(ctx context.Context) (*response, error) {
	return s.send(ctx, request{method: http.MethodGet, url: s.api.String(), header: http.Header{"Accept": {"application/json"}}, auth: true, cache: "authenticated"})
}

// credential is the header that authenticates to the API: the token given, else the API key
// given, else a token from client credentials.
func (s *session) credential(ctx context.Context) (name, value string, ok bool) {
	switch {
	case !s.opts.Token.IsZero():
		return "Authorization", "Bearer " + s.opts.Token.Reveal(), true
	case !s.opts.APIKey.IsZero():
		return s.keyHeader(ctx).name, s.opts.APIKey.Reveal(), true
	}
	if cc := s.clientCredentials(ctx); cc.err == nil && cc.token != nil {
		return "Authorization", "Bearer " + cc.token.AccessToken, true
	}
	return "", "", false
}

func (s *session) hasCredential() bool {
	return !s.opts.Token.IsZero() || !s.opts.APIKey.IsZero() || s.opts.ClientID != ""
}

// needAPI is the SKIP of checks that judge an API resource when the target is only an
// authorization server.
func (s *session) needAPI() (result, bool) {
	if s.api == nil {
		return skip(s.target.String(), "the target is an authorization server; give an API resource URL to judge an API"), false
	}
	return result{}, true
}

// needIssuer is the SKIP of authorization-server checks without one.
func (s *session) needIssuer(ctx context.Context) (*oauth.Metadata, result, bool) {
	if s.issuer == nil {
		return nil, skip(s.target.String(), "no authorization server: give --issuer"), false
	}
	m, err := s.metadata(ctx)
	if err != nil {
		return nil, errResult(s.issuer.String(), err), false
	}
	return m, result{}, true
}

func sprintf(format string, a ...any) string {
	if len(a) == 0 {
		return format
	}
	return fmt.Sprintf(format, a...)
}
