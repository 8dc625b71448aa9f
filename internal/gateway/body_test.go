package gateway

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
)

// testBuffered stands in for a body a policy buffered (content.Body): it has Bytes but is not a
// type the transport knows to be in memory.
type testBuffered struct{ *bytes.Reader }

func (b testBuffered) Close() error { return nil }
func (b testBuffered) Bytes() []byte {
	data, _ := io.ReadAll(io.NewSectionReader(b.Reader, 0, b.Size()))
	return data
}

// writeCounter counts the writes that reach it: each would be a system call on a connection.
type writeCounter struct {
	writes int
	buf    bytes.Buffer
}

func (c *writeCounter) Write(p []byte) (int, error) { c.writes++; return c.buf.Write(p) }

// upstreamWrites serialises an outbound request the way the transport does and counts the
// writes it makes.
func upstreamWrites(t *testing.T, out *http.Request) (int, string) {
	t.Helper()
	var w writeCounter
	if err := out.Write(&w); err != nil {
		t.Fatal(err)
	}
	return w.writes, w.buf.String()
}

func TestInMemoryBodyOneWrite(t *testing.T) {
	const payload = `{"name":"Aroha O'Connor"}`
	newPair := func() (in, out *http.Request) {
		in, _ = http.NewRequest(http.MethodPost, "http://upstream.test/orders", nil)
		in.Body = testBuffered{bytes.NewReader([]byte(payload))}
		in.ContentLength = int64(len(payload))
		out = in.Clone(in.Context())
		out.Body = io.NopCloser(struct{ io.Reader }{in.Body}) // what ReverseProxy hands Rewrite
		return in, out
	}

	in, out := newPair()
	if n, _ := upstreamWrites(t, out); n != 2 {
		t.Fatalf("without inMemoryBody: %d writes, want 2 (headers flushed before the body)", n)
	}

	in, out = newPair()
	inMemoryBody(in, out)
	n, wire := upstreamWrites(t, out)
	if n != 1 {
		t.Errorf("with inMemoryBody: %d writes, want headers and body in 1", n)
	}
	if !strings.HasSuffix(wire, "\r\n\r\n"+payload) {
		t.Errorf("upstream got %q, want the body %q after the headers", wire, payload)
	}
}

func TestInMemoryBodyIsACopy(t *testing.T) {
	data := []byte(`{"a":1}`)
	in, _ := http.NewRequest(http.MethodPost, "http://upstream.test/", nil)
	in.Body = testBuffered{bytes.NewReader(data)}
	in.ContentLength = int64(len(data))
	out := in.Clone(in.Context())
	inMemoryBody(in, out)
	original := bytes.Clone(data)
	data[0] = 'X' // the policy's pooled buffer is reused by the next request
	got, _ := io.ReadAll(out.Body)
	if !bytes.Equal(got, original) {
		t.Errorf("upstream body %q changed with the pooled buffer, want %q", got, original)
	}
}

func TestInMemoryBodyLeavesLargeAndStreamedBodies(t *testing.T) {
	big := bytes.Repeat([]byte("a"), maxInMemoryBody+1)
	in, _ := http.NewRequest(http.MethodPost, "http://upstream.test/", nil)
	in.Body = testBuffered{bytes.NewReader(big)}
	in.ContentLength = int64(len(big))
	out := in.Clone(in.Context())
	inMemoryBody(in, out)
	if _, ok := out.Body.(testBuffered); !ok {
		t.Errorf("a body over %d bytes became %T, want it streamed as it was", maxInMemoryBody, out.Body)
	}

	in, _ = http.NewRequest(http.MethodPost, "http://upstream.test/", strings.NewReader("streamed"))
	in.Body = io.NopCloser(struct{ io.Reader }{strings.NewReader("streamed")})
	out = in.Clone(in.Context())
	inMemoryBody(in, out)
	if out.Body != in.Body {
		t.Errorf("an unbuffered body was replaced by %T", out.Body)
	}
}

// closeRecorder is a buffered body that notes when it is closed.
type closeRecorder struct {
	testBuffered
	closed *atomic.Bool
}

func (b closeRecorder) Close() error { b.closed.Store(true); return nil }

// closingPolicy buffers the body into a closeRecorder, as content.Buffer installs a pooled Body.
type closingPolicy struct{ closed *atomic.Bool }

func (p closingPolicy) Check(r *http.Request, _ *tiaki.Principal) *policy.Denial {
	data, _ := io.ReadAll(r.Body)
	r.Body = closeRecorder{testBuffered{bytes.NewReader(data)}, p.closed}
	r.ContentLength = int64(len(data))
	return nil
}

func (p closingPolicy) Enforce(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	return policy.Apply(p, w, r, next)
}

// TestGatewayClosesBufferedBody: the pooled buffer of a body a policy read goes back when the
// gateway's handler returns, on the fast path and on ReverseProxy's, once the upstream has it.
func TestGatewayClosesBufferedBody(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, r.Body)
	}))
	t.Cleanup(up.Close)
	for _, tc := range []struct {
		name   string
		header http.Header
	}{
		{"fast path", nil},
		{"ReverseProxy", http.Header{"Te": {"trailers"}}}, // not direct: see direct
	} {
		t.Run(tc.name, func(t *testing.T) {
			closed := new(atomic.Bool)
			g, err := New([]Route{{Name: "b", PathPrefix: "/", Upstream: mustURL(t, up.URL), Methods: []string{"POST"},
				Policies: []policy.Policy{closingPolicy{closed}}}}, Options{Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(g.CloseIdleConnections)
			req := httptest.NewRequest("POST", "/x", strings.NewReader(`{"a":1}`))
			maps.Copy(req.Header, tc.header)
			probe := req.Clone(req.Context()) // as the policy leaves it
			probe.Body = testBuffered{bytes.NewReader([]byte(`{"a":1}`))}
			if direct(probe) == (tc.header != nil) {
				t.Fatalf("direct = %v: the case does not take the path it names", direct(probe))
			}
			rec := httptest.NewRecorder()
			g.ServeHTTP(rec, req)
			if rec.Code != 200 || rec.Body.String() != `{"a":1}` {
				t.Fatalf("got %d %q, want the body echoed", rec.Code, rec.Body.String())
			}
			if !closed.Load() {
				t.Error("the buffered body was not closed when the request ended")
			}
		})
	}
}
