package bearer

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tiaki-nz/tiaki"
)

// TestUnknownKidStorm: many concurrent tokens naming kids the issuer never published make one
// key-set fetch between them, so forged kids cannot turn the gateway against the issuer.
func TestUnknownKidStorm(t *testing.T) {
	t.Parallel()
	k1 := newKey(t, "k1")
	set := jwks(t, k1)
	var fetches atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Write(set)
	}))
	t.Cleanup(srv.Close)
	clk := &clock{now: t0}
	v, err := New(Config{Issuers: []Issuer{{Issuer: issuer, JWKSURL: srv.URL}}, Audience: audience, Required: true},
		Deps{Now: clk.Now, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	// The first token loads the set.
	var p tiaki.Principal
	if d := v.Check(request("/", "Bearer "+sign(t, k1, "at+jwt", goodClaims(t0))), &p); d != nil {
		t.Fatal(d)
	}
	clk.Add(minRefresh) // a refresh is allowed again
	tokens := make([]string, 20)
	for i := range tokens {
		tokens[i] = sign(t, newKey(t, "forged-"+string(rune('a'+i))), "at+jwt", goodClaims(t0))
	}
	var wg sync.WaitGroup
	for _, tok := range tokens {
		wg.Go(func() {
			var p tiaki.Principal
			if d := v.Check(request("/", "Bearer "+tok), &p); d == nil || d.Reason != "unknown signing key" {
				t.Errorf("forged kid: %v, want unknown signing key", d)
			}
		})
	}
	wg.Wait()
	if n := fetches.Load(); n != 2 {
		t.Errorf("%d fetches for one load and 20 unknown kids, want 2", n)
	}
}
