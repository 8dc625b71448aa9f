package content

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

// TestBufferBodyTimeout checks that a body whose read deadline (the route's body_timeout)
// passed is refused with 408, not as an unreadable body (issue 11).
func TestBufferBodyTimeout(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("POST", "/", nil)
	r.Body, r.ContentLength = stalledBody{strings.NewReader(`{"a"`)}, 100
	r.Header.Set("Content-Type", "application/json")
	if _, d := Buffer(r, 0); d != policy.RequestTimeout {
		t.Errorf("Buffer: %v, want policy.RequestTimeout", d)
	}
}
