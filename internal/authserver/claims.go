package authserver

import (
	"context"
	"slices"
	"strings"

	"github.com/luikyv/go-oidc/pkg/goidc"

	"github.com/tiaki-nz/tiaki/internal/web"
)

// What a person's grant says about them. The login step (login.go) records how and when the
// person authenticated in the grant's store; the ID token carries that (OIDC Core §2), and the
// UserInfo endpoint releases the account's claims that the granted scopes cover (OIDC Core
// §5.4). Claims about the person come from the account at the time of the request, so a
// changed email shows at once.

// Keys of the grant store written by the login step.
const (
	storeAuthTime = "auth_time"
	storeAMR      = "amr"
	storeACR      = "acr"
)

// acrPassword is the authentication context of Tiaki's own login page: one factor, a
// password (published as acr_values_supported).
const acrPassword goidc.ACR = "urn:tiaki:acr:password"

// scopeClaims maps the OIDC Core §5.4 scopes to the claims they release.
var scopeClaims = map[string][]string{
	"profile": {"name", "family_name", "given_name", "middle_name", "nickname", "preferred_username",
		"profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at"},
	"email":   {"email", "email_verified"},
	"phone":   {"phone_number", "phone_number_verified"},
	"address": {"address"},
}

// supportedClaims are published as claims_supported (besides sub).
var supportedClaims = func() []string {
	out := []string{"iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "at_hash"}
	for _, scope := range []string{"profile", "email", "phone", "address"} {
		out = append(out, scopeClaims[scope]...)
	}
	return out
}()

// idTokenClaims is the engine's ID-token hook: how and when the person authenticated.
func (s *Server) idTokenClaims(_ context.Context, g *goidc.Grant) map[string]any {
	out := make(map[string]any, 3)
	if t, ok := g.Store[storeAuthTime].(float64); ok {
		out[goidc.ClaimAuthTime] = int64(t) // JSON numbers decode as float64
	} else if t, ok := g.Store[storeAuthTime].(int64); ok {
		out[goidc.ClaimAuthTime] = t
	}
	if acr, ok := g.Store[storeACR].(string); ok {
		out[goidc.ClaimACR] = acr
	}
	if amr, ok := g.Store[storeAMR]; ok {
		out[goidc.ClaimAMR] = amr
	}
	return out
}

// userInfoClaims is the engine's UserInfo hook: the account's claims the granted scopes
// release. An account that is gone or disabled releases nothing but sub.
func (s *Server) userInfoClaims(ctx context.Context, g *goidc.Grant) map[string]any {
	u, err := s.users.User(ctx, g.Subject)
	if err != nil || u.Disabled {
		if err != nil {
			s.log.InfoContext(ctx, "authserver: userinfo for an account that cannot be read", "request_id",
				web.RequestIDFrom(ctx), "cause", err.Error())
		}
		return nil
	}
	out := map[string]any{}
	for _, scope := range strings.Fields(g.Scopes) {
		for _, name := range scopeClaims[scope] {
			if v, ok := u.Claims[name]; ok {
				out[name] = v
			}
		}
	}
	return out
}

// scopeWords says what each well-known scope lets a client do, for the consent page. Other
// scopes are shown by name.
var scopeWords = map[string]string{
	"openid":         "Confirm who you are (your Tiaki sign-in)",
	"profile":        "See your name and profile details",
	"email":          "See your email address",
	"phone":          "See your phone number",
	"address":        "See your postal address",
	"offline_access": "Keep access when you are not using it, until you sign out of it or it expires",
}

// describeScopes returns the plain-words lines of the consent page for a scope string.
func describeScopes(scope string) []string {
	var out []string
	for _, sc := range strings.Fields(scope) {
		if w, ok := scopeWords[sc]; ok {
			out = append(out, w)
		} else {
			out = append(out, "Use the API permission \u201c"+sc+"\u201d")
		}
	}
	return slices.Compact(out)
}
