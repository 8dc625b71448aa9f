package gateway

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// bufferedBody stands in for a body a policy buffered (content.Body): it has Bytes but is not a
// type the transport knows to be in memory.
type bufferedBody struct{ *bytes.Reader }

func (b bufferedBody) Close() error { return nil }
func (b bufferedBody) Bytes() []byte {
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
		in.Body = bufferedBody{bytes.NewReader([]byte(payload))}
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
	in.Body = bufferedBody{bytes.NewReader(data)}
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
	in.Body = bufferedBody{bytes.NewReader(big)}
	in.ContentLength = int64(len(big))
	out := in.Clone(in.Context())
	inMemoryBody(in, out)
	if _, ok := out.Body.(bufferedBody); !ok {
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
