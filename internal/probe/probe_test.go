package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki"
)

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// allPass is every check name with PASS, the expectation for the compliant server.
func allPass() map[string]string {
	m := map[string]string{}
	for _, c := range Checks() {
		m[c.Name] = "PASS"
	}
	return m
}

func TestCompliantServerPassesEveryCheck(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	srv := serveTLS(t, newGoodServer(20), p.leaf(t, leafOpts{notAfter: time.Now().Add(90 * 24 * time.Hour), ocspURL: "http://ocsp.example"}), nil)
	rep := run(t, Options{Target: srv.URL + "/v1/things", Issuer: srv.URL, APIKey: testKey, ClientID: testClientID,
		ClientSecret: testClientSecret, RootCAs: p.pool, AllowWrites: true, Burst: 30,
		OpenAPI: readFile(t, "testdata/good.yaml"), OpenAPIName: "good.yaml"})
	if diff := cmp.Diff(allPass(), verdicts(rep)); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s\n%s", diff, reasons(rep))
	}
	if rep.Failed() {
		t.Error("Failed() on a compliant server")
	}
}

// The deliberately weak server: TLS 1.2 allowed, no authentication, 200 on TRACE,
// implicit grant offered. Each failure must be found, and the run must fail.
func TestWeakServerFailuresAreFound(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	other := newPKI(t) // the weak server's certificate comes from a CA the probe does not trust
	weak := &weakServer{}
	srv := serveTLS(t, weak, other.leaf(t, leafOpts{rsa: true}), func(c *tls.Config) {
		c.MinVersion = tls.VersionTLS10
		c.CipherSuites = []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}
	})
	rep := run(t, Options{Target: srv.URL + "/v1/things", Issuer: srv.URL, APIKey: testKey, ClientID: testClientID,
		ClientSecret: testClientSecret, RootCAs: p.pool, AllowWrites: true, OpenAPI: readFile(t, "testdata/bad.json")})
	got := verdicts(rep)
	for check, want := range map[string]string{
		"tls-legacy":              "FAIL", // TLS 1.2 (and 1.1, 1.0) allowed
		"tls-key-exchange":        "FAIL", // RSA key exchange
		"tls-certificate":         "FAIL",
		"auth-required":           "FAIL", // no authentication
		"invalid-token":           "FAIL",
		"basic-refused":           "FAIL",
		"methods":                 "FAIL", // 200 on TRACE
		"as-no-implicit-password": "FAIL", // implicit grant offered
		"as-pkce":                 "FAIL",
		"as-jwks":                 "FAIL",
		"as-algorithms":           "FAIL",
		"error-bodies":            "FAIL",
		"security-headers":        "FAIL",
		"x-headers":               "FAIL",
		"correlation":             "WARN",
		"throttling":              "WARN",
		"spec-security":           "FAIL",
		"spec-api-keys":           "FAIL",
		"spec-x-headers":          "FAIL",
		"spec-versioning":         "FAIL",
		"spec-errors":             "FAIL",
		"spec-safe-get":           "FAIL",
		// Never sends a credential to a server whose certificate did not verify.
		"key-in-query":   "SKIP",
		"token-response": "SKIP",
		"cache-control":  "SKIP",
	} {
		if got[check] != want {
			t.Errorf("%s: %s, want %s", check, got[check], want)
		}
	}
	if !rep.Failed() {
		t.Error("the weak server passed")
	}
	if weak.sawCreds {
		t.Error("credentials were sent to a server whose certificate did not verify")
	}
	if t.Failed() {
		t.Log("\n" + reasons(rep))
	}
}

func TestPlainHTTPTarget(t *testing.T) {
	t.Parallel()
	weak := &weakServer{}
	srv := httptest.NewServer(weak)
	t.Cleanup(srv.Close)
	rep := run(t, Options{Target: srv.URL + "/api/things", APIKey: testKey})
	got := verdicts(rep)
	for check, want := range map[string]string{"tls13": "FAIL", "plain-http": "FAIL", "tls-certificate": "FAIL", "key-in-query": "SKIP", "auth-required": "FAIL"} {
		if got[check] != want {
			t.Errorf("%s: %s, want %s\n%s", check, got[check], want, reasons(rep))
		}
	}
	if weak.sawCreds {
		t.Error("the API key was sent over plain HTTP")
	}
}

func TestCertificateAndRevocation(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	revokedSerial, goodSerial := new(big.Int), new(big.Int)
	var crl []byte
	crlSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(crl) }))
	t.Cleanup(crlSrv.Close)
	later := time.Now().Add(90 * 24 * time.Hour)
	cases := []struct {
		name       string
		leaf       leafOpts
		cert, revo string
	}{
		{"revoked", leafOpts{crlURL: crlSrv.URL, serialOut: revokedSerial, notAfter: later}, "PASS", "FAIL"},
		{"listed CRL, not revoked", leafOpts{crlURL: crlSrv.URL, serialOut: goodSerial, notAfter: later}, "PASS", "PASS"},
		{"OCSP only", leafOpts{ocspURL: "http://ocsp.example", notAfter: later}, "PASS", "PASS"},
		{"nothing", leafOpts{notAfter: later}, "PASS", "WARN"},
		{"expiring soon", leafOpts{notAfter: time.Now().Add(48 * time.Hour), ocspURL: "http://ocsp.example"}, "WARN", "PASS"},
		{"expired", leafOpts{notAfter: time.Now().Add(-time.Minute), ocspURL: "http://ocsp.example"}, "FAIL", "PASS"},
	}
	certs := make([]tls.Certificate, len(cases))
	for i, c := range cases {
		certs[i] = p.leaf(t, c.leaf)
	}
	crl = p.crl(t, revokedSerial)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := serveTLS(t, newGoodServer(100), certs[i], nil)
			rep := run(t, Options{Target: srv.URL + "/v1/things", RootCAs: p.pool, Only: []string{"TLS-03"}})
			got := verdicts(rep)
			if got["tls-certificate"] != c.cert || got["tls-revocation"] != c.revo {
				t.Errorf("certificate %s, revocation %s; want %s, %s\n%s", got["tls-certificate"], got["tls-revocation"], c.cert, c.revo, reasons(rep))
			}
		})
	}
}

// rawHeadServer answers every request on raw TLS with headers and, for HEAD, a body anyway.
func rawHeadServer(t *testing.T, cert tls.Certificate, body bool) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				buf := make([]byte, 4096)
				_, _ = c.Read(buf)
				resp := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n"
				if body {
					resp += `{"a":"b12"}`
				}
				_, _ = c.Write([]byte(resp))
			}(c)
		}
	}()
	return "https://" + ln.Addr().String() + "/v1/things"
}

func TestHeadWithBody(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	cert := p.leaf(t, leafOpts{})
	for _, c := range []struct {
		body bool
		want Verdict
	}{{false, Pass}, {true, Fail}} {
		u := rawHeadServer(t, cert, c.body)
		rep := run(t, Options{Target: u, RootCAs: p.pool, Only: []string{"HTTP-03"}})
		if len(rep.Findings) != 1 || rep.Findings[0].Verdict != c.want {
			t.Errorf("body=%v: %s", c.body, reasons(rep))
		}
	}
}

func TestBudgetAndRate(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	srv := serveTLS(t, newGoodServer(1000), p.leaf(t, leafOpts{}), nil)

	t.Run("budget", func(t *testing.T) {
		rep := run(t, Options{Target: srv.URL + "/v1/things", Issuer: srv.URL, RootCAs: p.pool, Budget: 6})
		if rep.Requests > 6 {
			t.Errorf("sent %d requests on a budget of 6", rep.Requests)
		}
		if !strings.Contains(reasons(rep), "request budget exhausted") {
			t.Errorf("no check reports the exhausted budget:\n%s", reasons(rep))
		}
	})

	t.Run("rate", func(t *testing.T) {
		// A fake clock that only moves when the probe sleeps: the virtual time the run takes
		// is the pacing alone, and it must cover every request at no more than MaxRPS.
		var now time.Time
		var slept time.Duration
		o := Options{Target: srv.URL + "/v1/things", Issuer: srv.URL, RootCAs: p.pool, MaxRPS: 4, Burst: 5,
			Now: func() time.Time { return now },
			Sleep: func(_ context.Context, d time.Duration) error {
				now = now.Add(d)
				slept += d
				return nil
			}}
		rep, err := Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Duration(rep.Requests-1) * time.Second / 4; slept < want || rep.Requests < 20 {
			t.Errorf("%d requests paced over %v, want at least %v", rep.Requests, slept, want)
		}
	})
}

func TestPacer(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0)
	var sleeps []time.Duration
	p := newPacer(2, func() time.Time { return now }, func(_ context.Context, d time.Duration) error {
		sleeps = append(sleeps, d)
		return nil
	})
	ctx := context.Background()
	for range 3 {
		_ = p.wait(ctx) // back to back: the second and third wait 0.5 s and 1 s
	}
	now = now.Add(5 * time.Second)
	_ = p.wait(ctx) // after a pause: no wait
	if want := []time.Duration{500 * time.Millisecond, time.Second}; !cmp.Equal(sleeps, want) {
		t.Errorf("sleeps %v, want %v", sleeps, want)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := newPacer(1, time.Now, nil).wait(cancelled); err == nil {
		t.Error("wait ignored a cancelled context")
	}
}

func TestOnly(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	srv := serveTLS(t, newGoodServer(100), p.leaf(t, leafOpts{}), nil)
	for _, c := range []struct {
		only []string
		want []string
	}{
		{[]string{"TLS-01"}, []string{"tls13", "tls-legacy"}},
		{[]string{"key"}, []string{"plain-http", "key-in-query", "key-header", "spec-api-keys", "throttling"}},
		{[]string{"HTTP-12", "TOKEN-07"}, []string{"token-lifetime", "x-headers", "spec-x-headers"}},
	} {
		var progress bytes.Buffer
		rep := run(t, Options{Target: srv.URL + "/v1/things", RootCAs: p.pool, Only: c.only, Progress: &progress})
		if n := strings.Count(progress.String(), "\r\033[K["); n != len(c.want) {
			t.Errorf("Only %v: %d progress lines for %d checks: %q", c.only, n, len(c.want), progress.String())
		}
		var got []string
		for _, f := range rep.Findings {
			got = append(got, f.Check)
		}
		if !cmp.Equal(got, c.want) {
			t.Errorf("Only %v ran %v, want %v", c.only, got, c.want)
		}
	}
}

func TestRunRefuses(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "https://" + ln.Addr().String() + "/x"
	ln.Close()
	for _, c := range []struct {
		name string
		o    Options
		want string
	}{
		{"unreachable", Options{Target: closed}, "target unreachable"},
		{"not a URL", Options{Target: "ftp://x/y"}, "want an absolute http or https URL"},
		{"credentials in the URL", Options{Target: "https://user:hunter22@x/y"}, "not in the URL"},
		{"credentials in a bad URL", Options{Target: "ftp://user:hunter22@x/y"}, "not in the URL"},
		{"unknown ID", Options{Target: closed, Only: []string{"NOPE-01"}}, "neither a requirement ID"},
		{"half a client", Options{Target: closed, ClientID: "c"}, "go together"},
		{"bad spec", Options{Target: closed, OpenAPI: []byte("swagger: '2.0'\n")}, "Swagger 2.0"},
	} {
		_, err := Run(context.Background(), c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter22") {
			t.Errorf("%s: the error repeats a password: %v", c.name, err)
		}
	}
	_, err := Run(context.Background(), Options{Target: closed})
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("unreachable: %v is not ErrUnreachable", err)
	}
}

// echoingServer reflects every credential it receives wherever the probe might quote the
// server: a header name, a Content-Type parameter, a redirect path, an error body.
type echoingServer struct{ *goodServer }

func (e echoingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for _, v := range []string{r.Header.Get("Api-Key"), r.Header.Get("Authorization")} {
		if v = strings.TrimPrefix(strings.TrimPrefix(v, "Bearer "), "Basic "); v != "" && !strings.ContainsAny(v, " :") {
			w.Header().Set("X-"+v, "1")
			w.Header().Set("Server", "Apache/2.4 "+v)
		}
	}
	if r.URL.Path == "/v1/things" && r.Header.Get("Accept") == "application/x-tiaki-probe" {
		w.Header().Set("Content-Type", "application/json; echo="+r.Header.Get("Api-Key"))
		w.Write([]byte(`{}`))
		return
	}
	e.goodServer.ServeHTTP(w, r)
}

func TestNeverPrintsASecret(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	srv := serveTLS(t, echoingServer{newGoodServer(5)}, p.leaf(t, leafOpts{}), nil)
	token := tiaki.Secret("given-bearer-token-0123456789")
	rep := run(t, Options{Target: srv.URL + "/v1/things", Issuer: srv.URL, APIKey: testKey, ClientID: testClientID,
		ClientSecret: testClientSecret, Token: token, RootCAs: p.pool, AllowWrites: true})
	var out bytes.Buffer
	for _, write := range []func(*bytes.Buffer) error{
		func(b *bytes.Buffer) error { return rep.WriteText(b) },
		func(b *bytes.Buffer) error { return rep.WriteJSON(b) },
		func(b *bytes.Buffer) error { return rep.WriteJUnit(b) },
	} {
		if err := write(&out); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(out.String(), "[redacted]") {
		t.Error("the echoing server's reflections never reached a report: the test proves nothing")
	}
	secrets := []string{testKey.Reveal(), token.Reveal(), testClientSecret, "eyJhbGciOiJFUzI1NiJ9.", "refresh-1-"}
	for _, s := range secrets {
		if regexp.MustCompile("(?i)" + regexp.QuoteMeta(s)).MatchString(out.String()) {
			t.Errorf("a report contains %q", s)
		}
	}
}

// htmlAuthorize answers authorization requests with an HTML error page, as a server must when
// it cannot trust the redirect URI (RFC 6749 §4.1.2.1). HTML is right there, and the error-body
// check must not count it against the server.
type htmlAuthorize struct{ *goodServer }

func (h htmlAuthorize) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/authorize" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte("<!DOCTYPE html><title>Wrong return address</title>"))
		return
	}
	h.goodServer.ServeHTTP(w, r)
}

func TestAuthorizationErrorPage(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	srv := serveTLS(t, htmlAuthorize{newGoodServer(100)}, p.leaf(t, leafOpts{}), nil)
	rep := run(t, Options{Target: srv.URL, ClientID: testClientID, ClientSecret: testClientSecret, RootCAs: p.pool, Only: []string{"OAUTH-09", "HTTP-11"}})
	if got, want := verdicts(rep), map[string]string{"as-pkce": "WARN", "error-bodies": "PASS", "spec-errors": "SKIP"}; !cmp.Equal(got, want) {
		t.Errorf("verdicts %v, want %v\n%s", got, want, reasons(rep))
	}
}
