package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// invalidRequest applies the checks net/http's server makes after parsing a request, which
// http.ReadRequest leaves to its caller. It returns 0 for a request to serve.
//
// hosts are the request's Host header fields, captured for a target not in origin-form; nil
// for an origin-form target, whose req.Host is the Host header (ReadRequest moved it there
// and deleted it). From req.Host alone an empty Host header, which RFC 9112 §3.2 allows,
// cannot be told from none: both are refused.
func invalidRequest(req *http.Request, hosts []string) (int, string) {
	if req.ProtoMajor != 1 {
		return http.StatusHTTPVersionNotSupported, "unsupported protocol version"
	}
	n, host := len(hosts), ""
	switch {
	case hosts == nil && req.Host != "":
		n, host = 1, req.Host
	case n == 1:
		host = hosts[0]
	}
	// RFC 9112 §3.2: an HTTP/1.1 request without a Host (whatever its target) is refused
	// with 400, as is one whose Host is not a valid authority.
	if req.ProtoAtLeast(1, 1) && n == 0 && req.Method != http.MethodConnect {
		return http.StatusBadRequest, "missing required Host header"
	}
	if n == 1 && !httpguts.ValidHostHeader(host) {
		return http.StatusBadRequest, "malformed Host header"
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return http.StatusBadRequest, "invalid header name"
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return http.StatusBadRequest, "invalid header value"
			}
		}
	}
	return 0, ""
}

// originForm reports whether the request about to be read has an origin-form target ("GET /x"),
// judged from what the connection's buffer holds; false when it does not hold that much.
func (c *conn) originForm() bool {
	b, _ := c.br.Peek(c.br.Buffered())
	i := bytes.IndexByte(b, ' ')
	return i >= 0 && i+1 < len(b) && b[i+1] == '/'
}

// capture records the bytes of a request's header as http.ReadRequest reads them: what the
// buffer held already, then every read beneath it until the caller puts c.cr back.
type capture struct {
	r   io.Reader
	buf []byte
}

func (c *conn) capture() *capture {
	b, _ := c.br.Peek(c.br.Buffered())
	raw := &capture{r: &c.cr, buf: bytes.Clone(b)}
	c.lr.R = raw
	return raw
}

func (t *capture) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.buf = append(t.buf, p[:n]...)
	return n, err
}

// hostFields parses the captured header again, with the parser http.ReadRequest used, and
// returns its Host fields (empty, not nil, when there are none). net/http's server checks
// these, not the target's authority.
func hostFields(raw []byte) ([]string, error) {
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw)))
	if _, err := tp.ReadLine(); err != nil {
		return nil, err
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, err
	}
	if hosts := h["Host"]; hosts != nil {
		return hosts, nil
	}
	return []string{}, nil
}

// globalOptions answers "OPTIONS *" as net/http's server does: 200 with no content, reading
// up to 4 KiB of a body, and closing the connection after a larger one.
var globalOptions = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", "0")
	if r.ContentLength != 0 {
		const limit = 4 << 10
		if n, _ := io.CopyN(io.Discard, r.Body, limit+1); n > limit {
			w.(*response).closeAfter = true
		}
	}
})

// expectsContinue reports whether the Expect header asks for 100-continue and nothing else
// (RFC 9110 §10.1.1: any other expectation is answered with 417).
func expectsContinue(req *http.Request) bool {
	vv := req.Header["Expect"]
	return len(vv) == 1 && strings.EqualFold(textTrim(vv[0]), "100-continue")
}

func textTrim(s string) string { return strings.Trim(s, " \t") }

// requestBody is a request's Body as the handler sees it. It sends "100 Continue" before the
// first read when the client is holding the body back until told to send it (RFC 9110
// §10.1.1), unless the final response has begun. Its Close does not read what is left:
// *http.body's Close reads to EOF without bound outside net/http's server (which sets an
// unexported early-close flag), so closing a large upload, as a Transport does, would read
// all of it. The server drains the rest itself, up to maxDrain, or closes the connection.
//
// mu guards the flags: a Transport reads and closes a request body on its own goroutine.
type requestBody struct {
	rc   io.ReadCloser // as http.ReadRequest returned it; nil for no body
	c    *conn
	size int64 // the declared Content-Length; -1 when chunked

	mu         sync.Mutex
	deadline   bool // the body's read deadline is in place: Server.BodyTimeout's or the handler's
	expect     bool // the client waits for 100 Continue
	sent       bool // 100 Continue was sent (or the handler sent it)
	noContinue bool // the final response has begun: too late for 100 Continue
	read       int64
	eof        bool
	closed     bool
}

func (b *requestBody) Read(p []byte) (int, error) {
	b.armDeadline()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return 0, http.ErrBodyReadAfterClose
	}
	if b.expect && !b.sent && !b.noContinue {
		b.sent = true
		bw := b.c.bw
		bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		if err := bw.Flush(); err != nil {
			b.mu.Unlock()
			return 0, err
		}
	}
	b.mu.Unlock()
	n, err := b.rc.Read(p)
	if n > 0 || err == io.EOF {
		b.mu.Lock()
		b.read += int64(n)
		b.eof = b.eof || err == io.EOF
		b.mu.Unlock()
	}
	return n, err
}

// armDeadline puts the body's read deadline in place of the header's before the body is first
// read, unless it already is: BodyTimeout from now, or none. Setting it here rather than
// after the header costs nothing when the handler sets its own (the gateway), and the header
// deadline's replacement had to be paid anyway.
func (b *requestBody) armDeadline() {
	b.mu.Lock()
	armed := b.deadline
	b.deadline = true
	b.mu.Unlock()
	if armed {
		return
	}
	var t time.Time
	if d := b.c.s.BodyTimeout; d > 0 {
		t = time.Now().Add(d)
	}
	b.c.rwc.SetReadDeadline(t)
}

// deadlineSet records that the handler set the read deadline, which then bounds the body.
func (b *requestBody) deadlineSet() {
	b.mu.Lock()
	b.deadline = true
	b.mu.Unlock()
}

// Close implements io.Closer; reads after it fail, as with net/http.
func (b *requestBody) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// stopContinue is called when the final response begins (or the handler sent 100 Continue
// itself, sent): no automatic 100 Continue from here on.
func (b *requestBody) stopContinue(sent bool) {
	if b.rc == nil {
		return
	}
	b.mu.Lock()
	b.noContinue = true
	b.sent = b.sent || sent
	b.mu.Unlock()
}

// state reports whether the client is still holding the body back for a 100 Continue never
// sent, whether the body has been read to its end, and how much of its declared length is
// left (-1 when it has none).
func (b *requestBody) state() (waiting, eof bool, left int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	left = -1
	if b.size >= 0 {
		left = b.size - b.read
	}
	return b.expect && !b.sent, b.eof, left
}

// isUnsupportedTE reports whether ReadRequest refused the request's transfer coding, which
// RFC 9112 §6.1 answers with 501. net/http's error type for it is unexported, so its message
// is the only thing to go by.
func isUnsupportedTE(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "unsupported transfer encoding") || strings.Contains(msg, "too many transfer encodings")
}

func itoa(n int) string { return strconv.Itoa(n) }
