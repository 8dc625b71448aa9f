package authserver

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// get serves a GET in process.
func get(h http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func TestMetadataGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		golden string
		people bool
	}{
		{"metadata_machine.golden.json", false}, // client credentials only
		{"metadata.golden.json", true},          // every flow
	} {
		t.Run(tc.golden, func(t *testing.T) {
			t.Parallel()
			// The keys a default configuration keeps: ES256 and RS256 (OIDC Discovery §3).
			deps := Deps{Clients: fixtureClients(), Secrets: testSecrets, Sealer: testSealer, Keys: newDefaultFakeKeys(t), Logger: discardLogger()}
			if tc.people {
				deps.Sessions, deps.Users, deps.Limiter = newFakeSessions(), fakeUsers{}, newFakeLimiter(time.Now)
				deps.Replay = &fakeReplay{}
			}
			srv, err := New(testConfig("https://tiaki.test"), deps)
			if err != nil {
				t.Fatal(err)
			}
			oidcDoc := get(srv.Handler(), PathOIDCMetadata)
			oauthDoc := get(srv.Handler(), PathOAuthMetadata)
			if oidcDoc.Code != http.StatusOK || oauthDoc.Code != http.StatusOK {
				t.Fatalf("status %d and %d", oidcDoc.Code, oauthDoc.Code)
			}
			if !bytes.Equal(oidcDoc.Body.Bytes(), oauthDoc.Body.Bytes()) {
				t.Fatalf("the OIDC and RFC 8414 documents differ:\n%s\n%s", oidcDoc.Body, oauthDoc.Body)
			}
			golden := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(golden, oidcDoc.Body.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), oidcDoc.Body.String()); diff != "" {
				t.Errorf("metadata differs from %s (-want +got; go test -update if intended):\n%s", golden, diff)
			}
		})
	}
}

// TestMetadataFullServed checks that with every flow on, each advertised endpoint is served
// and the document says exactly what the authorization endpoint accepts.
func TestMetadataFullServed(t *testing.T) {
	t.Parallel()
	env := newPeopleEnv(t)
	resp, err := env.ts.Client().Get(env.issuer + PathOIDCMetadata)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		metadata
		UserInfo        string   `json:"userinfo_endpoint"`
		EndSession      string   `json:"end_session_endpoint"`
		ResponseModes   []string `json:"response_modes_supported"`
		PKCEMethods     []string `json:"code_challenge_methods_supported"`
		ClaimsSupported []string `json:"claims_supported"`
	}
	if err := jsonDecode(resp.Body, &m); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	checks := []struct {
		name      string
		got, want []string
	}{
		{"response_types_supported", m.ResponseTypes, []string{"code"}},
		{"response_modes_supported", m.ResponseModes, []string{"query"}},
		{"code_challenge_methods_supported", m.PKCEMethods, []string{"S256"}},
		{"grant_types_supported", m.GrantTypes, []string{"client_credentials", "authorization_code", "refresh_token"}},
		{"token_endpoint_auth_methods_supported", m.TokenAuthMethods,
			[]string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}},
	}
	for _, c := range checks {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if !slices.Contains(m.ClaimsSupported, "email") || !m.IssParameterSupported {
		t.Errorf("claims_supported %v, iss parameter %v", m.ClaimsSupported, m.IssParameterSupported)
	}
	for _, u := range []string{m.AuthorizationEndpoint, m.UserInfo, m.EndSession} {
		if !strings.HasPrefix(u, env.issuer+"/") {
			t.Fatalf("endpoint %q is not under the issuer", u)
		}
		resp, err := env.ts.Client().Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
			t.Errorf("advertised endpoint %s: %d", u, resp.StatusCode)
		}
	}
}

// metadata is what the checks below read from a discovery document.
type metadata struct {
	Issuer                      string   `json:"issuer"`
	TokenEndpoint               string   `json:"token_endpoint"`
	JWKSURI                     string   `json:"jwks_uri"`
	IntrospectionEndpoint       string   `json:"introspection_endpoint"`
	RevocationEndpoint          string   `json:"revocation_endpoint"`
	RegistrationEndpoint        string   `json:"registration_endpoint"`
	AuthorizationEndpoint       string   `json:"authorization_endpoint"`
	ResponseTypes               []string `json:"response_types_supported"`
	GrantTypes                  []string `json:"grant_types_supported"`
	TokenAuthMethods            []string `json:"token_endpoint_auth_methods_supported"`
	IssParameterSupported       bool     `json:"authorization_response_iss_parameter_supported"`
	IntrospectionAuthMethods    []string `json:"introspection_endpoint_auth_methods_supported"`
	ScopesSupported             []string `json:"scopes_supported"`
	IDTokenSigningAlgsSupported []string `json:"id_token_signing_alg_values_supported"`
}

func TestMetadataOverTLS(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	var docs [2][]byte
	for i, path := range []string{PathOIDCMetadata, PathOAuthMetadata} {
		resp, err := env.ts.Client().Get(env.issuer + path)
		if err != nil {
			t.Fatal(err)
		}
		docs[i], _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=") {
			t.Fatalf("%s: %d, Cache-Control %q", path, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	}
	if !bytes.Equal(docs[0], docs[1]) {
		t.Fatal("the OIDC and RFC 8414 documents differ")
	}
	var m metadata
	if err := json.Unmarshal(docs[0], &m); err != nil {
		t.Fatal(err)
	}
	if m.Issuer != env.issuer {
		t.Errorf("issuer = %q, want exactly %q", m.Issuer, env.issuer)
	}
	if !m.IssParameterSupported {
		t.Error("authorization_response_iss_parameter_supported is not true (RFC 9207)")
	}
	if m.RegistrationEndpoint != "" || m.AuthorizationEndpoint != "" {
		t.Errorf("advertises endpoints that are not served: %q %q", m.RegistrationEndpoint, m.AuthorizationEndpoint)
	}
	for _, rt := range m.ResponseTypes {
		if rt != "code" {
			t.Errorf("response type %q advertised; implicit and hybrid flows are never offered", rt)
		}
	}
	if want := []string{"client_credentials"}; !slices.Equal(m.GrantTypes, want) {
		t.Errorf("grant_types_supported = %v, want %v", m.GrantTypes, want)
	}
	if want := []string{"client_secret_basic", "client_secret_post"}; !slices.Equal(m.TokenAuthMethods, want) ||
		!slices.Equal(m.IntrospectionAuthMethods, want) {
		t.Errorf("auth methods = %v / %v, want %v", m.TokenAuthMethods, m.IntrospectionAuthMethods, want)
	}
	// Every advertised endpoint is served (a POST-only endpoint answers GET with 405, not 404).
	for _, u := range []string{m.TokenEndpoint, m.JWKSURI, m.IntrospectionEndpoint, m.RevocationEndpoint} {
		if !strings.HasPrefix(u, env.issuer+"/") {
			t.Errorf("endpoint %q is not under the issuer", u)
			continue
		}
		resp, err := env.ts.Client().Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			t.Errorf("advertised endpoint %s is not served", u)
		}
	}
	// The registration endpoint the engine would offer is not routed.
	resp, err := env.ts.Client().Post(env.issuer+"/register", "application/json", strings.NewReader(`{"redirect_uris":["https://evil.example/cb"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /register: %d, want 404", resp.StatusCode)
	}
}

// TestIndependentOIDCClient has coreos/go-oidc discover the server and verify an access
// token's signature, issuer and expiry through the published JWKS.
func TestIndependentOIDCClient(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ctx := oidc.ClientContext(context.Background(), env.ts.Client())
	p, err := oidc.NewProvider(ctx, env.issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	tok := env.token(t, "demo-client", demoSecret, "")
	v := p.VerifierContext(ctx, &oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: []string{"ES256"}})
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("verify access token: %v", err)
	}
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	resp, err := env.ts.Client().Get(env.issuer + PathJWKS)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
		t.Errorf("Cache-Control = %q, want a max-age", cc)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := jsonDecode(resp.Body, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || set.Keys[0]["kid"] != "es256-1" || set.Keys[0]["alg"] != "ES256" || set.Keys[0]["use"] != "sig" {
		t.Fatalf("keys = %v, want the one ES256 signing key", set.Keys)
	}
	for _, k := range set.Keys {
		for _, m := range privateMembers {
			if _, ok := k[m]; ok {
				t.Errorf("key %v has private member %q", k["kid"], m)
			}
		}
	}
}

func TestJWKSRefusesPrivateMembers(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	leaky, err := json.Marshal(env.keys.PrivateJWKS()) // a Keys bug: the private set as the public one
	if err != nil {
		t.Fatal(err)
	}
	env.keys.setPublic(leaky)
	rec := get(env.srv.Handler(), PathJWKS)
	if rec.Code != http.StatusInternalServerError || bytes.Contains(rec.Body.Bytes(), []byte(`"d"`)) {
		t.Fatalf("got %d %s, want 500 without key material", rec.Code, rec.Body)
	}
	if !strings.Contains(env.logs.String(), "private member") {
		t.Errorf("the refusal is not logged:\n%s", env.logs)
	}
}
