package probe

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func specSession(t *testing.T, doc string) *session {
	t.Helper()
	sp, err := parseSpec([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return &session{spec: sp, opts: Options{OpenAPIName: "t.yaml"}}
}

func specVerdicts(s *session) map[string]string {
	m := map[string]string{}
	for _, c := range Checks() {
		if c.Area == AreaOpenAPI {
			for _, r := range c.run(context.Background(), s) {
				m[c.Name] = r.verdict.String()
			}
		}
	}
	return m
}

func TestSpecChecks(t *testing.T) {
	t.Parallel()
	good := string(readFile(t, "testdata/good.yaml"))
	for _, c := range []struct {
		name string
		doc  string
		want map[string]string
	}{
		{"good", good, map[string]string{"spec-security": "PASS", "spec-api-keys": "PASS", "spec-x-headers": "PASS", "spec-versioning": "PASS", "spec-errors": "PASS", "spec-safe-get": "PASS"}},
		{"bad", string(readFile(t, "testdata/bad.json")), map[string]string{"spec-security": "FAIL", "spec-api-keys": "FAIL", "spec-x-headers": "FAIL", "spec-versioning": "FAIL", "spec-errors": "FAIL", "spec-safe-get": "FAIL"}},
		{"public operation, no oauth, no keys, 401 missing", `
openapi: 3.0.0
info: {title: t, version: "1"}
paths:
  /v2/open:
    get:
      security: []
      responses: {"200": {description: ok}, "404": {description: no}}
  /v2/closed:
    get:
      security: [{basic: []}]
      responses: {"200": {description: ok}, "403": {description: no}}
components:
  securitySchemes:
    basic: {type: http, scheme: basic}
    cookie: {type: apiKey, in: cookie, name: session}
`, map[string]string{"spec-security": "WARN", "spec-api-keys": "WARN", "spec-x-headers": "PASS", "spec-versioning": "PASS", "spec-errors": "WARN", "spec-safe-get": "PASS"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, specVerdicts(specSession(t, c.doc))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if got := specVerdicts(&session{}); got["spec-security"] != "SKIP" {
		t.Errorf("without a document: %v", got)
	}
}

func TestSpecPublicAndKeyHeader(t *testing.T) {
	t.Parallel()
	s := specSession(t, `
openapi: 3.1.0
info: {title: t, version: "1"}
servers: [{url: "https://api.example/base"}]
security: [{k: []}]
paths:
  /things/{id}:
    get: {security: [{}, {k: []}], responses: {default: {description: e}}}
    post: {responses: {default: {description: e}}}
components:
  securitySchemes:
    k: {type: apiKey, in: header, name: Agency-Key}
`)
	for _, c := range []struct {
		path, method string
		want         bool
	}{
		{"/base/things/42", "GET", true},
		{"/things/42", "GET", true},
		{"/base/things/42", "POST", false},
		{"/base/things", "GET", false},
		{"/base/things/42/more", "GET", false},
	} {
		if got := s.spec.public(&url.URL{Path: c.path}, c.method); got != c.want {
			t.Errorf("public(%s %s) = %v", c.method, c.path, got)
		}
	}
	if kh := s.keyHeader(context.Background()); kh.name != "Agency-Key" || kh.source != "the OpenAPI document" {
		t.Errorf("keyHeader = %+v", kh)
	}
}

func TestParseSpecRefuses(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, doc, want string }{
		{"swagger", "swagger: '2.0'\ninfo: {title: t}\n", "Swagger 2.0"},
		{"not openapi", "{\"a\": 1}", "openapi version"},
		{"alias bomb", "openapi: 3.0.0\na: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n", "aliases expand"},
		{"two documents", "openapi: 3.0.0\n---\nopenapi: 3.0.0\n", "2 YAML documents"},
		{"deep", "openapi: 3.0.0\nx: " + strings.Repeat("[", 300) + strings.Repeat("]", 300) + "\n", "nested"},
		{"huge", strings.Repeat(" ", specLimits.MaxBytes+1), "larger"},
		{"broken", "openapi: [\n", "not YAML or JSON"},
		{"wrong shape", "openapi: 3.0.0\npaths: [1, 2]\n", "not an OpenAPI document"},
	} {
		if _, err := parseSpec([]byte(c.doc)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// TestParseSpecFlowSecurity: issue #11 item 2. A security requirement written in flow style
// with a scope holding a colon is read as the gateway reads it (YAML 1.2), not refused.
func TestParseSpecFlowSecurity(t *testing.T) {
	t.Parallel()
	s, err := parseSpec([]byte(`openapi: 3.0.3
info: {title: Permits, version: 1.0.0}
servers: [{url: "https://api.example.govt.nz/permits?v=1"}]
security: [{oauth: [permits:read]}]
paths:
  /permits: {get: {security: [{oauth: [permits:read, permits:list]}, {}], responses: {"200": {description: ok}}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Security == nil || len(*s.Security) != 1 || (*s.Security)[0]["oauth"][0] != "permits:read" {
		t.Errorf("document security = %v", s.Security)
	}
	ops := s.operations()
	if len(ops) != 1 || len(*ops[0].Security) != 2 || (*ops[0].Security)[0]["oauth"][1] != "permits:list" {
		t.Errorf("operation security = %+v", ops)
	}
	if !s.public(&url.URL{Path: "/permits/permits"}, "GET") {
		t.Error("the {} alternative does not make the operation public under the server's base path")
	}
}

func FuzzParseSpec(f *testing.F) {
	f.Add(`openapi: 3.0.0
paths: {/a: {get: {security: [], responses: {"200": {description: x}}}}}`)
	f.Add(`{"openapi":"3.1.0","components":{"securitySchemes":{"k":{"type":"apiKey","in":"query","name":"k"}}}}`)
	f.Add("openapi: 3.0.0\nx: &a [1]\ny: *a\n")
	f.Fuzz(func(t *testing.T, doc string) {
		s, err := parseSpec([]byte(doc))
		if err != nil {
			return
		}
		// Every check must cope with whatever parsed.
		specVerdicts(&session{spec: s})
	})
}
