package authserver

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// browser is a person's browser in the tests: cookies kept, redirects not followed so the
// test can read them.
type browser struct {
	t testing.TB
	e *testEnv
	c *http.Client
}

func (e *testEnv) browser(t testing.TB) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, e: e, c: &http.Client{Transport: e.ts.Client().Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is one response the browser got.
type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return page{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

func (b *browser) get(pathOrURL string) page {
	b.t.Helper()
	if strings.HasPrefix(pathOrURL, "/") {
		pathOrURL = b.e.issuer + pathOrURL
	}
	req, err := http.NewRequest(http.MethodGet, pathOrURL, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.e.issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var (
	formAction  = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// form returns the page's form: where it posts and its hidden fields.
func (p page) form(t testing.TB) (string, url.Values) {
	t.Helper()
	m := formAction.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no form on the page (%d):\n%s", p.status, p.body)
	}
	fields := url.Values{}
	for _, h := range hiddenInput.FindAllStringSubmatch(p.body, -1) {
		fields.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	return html.UnescapeString(m[1]), fields
}

// location returns the redirect target of a 303.
func (p page) location(t testing.TB) *url.URL {
	t.Helper()
	if p.status != http.StatusSeeOther {
		t.Fatalf("status %d, want a 303 redirect:\n%s", p.status, p.body)
	}
	u, err := url.Parse(p.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// authz is one authorization request.
type authz struct {
	clientID, redirectURI, scope, state, nonce, prompt string
	verifier                                           string
	extra                                              url.Values
}

// portalAuthz is the usual request: the confidential portal, openid and offline_access.
func portalAuthz() authz {
	return authz{clientID: "portal", redirectURI: "https://portal.example/cb?from=tiaki",
		scope: "openid profile email offline_access payments:read", state: "st-" + oauth2.GenerateVerifier()[:8],
		nonce: "n-" + oauth2.GenerateVerifier()[:8], verifier: oauth2.GenerateVerifier()}
}

func (a authz) path() string {
	q := url.Values{"response_type": {"code"}, "client_id": {a.clientID}, "redirect_uri": {a.redirectURI},
		"state": {a.state}, "code_challenge": {oauth2.S256ChallengeFromVerifier(a.verifier)}, "code_challenge_method": {"S256"}}
	if a.scope != "" {
		q.Set("scope", a.scope)
	}
	if a.nonce != "" {
		q.Set("nonce", a.nonce)
	}
	if a.prompt != "" {
		q.Set("prompt", a.prompt)
	}
	for k, v := range a.extra {
		q[k] = v
	}
	return PathAuthorize + "?" + q.Encode()
}

// login posts a username and password to a login page.
func (b *browser) login(p page, username, pw string) page {
	b.t.Helper()
	action, fields := p.form(b.t)
	if fields.Get("step") != "login" {
		b.t.Fatalf("not a login page:\n%s", p.body)
	}
	fields.Set("username", username)
	fields.Set("password", pw)
	return b.post(action, fields)
}

// decide answers a consent page.
func (b *browser) decide(p page, decision string) page {
	b.t.Helper()
	action, fields := p.form(b.t)
	if fields.Get("step") != "consent" {
		b.t.Fatalf("not a consent page:\n%s", p.body)
	}
	fields.Set("decision", decision)
	return b.post(action, fields)
}

// authorize runs an authorization request through login and consent and returns the
// redirect's query, checking state and iss.
func (b *browser) authorize(a authz, username, pw string) url.Values {
	b.t.Helper()
	p := b.get(a.path())
	if p.status == http.StatusOK && strings.Contains(p.body, `name="step" value="login"`) {
		p = b.login(p, username, pw)
	}
	if p.status == http.StatusOK && strings.Contains(p.body, `name="step" value="consent"`) {
		p = b.decide(p, "allow")
	}
	loc := p.location(b.t)
	q := loc.Query()
	if got := loc.Scheme + "://" + loc.Host + loc.Path; !strings.HasPrefix(a.redirectURI, got) {
		b.t.Fatalf("redirected to %s, want %s", loc, a.redirectURI)
	}
	if q.Get("state") != a.state || q.Get("iss") != b.e.issuer {
		b.t.Fatalf("redirect %s: state or iss wrong (want state %q iss %q)", loc, a.state, b.e.issuer)
	}
	return q
}

// redeem exchanges a code at the token endpoint as a's client.
func (e *testEnv) redeem(t testing.TB, a authz, code string) (*http.Response, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {a.redirectURI},
		"code_verifier": {a.verifier}}
	return e.call(t, PathToken, form, e.clientAuth(form, a.clientID))
}

// clientAuth authenticates a fixture client: Basic for confidential ones, client_id in the
// form for public ones.
func (e *testEnv) clientAuth(form url.Values, clientID string) string {
	switch clientID {
	case "portal":
		return basic("portal", portalSecret)
	case "web-app":
		return basic("web-app", demoSecret)
	}
	form.Set("client_id", clientID)
	return ""
}

// tokens runs a whole authorization for a and returns the token response.
func (e *testEnv) tokens(t testing.TB, b *browser, a authz) map[string]any {
	t.Helper()
	q := b.authorize(a, "alice", alicePassword)
	resp, doc := e.redeem(t, a, q.Get("code"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("redeeming the code: %d %v", resp.StatusCode, doc)
	}
	return doc
}
