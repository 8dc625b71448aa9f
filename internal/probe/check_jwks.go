package probe

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
)

// privateMembers are JWK members that hold private or symmetric key material (RFC 7518 §6).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

const maxJWKs = 100

// OIDC-03 / TTM-02: tokens are signed, so the key set must hold public keys only (a published
// private or symmetric key lets anyone mint tokens), well-formed and strong enough to verify.
func checkJWKS(ctx context.Context, s *session) []result {
	m, r, ok := s.needIssuer(ctx)
	if !ok {
		return []result{r}
	}
	subject := s.issuer.String()
	if m.JWKSURI == "" {
		return []result{fail(subject, "the metadata names no jwks_uri")}
	}
	if !strings.HasPrefix(m.JWKSURI, "https://") {
		return []result{fail(subject, "jwks_uri %s is not https", m.JWKSURI)}
	}
	resp, err := s.get(ctx, m.JWKSURI)
	if err != nil {
		return []result{errResult(subject, err)}
	}
	if resp.Status != http.StatusOK {
		return []result{fail(subject, "jwks_uri answered %d", resp.Status)}
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(resp.Body, &set); err != nil || set.Keys == nil {
		return []result{fail(subject, "jwks_uri does not hold a JSON Web Key Set (RFC 7517 §5)")}
	}
	if len(set.Keys) == 0 {
		return []result{fail(subject, "the key set is empty")}
	}
	if len(set.Keys) > maxJWKs {
		return []result{warn(subject, "the key set holds %d keys; only the first %d were checked", len(set.Keys), maxJWKs)}
	}
	var problems, notes []string
	kids := map[string]bool{}
	for i, k := range set.Keys {
		kid, _ := k["kid"].(string)
		name := fmt.Sprintf("key %d", i)
		if kid != "" {
			name = fmt.Sprintf("key %q", kid)
			if kids[kid] {
				notes = append(notes, fmt.Sprintf("kid %q appears twice", kid))
			}
			kids[kid] = true
		} else {
			notes = append(notes, name+" has no kid")
		}
		for _, p := range privateMembers {
			if _, ok := k[p]; ok {
				problems = append(problems, fmt.Sprintf("%s publishes private or symmetric key material (member %q)", name, p))
			}
		}
		switch kty, _ := k["kty"].(string); kty {
		case "RSA":
			if bits := b64Bits(k["n"]); bits < 2048 {
				problems = append(problems, fmt.Sprintf("%s is an RSA key of %d bits (under 2048)", name, bits))
			}
		case "EC":
			if crv, _ := k["crv"].(string); !slices.Contains([]string{"P-256", "P-384", "P-521"}, crv) {
				problems = append(problems, fmt.Sprintf("%s has unknown curve %q", name, crv))
			}
		case "OKP":
		case "oct":
			// the member "k" above has already been reported
		default:
			problems = append(problems, fmt.Sprintf("%s has kty %q", name, kty))
		}
		if alg, _ := k["alg"].(string); alg == "none" || strings.HasPrefix(alg, "HS") {
			problems = append(problems, fmt.Sprintf("%s has alg %q", name, alg))
		}
	}
	switch {
	case len(problems) > 0:
		return []result{fail(subject, "%s", strings.Join(problems, "; "))}
	case len(notes) > 0:
		return []result{warn(subject, "%d public keys; %s", len(set.Keys), strings.Join(notes, "; "))}
	}
	return []result{pass(subject, "%d public keys, no private parts", len(set.Keys))}
}

// b64Bits is the bit length of a base64url-encoded big-endian integer (a JWK's n).
func b64Bits(v any) int {
	s, _ := v.(string)
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0
	}
	return new(big.Int).SetBytes(b).BitLen()
}

// INT-05: NZISM algorithms only (no none, no RSA1_5); INT-08: tokens signed with an asymmetric
// algorithm; OIDC-03: none never listed for ID tokens.
func checkAlgorithms(ctx context.Context, s *session) []result {
	m, r, ok := s.needIssuer(ctx)
	if !ok {
		return []result{r}
	}
	subject := s.issuer.String()
	lists := map[string][]string{
		"id_token_signing_alg_values_supported":            m.IDTokenSigningAlgValuesSupported,
		"id_token_encryption_alg_values_supported":         m.IDTokenEncryptionAlgValuesSupported,
		"userinfo_signing_alg_values_supported":            m.UserinfoSigningAlgValuesSupported,
		"request_object_signing_alg_values_supported":      m.RequestObjectSigningAlgValuesSupported,
		"token_endpoint_auth_signing_alg_values_supported": m.TokenEndpointAuthSigningAlgValuesSupported,
		"introspection_signing_alg_values_supported":       m.IntrospectionSigningAlgValuesSupported,
		"authorization_signing_alg_values_supported":       m.AuthorizationSigningAlgValuesSupported,
		"dpop_signing_alg_values_supported":                m.DPoPSigningAlgValuesSupported,
	}
	var problems, notes []string
	n := 0
	for _, name := range sortedKeys(lists) {
		for _, alg := range lists[name] {
			n++
			switch {
			case alg == "none" || alg == "RSA1_5":
				problems = append(problems, fmt.Sprintf("%s lists %s", name, alg))
			case strings.HasPrefix(alg, "HS") && name != "token_endpoint_auth_signing_alg_values_supported":
				notes = append(notes, fmt.Sprintf("%s lists %s (a shared secret, not a signature)", name, alg))
			}
		}
	}
	switch {
	case len(problems) > 0:
		return []result{fail(subject, "%s", strings.Join(problems, "; "))}
	case len(notes) > 0:
		return []result{warn(subject, "%s", strings.Join(notes, "; "))}
	case n == 0:
		return []result{skip(subject, "the metadata advertises no algorithms")}
	}
	return []result{pass(subject, "%d algorithm values advertised, none weak", n)}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
