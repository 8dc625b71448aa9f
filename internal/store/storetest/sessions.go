package storetest

import (
	"bytes"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki"
)

// Bounds on a session record that every store enforces with tiaki.ErrInvalid, so protocol state
// built from request input cannot grow without limit. Index names and values are keys: 1 to
// MaxKeyLen bytes of UTF-8 text without NUL.
const (
	// MaxSessionData is the largest Data a store must accept.
	MaxSessionData = 1 << 20
	// MaxSessionIndexes is the most index entries a record may have.
	MaxSessionIndexes = 16
)

// sessionTest is a conformance check of the SessionStore part of a store.
func sessionTest(name string, run func(t *testing.T, s tiaki.SessionStore)) test {
	return test{name, func(t *testing.T, s tiaki.Store) { run(t, s) }}
}

// sessionData covers every byte value, so a store that keeps Data as text corrupts it visibly.
func sessionData(seed byte) []byte {
	b := make([]byte, 300)
	for i := range b {
		b[i] = byte(i) + seed
	}
	return b
}

// newSession returns a grant with every field set; its index values look like the SHA-256
// hex digests the authorization server stores.
func newSession(kind tiaki.SessionKind, id string) *tiaki.Session {
	return &tiaki.Session{
		Kind: kind,
		ID:   id,
		Indexes: map[string]string{
			"code":          strings.Repeat("c0de", 16) + id,
			"refresh_token": strings.Repeat("7e57", 16) + id,
		},
		Data:      sessionData(1),
		ExpiresAt: at(10 * time.Minute),
	}
}

// wantSession is what a store must return for sess at version.
func wantSession(sess *tiaki.Session, version int64) *tiaki.Session {
	w := *sess
	w.Version = version
	w.Data = nilIfEmpty(sess.Data)
	w.Indexes = maps.Clone(sess.Indexes)
	if len(w.Indexes) == 0 {
		w.Indexes = nil
	}
	w.ExpiresAt = stored(sess.ExpiresAt)
	return &w
}

// checkSession reads want back by kind and ID and by each of its index values.
func checkSession(t *testing.T, s tiaki.SessionStore, want *tiaki.Session) {
	t.Helper()
	what := fmt.Sprintf("Session(%s, %s)", want.Kind, want.ID)
	got, err := s.Session(ctx(t), want.Kind, want.ID)
	mustNot(t, what, err)
	sameSession(t, what, got, want)
	checkUTC(t, what, got.ExpiresAt)
	for name, value := range want.Indexes {
		what := fmt.Sprintf("SessionByIndex(%s, %s)", want.Kind, name)
		got, err := s.SessionByIndex(ctx(t), want.Kind, name, value)
		mustNot(t, what, err)
		sameSession(t, what, got, want)
	}
}

// sameSession is diff for sessions, comparing Data apart: cmp walks a byte slice one element
// at a time, which for MaxSessionData bytes takes the better part of a second.
func sameSession(t *testing.T, what string, got, want *tiaki.Session) {
	t.Helper()
	if !bytes.Equal(got.Data, want.Data) || (got.Data == nil) != (want.Data == nil) {
		t.Errorf("%s: Data is %d bytes (nil: %t), want %d bytes (nil: %t), or they differ",
			what, len(got.Data), got.Data == nil, len(want.Data), want.Data == nil)
	}
	g, w := *got, *want
	g.Data, w.Data = nil, nil
	diff(t, what, &g, &w)
}

// checkGone fails unless there is no record of kind and id, and none of values resolves.
func checkGone(t *testing.T, s tiaki.SessionStore, kind tiaki.SessionKind, id string, indexes map[string]string) {
	t.Helper()
	_, err := s.Session(ctx(t), kind, id)
	wantErr(t, fmt.Sprintf("Session(%s, %s)", kind, id), err, tiaki.ErrNotFound)
	for name, value := range indexes {
		_, err := s.SessionByIndex(ctx(t), kind, name, value)
		wantErr(t, fmt.Sprintf("SessionByIndex(%s, %s, %s)", kind, name, value), err, tiaki.ErrNotFound)
	}
}

var sessionTests = []test{
	sessionTest("RoundTrip", func(t *testing.T, s tiaki.SessionStore) {
		sess := newSession(tiaki.SessionGrant, "g1")
		sess.Version = 7 // ignored: the store sets it
		mustNot(t, "CreateSession", s.CreateSession(ctx(t), sess))
		if sess.Version != 1 {
			t.Errorf("CreateSession set Version %d, want 1", sess.Version)
		}
		checkSession(t, s, wantSession(sess, 1))
		// Empty data, no indexes and no expiry read back as nil, nil and the zero time.
		for _, bare := range []*tiaki.Session{
			{Kind: tiaki.SessionAuthn, ID: "nil"},
			{Kind: tiaki.SessionAuthn, ID: "empty", Data: []byte{}, Indexes: map[string]string{}},
		} {
			mustNot(t, "CreateSession "+bare.ID, s.CreateSession(ctx(t), bare))
			checkSession(t, s, wantSession(bare, 1))
		}
		// The longest key a store accepts is a valid index value.
		long := &tiaki.Session{Kind: tiaki.SessionDevice, ID: strings.Repeat("i", MaxKeyLen),
			Indexes: map[string]string{strings.Repeat("n", MaxKeyLen): strings.Repeat("v", MaxKeyLen)}}
		mustNot(t, "CreateSession with the longest keys", s.CreateSession(ctx(t), long))
		checkSession(t, s, wantSession(long, 1))
	}),
	sessionTest("Limits", func(t *testing.T, s tiaki.SessionStore) {
		sess := &tiaki.Session{Kind: tiaki.SessionPAR, ID: "big", Data: make([]byte, MaxSessionData),
			Indexes: map[string]string{}}
		sess.Data[0], sess.Data[MaxSessionData-1] = 1, 2
		for i := range MaxSessionIndexes {
			sess.Indexes[fmt.Sprint("index", i)] = fmt.Sprint("value", i)
		}
		mustNot(t, "CreateSession at the limits", s.CreateSession(ctx(t), sess))
		checkSession(t, s, wantSession(sess, 1))
		mustNot(t, "UpdateSession at the limits", s.UpdateSession(ctx(t), sess))
		checkSession(t, s, wantSession(sess, 2))
	}),
	sessionTest("CreateConflict", func(t *testing.T, s tiaki.SessionStore) {
		first := newSession(tiaki.SessionGrant, "g1")
		mustNot(t, "CreateSession", s.CreateSession(ctx(t), first))
		want := wantSession(first, 1)

		// The same ID, with index values of its own: refused as a whole, so none of them
		// resolves afterwards.
		sameID := newSession(tiaki.SessionGrant, "g1")
		sameID.Indexes = map[string]string{"code": "other-code"}
		wantErr(t, "CreateSession with a taken ID", s.CreateSession(ctx(t), sameID), tiaki.ErrConflict)
		if sameID.Version != 0 {
			t.Errorf("a failed CreateSession set Version %d", sameID.Version)
		}
		checkGone(t, s, tiaki.SessionGrant, "-", sameID.Indexes)

		// A taken index value (one of two): refused as a whole, so the record is not there.
		sameCode := newSession(tiaki.SessionGrant, "g2")
		sameCode.Indexes["code"] = first.Indexes["code"]
		wantErr(t, "CreateSession with a taken index value", s.CreateSession(ctx(t), sameCode), tiaki.ErrConflict)
		checkGone(t, s, tiaki.SessionGrant, "g2", map[string]string{"refresh_token": sameCode.Indexes["refresh_token"]})
		checkSession(t, s, want)

		// Values are unique per index name: the same value under another name is no conflict.
		otherName := &tiaki.Session{Kind: tiaki.SessionGrant, ID: "g3",
			Indexes: map[string]string{"device_code": first.Indexes["code"]}}
		mustNot(t, "CreateSession with a value taken under another index name", s.CreateSession(ctx(t), otherName))
		checkSession(t, s, wantSession(otherName, 1))
		checkSession(t, s, want)
	}),
	sessionTest("Update", func(t *testing.T, s tiaki.SessionStore) {
		sess := newSession(tiaki.SessionGrant, "g1")
		sess.Indexes["client"] = "billing"
		mustNot(t, "CreateSession", s.CreateSession(ctx(t), sess))
		old := maps.Clone(sess.Indexes)

		// Redeeming the code: its index goes, the refresh token rotates, another is added and
		// one stays as it was.
		sess.Data = sessionData(2)
		sess.ExpiresAt = at(30 * 24 * time.Hour)
		sess.Indexes = map[string]string{
			"refresh_token": "rotated-" + old["refresh_token"],
			"client":        "billing",
			"access_token":  "at-1",
		}
		mustNot(t, "UpdateSession", s.UpdateSession(ctx(t), sess))
		if sess.Version != 2 {
			t.Fatalf("UpdateSession set Version %d, want 2", sess.Version)
		}
		checkSession(t, s, wantSession(sess, 2))
		checkGone(t, s, tiaki.SessionGrant, "-", map[string]string{
			"code": old["code"], "refresh_token": old["refresh_token"]})

		// Index values may move between names of one record, and expiry may be cleared.
		sess.Indexes = map[string]string{"refresh_token": "at-1", "access_token": "rotated-" + old["refresh_token"]}
		sess.ExpiresAt = time.Time{}
		sess.Data = nil
		mustNot(t, "second UpdateSession", s.UpdateSession(ctx(t), sess))
		if sess.Version != 3 {
			t.Fatalf("second UpdateSession set Version %d, want 3", sess.Version)
		}
		checkSession(t, s, wantSession(sess, 3))
		checkGone(t, s, tiaki.SessionGrant, "-", map[string]string{"client": "billing"})

		// Dropping every index.
		sess.Indexes = nil
		mustNot(t, "third UpdateSession", s.UpdateSession(ctx(t), sess))
		checkSession(t, s, wantSession(sess, 4))
	}),
	sessionTest("UpdateStale", func(t *testing.T, s tiaki.SessionStore) {
		sess := newSession(tiaki.SessionGrant, "g1")
		mustNot(t, "CreateSession", s.CreateSession(ctx(t), sess))
		stale := *sess
		stale.Indexes = map[string]string{"code": "stale"}
		mustNot(t, "UpdateSession", s.UpdateSession(ctx(t), sess))
		want := wantSession(sess, 2)
		for _, v := range []int64{1, 0, -1, 3} {
			stale.Version = v
			wantErr(t, fmt.Sprintf("UpdateSession from version %d", v), s.UpdateSession(ctx(t), &stale), tiaki.ErrConflict)
			if stale.Version != v {
				t.Errorf("a failed UpdateSession changed Version from %d to %d", v, stale.Version)
			}
		}
		checkSession(t, s, want)
		checkGone(t, s, tiaki.SessionGrant, "-", stale.Indexes)
	}),
	sessionTest("UpdateIndexConflict", func(t *testing.T, s tiaki.SessionStore) {
		a, b := newSession(tiaki.SessionGrant, "a"), newSession(tiaki.SessionGrant, "b")
		mustNot(t, "CreateSession a", s.CreateSession(ctx(t), a))
		mustNot(t, "CreateSession b", s.CreateSession(ctx(t), b))
		wantB := wantSession(b, 1)
		b.Indexes = map[string]string{"code": "fresh", "refresh_token": a.Indexes["refresh_token"]}
		b.Data = sessionData(9)
		wantErr(t, "UpdateSession taking another record's value", s.UpdateSession(ctx(t), b), tiaki.ErrConflict)
		if b.Version != 1 {
			t.Errorf("a failed UpdateSession changed Version to %d", b.Version)
		}
		// Nothing of the failed update stuck: b keeps its data, version and index values.
		checkSession(t, s, wantB)
		checkSession(t, s, wantSession(a, 1))
		checkGone(t, s, tiaki.SessionGrant, "-", map[string]string{"code": "fresh"})
	}),
	sessionTest("UpdateNotFound", func(t *testing.T, s tiaki.SessionStore) {
		ghost := newSession(tiaki.SessionGrant, "ghost")
		ghost.Version = 1
		wantErr(t, "UpdateSession of a missing record", s.UpdateSession(ctx(t), ghost), tiaki.ErrNotFound)
		checkGone(t, s, tiaki.SessionGrant, "ghost", ghost.Indexes)
	}),
	sessionTest("ConcurrentUpdate", func(t *testing.T, s tiaki.SessionStore) {
		// Two redemptions of one authorization code: both read version 1, exactly one wins
		// (RFC 6749 §4.1.2: a code is used once).
		sess := newSession(tiaki.SessionGrant, "g1")
		mustNot(t, "CreateSession", s.CreateSession(ctx(t), sess))
		const n = 8
		tries := make([]tiaki.Session, n)
		for i := range tries {
			tries[i] = *sess
			tries[i].Data = sessionData(byte(10 + i))
			tries[i].Indexes = map[string]string{"refresh_token": fmt.Sprint("rt-", i)}
		}
		var mu sync.Mutex
		winner := -1
		race(t, n, func(i int) error {
			err := s.UpdateSession(ctx(t), &tries[i])
			if err == nil {
				mu.Lock()
				winner = i
				mu.Unlock()
			}
			return err
		})
		if winner < 0 {
			t.FailNow()
		}
		checkSession(t, s, wantSession(&tries[winner], 2))
		for i := range tries {
			if i != winner {
				checkGone(t, s, tiaki.SessionGrant, "-", tries[i].Indexes)
			}
		}
	}),
	sessionTest("ConcurrentCreateSameIndex", func(t *testing.T, s tiaki.SessionStore) {
		race(t, 8, func(i int) error {
			return s.CreateSession(ctx(t), &tiaki.Session{Kind: tiaki.SessionDevice, ID: fmt.Sprint("d", i),
				Indexes: map[string]string{"user_code": "WDJB-MJHT"}})
		})
	}),
	sessionTest("Delete", func(t *testing.T, s tiaki.SessionStore) {
		wantErr(t, "DeleteSession of a missing record", s.DeleteSession(ctx(t), tiaki.SessionGrant, "ghost"), tiaki.ErrNotFound)
		a, b := newSession(tiaki.SessionGrant, "a"), newSession(tiaki.SessionGrant, "b")
		mustNot(t, "CreateSession a", s.CreateSession(ctx(t), a))
		mustNot(t, "CreateSession b", s.CreateSession(ctx(t), b))
		mustNot(t, "DeleteSession", s.DeleteSession(ctx(t), tiaki.SessionGrant, "a"))
		checkGone(t, s, tiaki.SessionGrant, "a", a.Indexes)
		wantErr(t, "second DeleteSession", s.DeleteSession(ctx(t), tiaki.SessionGrant, "a"), tiaki.ErrNotFound)
		checkSession(t, s, wantSession(b, 1))
		// The deleted record's ID and index values are free again.
		again := newSession(tiaki.SessionGrant, "a")
		mustNot(t, "CreateSession after DeleteSession", s.CreateSession(ctx(t), again))
		checkSession(t, s, wantSession(again, 1))
	}),
	sessionTest("DeleteExpired", func(t *testing.T, s tiaki.SessionStore) {
		cut := at(time.Hour)
		records := map[string]time.Time{
			"long-ago":    at(-24 * time.Hour),
			"just-before": cut.Add(-time.Microsecond),
			"at-cut":      cut, // not before the cut-off, so kept
			"after":       cut.Add(time.Microsecond),
			"never":       {}, // no expiry: never removed
		}
		kinds := []tiaki.SessionKind{tiaki.SessionGrant, tiaki.SessionCIBA}
		for _, kind := range kinds {
			for id, exp := range records {
				sess := newSession(kind, id)
				sess.ExpiresAt = exp
				mustNot(t, "CreateSession "+id, s.CreateSession(ctx(t), sess))
			}
		}
		n, err := s.DeleteExpiredSessions(ctx(t), time.Time{})
		mustNot(t, "DeleteExpiredSessions before the zero time", err)
		if n != 0 {
			t.Errorf("DeleteExpiredSessions before the zero time removed %d, want 0", n)
		}
		n, err = s.DeleteExpiredSessions(ctx(t), cut)
		mustNot(t, "DeleteExpiredSessions", err)
		if n != 2*len(kinds) {
			t.Errorf("DeleteExpiredSessions removed %d, want %d", n, 2*len(kinds))
		}
		for _, kind := range kinds {
			for id, exp := range records {
				sess := newSession(kind, id)
				sess.ExpiresAt = exp
				if id == "long-ago" || id == "just-before" {
					checkGone(t, s, kind, id, sess.Indexes)
				} else {
					checkSession(t, s, wantSession(sess, 1))
				}
			}
		}
		n, err = s.DeleteExpiredSessions(ctx(t), cut)
		if err != nil || n != 0 {
			t.Errorf("second DeleteExpiredSessions = %d, %v; want 0, nil", n, err)
		}
		n, err = s.DeleteExpiredSessions(ctx(t), time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC))
		if err != nil || n != 2*len(kinds) {
			t.Errorf("DeleteExpiredSessions in the far future = %d, %v; want %d, nil", n, err, 2*len(kinds))
		}
	}),
	sessionTest("DeleteExpiredMany", func(t *testing.T, s tiaki.SessionStore) {
		// More than one full batch of the stores' purge loops (1000 records each).
		const n = 1100
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := w; i < n; i += 4 {
					sess := &tiaki.Session{Kind: tiaki.SessionToken, ID: fmt.Sprint("t", i),
						Indexes: map[string]string{"jti": fmt.Sprint("jti-", i)}, ExpiresAt: at(time.Duration(i) * time.Second)}
					if err := s.CreateSession(ctx(t), sess); err != nil {
						t.Errorf("CreateSession %d: %v", i, err)
						return
					}
				}
			})
		}
		wg.Wait()
		mustNot(t, "CreateSession", s.CreateSession(ctx(t), &tiaki.Session{Kind: tiaki.SessionToken, ID: "keep"}))
		got, err := s.DeleteExpiredSessions(ctx(t), at(time.Hour))
		mustNot(t, "DeleteExpiredSessions", err)
		if got != n {
			t.Errorf("DeleteExpiredSessions removed %d, want %d", got, n)
		}
		checkGone(t, s, tiaki.SessionToken, "t0", map[string]string{"jti": "jti-0", "other": fmt.Sprint("jti-", n-1)})
		_, err = s.Session(ctx(t), tiaki.SessionToken, "keep")
		mustNot(t, "Session keep", err)
	}),
	sessionTest("KindsAreNamespaces", func(t *testing.T, s tiaki.SessionStore) {
		grant, authn := newSession(tiaki.SessionGrant, "same"), newSession(tiaki.SessionAuthn, "same")
		authn.Data = sessionData(5)
		mustNot(t, "CreateSession grant", s.CreateSession(ctx(t), grant))
		mustNot(t, "CreateSession authn with the grant's ID and index values", s.CreateSession(ctx(t), authn))
		checkSession(t, s, wantSession(grant, 1))
		checkSession(t, s, wantSession(authn, 1))
		mustNot(t, "UpdateSession authn", s.UpdateSession(ctx(t), authn))
		checkSession(t, s, wantSession(grant, 1))
		mustNot(t, "DeleteSession grant", s.DeleteSession(ctx(t), tiaki.SessionGrant, "same"))
		checkGone(t, s, tiaki.SessionGrant, "same", grant.Indexes)
		checkSession(t, s, wantSession(authn, 2))
		checkGone(t, s, tiaki.SessionPAR, "same", grant.Indexes)
	}),
	sessionTest("Copies", func(t *testing.T, s tiaki.SessionStore) {
		sess := newSession(tiaki.SessionGrant, "g1")
		want := wantSession(sess, 1)
		want.Data = append([]byte(nil), sess.Data...)
		mustNot(t, "CreateSession", s.CreateSession(ctx(t), sess))
		sess.Data[0] ^= 0xff
		sess.Indexes["code"] = "changed"
		got, err := s.Session(ctx(t), tiaki.SessionGrant, "g1")
		mustNot(t, "Session", err)
		got.Data[1] ^= 0xff
		got.Indexes["code"] = "changed too"
		got, err = s.SessionByIndex(ctx(t), tiaki.SessionGrant, "refresh_token", want.Indexes["refresh_token"])
		mustNot(t, "SessionByIndex", err)
		got.Data[2] ^= 0xff
		checkSession(t, s, want)
	}),
	sessionTest("ErrorsKeepSecrets", func(t *testing.T, s tiaki.SessionStore) {
		// IDs may be handles a browser holds, and index values hashes of codes and tokens:
		// neither belongs in an error that may be logged.
		const id, value = "id-Zm9vYmFy", "hash-YmF6cXV4"
		sess := &tiaki.Session{Kind: tiaki.SessionAuthn, ID: id, Indexes: map[string]string{"code": value}}
		mustNot(t, "CreateSession", s.CreateSession(ctx(t), sess))
		stale, other := *sess, &tiaki.Session{Kind: tiaki.SessionAuthn, ID: id + "2", Indexes: sess.Indexes}
		stale.Version = 9
		_, byIndex := s.SessionByIndex(ctx(t), tiaki.SessionGrant, "code", value)
		_, byID := s.Session(ctx(t), tiaki.SessionGrant, id)
		for _, err := range []error{
			s.CreateSession(ctx(t), &tiaki.Session{Kind: tiaki.SessionAuthn, ID: id}),
			s.CreateSession(ctx(t), other),
			s.UpdateSession(ctx(t), &stale),
			s.UpdateSession(ctx(t), &tiaki.Session{Kind: tiaki.SessionGrant, ID: id, Version: 1}),
			s.DeleteSession(ctx(t), tiaki.SessionGrant, id),
			byIndex, byID,
		} {
			if err == nil {
				t.Error("got nil error")
			} else if msg := err.Error(); strings.Contains(msg, id) || strings.Contains(msg, value) {
				t.Errorf("error %q holds the session ID or an index value", msg)
			}
		}
	}),
	sessionTest("Invalid", func(t *testing.T, s tiaki.SessionStore) {
		wantErr(t, "CreateSession(nil)", s.CreateSession(ctx(t), nil), tiaki.ErrInvalid)
		wantErr(t, "UpdateSession(nil)", s.UpdateSession(ctx(t), nil), tiaki.ErrInvalid)
		valid := newSession(tiaki.SessionGrant, "g1")
		mustNot(t, "CreateSession", s.CreateSession(ctx(t), valid))
		type change struct {
			name string
			f    func(*tiaki.Session)
		}
		changes := []change{
			{"data over the limit", func(x *tiaki.Session) { x.Data = make([]byte, MaxSessionData+1) }},
			{"too many indexes", func(x *tiaki.Session) {
				for i := range MaxSessionIndexes - 1 {
					x.Indexes[fmt.Sprint("extra", i)] = "v"
				}
			}},
			{"expiry before year 1", func(x *tiaki.Session) { x.ExpiresAt = time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC) }},
		}
		for _, bad := range badKeys {
			changes = append(changes,
				change{bad.name + " kind", func(x *tiaki.Session) { x.Kind = tiaki.SessionKind(bad.s) }},
				change{bad.name + " ID", func(x *tiaki.Session) { x.ID = bad.s }},
				change{bad.name + " index name", func(x *tiaki.Session) { x.Indexes[bad.s] = "v" }},
				change{bad.name + " index value", func(x *tiaki.Session) { x.Indexes["code"] = bad.s }},
			)
		}
		for _, c := range changes {
			fresh := newSession(tiaki.SessionGrant, "g2")
			c.f(fresh)
			wantErr(t, "CreateSession with "+c.name, s.CreateSession(ctx(t), fresh), tiaki.ErrInvalid)
			update := *valid
			update.Indexes = maps.Clone(valid.Indexes)
			c.f(&update)
			wantErr(t, "UpdateSession with "+c.name, s.UpdateSession(ctx(t), &update), tiaki.ErrInvalid)
		}
		checkSession(t, s, wantSession(valid, 1))
		_, err := s.Session(ctx(t), tiaki.SessionGrant, "g2")
		wantErr(t, "Session after refused creates", err, tiaki.ErrNotFound)

		// Lookups by keys no write could have stored find nothing.
		for _, bad := range badKeys {
			_, err := s.Session(ctx(t), tiaki.SessionKind(bad.s), "g1")
			wantErr(t, "Session with "+bad.name+" kind", err, tiaki.ErrNotFound)
			_, err = s.Session(ctx(t), tiaki.SessionGrant, bad.s)
			wantErr(t, "Session with "+bad.name+" ID", err, tiaki.ErrNotFound)
			_, err = s.SessionByIndex(ctx(t), tiaki.SessionKind(bad.s), "code", valid.Indexes["code"])
			wantErr(t, "SessionByIndex with "+bad.name+" kind", err, tiaki.ErrNotFound)
			_, err = s.SessionByIndex(ctx(t), tiaki.SessionGrant, bad.s, valid.Indexes["code"])
			wantErr(t, "SessionByIndex with "+bad.name+" index name", err, tiaki.ErrNotFound)
			_, err = s.SessionByIndex(ctx(t), tiaki.SessionGrant, "code", bad.s)
			wantErr(t, "SessionByIndex with "+bad.name+" index value", err, tiaki.ErrNotFound)
			wantErr(t, "DeleteSession with "+bad.name+" kind", s.DeleteSession(ctx(t), tiaki.SessionKind(bad.s), "g1"), tiaki.ErrNotFound)
			wantErr(t, "DeleteSession with "+bad.name+" ID", s.DeleteSession(ctx(t), tiaki.SessionGrant, bad.s), tiaki.ErrNotFound)
		}
		checkSession(t, s, wantSession(valid, 1))
	}),
}
