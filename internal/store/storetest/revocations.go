package storetest

import (
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki"
)

// revocationTests check tiaki.RevocationStore: the later times win, RevocationsSince filters
// by At (inclusive), and expired records are deleted.
var revocationTests = []test{
	{"RecordAndPoll", func(t *testing.T, s tiaki.Store) {
		for i, r := range []tiaki.Revocation{
			{Kind: tiaki.RevokedToken, ID: "jti-1"},
			{Kind: tiaki.RevokedGrant, ID: "grant-1"},
			{Kind: tiaki.RevokedClient, ID: "app"},
			{Kind: tiaki.RevokedSubject, ID: "alice"},
		} {
			r.At, r.Until = at(time.Duration(i)*time.Minute), at(time.Hour)
			mustNot(t, "RecordRevocation", s.RecordRevocation(ctx(t), &r))
		}
		for _, tc := range []struct {
			name  string
			since time.Time
			want  []string
		}{
			{"zero", time.Time{}, []string{"token jti-1", "grant grant-1", "client app", "subject alice"}},
			{"exactly at the client's (inclusive)", at(2 * time.Minute), []string{"client app", "subject alice"}},
			{"just after", at(3*time.Minute + time.Microsecond), nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.RevocationsSince(ctx(t), tc.since)
				mustNot(t, "RevocationsSince", err)
				var names []string
				for _, r := range got {
					if !r.Until.Equal(stored(at(time.Hour))) || r.At.Location() != time.UTC {
						t.Errorf("%s %s: At %v Until %v", r.Kind, r.ID, r.At, r.Until)
					}
					names = append(names, string(r.Kind)+" "+r.ID)
				}
				diff(t, "revocations", names, tc.want)
			})
		}
	}},
	{"LaterTimesWin", func(t *testing.T, s tiaki.Store) {
		r := tiaki.Revocation{Kind: tiaki.RevokedClient, ID: "app", At: at(time.Minute), Until: at(2 * time.Hour)}
		mustNot(t, "RecordRevocation", s.RecordRevocation(ctx(t), &r))
		// Revoked again later (a second rotation), with an earlier end: At moves, Until stays.
		again := tiaki.Revocation{Kind: tiaki.RevokedClient, ID: "app", At: at(5 * time.Minute), Until: at(time.Hour)}
		mustNot(t, "RecordRevocation", s.RecordRevocation(ctx(t), &again))
		// An older record arriving late moves nothing.
		old := tiaki.Revocation{Kind: tiaki.RevokedClient, ID: "app", At: at(0), Until: at(time.Hour)}
		mustNot(t, "RecordRevocation", s.RecordRevocation(ctx(t), &old))
		// The same ID of another kind is another record.
		other := tiaki.Revocation{Kind: tiaki.RevokedSubject, ID: "app", At: at(0), Until: at(time.Hour)}
		mustNot(t, "RecordRevocation", s.RecordRevocation(ctx(t), &other))
		got, err := s.RevocationsSince(ctx(t), time.Time{})
		mustNot(t, "RevocationsSince", err)
		for _, r := range got {
			checkUTC(t, string(r.Kind)+" "+r.ID, r.At, r.Until)
		}
		diff(t, "revocations", got, []tiaki.Revocation{
			{Kind: tiaki.RevokedSubject, ID: "app", At: stored(at(0)), Until: stored(at(time.Hour))},
			{Kind: tiaki.RevokedClient, ID: "app", At: stored(at(5 * time.Minute)), Until: stored(at(2 * time.Hour))},
		})
	}},
	{"ExpiredAreDeleted", func(t *testing.T, s tiaki.Store) {
		for _, r := range []tiaki.Revocation{
			{Kind: tiaki.RevokedToken, ID: "gone", At: at(0), Until: at(time.Minute)},
			{Kind: tiaki.RevokedToken, ID: "live", At: at(0), Until: at(time.Hour)},
		} {
			mustNot(t, "RecordRevocation", s.RecordRevocation(ctx(t), &r))
		}
		n, err := s.DeleteExpiredRevocations(ctx(t), at(30*time.Minute))
		mustNot(t, "DeleteExpiredRevocations", err)
		if n != 1 {
			t.Errorf("deleted %d, want 1", n)
		}
		got, err := s.RevocationsSince(ctx(t), time.Time{})
		mustNot(t, "RevocationsSince", err)
		if len(got) != 1 || got[0].ID != "live" {
			t.Errorf("after deleting expired: %v", got)
		}
	}},
	{"Invalid", func(t *testing.T, s tiaki.Store) {
		for name, r := range map[string]*tiaki.Revocation{
			"nil":          nil,
			"unknown kind": {Kind: "other", ID: "x", At: at(0), Until: at(time.Hour)},
			"empty ID":     {Kind: tiaki.RevokedToken, At: at(0), Until: at(time.Hour)},
			"NUL in ID":    {Kind: tiaki.RevokedToken, ID: "a\x00b", At: at(0), Until: at(time.Hour)},
			"no time":      {Kind: tiaki.RevokedToken, ID: "x", Until: at(time.Hour)},
			"no end":       {Kind: tiaki.RevokedToken, ID: "x", At: at(0)},
		} {
			wantErr(t, "RecordRevocation "+name, s.RecordRevocation(ctx(t), r), tiaki.ErrInvalid)
		}
	}},
}
