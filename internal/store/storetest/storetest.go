// Package storetest is the conformance suite every tiaki.Store implementation must pass, so
// the embedded SQLite store and the PostgreSQL store behave alike and callers can switch
// between them with a line of config.
//
// Start with Run. The contract it checks, beyond the interface comments in tiaki's store.go:
//
//   - Times come back in UTC, truncated to whole microseconds (PostgreSQL's precision); the
//     zero time round-trips as the zero time.
//   - Empty slices, byte strings and claim maps come back as nil, whether they went in as nil
//     or as empty, so callers never need to tell the two apart.
//   - Text fields must be valid UTF-8 without NUL bytes (PostgreSQL refuses both); writes that
//     break this fail with tiaki.ErrInvalid, and lookups by such a key find nothing
//     (tiaki.ErrNotFound) rather than fail, because lookup keys often come from the network.
//   - User claims are stored as JSON, so they come back as encoding/json decodes them:
//     numbers as float64, arrays as []any, objects as map[string]any.
//   - Returned values are copies: changing them, or the value passed in, never changes the store.
//   - Session records are bounded (MaxSessionData, MaxSessionIndexes); a session's Data is
//     opaque bytes, and its ID, index names and index values are keys like any other.
//   - Close is idempotent, and a closed store fails (without panicking) rather than hang.
package storetest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki"
)

// Run runs the conformance suite against the stores open returns. open is called once per
// subtest and must return a new, empty store; it should register its own cleanup (closing the
// store, removing its files or schema) with t.Cleanup. Subtests run in parallel.
func Run(t *testing.T, open func(t *testing.T) tiaki.Store) {
	t.Helper()
	groups := []struct {
		name  string
		tests []test
	}{
		{"Clients", clientTests},
		{"APIKeys", apiKeyTests},
		{"Users", userTests},
		{"SigningKeys", signingKeyTests},
		{"Sessions", sessionTests},
		{"Revocations", revocationTests},
		{"Store", storeTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, open(t))
				})
			}
		})
	}
}

// test is one conformance check against a fresh store.
type test struct {
	name string
	run  func(t *testing.T, s tiaki.Store)
}

var storeTests = []test{
	{"Ping", func(t *testing.T, s tiaki.Store) {
		if err := s.Ping(ctx(t)); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	}},
	{"CanceledContext", func(t *testing.T, s tiaki.Store) {
		c, cancel := context.WithCancel(ctx(t))
		cancel()
		if _, err := s.Client(c, "app"); !errors.Is(err, context.Canceled) {
			t.Errorf("Client with canceled context: got %v, want context.Canceled", err)
		}
		if err := s.PutClient(c, newClient("app")); !errors.Is(err, context.Canceled) {
			t.Errorf("PutClient with canceled context: got %v, want context.Canceled", err)
		}
	}},
	{"Close", func(t *testing.T, s tiaki.Store) {
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := s.Ping(ctx(t)); err == nil {
			t.Error("Ping after Close: got nil error")
		}
		if _, err := s.Client(ctx(t), "app"); err == nil || errors.Is(err, tiaki.ErrNotFound) {
			t.Errorf("Client after Close: got %v, want a store error", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	}},
}

// ctx bounds every store call a test makes, so a store that hangs fails instead of stalling CI.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// base is a time with nanoseconds, far from UTC, so stores must both truncate and convert it.
var base = time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.FixedZone("NZDT", 13*3600))

// at returns base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

// stored is what a store must return for a time it was given.
func stored(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// checkUTC fails the test for each non-zero time not in UTC. cmp compares times with Equal,
// which ignores the location, so locations need their own check.
func checkUTC(t *testing.T, what string, times ...time.Time) {
	t.Helper()
	for i, tm := range times {
		if !tm.IsZero() && tm.Location() != time.UTC {
			t.Errorf("%s: time %d is in %v, want UTC", what, i, tm.Location())
		}
		if tm.IsZero() && !tm.Equal(time.Time{}) {
			t.Errorf("%s: time %d is zero but not time.Time{}", what, i)
		}
	}
}

// wantErr fails the test unless errors.Is(err, want).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

// mustNot fails the test now if err is not nil.
func mustNot(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// diff fails the test if got and want differ.
func diff(t *testing.T, what string, got, want any) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// race runs create n times at once and checks that exactly one call succeeds and every other
// fails with ErrConflict: stores must not let two writers both believe they created a record.
func race(t *testing.T, n int, create func(i int) error) {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = create(i)
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, tiaki.ErrConflict):
			t.Errorf("create %d: got error %v, want nil or ErrConflict", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d concurrent creates succeeded, want exactly 1", wins, n)
	}
}

// MaxKeyLen is the longest key (client ID, API key ID, username, signing key ID) a store
// must accept; longer keys are refused with tiaki.ErrInvalid, so a lookup key taken from the
// network cannot make a store do unbounded work. It leaves room for URL-shaped client IDs.
const MaxKeyLen = 1024

// badText are strings no store may accept in a text field.
var badText = []struct {
	name string
	s    string
}{
	{"NUL", "a\x00b"},
	{"invalid UTF-8", "a\xffb"},
}

// badKeys are strings no store may accept as a key.
var badKeys = append([]struct {
	name string
	s    string
}{
	{"empty", ""},
	{"too long", strings.Repeat("k", MaxKeyLen+1)},
}, badText...)
