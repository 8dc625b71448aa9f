package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestError(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		body   string
		want   *Error
		wantOK bool
	}{
		{name: "full", body: `{"error":"invalid_grant","error_description":"expired","error_uri":"https://x"}`,
			want: &Error{Code: ErrInvalidGrant, Description: "expired", URI: "https://x"}, wantOK: true},
		{name: "code only", body: `{"error":"invalid_client"}`, want: &Error{Code: ErrInvalidClient}, wantOK: true},
		{name: "no code", body: `{"error_description":"x"}`},
		{name: "not json", body: `<html>`},
		{name: "array", body: `["error"]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := ParseError([]byte(c.body))
			if ok != c.wantOK || !cmp.Equal(got, c.want) {
				t.Errorf("ParseError = %+v, %v; want %+v, %v", got, ok, c.want, c.wantOK)
			}
		})
	}
	e := &Error{Code: ErrInvalidGrant, Description: "d"}
	if got := e.Error(); got != "oauth: invalid_grant: d" {
		t.Errorf("Error() = %q", got)
	}
	wrapped := fmt.Errorf("token: %w", e)
	if !errors.Is(wrapped, &Error{Code: ErrInvalidGrant}) || errors.Is(wrapped, &Error{Code: ErrInvalidClient}) {
		t.Error("errors.Is does not match by code")
	}
	b, _ := json.Marshal(&Error{Code: ErrInvalidRequest})
	if string(b) != `{"error":"invalid_request"}` {
		t.Errorf("marshal = %s", b)
	}
}

func TestMetadataDefaults(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name         string
		doc          string
		wantImplicit bool
		wantCode     bool
	}{
		{name: "grant types omitted: RFC 8414 default includes implicit", doc: `{"issuer":"https://a","response_types_supported":["code"]}`, wantImplicit: true, wantCode: true},
		{name: "code only", doc: `{"issuer":"https://a","response_types_supported":["code"],"grant_types_supported":["authorization_code"]}`, wantCode: true},
		{name: "token response type", doc: `{"issuer":"https://a","response_types_supported":["code","token"],"grant_types_supported":["authorization_code"]}`, wantImplicit: true, wantCode: true},
		{name: "hybrid issuing a token", doc: `{"issuer":"https://a","response_types_supported":["code id_token token"],"grant_types_supported":["authorization_code"]}`, wantImplicit: true, wantCode: true},
		{name: "hybrid without a token", doc: `{"issuer":"https://a","response_types_supported":["code id_token"],"grant_types_supported":["authorization_code"]}`, wantCode: true},
		{name: "machine only", doc: `{"issuer":"https://a","response_types_supported":[],"grant_types_supported":["client_credentials"]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var m Metadata
			if err := json.Unmarshal([]byte(c.doc), &m); err != nil {
				t.Fatal(err)
			}
			if got := m.OffersImplicit(); got != c.wantImplicit {
				t.Errorf("OffersImplicit = %v", got)
			}
			if got := m.OffersGrant(GrantAuthorizationCode); got != c.wantCode {
				t.Errorf("OffersGrant(authorization_code) = %v", got)
			}
		})
	}
}

func TestMetadataURLs(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ issuer, rfc, oidc string }{
		{"https://as.example", "https://as.example/.well-known/oauth-authorization-server", "https://as.example/.well-known/openid-configuration"},
		{"https://as.example/", "https://as.example/.well-known/oauth-authorization-server", "https://as.example/.well-known/openid-configuration"},
		{"https://as.example:8443/tenant/1", "https://as.example:8443/.well-known/oauth-authorization-server/tenant/1", "https://as.example:8443/tenant/1/.well-known/openid-configuration"},
	} {
		rfc, oidc, err := MetadataURLs(c.issuer)
		if err != nil || rfc != c.rfc || oidc != c.oidc {
			t.Errorf("MetadataURLs(%q) = %q, %q, %v", c.issuer, rfc, oidc, err)
		}
	}
}

func TestAudience(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want Audience
		out  string
	}{
		{`"a"`, Audience{"a"}, `"a"`},
		{`["a","b"]`, Audience{"a", "b"}, `["a","b"]`},
	} {
		var a Audience
		if err := json.Unmarshal([]byte(c.in), &a); err != nil || !cmp.Equal(a, c.want) {
			t.Errorf("unmarshal %s = %v, %v", c.in, a, err)
		}
		if b, _ := json.Marshal(a); string(b) != c.out {
			t.Errorf("marshal %v = %s", a, b)
		}
	}
	var a Audience
	if err := json.Unmarshal([]byte(`3`), &a); err == nil {
		t.Error("a number was accepted as an audience")
	}
	var ir IntrospectionResponse
	if err := json.Unmarshal([]byte(`{"active":true,"aud":"x","exp":5}`), &ir); err != nil || !ir.Aud.Contains("x") {
		t.Errorf("introspection aud: %v %v", ir, err)
	}
}
