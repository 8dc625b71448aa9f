package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestLogout(t *testing.T) {
	t.Parallel()
	e := newPeopleEnv(t)
	signedIn := func(t *testing.T) (*browser, string) {
		b := e.browser(t)
		return b, e.tokens(t, b, portalAuthz())["id_token"].(string)
	}
	stillSignedIn := func(t *testing.T, b *browser) bool {
		a := portalAuthz()
		a.prompt = "none"
		return b.get(a.path()).location(t).Query().Has("code")
	}

	t.Run("with id_token_hint and a registered return address", func(t *testing.T) {
		b, idt := signedIn(t)
		q := url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {"https://portal.example/cb?from=tiaki"}, "state": {"bye"}}
		loc := b.get(PathLogout + "?" + q.Encode()).location(t)
		if loc.Host != "portal.example" || loc.Query().Get("state") != "bye" || loc.Query().Get("from") != "tiaki" {
			t.Fatalf("redirected to %s", loc)
		}
		if stillSignedIn(t, b) {
			t.Error("still signed in after logout")
		}
	})
	t.Run("unregistered return address is never followed", func(t *testing.T) {
		b, idt := signedIn(t)
		q := url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {"https://evil.example/"}}
		p := b.get(PathLogout + "?" + q.Encode())
		if p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
			t.Fatalf("%d Location %q", p.status, p.header.Get("Location"))
		}
		if !stillSignedIn(t, b) {
			t.Error("a refused logout signed the person out")
		}
	})
	t.Run("return address without naming the client", func(t *testing.T) {
		b, _ := signedIn(t)
		p := b.get(PathLogout + "?post_logout_redirect_uri=" + url.QueryEscape("https://portal.example/cb?from=tiaki"))
		if p.status != http.StatusBadRequest {
			t.Fatalf("%d", p.status)
		}
	})
	t.Run("forged hint", func(t *testing.T) {
		b, idt := signedIn(t)
		parts := strings.Split(idt, ".")
		forged := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
		if p := b.get(PathLogout + "?id_token_hint=" + forged); p.status != http.StatusBadRequest {
			t.Fatalf("%d", p.status)
		}
	})
	t.Run("without a hint the person confirms, with CSRF", func(t *testing.T) {
		b, _ := signedIn(t)
		p := b.get(PathLogout)
		if p.status != http.StatusOK || !strings.Contains(p.body, "Sign out?") {
			t.Fatalf("%d\n%s", p.status, p.body)
		}
		action, fields := p.form(t)
		forged := url.Values{"csrf_token": {"nope"}, "decision": {"logout"}}
		if p := b.post(action, forged); p.status != http.StatusForbidden {
			t.Fatalf("forged confirmation: %d", p.status)
		}
		if !stillSignedIn(t, b) {
			t.Fatal("a forged confirmation signed the person out")
		}
		fields.Set("decision", "logout")
		if p := b.post(action, fields); p.status != http.StatusOK || !strings.Contains(p.body, "signed out") {
			t.Fatalf("confirmed: %d\n%s", p.status, p.body)
		}
		if stillSignedIn(t, b) {
			t.Error("still signed in after confirming")
		}
	})
}
