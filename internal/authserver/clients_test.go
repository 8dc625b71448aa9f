package authserver

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/luikyv/go-oidc/pkg/goidc"

	"github.com/tiaki-nz/tiaki"
)

func TestClientCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name        string
		run         func(cc *clientCache, src *fakeClients, clock *fakeClock)
		wantLookups int
	}{
		{"hit within the TTL", func(cc *clientCache, _ *fakeClients, clock *fakeClock) {
			cc.lookup(ctx, "demo-client")
			clock.Advance(clientTTL - time.Millisecond)
			cc.lookup(ctx, "demo-client")
		}, 1},
		{"reload after the TTL", func(cc *clientCache, _ *fakeClients, clock *fakeClock) {
			cc.lookup(ctx, "demo-client")
			clock.Advance(clientTTL)
			cc.lookup(ctx, "demo-client")
		}, 2},
		{"reload after invalidation", func(cc *clientCache, _ *fakeClients, _ *fakeClock) {
			cc.lookup(ctx, "demo-client")
			cc.invalidate("demo-client")
			cc.lookup(ctx, "demo-client")
		}, 2},
		{"unknown IDs are cached too", func(cc *clientCache, _ *fakeClients, _ *fakeClock) {
			cc.lookup(ctx, "nobody")
			cc.lookup(ctx, "nobody")
		}, 1},
		{"store errors are not cached", func(cc *clientCache, src *fakeClients, _ *fakeClock) {
			src.setErr(errors.New("down"))
			cc.lookup(ctx, "demo-client")
			src.setErr(nil)
			cc.lookup(ctx, "demo-client")
			cc.lookup(ctx, "demo-client")
		}, 2},
		{"oversized IDs never reach the store", func(cc *clientCache, _ *fakeClients, _ *fakeClock) {
			cc.lookup(ctx, strings.Repeat("x", maxClientIDLen+1))
			cc.lookup(ctx, "")
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := fixtureClients()
			clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
			tc.run(newClientCache(src, clock.Now, nil, 0), src, clock)
			if got := src.lookups(); got != tc.wantLookups {
				t.Errorf("store lookups = %d, want %d", got, tc.wantLookups)
			}
		})
	}
}

func TestClientCacheAnswers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := fixtureClients()
	cc := newClientCache(src, time.Now, []string{"payments:read", "openid"}, 0)
	reg, err := cc.lookup(ctx, "citizen-app")
	if err != nil {
		t.Fatal(err)
	}
	if reg.engine.TokenAuthnMethod != goidc.AuthnMethodNone || !reg.engine.IsPublic() {
		t.Errorf("engine view = %+v, want a public client", reg.engine.ClientMeta)
	}
	if reg.defaultScope != "payments:read" {
		t.Errorf("default scope = %q, want the catalogued non-OIDC scopes", reg.defaultScope)
	}
	if _, err := cc.lookup(ctx, "nobody"); !errors.Is(err, goidc.ErrNotFound) {
		t.Errorf("unknown client: %v, want goidc.ErrNotFound", err)
	}
	src.setErr(errors.New("down"))
	if _, err := cc.lookup(ctx, "demo-client"); err == nil || errors.Is(err, goidc.ErrNotFound) {
		t.Errorf("store failure: %v, want an error that is not ErrNotFound", err)
	}
}

// TestInvalidateClient changes a secret in the store: the old one works until the cache is told.
func TestInvalidateClient(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.token(t, "demo-client", demoSecret, "")
	env.clients.put(&tiaki.Client{ID: "demo-client", AuthMethod: tiaki.AuthSecretBasic, SecretHash: testSecrets.hash("rotated"),
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"payments:read"}})
	env.token(t, "demo-client", demoSecret, "") // still cached
	env.srv.InvalidateClient("demo-client")
	resp, doc := env.call(t, PathToken, url.Values{"grant_type": {"client_credentials"}}, basic("demo-client", demoSecret))
	if resp.StatusCode != 401 {
		t.Fatalf("old secret after invalidation: %d %v, want 401", resp.StatusCode, doc)
	}
	env.token(t, "demo-client", "rotated", "")
}

// TestClientCacheOutageGrace: while the client store fails, a client read less than the
// outage grace ago keeps being answered from the cache (one store lookup per clientTTL), an
// unknown one stays unknown, and past the grace the store's error comes through (issue 11
// item 21).
func TestClientCacheOutageGrace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := fixtureClients()
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	cc := newClientCache(src, clock.Now, nil, time.Minute)
	if _, err := cc.lookup(ctx, "demo-client"); err != nil {
		t.Fatal(err)
	}
	if _, err := cc.lookup(ctx, "nobody"); !errors.Is(err, goidc.ErrNotFound) {
		t.Fatal(err)
	}
	src.setErr(errors.New("connection refused"))
	before := src.lookups()
	for range 100 {
		clock.Advance(500 * time.Millisecond) // 50 s of outage
		if reg, err := cc.lookup(ctx, "demo-client"); err != nil || reg.client.ID != "demo-client" {
			t.Fatalf("known client %v into the outage: %v", clock.Now().Sub(time.Unix(1_700_000_000, 0)), err)
		}
		if _, err := cc.lookup(ctx, "nobody"); !errors.Is(err, goidc.ErrNotFound) {
			t.Fatalf("unknown client during the outage: %v", err)
		}
	}
	if n := src.lookups() - before; n > 22 {
		t.Errorf("%d store lookups for 200 requests over 50 s, want about two per %v", n, clientTTL)
	}
	clock.Advance(15 * time.Second)
	if _, err := cc.lookup(ctx, "demo-client"); err == nil || errors.Is(err, goidc.ErrNotFound) {
		t.Errorf("past the grace: %v, want the store's error", err)
	}
	// Without a grace the store's error comes through once the entry expires.
	cc = newClientCache(src, clock.Now, nil, 0)
	src.setErr(nil)
	cc.lookup(ctx, "demo-client")
	src.setErr(errors.New("connection refused"))
	clock.Advance(clientTTL)
	if _, err := cc.lookup(ctx, "demo-client"); err == nil {
		t.Error("no grace: the cache answered for a failing store")
	}
}
