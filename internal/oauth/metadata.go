package oauth

import (
	"net/url"
	"slices"
	"strings"
)

// Metadata is an authorization server's metadata document: every field of RFC 8414 §2, the
// OpenID Connect Discovery 1.0 §3 fields, and the fields later RFCs register (RFC 8628 device
// authorization, RFC 8705 mTLS, RFC 9101 JAR, RFC 9126 PAR, RFC 9207 issuer identification,
// RFC 9449 DPoP, CIBA). Lists that RFC 8414 gives a default when omitted have methods that
// apply it.
type Metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                              string   `json:"token_endpoint,omitempty"`
	JWKSURI                                    string   `json:"jwks_uri,omitempty"`
	RegistrationEndpoint                       string   `json:"registration_endpoint,omitempty"`
	ScopesSupported                            []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported,omitempty"`
	GrantTypesSupported                        []string `json:"grant_types_supported,omitempty"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	ServiceDocumentation                       string   `json:"service_documentation,omitempty"`
	RevocationEndpoint                         string   `json:"revocation_endpoint,omitempty"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported,omitempty"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint,omitempty"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported,omitempty"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported,omitempty"`

	// RFC 9207 §3: the server puts iss in every authorization response.
	AuthorizationResponseISSParameterSupported bool `json:"authorization_response_iss_parameter_supported,omitempty"`
	// RFC 9126 §5.
	PushedAuthorizationRequestEndpoint string `json:"pushed_authorization_request_endpoint,omitempty"`
	RequirePushedAuthorizationRequests bool   `json:"require_pushed_authorization_requests,omitempty"`
	// RFC 8628 §4.
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint,omitempty"`
	// RFC 8705 §3.3 and §5.
	TLSClientCertificateBoundAccessTokens bool              `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	MTLSEndpointAliases                   map[string]string `json:"mtls_endpoint_aliases,omitempty"`
	// RFC 9449 §5.1.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
	// OpenID CIBA Core §4.
	BackchannelAuthenticationEndpoint      string   `json:"backchannel_authentication_endpoint,omitempty"`
	BackchannelTokenDeliveryModesSupported []string `json:"backchannel_token_delivery_modes_supported,omitempty"`

	// OpenID Connect Discovery 1.0 §3.
	UserinfoEndpoint                       string   `json:"userinfo_endpoint,omitempty"`
	SubjectTypesSupported                  []string `json:"subject_types_supported,omitempty"`
	IDTokenSigningAlgValuesSupported       []string `json:"id_token_signing_alg_values_supported,omitempty"`
	IDTokenEncryptionAlgValuesSupported    []string `json:"id_token_encryption_alg_values_supported,omitempty"`
	IDTokenEncryptionEncValuesSupported    []string `json:"id_token_encryption_enc_values_supported,omitempty"`
	UserinfoSigningAlgValuesSupported      []string `json:"userinfo_signing_alg_values_supported,omitempty"`
	RequestObjectSigningAlgValuesSupported []string `json:"request_object_signing_alg_values_supported,omitempty"`
	ClaimsSupported                        []string `json:"claims_supported,omitempty"`
	ClaimTypesSupported                    []string `json:"claim_types_supported,omitempty"`
	RequestParameterSupported              bool     `json:"request_parameter_supported,omitempty"`
	RequestURIParameterSupported           *bool    `json:"request_uri_parameter_supported,omitempty"`
	IntrospectionSigningAlgValuesSupported []string `json:"introspection_signing_alg_values_supported,omitempty"`
	AuthorizationSigningAlgValuesSupported []string `json:"authorization_signing_alg_values_supported,omitempty"`
}

// GrantTypes returns grant_types_supported, or its RFC 8414 §2 default when the field is
// omitted: ["authorization_code", "implicit"]. A server that omits the field therefore
// advertises the implicit grant.
func (m *Metadata) GrantTypes() []string {
	if m.GrantTypesSupported == nil {
		return []string{string(GrantAuthorizationCode), string(GrantImplicit)}
	}
	return m.GrantTypesSupported
}

// OffersGrant reports whether the metadata advertises g, applying the RFC 8414 default.
func (m *Metadata) OffersGrant(g GrantType) bool {
	return slices.Contains(m.GrantTypes(), string(g))
}

// OffersImplicit reports whether any advertised response type returns a token from the
// authorization endpoint (the implicit grant, or a hybrid flow issuing an access token there:
// "token", "id_token token", "code token", "code id_token token"), or whether grant_types_supported
// lists "implicit" (explicitly or by its default).
func (m *Metadata) OffersImplicit() bool {
	for _, rt := range m.ResponseTypesSupported {
		if slices.Contains(strings.Fields(rt), string(ResponseToken)) {
			return true
		}
	}
	return m.OffersGrant(GrantImplicit)
}

// MetadataURLs returns the two places a client looks for an issuer's metadata: RFC 8414 §3.1
// inserts the well-known segment between host and path, OpenID Connect Discovery §4 appends it
// to the issuer. For an issuer without a path they differ only in the name.
func MetadataURLs(issuer string) (rfc8414, openid string, err error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return "", "", err
	}
	path := strings.TrimSuffix(u.Path, "/")
	a := *u
	a.Path = WellKnownAuthorizationServer + path
	a.RawPath = ""
	b := *u
	b.Path = path + WellKnownOpenIDConfiguration
	b.RawPath = ""
	return a.String(), b.String(), nil
}
