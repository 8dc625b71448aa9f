package bearer

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki"
)

// discoveredIssuer is a remote authorization server that, like Keycloak, lives under a path
// and publishes only OpenID Connect discovery metadata (the RFC 8414 URL answers 404).
type discoveredIssuer struct {
	srv       *httptest.Server
	issuer    string
	mu        sync.Mutex
	keys      []byte
	claimed   string // the issuer its metadata names; issuer unless a test lies
	metaCalls atomic.Int32
	keyCalls  atomic.Int32
	intCalls  atomic.Int32
	now       time.Time
}

func newDiscoveredIssuer(t *testing.T, keys []byte) *discoveredIssuer {
	t.Helper()
	d := &discoveredIssuer{keys: keys, now: t0}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /realms/agency/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		d.metaCalls.Add(1)
		d.mu.Lock()
		claimed := d.claimed
		d.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]string{
			"issuer": claimed, "jwks_uri": d.srv.URL + "/realms/agency/certs",
			"introspection_endpoint": d.srv.URL + "/realms/agency/introspect",
		})
	})
	mux.HandleFunc("GET /realms/agency/certs", func(w http.ResponseWriter, r *http.Request) {
		d.keyCalls.Add(1)
		d.mu.Lock()
		defer d.mu.Unlock()
		w.Write(d.keys)
	})
	mux.HandleFunc("POST /realms/agency/introspect", func(w http.ResponseWriter, r *http.Request) {
		d.intCalls.Add(1)
		if id, secret, ok := r.BasicAuth(); !ok || id != gatewayID || secret != "s3cret%2Fwith%3Aodd%26chars" || r.PostFormValue("token") != opaque {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		d.mu.Lock()
		doc := activeDoc(d.now)
		d.mu.Unlock()
		doc["iss"] = d.issuer
		json.NewEncoder(w).Encode(doc)
	})
	d.srv = httptest.NewTLSServer(mux)
	t.Cleanup(d.srv.Close)
	d.issuer = d.srv.URL + "/realms/agency"
	d.claimed = d.issuer
	return d
}

func (d *discoveredIssuer) setKeys(b []byte) { d.mu.Lock(); d.keys = b; d.mu.Unlock() }

func claimsFrom(iss string, now time.Time) tokenClaims {
	c := goodClaims(now)
	c.Issuer = iss
	return c
}

// TestDiscoveredIssuer: an external issuer configured by its identifier alone is trusted
// through its metadata: keys from its jwks_uri (followed when it rotates), opaque tokens at
// its introspection endpoint, and metadata naming another issuer refused.
func TestDiscoveredIssuer(t *testing.T) {
	t.Parallel()
	k1, k2 := newKey(t, "k1"), newKey(t, "k2")
	idp := newDiscoveredIssuer(t, jwks(t, k1))
	clk := &clock{now: t0}
	v, err := New(Config{
		Issuers: []Issuer{{Issuer: idp.issuer, Discover: true, ClientID: gatewayID, ClientSecret: gatewayPass,
			HTTPClient: idp.srv.Client()}},
		Audience: audience, Required: true,
	}, Deps{Now: clk.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	check := func(token string) *tiaki.Principal {
		t.Helper()
		var p tiaki.Principal
		if d := v.Check(request("/", "Bearer "+token), &p); d != nil {
			t.Fatalf("refused: %v", d)
		}
		return &p
	}

	if p := check(sign(t, k1, "at+jwt", claimsFrom(idp.issuer, t0))); p.Consumer != "billing-service" {
		t.Errorf("consumer %q", p.Consumer)
	}
	// The issuer rotates to k2: a token naming the new kid makes the gateway fetch the set
	// again (once minRefresh has passed), without looking the metadata up again.
	idp.setKeys(jwks(t, k2))
	clk.Add(minRefresh)
	check(sign(t, k2, "at+jwt", claimsFrom(idp.issuer, clk.Now())))
	if m, k := idp.metaCalls.Load(), idp.keyCalls.Load(); m != 1 || k != 2 {
		t.Errorf("%d metadata and %d key-set fetches, want 1 and 2", m, k)
	}
	// A token from the same keys but naming another issuer is not this issuer's.
	var p tiaki.Principal
	if d := v.Check(request("/", "Bearer "+sign(t, k2, "at+jwt", claimsFrom("https://evil.example", clk.Now()))), &p); d != deniedIssuer {
		t.Errorf("other issuer: %v, want %v", d, deniedIssuer)
	}
	// Opaque tokens go to the discovered introspection endpoint.
	idp.mu.Lock()
	idp.now = clk.Now()
	idp.mu.Unlock()
	check(opaque)
	if n := idp.intCalls.Load(); n != 1 {
		t.Errorf("%d introspection calls, want 1", n)
	}
}

// TestDiscoveryIssuerMismatch: metadata that names another issuer is not used (RFC 8414
// §3.3), so a server cannot pass its keys off as another issuer's.
func TestDiscoveryIssuerMismatch(t *testing.T) {
	t.Parallel()
	k1 := newKey(t, "k1")
	idp := newDiscoveredIssuer(t, jwks(t, k1))
	idp.mu.Lock()
	idp.claimed = "https://someone-else.example"
	idp.mu.Unlock()
	v, err := New(Config{Issuers: []Issuer{{Issuer: idp.issuer, Discover: true, HTTPClient: idp.srv.Client()}},
		Audience: audience, Required: true}, Deps{Now: func() time.Time { return t0 }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var p tiaki.Principal
	d := v.Check(request("/", "Bearer "+sign(t, k1, "at+jwt", claimsFrom(idp.issuer, t0))), &p)
	if d == nil || d.Status != http.StatusServiceUnavailable {
		t.Errorf("mismatched metadata: %v, want 503", d)
	}
	if n := idp.keyCalls.Load(); n != 0 {
		t.Errorf("key set fetched %d times from mismatched metadata", n)
	}
}

func TestDiscoveryRefusesInsecureIssuer(t *testing.T) {
	t.Parallel()
	for _, iss := range []string{"http://idp.example", "https://idp.example/?realm=a", "https://u:p@idp.example"} {
		if _, err := New(Config{Issuers: []Issuer{{Issuer: iss, Discover: true}}, Audience: audience}, Deps{}); err == nil {
			t.Errorf("issuer %q accepted for discovery", iss)
		}
	}
}
