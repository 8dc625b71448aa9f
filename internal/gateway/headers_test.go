package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIdentityAndCorrelation(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(echo("main"))
	t.Cleanup(up.Close)
	g, err := New([]Route{
		{Name: "proxied", PathPrefix: "/p", Upstream: mustURL(t, up.URL), Methods: []string{"GET"}},
		{Name: "builtin", PathPrefix: "/b", UpstreamHandler: echo("builtin"), Methods: []string{"GET"}},
	}, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.CloseIdleConnections)
	front, client := serveTLS(t, g)

	forged := http.Header{
		"Tiaki-Identity":      {"admin"},
		"X-Forwarded-User":    {"admin"},
		"X-Consumer-Id":       {"admin"},
		"X-Consumer-Username": {"admin"},
		"X-Consumer_Custom":   {"admin"},
		"X-Forwarded-For":     {"6.6.6.6"},
		"Forwarded":           {"for=6.6.6.6"},
		"Client-Cert":         {":MIIB:"},
		"Remote-User":         {"admin"},
		"X-Remote-User":       {"admin"},
		"Ssl-Client-Verify":   {"SUCCESS"},
		"Accept":              {"application/json"},
	}
	for _, path := range []string{"/p", "/b"} {
		t.Run(path, func(t *testing.T) {
			for _, tc := range []struct{ name, sent string }{{"client ID reused", "caller-123"}, {"ID generated", ""}} {
				h := forged.Clone()
				if tc.sent != "" {
					h.Set("Request-Transaction-Id", tc.sent)
				}
				res := send(t, client, "GET", front.URL+path, h, nil)
				if res.status != 200 || res.echo == nil {
					t.Fatalf("%s: status %d: %s", tc.name, res.status, res.body)
				}
				for k := range forged {
					if k == "Accept" || k == "X-Forwarded-For" {
						continue
					}
					if v := res.echo.Header.Values(k); len(v) > 0 {
						t.Errorf("%s: upstream received %s: %q", tc.name, k, v)
					}
				}
				if res.echo.Header.Get("Accept") != "application/json" {
					t.Errorf("%s: ordinary header lost", tc.name)
				}
				if path == "/p" && res.echo.Header.Get("X-Forwarded-For") != "127.0.0.1" {
					t.Errorf("%s: X-Forwarded-For %q, want only the real peer", tc.name, res.echo.Header.Get("X-Forwarded-For"))
				}
				up, down := res.echo.Header.Get("Request-Transaction-Id"), res.header.Values("Response-Correlation-Id")
				if up == "" || !cmp.Equal(down, []string{up}) || tc.sent != "" && up != tc.sent {
					t.Errorf("%s: upstream got ID %q, client got %q, client sent %q", tc.name, up, down, tc.sent)
				}
				if res.header.Get("Cache-Control") != "max-age=60" && path == "/p" {
					t.Errorf("%s: unauthenticated response Cache-Control %q, want the upstream's", tc.name, res.header.Get("Cache-Control"))
				}
			}
		})
	}
}

// An upstream 1xx makes ReverseProxy clear the response headers set so far; the gateway's
// headers must still be on the final response.
func TestHeadersAfterInformational(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(echo("main"))
	t.Cleanup(up.Close)
	g, err := New([]Route{{Name: "p", PathPrefix: "/p", Upstream: mustURL(t, up.URL), Methods: []string{"POST"}}},
		Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.CloseIdleConnections)
	front, client := serveTLS(t, g)
	h := http.Header{"Expect": {"100-continue"}, "Content-Type": {"text/plain"}, "Request-Transaction-Id": {"id-1"}}
	res := send(t, client, "POST", front.URL+"/p", h, strings.NewReader(strings.Repeat("a", 2000)))
	if res.status != 200 || res.echo == nil || res.echo.BodyLen != 2000 {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	for k, v := range map[string]string{"Strict-Transport-Security": "max-age=31536000", "X-Content-Type-Options": "nosniff",
		"Response-Correlation-Id": "id-1"} {
		if got := res.header.Values(k); !cmp.Equal(got, []string{v}) {
			t.Errorf("%s = %q, want [%q]", k, got, v)
		}
	}
}

func TestIdentityHeader(t *testing.T) {
	for k, want := range map[string]bool{
		"Tiaki-Identity": true, "X-Consumer-Id": true, "x-consumer_groups": true, "X-Forwarded-User": true,
		"X_FORWARDED_USER": true, "Client-Cert": true, "Remote-User": true, "X-Amzn-Oidc-Data": true,
		"Accept": false, "Authorization": false, "Api-Key": false, "Request-Transaction-Id": false,
		"X-Forwarded-For": false, "X-" + strings.Repeat("a", 100): false, "Tiaki-" + strings.Repeat("a", 100): true,
	} {
		if got := identityHeader(k); got != want {
			t.Errorf("identityHeader(%q) = %v, want %v", k, got, want)
		}
	}
	h := http.Header{"Accept": {"x"}, "X-Consumer-Id": {"y"}, "Tiaki-Identity": {"z"}}
	if n := testing.AllocsPerRun(100, func() {
		h["X-Consumer-Id"] = nil
		stripIdentity(h)
	}); n != 0 {
		t.Errorf("stripIdentity allocates %v times", n)
	}
}
