package authserver

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// benchServer is a Server on the real clock, called in process (no TLS, no sockets).
func benchServer(b *testing.B) http.Handler {
	b.Helper()
	srv, err := New(testConfig("https://tiaki.test"), Deps{
		Clients: fixtureClients(), Secrets: testSecrets, Sealer: testSealer, Keys: newFakeKeys(b, "k1"), Logger: discardLogger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	return srv.Handler()
}

func post(h http.Handler, path, body, authorization string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Authorization", authorization)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// BenchmarkClientCredentials measures the token endpoint's hot path: client lookup (cached),
// keyed-hash secret check, grant bookkeeping in memory, ES256 JWT signing.
func BenchmarkClientCredentials(b *testing.B) {
	h := benchServer(b)
	auth := basic("billing-service", billingSecret)
	body := "grant_type=client_credentials&scope=payments%3Aread"
	b.ReportAllocs()
	for b.Loop() {
		if rec := post(h, PathToken, body, auth); rec.Code != http.StatusOK {
			b.Fatalf("token: %d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkIntrospect measures introspection of a live JWT: client authentication, ES256
// verification and the grant lookup.
func BenchmarkIntrospect(b *testing.B) {
	h := benchServer(b)
	auth := basic("billing-service", billingSecret)
	rec := post(h, PathToken, "grant_type=client_credentials", auth)
	if rec.Code != http.StatusOK {
		b.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := jsonDecode(rec.Body, &tok); err != nil {
		b.Fatal(err)
	}
	body := url.Values{"token": {tok.AccessToken}}.Encode()
	b.ReportAllocs()
	for b.Loop() {
		rec := post(h, PathIntrospect, body, auth)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"active":true`) {
			b.Fatalf("introspect: %d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkClientCredentialsOpaque measures the token endpoint issuing opaque access tokens.
func BenchmarkClientCredentialsOpaque(b *testing.B) {
	h := benchServer(b)
	auth := basic("opaque-client", demoSecret)
	body := "grant_type=client_credentials&scope=payments%3Aread"
	b.ReportAllocs()
	for b.Loop() {
		if rec := post(h, PathToken, body, auth); rec.Code != http.StatusOK {
			b.Fatalf("token: %d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkIntrospectOpaque measures introspection of a live opaque token.
func BenchmarkIntrospectOpaque(b *testing.B) {
	h := benchServer(b)
	rec := post(h, PathToken, "grant_type=client_credentials", basic("opaque-client", demoSecret))
	if rec.Code != http.StatusOK {
		b.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := jsonDecode(rec.Body, &tok); err != nil {
		b.Fatal(err)
	}
	auth := basic("billing-service", billingSecret)
	body := url.Values{"token": {tok.AccessToken}}.Encode()
	b.ReportAllocs()
	for b.Loop() {
		rec := post(h, PathIntrospect, body, auth)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"active":true`) {
			b.Fatalf("introspect: %d %s", rec.Code, rec.Body)
		}
	}
}
