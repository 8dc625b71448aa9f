package authserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
)

// metadataMaxAge lets clients cache the discovery document.
const metadataMaxAge = "public, max-age=300"

// serveMetadata serves the same document at the OIDC Discovery path and at the RFC 8414 path
// (engine gap 4), so the two can never disagree.
func (s *Server) serveMetadata(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", metadataMaxAge)
	_, _ = w.Write(s.metadata)
}

// buildMetadata asks the engine for its discovery document once, then corrects it so it
// advertises exactly what this server routes and accepts.
func (s *Server) buildMetadata() ([]byte, error) {
	r, err := http.NewRequest(http.MethodGet, PathOIDCMetadata, nil)
	if err != nil {
		return nil, err
	}
	rec := &recorder{h: http.Header{}}
	s.engine.ServeHTTP(rec, r)
	if rec.status != http.StatusOK {
		return nil, fmt.Errorf("authserver: the engine's discovery document answered %d", rec.status)
	}
	var doc map[string]any
	if err := json.Unmarshal(rec.body.Bytes(), &doc); err != nil {
		return nil, fmt.Errorf("authserver: the engine's discovery document: %w", err)
	}

	if s.people() {
		// serveAuthorize accepts the query response mode only, and these prompt values.
		doc["response_modes_supported"] = []string{"query"}
		doc["prompt_values_supported"] = []string{"none", "login", "consent"}
		doc["end_session_endpoint"] = s.cfg.Issuer + PathLogout // RP-Initiated Logout §2.1
	} else {
		// Not served without the flows for people: the engine lists them whatever is enabled.
		for _, k := range []string{"authorization_endpoint", "userinfo_endpoint", "response_modes_supported"} {
			delete(doc, k)
		}
	}
	// The engine's registration store is only its client lookup; registration is not offered.
	delete(doc, "registration_endpoint")
	// RFC 8414 §2: response_types_supported is required; with no authorization endpoint, no
	// response type is supported.
	if _, ok := doc["response_types_supported"]; !ok {
		doc["response_types_supported"] = []string{}
	}
	// RFC 9207 §3.
	doc["authorization_response_iss_parameter_supported"] = true
	// Public clients may revoke their tokens (RFC 7009 §2.1) but never introspect
	// (serveIntrospect), so "none" is no introspection method.
	if methods := jsonStrings(doc["introspection_endpoint_auth_methods_supported"]); len(methods) > 0 {
		doc["introspection_endpoint_auth_methods_supported"] = slices.DeleteFunc(methods, func(m string) bool { return m == "none" })
	}

	if err := checkMetadata(doc, s.cfg.Issuer); err != nil {
		return nil, err
	}
	return json.MarshalIndent(doc, "", "  ")
}

// checkMetadata refuses a document that would advertise what Tiaki never offers, whatever a
// later option turns on in the engine: implicit response types and the password grant (OAuth
// 2.1 §2.1.2 and §10.1), client_secret_jwt (hashed secrets), or a different issuer.
func checkMetadata(doc map[string]any, issuer string) error {
	if doc["issuer"] != issuer {
		return fmt.Errorf("authserver: discovery issuer %v is not %s", doc["issuer"], issuer)
	}
	for _, rt := range jsonStrings(doc["response_types_supported"]) {
		if rt != "code" {
			return fmt.Errorf("authserver: discovery advertises response type %q", rt)
		}
	}
	if methods := jsonStrings(doc["code_challenge_methods_supported"]); len(methods) > 0 && !slices.Equal(methods, []string{"S256"}) {
		return fmt.Errorf("authserver: discovery advertises PKCE methods %v; S256 only (OAUTH-06)", methods)
	}
	for _, forbidden := range []struct{ key, value string }{
		{"grant_types_supported", "password"},
		{"grant_types_supported", "implicit"},
		{"token_endpoint_auth_methods_supported", "client_secret_jwt"},
	} {
		if slices.Contains(jsonStrings(doc[forbidden.key]), forbidden.value) {
			return fmt.Errorf("authserver: discovery advertises %s %q", forbidden.key, forbidden.value)
		}
	}
	if len(jsonStrings(doc["grant_types_supported"])) == 0 {
		return errors.New("authserver: discovery advertises no grant type")
	}
	return nil
}

// jsonStrings returns the string members of a JSON array value.
func jsonStrings(v any) []string {
	a, _ := v.([]any)
	out := make([]string, 0, len(a))
	for _, x := range a {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
