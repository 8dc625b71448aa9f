package waf

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
)

// Buffered is a request body a policy has already read into memory. A policy that needs the
// whole body (content validation, OpenAPI, this one) replaces r.Body with one, so the body is
// read from the network once, whichever policy comes first, and the upstream still receives it.
type Buffered interface {
	io.ReadCloser
	// Bytes returns the whole body. The caller must not modify it.
	Bytes() []byte
}

// ErrBodyTooLarge is returned by ReadBody for a body over its limit.
var ErrBodyTooLarge = errors.New("waf: request body over the limit")

// ReadBody returns r's whole body. If another policy has already buffered it (r.Body is a
// Buffered), its bytes are returned without reading anything; otherwise the body is read, at
// most limit bytes, and r.Body is replaced by a Buffered holding them. A body over limit gives
// ErrBodyTooLarge (and is then unusable: the request must be refused). A request without a
// body gives nil.
func ReadBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if b, ok := r.Body.(Buffered); ok {
		if int64(len(b.Bytes())) > limit {
			return nil, ErrBodyTooLarge
		}
		return b.Bytes(), nil
	}
	if r.ContentLength > limit {
		return nil, ErrBodyTooLarge
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, ErrBodyTooLarge
		}
		return nil, err
	}
	if n > limit {
		return nil, ErrBodyTooLarge
	}
	body := &bufferedBody{b: buf.Bytes(), orig: r.Body}
	body.r.Reset(body.b)
	r.Body = body
	return body.b, nil
}

// bufferedBody is the Buffered that ReadBody installs. Closing it closes the original body.
type bufferedBody struct {
	b    []byte
	r    bytes.Reader
	orig io.Closer
}

func (b *bufferedBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *bufferedBody) Close() error               { return b.orig.Close() }
func (b *bufferedBody) Bytes() []byte              { return b.b }

// peekJSON reports whether an undeclared body (no Content-Type, or one the filter does not
// parse) is JSON to a lenient backend: many frameworks parse a body as JSON whatever it is
// labelled, so a mislabelled body must not escape inspection. It reads only up to the first
// byte that is not whitespace and puts what it read back; only when that byte opens an object
// or array is the whole body read (ReadBody) and returned.
func peekJSON(r *http.Request, limit int64) (body []byte, isJSON bool, err error) {
	if b, ok := r.Body.(Buffered); ok {
		return b.Bytes(), looksJSON(b.Bytes()), nil
	}
	var peeked []byte
	var chunk [64]byte
	for {
		n, rerr := r.Body.Read(chunk[:])
		peeked = append(peeked, chunk[:n]...)
		switch {
		case int64(len(peeked)) > limit:
			return nil, false, ErrBodyTooLarge // whitespace padding past the limit
		case firstNonSpace(chunk[:n]) >= 0 || rerr == io.EOF:
		case rerr != nil:
			var tooLarge *http.MaxBytesError
			if errors.As(rerr, &tooLarge) {
				return nil, false, ErrBodyTooLarge
			}
			return nil, false, rerr
		default:
			continue
		}
		break
	}
	r.Body = &replayBody{Reader: io.MultiReader(bytes.NewReader(peeked), r.Body), Closer: r.Body}
	if !looksJSON(peeked) {
		return nil, false, nil
	}
	body, err = ReadBody(r, limit)
	return body, err == nil, err
}

// replayBody serves peeked bytes, then the rest of the original body.
type replayBody struct {
	io.Reader
	io.Closer
}

func firstNonSpace(b []byte) int {
	for i, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return i
		}
	}
	return -1
}

func looksJSON(b []byte) bool {
	i := firstNonSpace(b)
	return i >= 0 && (b[i] == '{' || b[i] == '[')
}

// bodyKind is how a body of some media type is inspected.
type bodyKind int

const (
	bodyOpaque      bodyKind = iota // not inspected at the standard level (binary, unknown)
	bodyJSON                        // application/json and +json (RFC 6839 §3.1)
	bodyForm                        // application/x-www-form-urlencoded
	bodyMultipart                   // multipart/form-data (RFC 7578)
	bodyXML                         // application/xml, text/xml and +xml (RFC 7303)
	bodyText                        // text/plain: one string
	bodyMalformedCT                 // a Content-Type that does not parse: refused, not guessed
)

// kindOf classifies a Content-Type without allocating (mime.ParseMediaType would).
func kindOf(ct string) bodyKind {
	if ct == "" {
		return bodyOpaque
	}
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok || typ == "" || sub == "" {
		return bodyMalformedCT
	}
	switch {
	case equalFold(mt, "application/json") || hasSuffixFold(sub, "+json"):
		return bodyJSON
	case equalFold(mt, "application/x-www-form-urlencoded"):
		return bodyForm
	case equalFold(mt, "multipart/form-data"):
		return bodyMultipart
	case equalFold(mt, "application/xml") || equalFold(mt, "text/xml") || hasSuffixFold(sub, "+xml"):
		return bodyXML
	case equalFold(mt, "text/plain"):
		return bodyText
	}
	return bodyOpaque
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && equalFold(s[len(s)-len(suffix):], suffix)
}

// body checks a body of the given kind. malformed reports a body that claims a structured type
// and does not parse: it is refused rather than passed half-inspected.
func (s *scan) body(kind bodyKind, ct string, b []byte) (ok, malformed bool) {
	switch kind {
	case bodyJSON:
		switch s.json(b) {
		case jsonStopped:
			return false, false
		case jsonMalformed:
			return false, true
		}
	case bodyForm:
		return s.query(string(b), "body"), false
	case bodyText:
		return s.inspectBytes(b, "body"), false
	case bodyMultipart:
		return s.multipart(ct, b)
	case bodyXML:
		return s.xml(b)
	}
	return true, false
}

// maxPartHeader bounds what a multipart part's headers may hold.
const maxPartHeader = 8 << 10

// multipart checks the field names, file names and text values of a multipart/form-data body
// (RFC 7578). File contents are not checked unless they are text/plain or unlabelled.
func (s *scan) multipart(ct string, b []byte) (ok, malformed bool) {
	_, params, err := mime.ParseMediaType(ct)
	if err != nil || params["boundary"] == "" {
		return false, true
	}
	mr := multipart.NewReader(bytes.NewReader(b), params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			return true, false
		}
		if err != nil {
			return false, true
		}
		name, file := part.FormName(), part.FileName()
		if len(name)+len(file) > maxPartHeader {
			return false, true
		}
		if !s.inspect(name, "body") || file != "" && !s.inspect(file, "body") {
			return false, false
		}
		if file != "" && kindOf(part.Header.Get("Content-Type")) != bodyText {
			continue
		}
		if _, skip := s.g.skipFields[name]; skip {
			continue
		}
		// The part is a slice of b, so reading it needs at most len(b) bytes.
		value, err := io.ReadAll(part)
		if err != nil {
			return false, true
		}
		if !s.inspectBytes(value, "body") {
			return false, false
		}
	}
}

// xml checks element and attribute names, attribute values and text of an XML body. The
// decoder is strict: it expands no entities beyond the five predefined ones and the character
// references, so a DTD cannot make it do work (THREAT-09).
func (s *scan) xml(b []byte) (ok, malformed bool) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return true, false
		}
		if err != nil {
			return false, true
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if !s.inspect(t.Name.Local, "body") {
				return false, false
			}
			for _, a := range t.Attr {
				if !s.inspect(a.Name.Local, "body") || !s.inspect(a.Value, "body") {
					return false, false
				}
			}
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 && !s.inspectBytes(t, "body") {
				return false, false
			}
		case xml.Directive:
			// A DOCTYPE with an internal subset declares entities; nothing here expands them,
			// but an API has no use for one, and a backend's parser might.
			return false, true
		}
	}
}
