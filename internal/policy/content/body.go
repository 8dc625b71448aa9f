package content

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/tiaki-nz/tiaki/internal/policy"
)

// DefaultMaxBody bounds a body read for checking when no limit is configured (the gateway's
// own default).
const DefaultMaxBody int64 = 1 << 20

const (
	firstRead = 4 << 10
	// maxPooled keeps big buffers out of the pool, so one large upload does not pin memory.
	maxPooled = 256 << 10
)

var buffers = sync.Pool{New: func() any { b := make([]byte, 0, firstRead); return &b }}

// Body is a request body read whole into a pooled buffer so policies can inspect it. It
// replaces the request's Body, and the upstream receives the same bytes. The buffer goes back
// to the pool when the body is closed.
// Read, WriteTo and Close are safe to call from different goroutines, as the HTTP transport may.
// Whoever owns the request closes it once the request is over (the gateway does, when its
// handler returns); a Body nobody closes is left to the garbage collector.
type Body struct {
	mu     sync.Mutex
	buf    *[]byte
	data   []byte
	off    int
	busy   bool // WriteTo is writing data outside the lock
	closed bool
}

var errClosed = errors.New("content: read from a closed body")

// Bytes returns the whole body; nil once the body is closed. The slice is valid until the
// body is closed and must not be modified.
func (b *Body) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.data
}

// Len is the body's size in bytes.
func (b *Body) Len() int { return len(b.Bytes()) }

// Read implements io.Reader.
func (b *Body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errClosed
	}
	if b.off >= len(b.data) {
		return 0, io.EOF
	}
	n := copy(p, b.data[b.off:])
	b.off += n
	return n, nil
}

// WriteTo implements io.WriterTo, so io.Copy hands the upstream connection the whole body in
// one write.
func (b *Body) WriteTo(w io.Writer) (int64, error) {
	b.mu.Lock()
	if b.closed || b.busy {
		b.mu.Unlock()
		return 0, errClosed
	}
	rest := b.data[b.off:]
	b.busy = true
	b.mu.Unlock()

	n, err := w.Write(rest)

	b.mu.Lock()
	b.busy = false
	b.off += n
	var buf *[]byte
	if b.closed {
		buf = b.detach()
	}
	b.mu.Unlock()
	recycle(buf)
	return int64(n), err
}

// Close implements io.Closer: the buffer returns to the pool, now or when a write in
// progress finishes.
func (b *Body) Close() error {
	b.mu.Lock()
	var buf *[]byte
	if !b.closed {
		b.closed = true
		if !b.busy {
			buf = b.detach()
		}
	}
	b.mu.Unlock()
	recycle(buf)
	return nil
}

// detach takes the buffer away from the body; b.mu must be held.
func (b *Body) detach() *[]byte {
	buf := b.buf
	b.buf, b.data = nil, nil
	return buf
}

func recycle(buf *[]byte) {
	if buf != nil && cap(*buf) <= maxPooled {
		*buf = (*buf)[:0]
		buffers.Put(buf)
	}
}

// HasBody reports whether r carries content: a positive Content-Length, or a body of unknown
// length (chunked). The server gives a request without content http.NoBody.
func HasBody(r *http.Request) bool {
	return r.ContentLength > 0 || r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody
}

// Buffer reads r's body (at most limit bytes; DefaultMaxBody if limit is not positive) into a
// Body and installs it as r.Body with an exact Content-Length, so the upstream receives the
// same bytes. A body some earlier policy already buffered is returned as it is, so several
// policies read a body once. It returns nil and no denial for a request without a body.
//
// Over the limit the answer is 413; a body that cannot be read (the client went away, or the
// gateway's own size limit tripped) is 400 or 413, and one that stopped arriving before the
// route's body_timeout passed is 408.
func Buffer(r *http.Request, limit int64) (*Body, *policy.Denial) {
	if b, ok := r.Body.(*Body); ok {
		return b, nil
	}
	if !HasBody(r) {
		return nil, nil
	}
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	buf := buffers.Get().(*[]byte)
	data := (*buf)[:0]
	if r.ContentLength > int64(cap(data)) {
		data = make([]byte, 0, r.ContentLength)
	}
	for {
		if r.ContentLength >= 0 && int64(len(data)) == r.ContentLength {
			break // the server delivers no more than Content-Length
		}
		if len(data) == cap(data) {
			if int64(len(data)) > limit {
				break
			}
			grown := make([]byte, len(data), min(int64(2*cap(data)), limit+1))
			copy(grown, data)
			data = grown
		}
		n, err := r.Body.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			*buf = data
			recycle(buf)
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, tooLarge(mbe.Limit)
			}
			if policy.BodyTimedOut(err) {
				return nil, policy.RequestTimeout
			}
			return nil, &policy.Denial{Status: http.StatusBadRequest, Type: "unreadable-body", Title: "Unreadable body",
				Detail: "The request body could not be read in full.", Reason: "reading the request body: " + err.Error()}
		}
	}
	if int64(len(data)) > limit {
		*buf = data
		recycle(buf)
		return nil, tooLarge(limit)
	}
	*buf = data
	b := &Body{buf: buf, data: data}
	r.Body = b
	r.GetBody = nil
	r.ContentLength = int64(len(data))
	r.TransferEncoding = nil
	return b, nil
}

func tooLarge(limit int64) *policy.Denial {
	return &policy.Denial{Status: http.StatusRequestEntityTooLarge, Type: "payload-too-large", Title: "Payload too large",
		Detail: "The request body must not exceed " + strconv.FormatInt(limit, 10) + " bytes.",
		Reason: "request body over the limit for checking"}
}
