package h1

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// invalidRequest applies the checks net/http's server makes after parsing a request, which
// http.ReadRequest leaves to its caller. It returns 0 for a request to serve.
func invalidRequest(req *http.Request) (int, string) {
	if req.ProtoMajor != 1 {
		return http.StatusHTTPVersionNotSupported, "unsupported protocol version"
	}
	// RFC 9112 §3.2: an HTTP/1.1 request without a Host is refused with 400. ReadRequest has
	// moved the header into req.Host (or the absolute-form target's host).
	if req.ProtoAtLeast(1, 1) && req.Host == "" && req.Method != http.MethodConnect {
		return http.StatusBadRequest, "missing required Host header"
	}
	if req.Host != "" && !httpguts.ValidHostHeader(req.Host) {
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

// expectsContinue reports whether the Expect header asks for 100-continue and nothing else
// (RFC 9110 §10.1.1: any other expectation is answered with 417).
func expectsContinue(req *http.Request) bool {
	vv := req.Header["Expect"]
	return len(vv) == 1 && strings.EqualFold(textTrim(vv[0]), "100-continue")
}

func textTrim(s string) string { return strings.Trim(s, " \t") }

// continueReader sends "100 Continue" before the first read of a body the client is holding
// back until told to send it (RFC 9110 §10.1.1), unless the final response has begun.
type continueReader struct {
	io.ReadCloser
	w    *response
	sent bool
}

func (cr *continueReader) Read(p []byte) (int, error) {
	if !cr.sent {
		cr.sent = true
		if !cr.w.wroteHeader {
			bw := cr.w.c.bw
			bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			if err := bw.Flush(); err != nil {
				return 0, err
			}
		}
	}
	return cr.ReadCloser.Read(p)
}

// isUnsupportedTE reports whether ReadRequest refused the request's transfer coding, which
// RFC 9112 §6.1 answers with 501. net/http's error type for it is unexported, so its message
// is the only thing to go by.
func isUnsupportedTE(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "unsupported transfer encoding") || strings.Contains(msg, "too many transfer encodings")
}

func itoa(n int) string { return strconv.Itoa(n) }
