package probe

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

const (
	testClientID     = "probe-client"
	testClientSecret = "s3cret-client-secret-value-0123456789"
)

// goodServer is an API and authorization server on one origin that does what the NZ
// guidelines ask, so every check it can pass, passes.
type goodServer struct {
	mu      sync.Mutex
	hits    int
	limit   int // requests to the API before 429
	tokens  map[string]bool
	refresh map[string]bool // refresh token → still valid
	issued  int
}

func newGoodServer(limit int) *goodServer {
	return &goodServer{limit: limit, tokens: map[string]bool{}, refresh: map[string]bool{}}
}

func problem(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"status":%d,"errors":[{"code":%q,"description":"see the documentation"}]}`, status, code)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (g *goodServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Strict-Transport-Security", "max-age=31536000")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	id := r.Header.Get("Request-Transaction-Id")
	if id == "" {
		id = "generated-id"
	}
	h.Set("Response-Correlation-Id", id)
	issuer := "https://" + r.Host
	switch r.URL.Path {
	case "/.well-known/oauth-authorization-server", "/.well-known/openid-configuration":
		writeJSON(w, 200, map[string]any{
			"issuer": issuer, "authorization_endpoint": issuer + "/authorize", "token_endpoint": issuer + "/token",
			"jwks_uri": issuer + "/jwks", "introspection_endpoint": issuer + "/introspect", "revocation_endpoint": issuer + "/revoke",
			"response_types_supported": []string{"code"}, "grant_types_supported": []string{"authorization_code", "client_credentials", "refresh_token"},
			"code_challenge_methods_supported": []string{"S256"}, "authorization_response_iss_parameter_supported": true,
			"token_endpoint_auth_methods_supported": []string{"client_secret_basic"}, "id_token_signing_alg_values_supported": []string{"ES256", "PS256"},
		})
	case "/jwks":
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub, _ := key.PublicKey.ECDH()
		b := pub.Bytes()
		writeJSON(w, 200, map[string]any{"keys": []map[string]any{{"kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
			"x": base64.RawURLEncoding.EncodeToString(b[1:33]), "y": base64.RawURLEncoding.EncodeToString(b[33:])}}})
	case "/token":
		g.token(w, r)
	case "/authorize":
		if r.URL.Query().Get("code_challenge") == "" {
			q := url.Values{"error": {"invalid_request"}, "state": {r.URL.Query().Get("state")}, "iss": {issuer}}
			http.Redirect(w, r, "https://client.example/cb?"+q.Encode(), http.StatusFound)
			return
		}
		problem(w, 400, "unexpected")
	case "/introspect", "/revoke":
		h.Set("WWW-Authenticate", `Basic realm="as"`)
		writeJSON(w, 401, map[string]string{"error": "invalid_client"})
	case "/v1/things":
		g.api(w, r)
	default:
		problem(w, http.StatusNotImplemented, "not-implemented")
	}
}

func (g *goodServer) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok || id != testClientID || secret != testClientSecret {
		w.Header().Set("WWW-Authenticate", `Basic realm="as"`)
		writeJSON(w, 401, map[string]string{"error": "invalid_client"})
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch r.PostFormValue("grant_type") {
	case "client_credentials":
	case "refresh_token":
		rt := r.PostFormValue("refresh_token")
		if !g.refresh[rt] {
			writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
			return
		}
		g.refresh[rt] = false
	default:
		writeJSON(w, 400, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	g.issued++
	now := time.Now().Unix()
	payload, _ := json.Marshal(map[string]any{"iat": now, "exp": now + 600, "sub": testClientID})
	tok := "eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(payload) + fmt.Sprintf(".sig%d", g.issued)
	rt := fmt.Sprintf("refresh-%d-%s", g.issued, randomID())
	g.tokens[tok] = true
	g.refresh[rt] = true
	writeJSON(w, 200, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 600, "refresh_token": rt})
}

func (g *goodServer) api(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodOptions:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST, OPTIONS")
		problem(w, http.StatusMethodNotAllowed, "method-not-allowed")
		return
	}
	g.mu.Lock()
	g.hits++
	over := g.hits > g.limit
	g.mu.Unlock()
	if over {
		w.Header().Set("Retry-After", "2")
		problem(w, http.StatusTooManyRequests, "too-many-requests")
		return
	}
	q := r.URL.Query()
	if q.Has("api_key") || q.Has("access_token") {
		problem(w, http.StatusBadRequest, "credentials-in-url")
		return
	}
	authz := r.Header.Get("Authorization")
	g.mu.Lock()
	tokenOK := strings.HasPrefix(authz, "Bearer ") && g.tokens[strings.TrimPrefix(authz, "Bearer ")]
	g.mu.Unlock()
	if r.Header.Get("Api-Key") != testKey.Reveal() && !tokenOK {
		w.Header().Add("WWW-Authenticate", `APIKey header="Api-Key"`)
		if strings.HasPrefix(authz, "Bearer ") {
			w.Header().Add("WWW-Authenticate", `Bearer realm="test", error="invalid_token"`)
		} else {
			w.Header().Add("WWW-Authenticate", `Bearer realm="test"`)
		}
		problem(w, http.StatusUnauthorized, "unauthenticated")
		return
	}
	if a := r.Header.Get("Accept"); a != "" && !strings.Contains(a, "*/*") && !strings.Contains(a, "application/json") {
		w.Header().Set("Link", `<https://docs.example/api>; rel="help"`)
		problem(w, http.StatusNotAcceptable, "not-acceptable")
		return
	}
	if r.Method == http.MethodPost && r.Header.Get("Content-Type") != "application/json" {
		problem(w, http.StatusUnsupportedMediaType, "unsupported-media-type")
		return
	}
	w.Header().Set("Content-Type", "application/json; version=1")
	fmt.Fprint(w, `{"things":[]}`)
}

// weakServer breaks the guidelines in the ways the issue lists: no authentication, 200 to
// TRACE, implicit and password grants offered, a private key in its JWKS, stack traces and
// banners in its errors.
type weakServer struct {
	mu       sync.Mutex
	sawCreds bool
}

func (s *weakServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if r.Header.Get("Api-Key") != "" || strings.Contains(r.Header.Get("Authorization"), testClientSecret) ||
		strings.Contains(r.Header.Get("Authorization"), base64.StdEncoding.EncodeToString([]byte(testClientID))) {
		s.sawCreds = true
	}
	s.mu.Unlock()
	w.Header().Set("X-Powered-By", "PHP/8.1.2")
	w.Header().Set("Server", "Apache/2.4.1")
	w.Header().Set("X-Request-Id", "abc")
	issuer := "https://" + r.Host
	switch r.URL.Path {
	case "/.well-known/oauth-authorization-server", "/.well-known/openid-configuration":
		writeJSON(w, 200, map[string]any{"issuer": issuer, "authorization_endpoint": issuer + "/authorize", "token_endpoint": issuer + "/token",
			"jwks_uri": issuer + "/jwks", "response_types_supported": []string{"code", "token"},
			"grant_types_supported": []string{"authorization_code", "implicit", "password"}, "id_token_signing_alg_values_supported": []string{"none", "RS256"}})
	case "/jwks":
		writeJSON(w, 200, map[string]any{"keys": []map[string]any{{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}}})
	case "/introspect":
		writeJSON(w, 200, map[string]any{"active": false})
	case "/v1/things", "/api/things":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"method":%q}`, r.Method)
	default:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(404)
		fmt.Fprint(w, "<pre>panic: not found\ngoroutine 1 [running]:\nmain.handler()\n\t/srv/app/main.go:42</pre>")
	}
}
