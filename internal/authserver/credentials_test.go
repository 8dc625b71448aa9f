package authserver

import (
	"net/http"
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
