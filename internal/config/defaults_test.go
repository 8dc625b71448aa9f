package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tiaki-nz/tiaki"
)

func TestEmptyFileIsAllDefaults(t *testing.T) {
	t.Parallel()
	for _, data := range []string{"", "# nothing but a comment\n", "---\n"} {
		c, err := Parse("tiaki.yaml", []byte(data))
		if err != nil {
			t.Fatalf("Parse(%q): %v", data, err)
		}
		want := &Config{
			Issuer:  "https://127.0.0.1:8443",
			Profile: "nz-baseline",
			Log:     Log{Level: "info", Format: "auto"},
			Listen:  Listen{AuthServer: "127.0.0.1:8443", Gateway: "127.0.0.1:8444", Ops: "127.0.0.1:9090"},
			Store:   Store{Driver: "sqlite", OutageGrace: Duration{DefaultOutageGrace}},
			Keys:    Keys{Algorithms: []string{"ES256", "RS256"}, RotateEvery: Duration{720 * time.Hour}, Prepublish: Duration{time.Hour}},
			Tokens: Tokens{
				AccessTokenTTL:       Duration{10 * time.Minute},
				RefreshTokenTTL:      Duration{24 * time.Hour},
				AuthorizationCodeTTL: Duration{60 * time.Second},
				AccessTokenFormat:    "jwt",
			},
			Gateway: Gateway{UnknownRouteStatus: 404, ClockLeeway: Duration{5 * time.Second}},
			Path:    "tiaki.yaml",
		}
		if diff := cmp.Diff(want, c, cmpopts.IgnoreUnexported(Config{})); diff != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", data, diff)
		}
	}
}

func TestAPIDefaults(t *testing.T) {
	t.Parallel()
	c, err := Parse("tiaki.yaml", []byte(`
tls: {client_ca: ca.pem}
apis:
  - {name: a, upstream: builtin:echo, match: {path_prefix: /a}}
  - {name: b, upstream: builtin:echo, match: {path_prefix: /b}, auth: {oauth2: {audience: "https://x/b"}}}
  - {name: c, upstream: builtin:echo, match: {path_prefix: /c}, auth: {mtls: required}}
  - {name: d, upstream: builtin:echo, auth: {api_key: "off"}}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Auth{
		{APIKey: "required", APIKeyHeader: "API-Key", MTLS: "off", Require: "all"},
		{APIKey: "off", OAuth2: &OAuth2{Audience: "https://x/b", Issuers: []string{SelfIssuer}}, MTLS: "off", Require: "all"},
		{APIKey: "off", MTLS: "required", MTLSConsumer: "subject_cn", Require: "all"},
		{APIKey: "off", MTLS: "off", Require: "all"},
	}
	for i, w := range want {
		if diff := cmp.Diff(w, c.APIs[i].Auth); diff != "" {
			t.Errorf("apis[%d].auth (-want +got):\n%s", i, diff)
		}
	}
	a := c.APIs[0]
	if diff := cmp.Diff([]string{"GET"}, a.Methods); diff != "" {
		t.Errorf("methods (-want +got):\n%s", diff)
	}
	if a.Limits != (Limits{MaxBody: 1 << 20, BodyTimeout: Duration{30 * time.Second}, Timeout: Duration{30 * time.Second}}) || a.InjectionProtection != "standard" {
		t.Errorf("limits = %+v, injection_protection = %q", a.Limits, a.InjectionProtection)
	}
	if c.APIs[3].Match.PathPrefix != "/" {
		t.Errorf("default path_prefix = %q, want /", c.APIs[3].Match.PathPrefix)
	}
}

func TestDefault(t *testing.T) {
	t.Parallel()
	demo := Demo{ClientSecret: tiaki.Secret(strings.Repeat("s", 43)), UserPassword: "demo-password-16"}
	c := Default(demo)
	if err := c.Validate(); err != nil {
		t.Fatalf("Default() is not valid:\n%v", err)
	}
	if !c.Demo || c.Path != "default.yaml" {
		t.Errorf("Demo = %v, Path = %q", c.Demo, c.Path)
	}
	wantAPI := API{
		Name: "demo", Upstream: "builtin:echo", Match: Match{PathPrefix: "/demo"}, StripPrefix: true,
		Auth: Auth{
			APIKey: "optional", APIKeyHeader: "API-Key", MTLS: "off", Require: "any",
			OAuth2: &OAuth2{
				Audience: "https://127.0.0.1:8444/demo",
				Scopes:   map[string][]string{"GET": {"demo:read"}, "POST": {"demo:write"}}, Issuers: []string{SelfIssuer},
			},
		},
		Methods:             []string{"GET", "POST"},
		RateLimit:           RateLimit{OnStoreError: "fail_open"},
		Limits:              Limits{MaxBody: 1 << 20, BodyTimeout: Duration{30 * time.Second}, Timeout: Duration{30 * time.Second}},
		InjectionProtection: "standard",
		Consumes:            []string{"application/json"},
		Produces:            []string{"application/json"},
	}
	wantClient := Client{
		ID: "demo-client", Name: "Demo client", AuthMethod: tiaki.AuthSecretBasic, Secret: demo.ClientSecret,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"demo:read", "demo:write"},
	}
	wantUser := User{
		Username: "demo", Password: demo.UserPassword,
		Claims: map[string]any{"name": "Demo User", "email": "demo@example.govt.nz"},
	}
	if diff := cmp.Diff([]API{wantAPI}, c.APIs); diff != "" {
		t.Errorf("apis (-want +got):\n%s", diff)
	}
	wantApp := Client{
		ID: "demo-app", Name: "Demo app", AuthMethod: tiaki.AuthNone,
		RedirectURIs: []string{"http://127.0.0.1/callback"},
		GrantTypes:   []string{"authorization_code", "refresh_token"},
		Scopes:       []string{"openid", "profile", "email", "offline_access", "demo:read"},
	}
	if diff := cmp.Diff([]Client{wantClient, wantApp}, c.Clients); diff != "" {
		t.Errorf("clients (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]User{wantUser}, c.Users); diff != "" {
		t.Errorf("users (-want +got):\n%s", diff)
	}
	if c.Issuer != DefaultIssuer || c.Listen.Gateway != DefaultGatewayAddr {
		t.Errorf("issuer %q, gateway %q: defaults not applied", c.Issuer, c.Listen.Gateway)
	}

	// Without secrets the default is invalid, and says where in default.yaml.
	err := Default(Demo{}).Validate()
	var es Errors
	if !errors.As(err, &es) || len(es) != 2 {
		t.Fatalf("Default(Demo{}).Validate() = %v, want two errors", err)
	}
	for i, key := range []string{"clients[0].secret", "users[0].password"} { // sorted by line
		if es[i].Key != key || es[i].File != "default.yaml" || es[i].Line == 0 {
			t.Errorf("error %d = %+v, want key %s in default.yaml with a line", i, es[i], key)
		}
	}
}
