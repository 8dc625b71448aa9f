package storetest

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki"
)

// newClient returns a client with every field set, times in a non-UTC zone with nanoseconds.
func newClient(id string) *tiaki.Client {
	return &tiaki.Client{
		ID:                id,
		Name:              "Billing batch (" + id + ") – Te Tari Taake",
		AuthMethod:        tiaki.AuthSecretBasic,
		SecretHash:        []byte{0, 1, 2, 0xfe, 0xff, 0},
		JWKS:              []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83","y":"x_F"}]}`),
		TLSSubject:        "CN=billing,O=Inland Revenue,C=NZ",
		RedirectURIs:      []string{"https://app.example.govt.nz/cb", "http://127.0.0.1/cb"},
		GrantTypes:        []string{"authorization_code", "refresh_token"},
		Scopes:            []string{"openid", "billing:read", "billing:write"},
		AccessTokenFormat: "jwt",
		IDTokenSigningAlg: "ES256",
		Source:            tiaki.SourceRuntime,
		CreatedAt:         at(0),
		UpdatedAt:         at(90 * time.Minute),
	}
}

// wantClient is what a store must return for c: times in UTC to the microsecond, empty
// collections as nil.
func wantClient(c *tiaki.Client) *tiaki.Client {
	w := *c
	w.SecretHash = nilIfEmpty(c.SecretHash)
	w.JWKS = nilIfEmpty(c.JWKS)
	w.RedirectURIs = nilIfEmpty(c.RedirectURIs)
	w.GrantTypes = nilIfEmpty(c.GrantTypes)
	w.Scopes = nilIfEmpty(c.Scopes)
	w.CreatedAt = stored(c.CreatedAt)
	w.UpdatedAt = stored(c.UpdatedAt)
	return &w
}

func nilIfEmpty[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return append(S(nil), s...)
}

// checkClient reads id back and compares it with want.
func checkClient(t *testing.T, s tiaki.Store, want *tiaki.Client) {
	t.Helper()
	got, err := s.Client(ctx(t), want.ID)
	mustNot(t, "Client", err)
	diff(t, "Client "+want.ID, got, wantClient(want))
	checkUTC(t, "Client "+want.ID, got.CreatedAt, got.UpdatedAt)
}

var clientTests = []test{
	{"RoundTrip", func(t *testing.T, s tiaki.Store) {
		c := newClient("billing")
		mustNot(t, "CreateClient", s.CreateClient(ctx(t), c))
		checkClient(t, s, c)
		list, err := s.Clients(ctx(t))
		mustNot(t, "Clients", err)
		diff(t, "Clients", list, []tiaki.Client{*wantClient(c)})
	}},
	{"EmptyIsNil", func(t *testing.T, s tiaki.Store) {
		for _, tc := range []struct {
			name string
			c    tiaki.Client
		}{
			{"nil", tiaki.Client{ID: "nil", AuthMethod: tiaki.AuthNone}},
			{"empty", tiaki.Client{ID: "empty", AuthMethod: tiaki.AuthNone, SecretHash: []byte{},
				JWKS: []byte{}, RedirectURIs: []string{}, GrantTypes: []string{}, Scopes: []string{}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				mustNot(t, "CreateClient", s.CreateClient(ctx(t), &tc.c))
				got, err := s.Client(ctx(t), tc.c.ID)
				mustNot(t, "Client", err)
				diff(t, "Client", got, &tiaki.Client{ID: tc.c.ID, AuthMethod: tiaki.AuthNone})
			})
		}
	}},
	{"CreateConflict", func(t *testing.T, s tiaki.Store) {
		c := newClient("billing")
		mustNot(t, "CreateClient", s.CreateClient(ctx(t), c))
		other := newClient("billing")
		other.Name = "impostor"
		wantErr(t, "second CreateClient", s.CreateClient(ctx(t), other), tiaki.ErrConflict)
		checkClient(t, s, c)
	}},
	{"Put", func(t *testing.T, s tiaki.Store) {
		c := newClient("billing")
		mustNot(t, "PutClient (insert)", s.PutClient(ctx(t), c))
		checkClient(t, s, c)
		c.Name = "renamed"
		c.Scopes = nil
		c.SecretHash = nil
		c.AuthMethod = tiaki.AuthPrivateKeyJWT
		c.Source = tiaki.SourceConfig
		c.UpdatedAt = at(time.Hour)
		mustNot(t, "PutClient (replace)", s.PutClient(ctx(t), c))
		checkClient(t, s, c)
	}},
	{"Update", func(t *testing.T, s tiaki.Store) {
		wantErr(t, "UpdateClient of a missing client", s.UpdateClient(ctx(t), newClient("ghost")), tiaki.ErrNotFound)
		if _, err := s.Client(ctx(t), "ghost"); err == nil {
			t.Error("UpdateClient of a missing client created it")
		}
		c := newClient("billing")
		mustNot(t, "CreateClient", s.CreateClient(ctx(t), c))
		c.Name = "renamed"
		c.RedirectURIs = []string{"https://new.example.govt.nz/cb"}
		c.JWKS = nil
		c.CreatedAt = time.Time{}
		c.UpdatedAt = at(48 * time.Hour)
		mustNot(t, "UpdateClient", s.UpdateClient(ctx(t), c))
		checkClient(t, s, c)
	}},
	{"Delete", func(t *testing.T, s tiaki.Store) {
		wantErr(t, "DeleteClient of a missing client", s.DeleteClient(ctx(t), "ghost"), tiaki.ErrNotFound)
		mustNot(t, "CreateClient", s.CreateClient(ctx(t), newClient("a")))
		mustNot(t, "CreateClient", s.CreateClient(ctx(t), newClient("b")))
		mustNot(t, "DeleteClient", s.DeleteClient(ctx(t), "a"))
		_, err := s.Client(ctx(t), "a")
		wantErr(t, "Client after delete", err, tiaki.ErrNotFound)
		wantErr(t, "second DeleteClient", s.DeleteClient(ctx(t), "a"), tiaki.ErrNotFound)
		checkClient(t, s, newClient("b"))
	}},
	{"NotFound", func(t *testing.T, s tiaki.Store) {
		_, err := s.Client(ctx(t), "ghost")
		wantErr(t, "Client", err, tiaki.ErrNotFound)
		list, err := s.Clients(ctx(t))
		mustNot(t, "Clients", err)
		if len(list) != 0 {
			t.Errorf("Clients of an empty store: got %d, want none", len(list))
		}
	}},
	{"OrderedByID", func(t *testing.T, s tiaki.Store) {
		// Byte order, whatever the database's collation: Go callers sort with sort.Strings.
		ids := []string{"b", "a-2", "B", "a", "_x", "a-10", "ā", "Z", "0"}
		for _, id := range ids {
			mustNot(t, "CreateClient "+id, s.CreateClient(ctx(t), newClient(id)))
		}
		list, err := s.Clients(ctx(t))
		mustNot(t, "Clients", err)
		got := make([]string, len(list))
		for i, c := range list {
			got[i] = c.ID
		}
		sort.Strings(ids)
		diff(t, "Clients order", got, ids)
	}},
	{"Copies", func(t *testing.T, s tiaki.Store) {
		c := newClient("billing")
		want := wantClient(c)
		mustNot(t, "CreateClient", s.CreateClient(ctx(t), c))
		c.Name = "changed after create"
		c.Scopes[0] = "changed"
		c.SecretHash[0] = 0x42
		got, err := s.Client(ctx(t), "billing")
		mustNot(t, "Client", err)
		got.Name = "changed after read"
		got.RedirectURIs[0] = "changed"
		got.JWKS[0] = '['
		list, err := s.Clients(ctx(t))
		mustNot(t, "Clients", err)
		list[0].GrantTypes[0] = "changed"
		got, err = s.Client(ctx(t), "billing")
		mustNot(t, "Client", err)
		diff(t, "Client", got, want)
	}},
	{"ConcurrentCreate", func(t *testing.T, s tiaki.Store) {
		race(t, 8, func(i int) error {
			c := newClient("billing")
			c.Name = fmt.Sprint("writer ", i)
			return s.CreateClient(ctx(t), c)
		})
	}},
	{"Invalid", func(t *testing.T, s tiaki.Store) {
		writes := map[string]func(*tiaki.Client) error{
			"CreateClient": func(c *tiaki.Client) error { return s.CreateClient(ctx(t), c) },
			"PutClient":    func(c *tiaki.Client) error { return s.PutClient(ctx(t), c) },
			"UpdateClient": func(c *tiaki.Client) error { return s.UpdateClient(ctx(t), c) },
		}
		mustNot(t, "CreateClient", s.CreateClient(ctx(t), newClient("ok")))
		for name, write := range writes {
			wantErr(t, name+"(nil)", write(nil), tiaki.ErrInvalid)
			for _, bad := range badKeys {
				wantErr(t, name+" with "+bad.name+" ID", write(newClient(bad.s)), tiaki.ErrInvalid)
				_, err := s.Client(ctx(t), bad.s)
				wantErr(t, "Client with "+bad.name+" ID", err, tiaki.ErrNotFound)
				wantErr(t, "DeleteClient with "+bad.name+" ID", s.DeleteClient(ctx(t), bad.s), tiaki.ErrNotFound)
			}
			for _, bad := range badText {
				c := newClient("ok")
				c.Name = bad.s
				wantErr(t, name+" with "+bad.name+" name", write(c), tiaki.ErrInvalid)
				c = newClient("ok")
				c.Scopes = []string{"openid", bad.s}
				wantErr(t, name+" with "+bad.name+" scope", write(c), tiaki.ErrInvalid)
			}
			c := newClient("ok")
			c.UpdatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
			wantErr(t, name+" with a time past year 9999", write(c), tiaki.ErrInvalid)
		}
		checkClient(t, s, newClient("ok"))
	}},
}
