package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestParseBasic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, userpass   string
		wantID, wantPass string
		wantErr          bool
	}{
		{"plain", "demo-client:s3cret", "demo-client", "s3cret", false},
		{"percent-encoded", "demo%2Dclient:a%2Fb%2Bc%3D", "demo-client", "a/b+c=", false},
		{"plus is a space", "a+b:x", "a b", "x", false},
		{"colon in secret", "id:a:b", "id", "a:b", false},
		{"encoded colon in ID", "a%3Ab:x", "", "", true},
		{"bad escape", "a%zz:x", "", "", true},
		{"empty ID", ":x", "", "", true},
		{"no colon", "justid", "", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, _ := http.NewRequest(http.MethodPost, "/token", nil)
			r.Header.Set("Authorization", rawBasic(tc.userpass))
			id, pass, err := parseBasic(r)
			if (err != nil) != tc.wantErr || id != tc.wantID || pass != tc.wantPass {
				t.Errorf("parseBasic = %q, %q, %v; want %q, %q, error %v", id, pass, err, tc.wantID, tc.wantPass, tc.wantErr)
			}
		})
	}
}

// FuzzParseBasic: any header either fails cleanly or yields credentials that survive the
// round trip through the engine's own Basic parsing unchanged.
func FuzzParseBasic(f *testing.F) {
	for _, s := range []string{rawBasic("demo%2Dclient:x"), "Basic !!", "Basic ", rawBasic("a%3A:b"), "basic " + strings.Repeat("A", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r, _ := http.NewRequest(http.MethodPost, "/token", nil)
		r.Header.Set("Authorization", header)
		id, secret, err := parseBasic(r)
		if err != nil {
			return
		}
		if id == "" || strings.Contains(id, ":") {
			t.Fatalf("accepted ID %q", id)
		}
		r.SetBasicAuth(id, secret)
		gotID, gotSecret, ok := r.BasicAuth()
		if !ok || gotID != id || gotSecret != secret {
			t.Fatalf("round trip: %q %q -> %q %q %v", id, secret, gotID, gotSecret, ok)
		}
	})
}

// TestUnencodedPlusInBasicSecretIsHinted is issue #11 item 19: a secret with '+' sent as is
// through HTTP Basic (curl -u) arrives with a space, fails, and the log says why, without the
// secret. The same secret form-encoded (RFC 6749 §2.3.1) works, and a plainly wrong secret
// gets no hint.
func TestUnencodedPlusInBasicSecretIsHinted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"payments:read"}}
	resp, body := e.call(t, "/token", form, rawBasic("billing-service:"+billingSecret))
	if resp.StatusCode != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Fatalf("raw '+' in the secret: %d %v, want 401 invalid_client", resp.StatusCode, body)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "client secret does not match; hint:") || !strings.Contains(logs, "%2B") {
		t.Errorf("no form-encoding hint in the log:\n%s", logs)
	}
	for _, leak := range []string{billingSecret, strings.ReplaceAll(billingSecret, "+", " "), "secret with=specials"} {
		if strings.Contains(logs, leak) {
			t.Errorf("the log quotes the secret (%q):\n%s", leak, logs)
		}
	}
	if resp, body := e.call(t, "/token", form, basic("billing-service", billingSecret)); resp.StatusCode != http.StatusOK {
		t.Fatalf("form-encoded secret: %d %v", resp.StatusCode, body)
	}

	e2 := newEnv(t)
	e2.call(t, "/token", form, basic("demo-client", "wrong-secret"))
	if logs := e2.logs.String(); !strings.Contains(logs, "client secret does not match") || strings.Contains(logs, "hint:") {
		t.Errorf("a wrong secret without a space: want the plain refusal, no hint:\n%s", logs)
	}
}
