package openapi

import (
	"bytes"
	"maps"
	"net/http"
	"strconv"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/tiaki-nz/tiaki/internal/policy"
	"github.com/tiaki-nz/tiaki/internal/policy/content"
	"github.com/tiaki-nz/tiaki/internal/policy/content/strictjson"
)

// DefaultMaxResponse bounds a response held back for validation.
const DefaultMaxResponse int64 = 8 << 20

// responses is an operation's compiled responses object.
type responses struct {
	byStatus map[int]*response
	byClass  [6]*response // "1XX" .. "5XX"
	def      *response
	declared bool
}

type response struct {
	media []media
}

func (v *Validator) responses(c *compiler, op *openapi3.Operation) (responses, error) {
	var rs responses
	if op.Responses == nil {
		return rs, nil
	}
	for key, ref := range op.Responses.Map() {
		if ref == nil || ref.Value == nil {
			continue
		}
		entries, _, err := c.content(ref.Value.Content)
		if err != nil {
			return rs, err
		}
		r := &response{media: entries}
		rs.declared = true
		switch {
		case key == "default":
			rs.def = r
		case len(key) == 3 && key[1:] == "XX" && '1' <= key[0] && key[0] <= '5':
			rs.byClass[key[0]-'0'] = r
		default:
			code, err := strconv.Atoi(key)
			if err != nil {
				continue // Validate has already refused anything else
			}
			if rs.byStatus == nil {
				rs.byStatus = map[int]*response{}
			}
			rs.byStatus[code] = r
		}
	}
	return rs, nil
}

// find picks the response object for a status: exact, then its class, then default
// (OpenAPI 3.0.3 §4.7.16).
func (rs *responses) find(status int) *response {
	if r := rs.byStatus[status]; r != nil {
		return r
	}
	if c := status / 100; c >= 1 && c <= 5 && rs.byClass[c] != nil {
		return rs.byClass[c]
	}
	return rs.def
}

// ResponseValidator is the response validation policy for one route (apis[].validate_responses;
// catalogue THREAT-12, PRIN-19): it holds the upstream's response back, checks status,
// Content-Type and JSON body against the description, and answers 502 instead of passing on a
// response that breaks it, such as a stack trace in place of a resource. The Denial's Reason
// says what was wrong, for the audit log; the client learns only that the upstream failed.
//
// It buffers whole responses (up to Config.MaxResponse), so it does not suit streaming APIs.
// Response headers declared in the description are not checked. Errors the gateway itself
// renders (problem+json with Tiaki's problem type URIs, such as a 504 for an upstream timeout)
// pass as they are.
type ResponseValidator struct {
	v *Validator
}

// Responses returns the response validation policy sharing v's compiled description.
func (v *Validator) Responses() *ResponseValidator { return &ResponseValidator{v: v} }

var held = sync.Pool{New: func() any { return new(heldResponse) }}

// maxPooledResponse keeps large response buffers out of the pool.
const maxPooledResponse = 256 << 10

// heldResponse is a ResponseWriter that keeps the response instead of sending it.
type heldResponse struct {
	header http.Header
	status int
	body   []byte
	limit  int64
	over   bool
}

// Header implements http.ResponseWriter.
func (h *heldResponse) Header() http.Header { return h.header }

// WriteHeader implements http.ResponseWriter.
func (h *heldResponse) WriteHeader(status int) {
	if h.status != 0 || status < 200 {
		return // informational responses are not forwarded
	}
	h.status = status
}

// Write implements http.ResponseWriter.
func (h *heldResponse) Write(p []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	if int64(len(h.body)+len(p)) > h.limit {
		// Keep reading, so the upstream exchange ends normally, but keep nothing more.
		h.over = true
		return len(p), nil
	}
	h.body = append(h.body, p...)
	return len(p), nil
}

// Enforce implements policy.Policy.
func (rv *ResponseValidator) Enforce(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	var values [maxPathParams]string
	op, n, d := rv.v.lookup(r, &values)
	if d != nil || op.fallback == "" && !op.resp.declared {
		next.ServeHTTP(w, r)
		return nil
	}
	h := held.Get().(*heldResponse)
	h.header, h.status, h.body, h.limit, h.over = w.Header().Clone(), 0, h.body[:0], rv.v.maxResponse, false
	defer func() {
		h.header = nil
		if cap(h.body) <= maxPooledResponse {
			held.Put(h)
		}
	}()
	next.ServeHTTP(h, r)
	if h.status == 0 {
		h.status = http.StatusOK
	}
	if reason := rv.problem(op, r, h, values[:n]); reason != "" {
		return &policy.Denial{Status: http.StatusBadGateway, Type: "invalid-response", Title: "Bad gateway",
			Detail: "The upstream's response did not match the API description.", Reason: "openapi " + op.name + ": " + reason}
	}
	dst := w.Header()
	clear(dst)
	maps.Copy(dst, h.header)
	w.WriteHeader(h.status)
	if r.Method != http.MethodHead && len(h.body) > 0 {
		_, _ = w.Write(h.body)
	}
	return nil
}

// gatewayProblem marks the problem documents policy.Render writes.
var gatewayProblem = []byte(`{"type":"` + policy.TypeBase)

// problem says what is wrong with a held response; "" if nothing.
func (rv *ResponseValidator) problem(op *operation, r *http.Request, h *heldResponse, pathValues []string) string {
	if h.over {
		return "response larger than " + strconv.FormatInt(h.limit, 10) + " bytes"
	}
	switch h.status {
	case http.StatusNotModified, http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return "" // no content to check
	}
	ct, hasType := content.ParseMediaType(h.header.Get("Content-Type"))
	if hasType && ct.Type == "application" && ct.Subtype == "problem+json" && bytes.HasPrefix(h.body, gatewayProblem) {
		return "" // the gateway's own error answer
	}
	if op.fallback != "" {
		return rv.v.kinResponse(op, r, h, pathValues)
	}
	status := strconv.Itoa(h.status)
	resp := op.resp.find(h.status)
	if resp == nil {
		return "status " + status + " is not in the description"
	}
	if r.Method == http.MethodHead {
		return ""
	}
	if len(resp.media) == 0 {
		if len(h.body) > 0 {
			return "a body where status " + status + " declares none"
		}
		return ""
	}
	if !hasType {
		return "Content-Type missing or malformed"
	}
	e := find(resp.media, ct)
	if e == nil {
		return "Content-Type " + ct.String() + " is not declared for status " + status
	}
	switch {
	case ct.JSON() && e.node != nil:
		err := validateJSON(e.node, h.body, rv.v.maxDepth, modeResponse, "response")
		switch err := err.(type) {
		case nil:
		case *fieldError:
			return err.Error()
		case *syntaxError:
			return "not valid JSON: " + err.Error()
		default:
			return "does not match the description"
		}
	case ct.JSON():
		if err := strictjson.Check(h.body, rv.v.maxDepth); err != nil {
			return "not valid JSON: " + err.Error()
		}
	case ct.XML():
		if d := content.CheckXML(h.body, rv.v.maxDepth); d != nil {
			return "not acceptable XML: " + d.Reason
		}
	}
	return ""
}
