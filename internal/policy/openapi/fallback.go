package openapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/tiaki-nz/tiaki/internal/policy"
	"github.com/tiaki-nz/tiaki/internal/policy/content"
)

// The fallback: operations whose description uses a construct compile.go does not handle
// (prefixItems, contains, patternProperties, dependentSchemas/dependentRequired,
// propertyNames, unevaluatedItems/unevaluatedProperties, if/then/else, $dynamicRef, enum or
// const with object or array values, schemas for non-JSON request bodies such as forms and
// multipart, path styles label and matrix, query style deepObject, cookie parameters,
// parameters described by content or by object or combined schemas) are validated by
// kin-openapi's openapi3filter, which decodes the body into map[string]any and walks the
// schema generically: correct, and several times slower.
//
// The body still goes through the strict JSON check first (duplicate keys, depth), which
// kin-openapi does not make.

type kinOptions struct {
	opts *openapi3filter.Options
	v31  bool
}

func newKinOptions(spec *Spec) kinOptions {
	formats := map[string]openapi3.StringFormatValidator{}
	for name, f := range formatNames {
		if f == formatInt32 || f == formatInt64 {
			continue
		}
		formats[name] = openapi3.NewCallbackValidator(func(s string) error {
			if !f.checkString([]byte(s)) {
				return errors.New(f.message())
			}
			return nil
		})
	}
	return kinOptions{
		v31: spec.doc.IsOpenAPI31OrLater(),
		opts: &openapi3filter.Options{
			// Authentication is the gateway's own policies' job; defaults are never written
			// into a body the upstream receives.
			AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc,
			SkipSettingDefaults:     true,
			IncludeResponseStatus:   true,
			SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.WithStringFormatValidators(formats)},
		},
	}
}

func (v *Validator) kinInput(op *operation, r *http.Request, pathValues []string, body []byte) *openapi3filter.RequestValidationInput {
	params := make(map[string]string, len(pathValues))
	for i, name := range op.item.names {
		if i < len(pathValues) {
			params[name] = pathValues[i]
		}
	}
	rr := new(http.Request)
	*rr = *r
	rr.Body = http.NoBody
	if len(body) > 0 {
		rr.Body = io.NopCloser(bytes.NewReader(body))
	}
	return &openapi3filter.RequestValidationInput{Request: rr, PathParams: params, Route: op.route, Options: v.kin.opts}
}

// kinRequest validates r with openapi3filter.
func (v *Validator) kinRequest(op *operation, r *http.Request, pathValues []string) *policy.Denial {
	var body []byte
	if content.HasBody(r) {
		m, d := content.RequestType(r)
		if d != nil {
			return d
		}
		if d := content.CheckBody(r, m, v.maxBody, v.maxDepth); d != nil {
			return d
		}
		b, d := content.Buffer(r, v.maxBody)
		if d != nil {
			return d
		}
		if b != nil {
			body = b.Bytes()
		}
	}
	err := openapi3filter.ValidateRequest(r.Context(), v.kinInput(op, r, pathValues, body))
	if err == nil {
		return nil
	}
	var re *openapi3filter.RequestError
	if !errors.As(err, &re) {
		return invalid("invalid-body", "request", "does not match the API description", op)
	}
	typ, where := "invalid-body", "body"
	if re.Parameter != nil {
		typ, where = "invalid-parameter", re.Parameter.In+"."+re.Parameter.Name
	} else if re.RequestBody == nil {
		where = "request"
	}
	if re.RequestBody != nil && strings.HasPrefix(re.Reason, "header Content-Type has unexpected value") {
		return op.unsupportedBody(v.docsURL)
	}
	return invalid(typ, where+v.kinPointer(err), v.kinReason(err), op)
}

func (op *operation) unsupportedBody(docsURL string) *policy.Denial {
	var names []string
	if rb := op.route.Operation.RequestBody; rb != nil && rb.Value != nil {
		for k := range rb.Value.Content {
			names = append(names, k)
		}
	}
	return content.Unsupported(names, docsURL)
}

// kinPointer renders the path of a schema error as .a.b[2], names quoted when they came from
// the request.
func (v *Validator) kinPointer(err error) string {
	var se *openapi3.SchemaError
	if !errors.As(err, &se) {
		return ""
	}
	var b strings.Builder
	for _, p := range se.JSONPointer() {
		if p != "" && strings.Trim(p, "0123456789") == "" && len(p) < 10 {
			b.WriteString("[" + p + "]")
			continue
		}
		appendName(&b, p)
	}
	return b.String()
}

// kinReason is a message for the client. OpenAPI 3.0 schema errors' reasons never hold the
// value; the JSON Schema 2020-12 validator's (OpenAPI 3.1) and parse errors may, so those get
// a generic message.
func (v *Validator) kinReason(err error) string {
	var se *openapi3.SchemaError
	if errors.As(err, &se) && !v.kin.v31 && se.Reason != "" && len(se.Reason) < 200 {
		return se.Reason
	}
	return "does not match the API description"
}

// kinResponse validates a held response with openapi3filter, returning what is wrong.
func (v *Validator) kinResponse(op *operation, r *http.Request, h *heldResponse, pathValues []string) string {
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: v.kinInput(op, r, pathValues, nil),
		Status:                 h.status,
		Header:                 h.header,
		Body:                   io.NopCloser(bytes.NewReader(h.body)),
		Options:                v.kin.opts,
	}
	if err := openapi3filter.ValidateResponse(r.Context(), in); err != nil {
		// The audit log may see the schema path, never the values: keep the pointer and the
		// 3.0 reason only.
		return "response" + v.kinPointer(err) + ": " + v.kinReason(err)
	}
	return ""
}
