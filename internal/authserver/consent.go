package authserver

import (
	"net/http"
	"slices"
	"strings"

	"github.com/luikyv/go-oidc/pkg/goidc"
)

// codeConsentRequired is OIDC Core §3.1.2.6's answer to prompt=none when consent is needed.
const codeConsentRequired goidc.ErrorCode = "consent_required"

// consentStep asks the signed-in person whether the client may have what it asked for. The
// consent page names the client and says what each scope allows in plain words; Deny ends the
// request with access_denied at the client's redirect URI (RFC 6749 §4.1.2.1).
func (s *Server) consentStep(w http.ResponseWriter, r *http.Request, as *goidc.AuthnSession, c *goidc.Client) (goidc.Status, error) {
	ctx := r.Context()
	sub := flowString(as, flowSubject)
	prompt := strings.Fields(string(as.Prompt))
	if !slices.Contains(prompt, string(goidc.PromptTypeConsent)) && s.consentCovers(ctx, sub, c.ID, as.Scopes) {
		as.Store[flowConsented] = true
		return goidc.StatusSuccess, nil
	}
	if slices.Contains(prompt, string(goidc.PromptTypeNone)) {
		return goidc.StatusFailure, goidc.NewError(codeConsentRequired, "the person has not consented")
	}
	if r.Method == http.MethodPost && r.PostFormValue("step") == "consent" {
		switch r.PostFormValue("decision") {
		case "allow":
			s.rememberConsent(ctx, sub, c.ID, as.Scopes)
			as.Store[flowConsented] = true
			return goidc.StatusSuccess, nil
		case "deny":
			return goidc.StatusFailure, goidc.NewError(goidc.ErrorCodeAccessDenied, "the person declined")
		}
	}
	scopes := describeScopes(as.Scopes)
	if len(scopes) == 0 {
		scopes = []string{"Know that you signed in"}
	}
	s.pages.render(w, http.StatusOK, "consent.html", pageData{
		Title: "Allow access?", ClientName: clientName(c), Username: sub, Scopes: scopes,
		Action: PathAuthorize + "/" + as.ID, CSRF: flowString(as, flowCSRF),
	}, as.RedirectURI)
	return goidc.StatusPending, nil
}
