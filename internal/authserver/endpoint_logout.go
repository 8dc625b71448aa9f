package authserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/web"
)

// serveLogout is the end_session_endpoint of OpenID Connect RP-Initiated Logout 1.0. It ends
// the browser's login session (sso.go) and sends the person back to the client, or shows that
// they are signed out.
//
//   - id_token_hint (§2) must be an ID token Tiaki signed; it may have expired. It names the
//     client (aud) and the person (sub). A client_id sent beside it must be one of its audiences.
//   - post_logout_redirect_uri (§3) is followed only when the client is known (from the hint or
//     client_id) and the URI matches exactly one it registered; otherwise an error page, never
//     a redirect. (Clients register redirect URIs only, so those are what it must match.)
//   - Without a hint naming the signed-in person, the person is asked first (§2: the OP SHOULD
//     ask, so a link cannot sign people out); the form is CSRF-protected.
//
// Signing out revokes every token issued for the person so far (tiaki.RevokedSubject).
//
// Tiaki implements logout itself rather than through the engine: it owns the login sessions.
func (s *Server) serveLogout(w http.ResponseWriter, r *http.Request) {
	params, ok := s.authorizeParams(w, r) // the same reading and bounds as an authorization request
	if !ok {
		return
	}
	ctx := r.Context()
	bad := func(msg string) { s.pages.message(w, http.StatusBadRequest, "Sign-out request not accepted", msg) }
	var hint *idTokenHint
	if raw := params.Get("id_token_hint"); raw != "" {
		var err error
		if hint, err = s.verifyIDTokenHint(raw); err != nil {
			bad("The application's sign-out request carries an ID token Tiaki did not issue.")
			return
		}
	}
	clientID := params.Get("client_id")
	if hint != nil {
		if clientID != "" && !slices.Contains(hint.Audience, clientID) {
			bad("The application's sign-out request names two different applications.")
			return
		}
		if clientID == "" && len(hint.Audience) > 0 {
			clientID = hint.Audience[0]
		}
	}
	var reg *registered
	if clientID != "" {
		var err error
		if reg, err = s.clients.lookup(ctx, clientID); err != nil {
			bad("The application that sent you here is not registered with Tiaki.")
			return
		}
	}
	after := params.Get("post_logout_redirect_uri")
	if after != "" && (reg == nil || !slices.Contains(reg.client.RedirectURIs, after)) {
		bad("The application asked Tiaki to send you to an address it has not registered, so Tiaki will not.")
		return
	}

	login := s.currentLogin(ctx, r)
	confirmed := false
	if r.Method == http.MethodPost && params.Get("decision") == "logout" {
		if !sameSecret(params.Get("csrf_token"), logoutCSRF(w, r)) {
			s.pages.message(w, http.StatusForbidden, "Form expired", "The form was not sent from Tiaki's sign-out page.")
			return
		}
		confirmed = true
	}
	if login != nil && !confirmed && (hint == nil || hint.Subject != login.Subject) {
		hidden := map[string]string{}
		for _, k := range []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state"} {
			if v := params.Get(k); v != "" {
				hidden[k] = v
			}
		}
		d := pageData{Title: "Sign out?", Action: PathLogout, CSRF: logoutCSRF(w, r), Hidden: hidden}
		if reg != nil {
			d.ClientName = reg.client.Name
			if d.ClientName == "" {
				d.ClientName = reg.client.ID
			}
		}
		s.pages.render(w, http.StatusOK, "logout.html", d, after)
		return
	}
	s.endLogin(ctx, w, r)
	if login != nil {
		// Signing out of Tiaki ends single sign-on for every client, so every token issued for
		// the person until now stops working too, at every node and gateway: access tokens,
		// JWTs included, and the refresh tokens of their grants (storage_sessions.go).
		r := tiaki.Revocation{Kind: tiaki.RevokedSubject, ID: login.Subject, At: time.Now(),
			Until: time.Now().Add(max(s.cfg.AccessTokenTTL, s.cfg.RefreshTokenTTL) + grantGrace)}
		if err := s.revocations.Revoke(ctx, r); err != nil {
			s.log.ErrorContext(ctx, "authserver: could not record a sign-out; other nodes may accept the person's tokens until they expire",
				"request_id", web.RequestIDFrom(ctx), "cause", err.Error())
		}
	}
	if after == "" {
		s.pages.message(w, http.StatusOK, "Signed out", "You are signed out of Tiaki.")
		return
	}
	u, _ := url.Parse(after) // registered, so it parsed when checked by config
	if st := params.Get("state"); st != "" {
		q := u.Query()
		q.Set("state", st)
		u.RawQuery = q.Encode()
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// logoutCSRF is the logout form's CSRF token: derived from the browser's secret cookie, so a
// page of another site cannot know it.
func logoutCSRF(w http.ResponseWriter, r *http.Request) string {
	return digest("logout\x00" + browserID(w, r))
}

// idTokenHint is what logout reads from an ID token hint.
type idTokenHint struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience audience `json:"aud"`
}

// audience decodes aud, a string or an array of strings (RFC 7519 §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

var errBadHint = errors.New("authserver: id_token_hint is not an ID token of this server")

// verifyIDTokenHint checks the signature of an ID token against this server's keys (retired
// ones included) and its issuer. Expiry is not checked: a person may sign out long after the
// ID token's short life.
func (s *Server) verifyIDTokenHint(raw string) (*idTokenHint, error) {
	if len(raw) > maxTokenLen {
		return nil, errBadHint
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512, jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, errBadHint
	}
	hdr := jws.Signatures[0].Protected
	if typ, _ := hdr.ExtraHeaders[jose.HeaderType].(string); typ == "at+jwt" {
		return nil, errBadHint // an access token (RFC 9068 §2.1), not an ID token
	}
	kid := hdr.KeyID
	for _, k := range s.keys.snapshot().set.Keys {
		if k.KeyID != kid || kid == "" {
			continue
		}
		payload, err := jws.Verify(k.Public().Key)
		if err != nil {
			return nil, errBadHint
		}
		var h idTokenHint
		if json.Unmarshal(payload, &h) != nil || h.Issuer != s.cfg.Issuer || h.Subject == "" {
			return nil, errBadHint
		}
		return &h, nil
	}
	return nil, errBadHint
}
