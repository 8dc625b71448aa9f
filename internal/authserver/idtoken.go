package authserver

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// The engine signs ID tokens in the code and refresh flows without at_hash (it hashes the
// access token only for implicit responses). OIDC Core §3.1.3.6 makes at_hash optional there,
// but a client that checks it (go-oidc's VerifyAccessToken) needs it, and it binds the ID
// token to the access token issued beside it. withATHash adds it to a token response and
// signs the ID token again with the same key. This costs one signature per code exchange or
// refresh, never on the client-credentials hot path.

// withATHash returns the token response body with at_hash in its ID token; a body without an
// ID token comes back unchanged. A refreshed ID token also loses the nonce the engine copies
// from the original: a refresh is no authentication request, and OIDC Core errata (§12.2)
// lets the nonce be absent there.
func (s *Server) withATHash(body []byte, refreshed bool) ([]byte, error) {
	var resp map[string]json.RawMessage
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("token response: %w", err)
	}
	var idToken, accessToken string
	if raw, ok := resp["id_token"]; !ok || json.Unmarshal(raw, &idToken) != nil || idToken == "" {
		return body, nil
	}
	if err := json.Unmarshal(resp["access_token"], &accessToken); err != nil || accessToken == "" {
		return nil, errors.New("token response has an ID token but no access token")
	}
	signed, err := s.resign(idToken, func(claims map[string]any, alg string) error {
		h, err := halfHash(accessToken, alg)
		claims["at_hash"] = h
		if refreshed {
			delete(claims, "nonce")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	resp["id_token"], _ = json.Marshal(signed) // a string: cannot fail
	return json.Marshal(resp)
}

// resign parses a JWS the engine has just signed, lets edit change its claims, and signs the
// result with the same key and algorithm.
func (s *Server) resign(token string, edit func(claims map[string]any, alg string) error) (string, error) {
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512, jose.RS256, jose.RS384, jose.RS512})
	if err != nil || len(jws.Signatures) != 1 {
		return "", fmt.Errorf("ID token: %w", errors.Join(err, errors.New("want one signature")))
	}
	hdr := jws.Signatures[0].Protected
	var claims map[string]any
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil {
		return "", fmt.Errorf("ID token claims: %w", err)
	}
	if err := edit(claims, hdr.Algorithm); err != nil {
		return "", err
	}
	var key *jose.JSONWebKey
	keys := s.keys.snapshot().set.Keys
	for i := range keys {
		if keys[i].KeyID == hdr.KeyID && !keys[i].IsPublic() {
			key = &keys[i]
			break
		}
	}
	if key == nil {
		return "", fmt.Errorf("ID token: no private key %q", hdr.KeyID)
	}
	opts := (&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), hdr.KeyID)
	if typ, ok := hdr.ExtraHeaders[jose.HeaderType]; ok {
		opts = opts.WithHeader(jose.HeaderType, typ)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(hdr.Algorithm), Key: key.Key}, opts)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	out, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return out.CompactSerialize()
}

// halfHash is the at_hash of OIDC Core §3.1.3.6: the left half of the hash of the token, with
// the hash of the ID token's signature algorithm, base64url.
func halfHash(token, alg string) (string, error) {
	var sum []byte
	switch {
	case strings.HasSuffix(alg, "256"):
		h := sha256.Sum256([]byte(token))
		sum = h[:]
	case strings.HasSuffix(alg, "384"):
		h := sha512.Sum384([]byte(token))
		sum = h[:]
	case strings.HasSuffix(alg, "512"):
		h := sha512.Sum512([]byte(token))
		sum = h[:]
	default:
		return "", fmt.Errorf("at_hash: algorithm %q", alg)
	}
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]), nil
}
