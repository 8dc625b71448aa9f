package authserver

import (
	"context"
	"errors"
	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/revocation"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/luikyv/go-oidc/pkg/goidc"
)

// TestSharedGrant shows that JWT client-credentials tokens keep one grant per client and scope
// set, from the fast path and the engine alike, while opaque tokens keep one each.
func TestSharedGrant(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t, false)
	e.srv.wall = time.Now // issuing takes a while: judge the tokens' iat by the real clock
	n := 10_000
	if raceDetector {
		n = 1_000 // signing is ten times slower under -race
	}
	grants := map[string]bool{}
	for i := range n {
		tok := e.issue(t, "billing-service", billingSecret, "payments:read", i%100 == 0) // 1% by the engine
		grants[grantOf(t, tok)] = true
	}
	if live := e.srv.grants.m.size(); live != 1 || len(grants) != 1 {
		t.Fatalf("%d tokens: %d live grants, %d grant IDs in the tokens; want 1 and 1", n, live, len(grants))
	}
	for id := range grants {
		if !isSharedGrantID(id) {
			t.Errorf("grant_id %q is not a shared grant's", id)
		}
	}

	// Each scope set, and each client, has its own grant.
	e.issue(t, "billing-service", billingSecret, "payments:write", false)
	e.issue(t, "billing-service", billingSecret, "payments:write", true)
	e.issue(t, "demo-client", demoSecret, "payments:read", false)
	if live := e.srv.grants.m.size(); live != 3 {
		t.Errorf("%d live grants after two more scope sets, want 3", live)
	}
	// Opaque tokens share their client's grant too: they are sealed, not stored.
	for range 3 {
		e.issue(t, "opaque-client", demoSecret, "", false)
	}
	if live := e.srv.grants.m.size(); live != 4 {
		t.Errorf("%d live grants after three opaque tokens, want 4", live)
	}

	// The shared grant lives as long as its newest token.
	e.clock.Advance(9 * time.Minute)
	fresh := e.issue(t, "billing-service", billingSecret, "payments:read", false)
	e.clock.Advance(2 * time.Minute) // the first tokens' grant life is over; fresh's is not
	if a := e.introspect(fresh, basic("billing-service", billingSecret)); !strings.Contains(a.Body, `"active":true`) {
		t.Errorf("newest token of a shared grant: %s, want active", a.Body)
	}
}

func TestSharedGrantID(t *testing.T) {
	t.Parallel()
	base := goidc.Grant{ClientID: "c", Subject: "c", Scopes: "a b"}
	id := sharedGrantID(&base)
	if !isSharedGrantID(id) || isSharedGrantID(randomID(context.Background())) {
		t.Fatalf("shape: %q shared %v; a random ID is never shared", id, isSharedGrantID(id))
	}
	for _, other := range []goidc.Grant{
		{ClientID: "d", Subject: "d", Scopes: "a b"},
		{ClientID: "c", Subject: "c", Scopes: "a"},
		{ClientID: "c", Subject: "c", Scopes: "a b", Resources: goidc.Resources{"https://api.test"}},
		// Length prefixes: moving a boundary between fields changes the ID.
		{ClientID: "ca", Subject: "ca", Scopes: " b"},
	} {
		if sharedGrantID(&other) == id {
			t.Errorf("%+v has the ID of %+v", other, base)
		}
	}
}

// TestRevokeOneTokenOfSharedGrant revokes one JWT of a shared grant: it introspects inactive
// (fast path and engine alike), the client's other token stays active, and the revocation list
// learns the jti, never the grant.
func TestRevokeOneTokenOfSharedGrant(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t, true)
	caller := basic("billing-service", billingSecret)
	tok := e.issue(t, "demo-client", demoSecret, "", false)
	keep := e.issue(t, "demo-client", demoSecret, "", true)
	if grantOf(t, tok) != grantOf(t, keep) {
		t.Fatal("the two tokens do not share a grant")
	}
	if a := e.send(PathRevoke, url.Values{"token": {tok}}, basic("demo-client", demoSecret), ""); a.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", a.Status, a.Body)
	}
	for _, tc := range []struct {
		name, token string
		active      bool
	}{{"revoked", tok, false}, {"other token", keep, true}} {
		fast, engine, served := e.both(PathIntrospect, url.Values{"token": {tc.token}}, caller, "")
		if !served {
			t.Errorf("%s: the fast path did not serve it", tc.name)
		}
		if diff := cmp.Diff(engine, fast); diff != "" {
			t.Errorf("%s: fast path differs from the engine (-engine +fast):\n%s", tc.name, diff)
		}
		if got := strings.Contains(fast.Body, `"active":true`); got != tc.active {
			t.Errorf("%s: %s, want active=%v", tc.name, fast.Body, tc.active)
		}
	}
	c := claimsOf(t, tok)
	if !e.feed.IsRevoked(c.ID) || e.feed.IsRevoked(c.GrantID) || e.feed.IsRevoked(claimsOf(t, keep).ID) {
		t.Errorf("feed %v: want the revoked jti alone", e.feed.revoked)
	}
	if until := e.feed.revoked[c.ID]; until.Unix() != c.Expiry {
		t.Errorf("jti announced until %v, want the token's exp %v", until, time.Unix(c.Expiry, 0))
	}
	if g, err := e.srv.state.Grant(context.Background(), c.GrantID); err != nil || g.RevokedAt != 0 {
		t.Errorf("shared grant after revoking one token: %+v, %v; want live", g, err)
	}
	// The client keeps getting tokens under the same grant.
	if next := e.issue(t, "demo-client", demoSecret, "", false); grantOf(t, next) != c.GrantID {
		t.Error("a new token has another grant")
	}
}

// TestRevokedListFull shows that a full revoked-token list refuses the revocation (503 with
// Retry-After) rather than forget it, and that a shared grant is never revoked whole.
func TestRevokedListFull(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t, false)
	e.srv.revocations = &cappedList{List: revocation.New(nil, revocation.Options{}), max: 1}
	auth := basic("demo-client", demoSecret)
	first, second := e.issue(t, "demo-client", demoSecret, "", false), e.issue(t, "demo-client", demoSecret, "", false)
	if a := e.send(PathRevoke, url.Values{"token": {first}}, auth, ""); a.Status != http.StatusOK {
		t.Fatalf("first revocation: %d %s", a.Status, a.Body)
	}
	a := e.send(PathRevoke, url.Values{"token": {second}}, auth, "")
	if a.Status != http.StatusServiceUnavailable || a.Header.Get("Retry-After") == "" || !strings.Contains(a.Body, "server_error") {
		t.Fatalf("revocation into a full list: %d Retry-After=%q %s, want 503 server_error", a.Status, a.Header.Get("Retry-After"), a.Body)
	}
	if a := e.introspect(second, basic("billing-service", billingSecret)); !strings.Contains(a.Body, `"active":true`) {
		t.Errorf("the refused revocation revoked something: %s", a.Body)
	}

	// Without a presented token (no request exchange), the shared grant cannot be revoked.
	g, err := e.srv.state.Grant(context.Background(), grantOf(t, first))
	if err != nil {
		t.Fatal(err)
	}
	g.RevokedAt = int(time.Now().Unix())
	if err := e.srv.state.SaveGrant(context.Background(), g); !errors.Is(err, errRevokeShared) {
		t.Errorf("revoking a shared grant whole: %v, want errRevokeShared", err)
	}
}

// cappedList is a revocation list that is full after max revocations.
type cappedList struct {
	*revocation.List
	n, max int
}

func (c *cappedList) Revoke(ctx context.Context, r tiaki.Revocation) error {
	if c.n >= c.max {
		return revocation.ErrFull
	}
	c.n++
	return c.List.Revoke(ctx, r)
}
