package policy

import (
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tiaki-nz/tiaki/internal/jsonstr"
)

// TypeBase prefixes a Denial's Type to make the problem "type" URI (RFC 9457 §3.1.1): a stable
// address that documents the problem.
const TypeBase = "https://github.com/tiaki-nz/tiaki/blob/main/docs/problems.md#"

// Denial is a policy's refusal of a request: everything Render needs to answer it, and the
// reason the audit log records. It implements error so policies can return it from Enforce.
//
// Denials are often built once, when a policy is configured, and shared by every request they
// refuse: never modify one after it has been returned.
type Denial struct {
	// Status is the HTTP status code (4xx or 5xx).
	Status int
	// Type is a stable problem type, the suffix of the problem "type" URI after TypeBase, such
	// as "invalid-api-key". Clients may match on it.
	Type string
	// Title is a short human-readable summary of the problem type; the status text if empty.
	Title string
	// Detail explains this occurrence to the client. It must not confirm facts an attacker
	// could use (which half of a credential was wrong) nor carry secrets.
	Detail string
	// Challenge is a WWW-Authenticate value (RFC 9110 §11.6.1, RFC 6750 §3), for 401 and 403.
	Challenge string
	// MoreChallenges are further WWW-Authenticate values, each sent as its own field after
	// Challenge, when several mechanisms would be accepted (AnyOf).
	MoreChallenges []string
	// Allow lists the methods the resource supports, for 405 (RFC 9110 §15.5.6).
	Allow []string
	// Reason says why, for the audit log and debug logs; never a secret. Not sent to clients.
	Reason string
	// RetryAfter, when positive, is sent as Retry-After in whole seconds (RFC 9110 §10.2.3).
	RetryAfter time.Duration
}

// RequestTimeout refuses a request whose body did not arrive in time: the route's
// limits.body_timeout passed while it was being read (RFC 9110 §15.5.9). The server closes the
// connection after it.
var RequestTimeout = &Denial{Status: http.StatusRequestTimeout, Type: "request-timeout", Title: "Request timeout",
	Detail: "The request body did not arrive in time.", Reason: "request body not received within the route's body_timeout"}

// BodyTimedOut reports whether err, from reading a request body, means the body's read
// deadline passed (both the gateway's HTTP/1.1 server and net/http's HTTP/2 server fail the
// read with os.ErrDeadlineExceeded); such a request is answered with RequestTimeout.
func BodyTimedOut(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// Error describes the denial for logs; it never includes secrets because Reason never does.
func (d *Denial) Error() string {
	return "policy: denied " + strconv.Itoa(d.Status) + " " + d.Type + ": " + d.Reason
}

// Header values shared by every response. Each slice has len == cap, so an Add by anyone
// downstream copies rather than writes into them.
var (
	problemJSON = []string{"application/problem+json"}
	noStore     = []string{"no-store"}
	nosniff     = []string{"nosniff"}
)

// maxRendered bounds a rendered body; denial texts are short constants, so this is only a guard.
const maxRendered = 4 << 10

// bodies lends Render its buffer; array pointers pool without allocating.
var bodies = sync.Pool{New: func() any { return new([maxRendered]byte) }}

// Render writes d as an RFC 9457 application/problem+json response. Every denial, from any
// policy or from the gateway itself, goes through here, so all error responses look alike:
// Cache-Control: no-store (an error must not be cached by a shared cache), nosniff, the
// challenges, Allow, and Retry-After. HEAD responses carry the headers and no body (RFC 9110
// §9.3.2).
//
// Besides the RFC 9457 members the body carries "errors": [{code, description}], the error
// shape Part C of the NZ API guidelines asks for (catalogue HTTP-11).
func Render(w http.ResponseWriter, r *http.Request, d *Denial) {
	status := d.Status
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	title := d.Title
	if title == "" {
		title = http.StatusText(status)
	}
	h := w.Header()
	h["Content-Type"] = problemJSON
	h["Cache-Control"] = noStore
	h["X-Content-Type-Options"] = nosniff
	delete(h, "Content-Encoding")
	delete(h, "Etag")
	delete(h, "Last-Modified")
	if d.Challenge != "" {
		v := make([]string, 0, 1+len(d.MoreChallenges))
		h["Www-Authenticate"] = append(append(v, d.Challenge), d.MoreChallenges...)
	}
	if len(d.Allow) > 0 {
		h["Allow"] = []string{strings.Join(d.Allow, ", ")}
	}
	if d.RetryAfter > 0 {
		secs := (d.RetryAfter + time.Second - 1) / time.Second
		h["Retry-After"] = []string{strconv.FormatInt(int64(secs), 10)}
	}

	buf := bodies.Get().(*[maxRendered]byte)
	defer bodies.Put(buf)
	b := buf[:0]
	b = append(b, `{"type":"`...)
	if d.Type == "" {
		b = append(b, "about:blank"...) // RFC 9457 §4.2.1
	} else {
		b = append(b, TypeBase...)
		b = jsonstr.Append(b, d.Type)
	}
	b = append(b, '"')
	b = append(b, `,"title":`...)
	b = appendString(b, title)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	if d.Detail != "" {
		b = append(b, `,"detail":`...)
		b = appendString(b, d.Detail)
	}
	b = append(b, `,"errors":[{"code":`...)
	code := d.Type
	if code == "" {
		code = strconv.Itoa(status)
	}
	b = appendString(b, code)
	b = append(b, `,"description":`...)
	if d.Detail != "" {
		b = appendString(b, d.Detail)
	} else {
		b = appendString(b, title)
	}
	b = append(b, "}]}\n"...)
	if len(b) > maxRendered { // grew out of the pooled array: write a minimal body instead
		b = append(buf[:0], `{"title":"Error","status":`...)
		b = strconv.AppendInt(b, int64(status), 10)
		b = append(b, "}\n"...)
	}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	if r == nil || r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

// appendString appends s as a JSON string. Besides what JSON requires it escapes <, > and & (so
// the body is inert if a browser sniffs it as HTML), U+2028 and U+2029, and replaces invalid
// UTF-8 with U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = jsonstr.Append(b, s)
	return append(b, '"')
}
