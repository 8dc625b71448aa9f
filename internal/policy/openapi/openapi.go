// Package openapi is the gateway policy that validates requests (and optionally responses)
// against an API's OpenAPI 3.0 or 3.1 description (catalogue THREAT-06, THREAT-08, THREAT-12):
// unknown paths and methods, path, query and header parameters, and JSON request bodies, each
// refused with a 400 that names the failing field, such as "body.items[2].price: must be >= 0".
//
// Start with Load (spec.go) and New. The description is parsed with kin-openapi when config
// loads; New then compiles every operation into validators of Tiaki's own (compile.go): the
// JSON body is checked in one streaming pass over the buffered bytes with the strictjson
// tokenizer (validate.go), without building a map[string]any, which is what makes validation
// affordable on the hot path (gateway-notes.md: generic validation took half the gateway's CPU).
// An operation that uses a construct the compiler does not handle is validated by kin-openapi's
// openapi3filter instead (fallback.go), and Fallbacks lists which and why. response.go is the
// optional response validation.
package openapi

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
	"github.com/tiaki-nz/tiaki/internal/policy/content"
)

// Config is one route's OpenAPI validation.
type Config struct {
	// BasePath is the part of the request path (as the gateway receives it) that comes before
	// the paths the description lists: Spec.BasePath combines the route's prefix with the
	// description's server URL.
	BasePath string
	// NotFound is the status for a path the description does not list: 404 (the default) or
	// 501 (what Part C of the NZ API guidelines asks for), as the route's gateway config says.
	NotFound int
	// MaxBody bounds the bytes read to validate a body, normally the route's max_body;
	// content.DefaultMaxBody if not positive.
	MaxBody int64
	// MaxDepth bounds how deeply bodies nest; content.DefaultMaxDepth if not positive.
	MaxDepth int
	// DocsURL is the API's documentation, linked from 406 and 415 answers.
	DocsURL string
	// MaxResponse bounds a response held back for validation (Responses); DefaultMaxResponse
	// if not positive. A larger response is refused with 502.
	MaxResponse int64
}

// Validator is the request validation policy for one route. It implements policy.Checker.
type Validator struct {
	spec        *Spec
	base        string
	router      router
	maxBody     int64
	maxDepth    int
	maxResponse int64
	docsURL     string
	notFound    *policy.Denial
	fallbacks   []string
	kin         kinOptions
}

// operation is one method on one path, compiled.
type operation struct {
	name     string // "POST /orders"
	item     *pathItem
	params   []*param
	body     *requestBody
	accept   *content.Accept // nil when the operation declares no response content
	notFound *policy.Denial
	// fallback, when set, says why kin-openapi validates this operation instead.
	fallback string
	route    *routers.Route
	resp     responses
}

// requestBody is an operation's compiled requestBody.
type requestBody struct {
	required    bool
	media       []media
	unsupported *policy.Denial
}

// media is one entry of a content map: a media type or range and its compiled schema.
type media struct {
	rng    content.MediaType
	node   *node
	schema bool // a schema is declared (node may still be nil: {} accepts anything)
}

// find picks the entry for a request's media type: the most specific range that covers it
// (an exact type, then type/*, then */*), as kin-openapi's Content.Get does.
func find(entries []media, m content.MediaType) *media {
	var best *media
	for i := range entries {
		e := &entries[i]
		if e.rng.Covers(m) && (best == nil || specificity(e.rng) > specificity(best.rng)) {
			best = e
		}
	}
	return best
}

func specificity(m content.MediaType) int {
	switch {
	case m.Type == "*":
		return 0
	case m.Subtype == "*":
		return 1
	}
	return 2
}

// New compiles spec for one route. It fails on a description Tiaki cannot enforce correctly,
// such as a pattern that is not RE2 syntax; constructs it merely does not compile fall back to
// kin-openapi (see Fallbacks).
func New(spec *Spec, cfg Config) (*Validator, error) {
	if spec == nil {
		return nil, fmt.Errorf("openapi: no description: %w", tiaki.ErrInvalid)
	}
	v := &Validator{spec: spec, base: strings.TrimSuffix(cfg.BasePath, "/"), maxBody: cfg.MaxBody, maxDepth: cfg.MaxDepth,
		maxResponse: cfg.MaxResponse, docsURL: cfg.DocsURL}
	if v.maxBody <= 0 {
		v.maxBody = content.DefaultMaxBody
	}
	if v.maxDepth <= 0 {
		v.maxDepth = content.DefaultMaxDepth
	}
	if v.maxResponse <= 0 {
		v.maxResponse = DefaultMaxResponse
	}
	switch cfg.NotFound {
	case 0, http.StatusNotFound:
		v.notFound = &policy.Denial{Status: http.StatusNotFound, Type: "not-found", Title: "Not found",
			Detail: "The API has no such resource.", Reason: "path not in the API's OpenAPI description"}
	case http.StatusNotImplemented:
		v.notFound = &policy.Denial{Status: http.StatusNotImplemented, Type: "not-implemented", Title: "Not implemented",
			Detail: "The API does not implement this resource.", Reason: "path not in the API's OpenAPI description"}
	default:
		return nil, fmt.Errorf("openapi: NotFound %d: must be 404 or 501: %w", cfg.NotFound, tiaki.ErrInvalid)
	}
	v.kin = newKinOptions(spec)
	c := newCompiler(spec.doc.IsOpenAPI31OrLater())
	paths := spec.doc.Paths.InMatchingOrder()
	slices.Sort(paths)
	for _, template := range paths {
		pi := spec.doc.Paths.Value(template)
		item := &pathItem{template: template, ops: map[string]*operation{}}
		if err := v.router.add(template, item); err != nil {
			return nil, fmt.Errorf("openapi: %s: %w", spec.name, err)
		}
		for method, op := range pi.Operations() {
			o, err := v.compile(c, template, method, pi, op, item)
			if err != nil {
				return nil, fmt.Errorf("openapi: %s: %s %s: %w", spec.name, method, template, err)
			}
			item.ops[method] = o
		}
		item.allow = allowed(item.ops)
	}
	return v, nil
}

func (v *Validator) compile(c *compiler, template, method string, pi *openapi3.PathItem, op *openapi3.Operation, item *pathItem) (*operation, error) {
	o := &operation{name: method + " " + template, item: item,
		route: &routers.Route{Spec: v.spec.doc, Path: template, PathItem: pi, Method: method, Operation: op}}
	produces := responseTypes(op)
	if len(produces) > 0 {
		a, err := content.NewAccept(produces, v.docsURL)
		if err != nil {
			return nil, err
		}
		o.accept = a
	}
	var err error
	o.params, err = c.params(pi.Parameters, op.Parameters, item.names)
	if err == nil {
		o.body, err = v.requestBody(c, op)
	}
	if err == nil {
		o.resp, err = v.responses(c, op)
	}
	var un *unsupportedError
	switch {
	case err == nil:
	case asUnsupported(err, &un):
		o.fallback = un.what
		o.params, o.body, o.resp = nil, nil, responses{}
		v.fallbacks = append(v.fallbacks, o.name+": "+un.what)
	default:
		return nil, err
	}
	return o, nil
}

func (v *Validator) requestBody(c *compiler, op *openapi3.Operation) (*requestBody, error) {
	if op.RequestBody == nil || op.RequestBody.Value == nil {
		return nil, nil
	}
	rb := op.RequestBody.Value
	b := &requestBody{required: rb.Required}
	entries, names, err := c.content(rb.Content)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.schema && !e.rng.JSON() && !e.rng.XML() && e.node != nil {
			return nil, unsupported("a schema for " + e.rng.String() + " request bodies")
		}
	}
	b.media = entries
	b.unsupported = content.Unsupported(names, v.docsURL)
	return b, nil
}

// content compiles a content map (request body or response).
func (c *compiler) content(cm openapi3.Content) ([]media, []string, error) {
	keys := make([]string, 0, len(cm))
	for k := range cm {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []media
	var names []string
	for _, k := range keys {
		rng, err := content.ParseRange(strings.SplitN(k, ";", 2)[0])
		if err != nil {
			return nil, nil, err
		}
		e := media{rng: rng}
		if mt := cm[k]; mt != nil && mt.Schema != nil {
			e.schema = true
			if e.node, err = c.root(mt.Schema); err != nil {
				return nil, nil, err
			}
		}
		out = append(out, e)
		names = append(names, rng.String())
	}
	return out, names, nil
}

// responseTypes lists every media type an operation's responses declare, for the Accept check.
func responseTypes(op *openapi3.Operation) []string {
	if op.Responses == nil {
		return nil
	}
	var out []string
	for _, r := range op.Responses.Map() {
		if r == nil || r.Value == nil {
			continue
		}
		for k := range r.Value.Content {
			t := strings.TrimSpace(strings.SplitN(k, ";", 2)[0])
			if _, err := content.ParseRange(t); err == nil && !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Fallbacks lists the operations kin-openapi validates, each with the construct that was not
// compiled, such as "POST /orders: patternProperties". Log them at start-up: those operations
// cost several times more CPU per request.
func (v *Validator) Fallbacks() []string { return slices.Clone(v.fallbacks) }

// lookup finds the operation for r, or the denial for a path or method the description does
// not list.
func (v *Validator) lookup(r *http.Request, values *[maxPathParams]string) (*operation, int, *policy.Denial) {
	path := r.URL.EscapedPath()
	if v.base != "" {
		rest, ok := strings.CutPrefix(path, v.base)
		if !ok || rest != "" && rest[0] != '/' {
			return nil, 0, v.pathNotFound(fmt.Sprintf("The request path %s is not under %s, where the paths of the API's OpenAPI description begin.",
				quoteBounded(path), quoteBounded(v.base)))
		}
		if rest == "" {
			rest = "/"
		}
		path = rest
	}
	item, n, ok := v.router.match(path, values)
	if !ok {
		detail := "The API's OpenAPI description lists no path matching " + quoteBounded(path) + "."
		if v.base != "" {
			detail = "The API's OpenAPI description lists no path matching " + quoteBounded(path) +
				" (the request path after " + quoteBounded(v.base) + ")."
		}
		return nil, 0, v.pathNotFound(detail)
	}
	op := item.ops[r.Method]
	if op == nil && r.Method == http.MethodHead {
		op = item.ops[http.MethodGet] // RFC 9110 §9.3.2: HEAD is GET without the content
	}
	if op == nil {
		return nil, 0, &policy.Denial{Status: http.StatusMethodNotAllowed, Type: "method-not-allowed",
			Title: "Method not allowed", Allow: item.allow, Reason: "method not in the API's OpenAPI description"}
	}
	return op, n, nil
}

// pathNotFound is the denial of a path the description does not list, saying which path was
// looked up: with a base path that does not fit, every request is refused, and the detail
// shows why.
func (v *Validator) pathNotFound(detail string) *policy.Denial {
	d := *v.notFound
	d.Detail = detail
	return &d
}

// quoteBounded quotes a path for a problem detail, cut short if long. Paths reach it escaped
// (URL.EscapedPath), so they hold no quotes, spaces or control characters.
func quoteBounded(p string) string {
	const limit = 200
	if len(p) > limit {
		return `"` + p[:limit] + `…"`
	}
	return `"` + p + `"`
}

// Check implements policy.Checker: the request must be one the description allows. It may
// replace r.Body with a *content.Body holding the same bytes.
func (v *Validator) Check(r *http.Request, _ *tiaki.Principal) *policy.Denial {
	var values [maxPathParams]string
	op, n, d := v.lookup(r, &values)
	if d != nil {
		return d
	}
	if op.accept != nil {
		if d := op.accept.Check(r); d != nil {
			return d
		}
	}
	if op.fallback != "" {
		return v.kinRequest(op, r, values[:n])
	}
	for _, p := range op.params {
		if msg := p.check(r, values[:n]); msg != "" {
			return invalid("invalid-parameter", p.where, msg, op)
		}
	}
	return v.checkBody(op, r)
}

func (v *Validator) checkBody(op *operation, r *http.Request) *policy.Denial {
	if !content.HasBody(r) {
		if op.body != nil && op.body.required {
			return invalid("invalid-body", "body", "is required", op)
		}
		return nil
	}
	m, d := content.RequestType(r)
	if d != nil {
		return d
	}
	if op.body == nil || len(op.body.media) == 0 {
		// Nothing declared: still insist on well-formed JSON and XML.
		return content.CheckBody(r, m, v.maxBody, v.maxDepth)
	}
	e := find(op.body.media, m)
	if e == nil {
		return op.body.unsupported
	}
	if !m.JSON() || e.node == nil {
		return content.CheckBody(r, m, v.maxBody, v.maxDepth)
	}
	b, d := content.Buffer(r, v.maxBody)
	if d != nil {
		return d
	}
	if b == nil {
		return content.CheckJSON(nil, v.maxDepth)
	}
	return v.bodyDenial(validateJSON(e.node, b.Bytes(), v.maxDepth, modeRequest, "body"), op)
}

func (v *Validator) bodyDenial(err error, op *operation) *policy.Denial {
	switch e := err.(type) {
	case nil:
		return nil
	case *fieldError:
		return invalid("invalid-body", e.where, e.msg, op)
	case *syntaxError:
		return content.JSONDenial(e.err, v.maxDepth)
	}
	return invalid("invalid-body", "body", "does not match the API description", op)
}

// invalid is the 400 answer naming the failing field. msg never holds the value itself.
func invalid(typ, where, msg string, op *operation) *policy.Denial {
	title := "Invalid request body"
	if typ == "invalid-parameter" {
		title = "Invalid request parameter"
	}
	return &policy.Denial{Status: http.StatusBadRequest, Type: typ, Title: title, Detail: where + ": " + msg,
		Reason: "openapi " + op.name + ": " + where + ": " + msg}
}

// CheckHeader is Check that also adds, to a 406 answer's header h, the Link to the
// documentation Part C asks for (HTTP-04). The gateway calls it instead of Check.
func (v *Validator) CheckHeader(h http.Header, r *http.Request, p *tiaki.Principal) *policy.Denial {
	d := v.Check(r, p)
	if d != nil && d.Status == http.StatusNotAcceptable && h != nil {
		h["Link"] = []string{content.HelpLink(v.docsURL)}
	}
	return d
}

// Enforce implements policy.Policy.
func (v *Validator) Enforce(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	if d := v.CheckHeader(w.Header(), r, nil); d != nil {
		return d
	}
	next.ServeHTTP(w, r)
	return nil
}
