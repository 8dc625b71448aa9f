package waf

import (
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/tiaki-nz/tiaki/internal/policy"
)

// stalledBody gives some bytes, then fails as a body read past its deadline does.
type stalledBody struct{ io.Reader }

func (b stalledBody) Read(p []byte) (int, error) {
	if n, err := b.Reader.Read(p); err != io.EOF {
		return n, err
	}
	return 0, fmt.Errorf("read tcp: %w", os.ErrDeadlineExceeded)
}

func (stalledBody) Close() error { return nil }

// TestBodyTimeout checks that a body whose read deadline (the route's body_timeout) passed
// is refused with 408, not as an unreadable body (issue 11).
func TestBodyTimeout(t *testing.T) {
	t.Parallel()
	g, err := New(Config{Level: Standard})
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range []string{"application/json", ""} {
		r := httptest.NewRequest("POST", "/", nil)
		r.Body, r.ContentLength = stalledBody{strings.NewReader(`{"a"`)}, 100
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		if d := g.Check(r, nil); d != policy.RequestTimeout {
			t.Errorf("Content-Type %q: %v, want policy.RequestTimeout", ct, d)
		}
	}
}
