package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/store/limitstest"
)

// testAddr is the Redis server the tests use; CI starts one there.
const testAddr = "127.0.0.1:6379"

// raw returns a plain client for the test server. Without a server, tests are skipped on a
// developer's machine but fail in CI (CI is set), which must never pass by skipping.
func raw(t *testing.T) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: testAddr, DialTimeout: time.Second, DisableIdentity: true})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		if os.Getenv("CI") == "" {
			t.Skipf("Redis unreachable at %s: %v", testAddr, err)
		}
		t.Fatalf("Redis unreachable at %s, and CI must not skip: %v", testAddr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newPrefix returns a random key prefix and deletes its keys when the test ends.
func newPrefix(t *testing.T, c *goredis.Client) string {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	prefix := "tiaki-test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, globEscape(prefix)+"*", 500).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return prefix
}

func open(t *testing.T, opts Options) *Store {
	t.Helper()
	opts.Addr = testAddr
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	s, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	c := raw(t)
	limitstest.Run(t, func(t *testing.T) limitstest.Cluster {
		prefix := newPrefix(t, c)
		return limitstest.Cluster{
			A:   open(t, Options{KeyPrefix: prefix}),
			B:   open(t, Options{KeyPrefix: prefix}),
			Now: time.Now,
		}
	})
}

func TestOpenFailsFastAndQuietly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
		kind error
	}{
		{"no address", Options{}, tiaki.ErrInvalid},
		{"prefix too long", Options{Addr: testAddr, KeyPrefix: strings.Repeat("p", 129)}, tiaki.ErrInvalid},
		{"nobody listening", Options{Addr: "127.0.0.1:1", Password: "hunter2-not-for-logs"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
			defer cancel()
			start := time.Now()
			s, err := Open(ctx, tc.opts)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if tc.kind != nil && !errors.Is(err, tc.kind) {
				t.Errorf("error %v, want %v", err, tc.kind)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error reveals the password: %v", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Open took %v", d)
			}
		})
	}
}

func TestWrongPasswordIsNotEchoed(t *testing.T) {
	t.Parallel()
	raw(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	s, err := Open(ctx, Options{Addr: testAddr, Username: "nobody-" + t.Name(), Password: "hunter2-not-for-logs"})
	if err == nil {
		_ = s.Close()
		t.Skip("the test server accepts any credentials")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error reveals the password: %v", err)
	}
}

func TestStoreErrorsWhenServerGone(t *testing.T) {
	t.Parallel()
	c := raw(t)
	s := open(t, Options{KeyPrefix: newPrefix(t, c)})
	_ = s.c.Close() // as if the server went away
	ctx := t.Context()
	if _, err := s.Allow(ctx, "k", tiaki.Limit{Rate: 1, Per: time.Second}, 1); err == nil {
		t.Error("Allow succeeded without a server")
	}
	if _, _, err := s.Add(ctx, "k", time.Hour, 1); err == nil {
		t.Error("Add succeeded without a server")
	}
	if _, err := s.Consume(ctx, "k", time.Minute); err == nil {
		t.Error("Consume succeeded without a server")
	}
}

func TestGlobEscape(t *testing.T) {
	t.Parallel()
	if got, want := globEscape(`a*b?[c]\-^`), `a\*b\?\[c\]\\\-\^`; got != want {
		t.Errorf("globEscape = %q, want %q", got, want)
	}
}
