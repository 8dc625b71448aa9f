package h1

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// bufferBeforeChunking is how much of a body without a Content-Length is held back, so a
// handler that finishes within it gets a Content-Length instead of chunked framing (as
// net/http does).
const bufferBeforeChunking = 2048

// sniffLen is how much of the body http.DetectContentType looks at.
const sniffLen = 512

// response is the ResponseWriter for one request. It decides the response's framing when the
// status is written: at once when the handler set a Content-Length (the proxied case, which
// then costs no copy of the header map), otherwise after holding back the body's first
// bytes.
type response struct {
	c      *conn
	req    *http.Request
	body   requestBody // req.Body when the request has one
	header http.Header
	// sent is the header map the response was framed with: the live one, or a copy taken at
	// WriteHeader when framing had to wait, so later changes do not leak into it (as with
	// net/http, only trailers may change after WriteHeader).
	sent http.Header

	status        int
	wroteHeader   bool // the final status is decided
	committed     bool // status line and header are in the connection's buffer
	chunked       bool
	contentLength int64 // declared or computed; -1 when neither
	written       int64
	pending       []byte // body held back before framing is decided
	trailers      []string
	closeAfter    bool
	hijacked      bool
	isHead        bool
	http10        bool
	fullDuplex    bool
}

func newResponse(c *conn, req *http.Request) *response {
	w := &response{c: c, req: req, header: make(http.Header, 8), contentLength: -1,
		closeAfter: req.Close, isHead: req.Method == http.MethodHead, http10: !req.ProtoAtLeast(1, 1)}
	if req.Body != http.NoBody {
		w.body.rc, w.body.c, w.body.size = req.Body, c, req.ContentLength
		req.Body = &w.body
	}
	return w
}

// Header implements http.ResponseWriter.
func (w *response) Header() http.Header { return w.header }

// WriteHeader implements http.ResponseWriter. Informational statuses (1xx but 101) are
// written at once with the header as it stands; any other is final.
func (w *response) WriteHeader(code int) {
	if w.hijacked || w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic("h1: invalid WriteHeader code " + strconv.Itoa(code)) // as net/http
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		if code == http.StatusContinue {
			w.body.stopContinue(true)
		}
		w.writeInformational(code)
		return
	}
	w.body.stopContinue(false)
	w.status, w.wroteHeader = code, true
	if v := w.header.Get("Content-Length"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			w.contentLength = n
		} else {
			delete(w.header, "Content-Length") // as net/http: an invalid length is dropped
		}
	}
	// Framing waits for the body's first bytes only when it must: no length to send, or no
	// Content-Type (net/http sniffs one from those bytes). It waits, too, while the handler
	// may still read the request body, which writing the header drains: net/http writes its
	// header only once the handler has written past its buffer, flushed or returned.
	_, declared := w.header["Trailer"]
	_, typed := w.header["Content-Type"]
	sniff := !typed && w.header.Get("Content-Encoding") == ""
	if (!bodyAllowed(code) || w.header.Get("Transfer-Encoding") != "" || w.contentLength == 0 ||
		!sniff && (declared || w.contentLength >= 0)) && !w.bodyUnread() {
		w.commit(false)
		return
	}
	w.sent = w.header.Clone()
}

// bodyUnread reports whether committing the response now would drain a request body the
// handler has not finished reading.
func (w *response) bodyUnread() bool {
	if w.body.rc == nil || w.closeAfter || w.fullDuplex {
		return false
	}
	_, eof, _ := w.body.state()
	return !eof
}

func (w *response) writeInformational(code int) {
	bw := w.c.bw
	writeStatusLine(bw, w.http10, code)
	for k, vv := range w.header {
		if k == "Content-Length" || k == "Transfer-Encoding" {
			continue
		}
		writeField(bw, k, vv)
	}
	bw.WriteString("\r\n")
	bw.Flush()
}

// Write implements http.ResponseWriter.
func (w *response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if !w.committed {
		if w.contentLength >= 0 && int64(len(w.pending)+len(p)) > w.contentLength {
			return 0, http.ErrContentLength
		}
		// A HEAD response's body is held back too, though never sent: as with net/http, its
		// bytes give the response a Content-Length and a sniffed Content-Type.
		if len(w.pending)+len(p) <= bufferBeforeChunking {
			w.pending = append(w.pending, p...)
			return len(p), nil
		}
		// The Content-Type is sniffed from the body's first bytes, however the handler split them.
		n := min(max(sniffLen-len(w.pending), 0), len(p))
		w.pending = append(w.pending, p[:n]...)
		w.commit(false)
		if w.isHead {
			return len(p), nil
		}
		m, err := w.writeBody(p[n:])
		return n + m, err
	}
	if w.isHead {
		return len(p), nil
	}
	return w.writeBody(p)
}

// WriteString lets io.WriteString skip a conversion.
func (w *response) WriteString(s string) (int, error) { return w.Write([]byte(s)) }

func (w *response) writeBody(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if w.contentLength >= 0 && !w.chunked && w.written+int64(len(p)) > w.contentLength {
		return 0, http.ErrContentLength
	}
	bw := w.c.bw
	if w.chunked {
		bw.WriteString(strconv.FormatInt(int64(len(p)), 16))
		bw.WriteString("\r\n")
	}
	n, err := bw.Write(p)
	if w.chunked && err == nil {
		_, err = bw.WriteString("\r\n")
	}
	w.written += int64(n)
	return n, err
}

// Flush implements http.Flusher.
func (w *response) Flush() { _ = w.FlushError() }

// FlushError sends what is buffered, committing to chunked framing if the length is not yet
// known (http.ResponseController uses it).
func (w *response) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(false)
	}
	return w.c.bw.Flush()
}

// Hijack implements http.Hijacker: the connection is the caller's from here on, with what
// the server has read ahead in the reader.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	w.body.stopContinue(false)
	if w.wroteHeader && !w.committed {
		w.commit(false) // as net/http: a status written before Hijack is sent (a CONNECT's 200)
	}
	if w.committed {
		if err := w.c.bw.Flush(); err != nil {
			return nil, nil, err
		}
	}
	w.c.cr.disarm() // the connection's reads are the caller's from here on
	w.hijacked = true
	w.c.rwc.SetDeadline(time.Time{})
	return w.c.rwc, bufio.NewReadWriter(w.c.br, w.c.bw), nil
}

// SetReadDeadline and SetWriteDeadline serve http.ResponseController. The deadlines last
// until the end of the request. A read deadline bounds the request body (in place of
// Server.BodyTimeout); once the body has been read it no longer applies, so that it does not
// cut short the watch for a client going away (watch.go).
func (w *response) SetReadDeadline(t time.Time) error {
	w.body.deadlineSet()
	w.c.readDeadline = true
	return w.c.rwc.SetReadDeadline(t)
}

func (w *response) SetWriteDeadline(t time.Time) error {
	w.c.writeDeadline = true
	return w.c.rwc.SetWriteDeadline(t)
}

// EnableFullDuplex serves http.ResponseController: the request body is left to the handler
// when the response begins, instead of being drained first.
func (w *response) EnableFullDuplex() error {
	w.fullDuplex = true
	return nil
}

// finish completes the response after the handler returned: frames a held-back body, ends a
// chunked one with its trailers, and flushes.
func (w *response) finish() error {
	if w.hijacked {
		return nil
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(true)
	}
	bw := w.c.bw
	if w.chunked {
		bw.WriteString("0\r\n")
		w.writeTrailers()
		bw.WriteString("\r\n")
	}
	if w.contentLength >= 0 && !w.chunked && bodyAllowed(w.status) && !w.isHead && w.written != w.contentLength {
		w.closeAfter = true // short body: the connection is out of step
	}
	return bw.Flush()
}

// abort gives up on the response after a handler panic; the connection is closed without
// sending what was held back.
func (w *response) abort() { w.closeAfter = true }

func (w *response) writeTrailers() {
	bw := w.c.bw
	for _, k := range w.trailers {
		if vv, ok := w.header[k]; ok {
			writeField(bw, k, vv)
		}
	}
	for k, vv := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			writeField(bw, http.CanonicalHeaderKey(name), vv)
		}
	}
}

// commit writes the status line and header, following net/http's server: Content-Length for
// a held-back body the handler finished within (done), else chunked framing on HTTP/1.1 and a
// close-delimited body on HTTP/1.0; no framing headers where there is no body; a sniffed
// Content-Type when none was set; Date; and Connection: close when the connection ends after
// this response.
func (w *response) commit(done bool) {
	w.committed = true
	h := w.sent
	if h == nil {
		h = w.header
	}
	code := w.status
	allowed := bodyAllowed(code)
	te := h.Get("Transfer-Encoding")
	if te != "" && te != "identity" && w.contentLength >= 0 {
		w.contentLength = -1 // as net/http: a transfer coding wins over a length
	}
	for _, v := range h["Trailer"] {
		for name := range strings.SplitSeq(v, ",") {
			// As net/http: a field not allowed in a trailer (RFC 9110 §6.5.1) is not declared.
			if name = http.CanonicalHeaderKey(strings.TrimSpace(name)); name != "" && httpguts.ValidTrailerHeader(name) {
				w.trailers = append(w.trailers, name)
			}
		}
	}
	var setLength bool
	if done && allowed && (!w.isHead || len(w.pending) > 0) && te == "" && len(h["Trailer"]) == 0 &&
		w.contentLength < 0 && !hasTrailerPrefix(h) {
		w.contentLength, setLength = int64(len(w.pending)), true
	}
	hasLength := w.contentLength >= 0
	if _, ok := h["Connection"]; ok && hasToken(h.Get("Connection"), "close") {
		w.closeAfter = true
	}
	if w.c.s.shutdown.Load() {
		w.closeAfter = true
	}
	if w.http10 && !w.closeAfter && !(w.isHead || hasLength || !allowed) {
		w.closeAfter = true // an HTTP/1.0 body of unknown length ends with the connection
	}
	w.drainBeforeResponse()

	switch {
	case w.isHead || !allowed:
	case hasLength:
	case !w.http10 && te != "identity":
		w.chunked = true
	default:
		w.closeAfter = true // close-delimited
	}

	bw := w.c.bw
	writeStatusLine(bw, w.http10, code)
	for k, vv := range h {
		switch k {
		case "Transfer-Encoding", "Connection":
			continue
		case "Content-Length":
			if w.chunked || !allowed {
				continue
			}
		case "Content-Type":
			if code == http.StatusNotModified {
				continue
			}
		}
		if strings.HasPrefix(k, http.TrailerPrefix) {
			continue
		}
		writeField(bw, k, vv)
	}
	if setLength {
		bw.WriteString("Content-Length: ")
		bw.WriteString(strconv.FormatInt(w.contentLength, 10))
		bw.WriteString("\r\n")
	}
	if allowed {
		_, haveType := h["Content-Type"]
		if !haveType && h.Get("Content-Encoding") == "" && te == "" && len(w.pending) > 0 {
			bw.WriteString("Content-Type: ")
			bw.WriteString(http.DetectContentType(w.pending))
			bw.WriteString("\r\n")
		}
	}
	if _, ok := h["Date"]; !ok {
		bw.WriteString("Date: ")
		bw.Write(httpDate())
		bw.WriteString("\r\n")
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	switch {
	case w.closeAfter && !w.http10:
		bw.WriteString("Connection: close\r\n")
	case !w.closeAfter && w.http10:
		bw.WriteString("Connection: keep-alive\r\n")
	default:
		if vv, ok := h["Connection"]; ok && !w.closeAfter {
			writeField(bw, "Connection", vv) // as the handler set it (an Upgrade, say)
		}
	}
	bw.WriteString("\r\n")
	if len(w.pending) > 0 {
		p := w.pending
		w.pending = nil
		if !w.isHead {
			w.writeBody(p)
		}
	}
}

// hasTrailerPrefix reports whether h holds a trailer named with http.TrailerPrefix, which (as
// with net/http) makes a finished response chunked so that it can be sent.
func hasTrailerPrefix(h http.Header) bool {
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

// drainBeforeResponse reads what the handler left of the request body before the response
// is written, as net/http does: some clients cannot read a response while they are still
// sending. When drain gives up on the body, the connection closes after this response
// instead. A handler that enabled full duplex keeps the body.
func (w *response) drainBeforeResponse() {
	if !w.closeAfter && !w.fullDuplex && !w.c.drain(&w.body) {
		w.closeAfter = true
	}
}

func bodyAllowed(code int) bool {
	return !(code >= 100 && code < 200 || code == http.StatusNoContent || code == http.StatusNotModified)
}

func writeStatusLine(bw *bufio.Writer, http10 bool, code int) {
	if http10 {
		bw.WriteString("HTTP/1.0 ")
	} else {
		bw.WriteString("HTTP/1.1 ")
	}
	var num [8]byte
	bw.Write(strconv.AppendInt(num[:0], int64(code), 10))
	bw.WriteByte(' ')
	if text := http.StatusText(code); text != "" {
		bw.WriteString(text)
	} else {
		bw.WriteString("status code " + strconv.Itoa(code))
	}
	bw.WriteString("\r\n")
}

// writeField writes one header field as net/http does: a field with an invalid name is
// dropped, and CR or LF in a value become spaces, so a value can never split the response.
func writeField(bw *bufio.Writer, k string, vv []string) {
	if !httpguts.ValidHeaderFieldName(k) {
		return
	}
	for _, v := range vv {
		if strings.ContainsAny(v, "\r\n") {
			v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
		}
		bw.WriteString(k)
		bw.WriteString(": ")
		bw.WriteString(strings.Trim(v, " \t"))
		bw.WriteString("\r\n")
	}
}

// hasToken reports whether the comma-separated list v holds token (case-insensitive).
func hasToken(v, token string) bool {
	for t := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.Trim(t, " \t"), token) {
			return true
		}
	}
	return false
}

// httpDate is the Date header's value, formatted once a second.
func httpDate() []byte {
	now := time.Now()
	sec := now.Unix()
	if d := cachedDate.Load(); d != nil && d.sec == sec {
		return d.text
	}
	d := &dateText{sec: sec, text: now.UTC().AppendFormat(make([]byte, 0, 29), http.TimeFormat)}
	cachedDate.Store(d)
	return d.text
}

type dateText struct {
	sec  int64
	text []byte
}

var cachedDate atomic.Pointer[dateText]
