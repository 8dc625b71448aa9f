package storetest

import (
	"math"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki"
)

// newUser returns a user whose claims use every JSON shape, nested.
func newUser(username string) *tiaki.User {
	return &tiaki.User{
		Username:     username,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
		Claims: map[string]any{
			"name":           "Aroha Ngata",
			"email":          username + "@example.govt.nz",
			"email_verified": true,
			"updated_at":     float64(1741064767),
			"score":          0.25,
			"nickname":       nil,
			"groups":         []any{"operators", "developers"},
			"address": map[string]any{
				"locality": "Te Whanganui-a-Tara",
				"country":  "NZ",
				"lines":    []any{"Level 1", map[string]any{"unit": float64(4)}},
			},
		},
		Source:    tiaki.SourceConfig,
		CreatedAt: at(0),
		UpdatedAt: at(time.Second),
	}
}

func wantUser(u *tiaki.User) *tiaki.User {
	w := *u
	if len(u.Claims) == 0 {
		w.Claims = nil
	}
	w.CreatedAt = stored(u.CreatedAt)
	w.UpdatedAt = stored(u.UpdatedAt)
	return &w
}

func checkUser(t *testing.T, s tiaki.Store, want *tiaki.User) {
	t.Helper()
	got, err := s.User(ctx(t), want.Username)
	mustNot(t, "User", err)
	diff(t, "User "+want.Username, got, wantUser(want))
	checkUTC(t, "User "+want.Username, got.CreatedAt, got.UpdatedAt)
}

var userTests = []test{
	{"RoundTrip", func(t *testing.T, s tiaki.Store) {
		u := newUser("aroha")
		mustNot(t, "PutUser", s.PutUser(ctx(t), u))
		checkUser(t, s, u)
		for _, tc := range []struct {
			name   string
			claims map[string]any
		}{
			{"nil claims", nil},
			{"empty claims", map[string]any{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				v := &tiaki.User{Username: "plain", Claims: tc.claims, Disabled: true}
				mustNot(t, "PutUser", s.PutUser(ctx(t), v))
				checkUser(t, s, v)
			})
		}
	}},
	{"PutReplaces", func(t *testing.T, s tiaki.Store) {
		u := newUser("aroha")
		mustNot(t, "PutUser", s.PutUser(ctx(t), u))
		u.Claims = map[string]any{"name": "Aroha N."}
		u.Disabled = true
		u.PasswordHash = ""
		u.UpdatedAt = at(time.Hour)
		mustNot(t, "PutUser (replace)", s.PutUser(ctx(t), u))
		checkUser(t, s, u)
	}},
	{"ListAndDelete", func(t *testing.T, s tiaki.Store) {
		for _, name := range []string{"tama", "aroha", "Aroha", "mere"} {
			mustNot(t, "PutUser", s.PutUser(ctx(t), newUser(name)))
		}
		wantErr(t, "DeleteUser of a missing user", s.DeleteUser(ctx(t), "ghost"), tiaki.ErrNotFound)
		mustNot(t, "DeleteUser", s.DeleteUser(ctx(t), "mere"))
		_, err := s.User(ctx(t), "mere")
		wantErr(t, "User after delete", err, tiaki.ErrNotFound)
		list, err := s.Users(ctx(t))
		mustNot(t, "Users", err)
		want := []tiaki.User{*wantUser(newUser("Aroha")), *wantUser(newUser("aroha")), *wantUser(newUser("tama"))}
		diff(t, "Users", list, want)
	}},
	{"Copies", func(t *testing.T, s tiaki.Store) {
		u := newUser("aroha")
		want := wantUser(newUser("aroha"))
		mustNot(t, "PutUser", s.PutUser(ctx(t), u))
		u.Claims["name"] = "changed"
		u.Claims["address"].(map[string]any)["country"] = "AU"
		got, err := s.User(ctx(t), "aroha")
		mustNot(t, "User", err)
		got.Claims["email"] = "changed"
		got.Claims["groups"].([]any)[0] = "changed"
		got, err = s.User(ctx(t), "aroha")
		mustNot(t, "User", err)
		diff(t, "User", got, want)
	}},
	{"Invalid", func(t *testing.T, s tiaki.Store) {
		wantErr(t, "PutUser(nil)", s.PutUser(ctx(t), nil), tiaki.ErrInvalid)
		for _, bad := range badKeys {
			wantErr(t, "PutUser with "+bad.name+" username", s.PutUser(ctx(t), newUser(bad.s)), tiaki.ErrInvalid)
			_, err := s.User(ctx(t), bad.s)
			wantErr(t, "User with "+bad.name+" username", err, tiaki.ErrNotFound)
			wantErr(t, "DeleteUser with "+bad.name+" username", s.DeleteUser(ctx(t), bad.s), tiaki.ErrNotFound)
		}
		for _, bad := range badText {
			u := newUser("aroha")
			u.PasswordHash = bad.s
			wantErr(t, "PutUser with "+bad.name+" password hash", s.PutUser(ctx(t), u), tiaki.ErrInvalid)
		}
		for _, tc := range []struct {
			name   string
			claims map[string]any
		}{
			{"NUL in a nested value", map[string]any{"a": []any{map[string]any{"b": "x\x00y"}}}},
			{"NUL in a key", map[string]any{"a\x00": 1}},
			{"NaN", map[string]any{"n": math.NaN()}},
			{"unencodable", map[string]any{"f": func() {}}},
		} {
			u := newUser("aroha")
			u.Claims = tc.claims
			wantErr(t, "PutUser with "+tc.name, s.PutUser(ctx(t), u), tiaki.ErrInvalid)
		}
		if _, err := s.User(ctx(t), "aroha"); err == nil {
			t.Error("an invalid PutUser stored the user")
		}
		// A backslash followed by "u0000" is ordinary text, not a NUL.
		u := newUser("backslash")
		u.Claims = map[string]any{`\u0000`: `C:\u0000`}
		mustNot(t, "PutUser with an escaped-looking backslash", s.PutUser(ctx(t), u))
		checkUser(t, s, u)
	}},
}
