package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"unicode"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/oauth"
)

// Lower bounds on declared credentials. Client secrets are compared as keyed SHA-256 hashes,
// which is sound only for high-entropy secrets (RFC 6749 §10.10: guessing must be infeasible);
// user passwords follow NIST SP 800-63B §5.1.1.2 (at least 8 characters).
const (
	minClientSecret = 32
	minPassword     = 8
)

// Claims the server sets itself (RFC 7519 §4.1); a configured value would be ignored or wrong.
var reservedClaims = []string{"iss", "aud", "exp", "nbf", "iat", "jti", "auth_time"}

func (v *checker) users() {
	seen := map[string]int{}
	for i, u := range v.c.Users {
		key := indexKey("users", i)
		switch {
		case u.Username == "":
			v.errorf(key+".username", "is required")
		case !printable(u.Username) || len(u.Username) > 255:
			v.errorf(key+".username", "must be 1 to 255 printable characters without spaces")
		default:
			if j, dup := seen[u.Username]; dup {
				v.errorf(key+".username", "%s is already used by users[%d]", quoteShort(u.Username), j)
			} else {
				seen[u.Username] = i
			}
		}
		switch {
		case u.Password.IsZero():
			v.errorf(key+".password", "is required")
		case len([]rune(u.Password.Reveal())) < minPassword:
			v.errorf(key+".password", "must be at least %d characters (NIST SP 800-63B §5.1.1.2)", minPassword)
		}
		for _, name := range reservedClaims {
			if _, ok := u.Claims[name]; ok {
				v.errorf(key+".claims."+name, "is set by the server and cannot be configured")
			}
		}
	}
}

// Grant types Tiaki serves. OAuth 2.1 drops the implicit and resource owner password
// credentials grants (draft-ietf-oauth-v2-1 §10; RFC 9700 §2.1.2, §2.4).
var grantTypes = []string{
	"authorization_code",
	"refresh_token",
	"client_credentials",
	"urn:ietf:params:oauth:grant-type:device_code",
	"urn:openid:params:grant-type:ciba",
	"urn:ietf:params:oauth:grant-type:token-exchange",
	"urn:ietf:params:oauth:grant-type:jwt-bearer",
}

var authMethods = []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "tls_client_auth", "none"}

func (v *checker) clients() {
	seen := map[string]int{}
	for i, cl := range v.c.Clients {
		key := indexKey("clients", i)
		switch {
		case cl.ID == "":
			v.errorf(key+".id", "is required")
		case !printable(cl.ID) || len(cl.ID) > 255:
			// RFC 6749 Appendix A.1 allows spaces; Tiaki does not, so IDs survive logs and URLs.
			v.errorf(key+".id", "must be 1 to 255 printable characters without spaces")
		default:
			if j, dup := seen[cl.ID]; dup {
				v.errorf(key+".id", "%s is already used by clients[%d]", quoteShort(cl.ID), j)
			} else {
				seen[cl.ID] = i
			}
		}
		v.clientAuth(key, cl)
		v.grants(key, cl)
		v.redirectURIs(key, cl)
		for j, s := range cl.Scopes {
			if p := scopeProblem(s); p != "" {
				v.errorf(indexKey(key+".scopes", j), "%s", p)
			}
		}
		if cl.AccessTokenFormat != "" {
			v.oneOf(key+".access_token_format", cl.AccessTokenFormat, "jwt", "opaque")
		}
		// The server signs ID tokens only with the algorithms it keeps a key for.
		if alg := cl.IDTokenSignedResponseAlg; alg != "" && !slices.Contains(v.c.Keys.Algorithms, alg) {
			v.errorf(key+".id_token_signed_response_alg", "%s is not among keys.algorithms (%s)", quoteShort(alg), strings.Join(v.c.Keys.Algorithms, ", "))
		}
	}
}

// CheckClient validates one client as a configuration file's clients are validated, for
// clients created at run time (the CLI, the portal). c supplies the rest of the configuration
// the checks depend on (tls.client_ca). The secret is not checked: run-time clients get a
// generated one. Error keys name the client's own fields ("grant_types[1]").
func (c *Config) CheckClient(cl Client) error {
	if cl.AuthMethod.UsesSecret() {
		cl.Secret = tiaki.Secret(strings.Repeat("x", minClientSecret))
	}
	tmp := &Config{TLS: c.TLS, Clients: []Client{cl}}
	errs := &errorList{}
	(&checker{c: tmp, errs: errs}).clients()
	err := errs.err()
	var es Errors
	if errors.As(err, &es) {
		for _, e := range es {
			e.Key = strings.TrimPrefix(strings.TrimPrefix(e.Key, "clients[0]"), ".")
		}
	}
	return err
}

func (v *checker) clientAuth(key string, cl Client) {
	m := cl.AuthMethod
	if m == "" {
		v.errorf(key+".auth_method", "is required (%s)", strings.Join(authMethods, " | "))
		return
	}
	if !v.oneOf(key+".auth_method", string(m), authMethods...) {
		return
	}
	switch {
	case m.UsesSecret() && cl.Secret.IsZero():
		v.errorf(key+".secret", "is required for %s", m)
	case m.UsesSecret() && len(cl.Secret.Reveal()) < minClientSecret:
		v.errorf(key+".secret", "must be at least %d characters: it is stored as a fast keyed hash, which only a high-entropy secret makes safe (try: openssl rand -hex 32, URL-safe)", minClientSecret)
	case !m.UsesSecret() && !cl.Secret.IsZero():
		v.errorf(key+".secret", "is not used by %s; remove it", m)
	}
	if m == tiaki.AuthPrivateKeyJWT && len(cl.JWKS) == 0 {
		v.errorf(key+".jwks", "is required for private_key_jwt (RFC 7523 §2.2: the server verifies the client's signature with it)")
	}
	if len(cl.JWKS) > 0 {
		v.jwks(key+".jwks", cl.JWKS)
	}
	if m == tiaki.AuthTLSClient {
		if cl.TLSSubject == "" {
			v.errorf(key+".tls_subject", "is required for tls_client_auth (RFC 8705 §2.1.2)")
		}
		if v.c.TLS.ClientCA == "" {
			v.errorf(key+".auth_method", "tls_client_auth needs tls.client_ca to verify client certificates (RFC 8705 §2.1)")
		}
	}
}

// jwks checks the shape of a client's key set and that it holds public keys only: a private
// key pasted by mistake would sit in the store and in logs of the config.
func (v *checker) jwks(key string, raw json.RawMessage) {
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) == 0 {
		v.errorf(key, "want a JSON Web Key Set: a mapping with a non-empty list \"keys\" (RFC 7517 §5)")
		return
	}
	for i, k := range set.Keys {
		if _, ok := k["kty"].(string); !ok {
			v.errorf(indexKey(key+".keys", i), "has no \"kty\" (RFC 7517 §4.1)")
		}
		// RFC 7518 §6.2.2, §6.3.2, §6.4: the members that carry private or symmetric key material.
		for _, priv := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := k[priv]; ok {
				v.errorf(indexKey(key+".keys", i), "holds private key material (%q): register the public key only", priv)
				break
			}
		}
	}
}

func (v *checker) grants(key string, cl Client) {
	if len(cl.GrantTypes) == 0 {
		v.errorf(key+".grant_types", "list at least one grant type")
		return
	}
	for j, g := range cl.GrantTypes {
		gk := indexKey(key+".grant_types", j)
		switch {
		case g == "password":
			v.errorf(gk, "the resource owner password credentials grant was removed by OAuth 2.1 (RFC 9700 §2.4); use authorization_code")
		case g == "implicit" || g == "token":
			v.errorf(gk, "the implicit grant was removed by OAuth 2.1 (RFC 9700 §2.1.2); use authorization_code with PKCE")
		case !slices.Contains(grantTypes, g):
			v.errorf(gk, "%s is not a grant type Tiaki serves (want one of: %s)", quoteShort(g), strings.Join(grantTypes, ", "))
		case slices.Index(cl.GrantTypes, g) < j:
			v.errorf(gk, "%s is listed twice", g)
		}
	}
	if cl.AuthMethod == tiaki.AuthNone && slices.Contains(cl.GrantTypes, "client_credentials") {
		// RFC 6749 §4.4: the client credentials grant is for confidential clients only.
		v.errorf(key+".grant_types", "client_credentials needs a client that can authenticate; auth_method none cannot (RFC 6749 §4.4)")
	}
	if slices.Contains(cl.GrantTypes, "refresh_token") && !slices.Contains(cl.GrantTypes, "authorization_code") {
		// Tiaki issues refresh tokens only with authorization codes (RFC 6749 §4.4.3: never for
		// client credentials), so the grant type alone would never be used.
		v.errorf(key+".grant_types", "refresh_token needs authorization_code: refresh tokens are issued only with authorization codes")
	}
	if slices.Contains(cl.GrantTypes, "authorization_code") && len(cl.RedirectURIs) == 0 {
		// RFC 6749 §3.1.2.2 and OAuth 2.1: every client of the code flow registers its redirect URIs.
		v.errorf(key+".redirect_uris", "authorization_code needs at least one redirect URI (RFC 6749 §3.1.2.2)")
	}
}

func (v *checker) redirectURIs(key string, cl Client) {
	for j, raw := range cl.RedirectURIs {
		rk := indexKey(key+".redirect_uris", j)
		u, err := url.Parse(raw)
		switch {
		case err != nil || !u.IsAbs() || u.Host == "":
			v.errorf(rk, "%s is not an absolute URL", quoteShort(raw))
		case u.Fragment != "" || strings.Contains(raw, "#"):
			v.errorf(rk, "must not contain a fragment (RFC 6749 §3.1.2)")
		case strings.Contains(raw, "*"):
			v.errorf(rk, "wildcards are not allowed: redirect URIs are compared exactly (RFC 9700 §2.1)")
		case u.Scheme == "https":
		case u.Scheme == "http" && isLoopback(u.Hostname()):
			// RFC 8252 §7.3: native apps may receive the response on an http loopback address.
		default:
			v.errorf(rk, "must use https, or http on a loopback address (127.0.0.1, [::1], localhost; RFC 8252 §7.3)")
		}
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// scopeProblem says why s is not a valid scope (oauth.ValidScope), or "" when it is one.
func scopeProblem(s string) string {
	switch {
	case oauth.ValidScope(s):
		return ""
	case len(s) > oauth.MaxScopeLength:
		return fmt.Sprintf("%s is longer than %d characters, the longest scope Tiaki accepts", quoteShort(s), oauth.MaxScopeLength)
	}
	return quoteShort(s) + " is not a scope token (RFC 6749 §3.3)"
}

// printable reports whether s is non-empty and has no spaces or control characters.
func printable(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
