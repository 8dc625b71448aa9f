package probe

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// spec is the part of an OpenAPI 3 document the checks read. Security requirement lists are
// pointers because an absent list (inherit) and an empty one (public) mean different things.
type spec struct {
	OpenAPI string `yaml:"openapi"`
	Swagger string `yaml:"swagger"`
	Info    struct {
		Title   string `yaml:"title"`
		Version string `yaml:"version"`
	} `yaml:"info"`
	Servers []struct {
		URL string `yaml:"url"`
	} `yaml:"servers"`
	Paths      map[string]pathItem    `yaml:"paths"`
	Security   *[]map[string][]string `yaml:"security"`
	Components struct {
		SecuritySchemes map[string]securityScheme `yaml:"securitySchemes"`
		Parameters      map[string]parameter      `yaml:"parameters"`
		Responses       map[string]specResponse   `yaml:"responses"`
	} `yaml:"components"`
}

type pathItem struct {
	Parameters []parameter `yaml:"parameters"`
	Get        *operation  `yaml:"get"`
	Put        *operation  `yaml:"put"`
	Post       *operation  `yaml:"post"`
	Delete     *operation  `yaml:"delete"`
	Options    *operation  `yaml:"options"`
	Head       *operation  `yaml:"head"`
	Patch      *operation  `yaml:"patch"`
	Trace      *operation  `yaml:"trace"`
}

type operation struct {
	OperationID string                  `yaml:"operationId"`
	Security    *[]map[string][]string  `yaml:"security"`
	Parameters  []parameter             `yaml:"parameters"`
	RequestBody any                     `yaml:"requestBody"`
	Responses   map[string]specResponse `yaml:"responses"`
}

type parameter struct {
	Ref  string `yaml:"$ref"`
	Name string `yaml:"name"`
	In   string `yaml:"in"`
}

type specResponse struct {
	Ref     string         `yaml:"$ref"`
	Headers map[string]any `yaml:"headers"`
	Content map[string]any `yaml:"content"`
}

type securityScheme struct {
	Type   string `yaml:"type"`
	Name   string `yaml:"name"`
	In     string `yaml:"in"`
	Scheme string `yaml:"scheme"`
}

// Bounds on the document: its size, and how deeply flow collections ([ ], { }) nest, checked
// before the YAML parser (which recurses) sees it.
const (
	maxSpec      = 8 << 20
	maxSpecDepth = 200
)

// parseSpec reads an OpenAPI 3 document in YAML or JSON. It refuses YAML aliases (a few bytes
// of anchors can expand to gigabytes) and more than one document.
func parseSpec(data []byte) (*spec, error) {
	if len(data) > maxSpec {
		return nil, fmt.Errorf("larger than %d MiB", maxSpec>>20)
	}
	if flowDepth(data) > maxSpecDepth {
		return nil, fmt.Errorf("nested more than %d levels deep", maxSpecDepth)
	}
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, fmt.Errorf("not YAML or JSON: %w", err)
	}
	if len(file.Docs) != 1 || file.Docs[0].Body == nil {
		return nil, errors.New("want exactly one YAML document")
	}
	if len(ast.Filter(ast.AliasType, file.Docs[0].Body)) > 0 {
		return nil, errors.New("YAML aliases are not supported")
	}
	var s spec
	if err := yaml.NodeToValue(file.Docs[0].Body, &s); err != nil {
		return nil, fmt.Errorf("not an OpenAPI document: %w", err)
	}
	switch {
	case s.Swagger != "":
		return nil, errors.New("Swagger 2.0: convert it to OpenAPI 3")
	case !strings.HasPrefix(s.OpenAPI, "3."):
		return nil, fmt.Errorf("openapi version %q: want 3.x", s.OpenAPI)
	}
	return &s, nil
}

// flowDepth is the deepest nesting of brackets and braces, counted without regard to quoting
// (so it can only overestimate).
func flowDepth(data []byte) int {
	depth, deepest := 0, 0
	for _, c := range data {
		switch c {
		case '[', '{':
			depth++
			deepest = max(deepest, depth)
		case ']', '}':
			depth = max(depth-1, 0)
		}
	}
	return deepest
}

// op is an operation with its method and path, for iteration in a stable order.
type op struct {
	method, path string
	*operation
	item *pathItem
}

// operations lists every operation, sorted by path then method.
func (s *spec) operations() []op {
	var out []op
	for _, p := range sortedKeys(s.Paths) {
		item := s.Paths[p]
		for _, m := range []struct {
			name string
			o    *operation
		}{{"GET", item.Get}, {"PUT", item.Put}, {"POST", item.Post}, {"DELETE", item.Delete}, {"OPTIONS", item.Options}, {"HEAD", item.Head}, {"PATCH", item.Patch}, {"TRACE", item.Trace}} {
			if m.o != nil {
				out = append(out, op{method: m.name, path: p, operation: m.o, item: &item})
			}
		}
	}
	return out
}

// security is the operation's effective security requirement list (its own or the document's)
// and whether one is declared at all.
func (s *spec) security(o op) ([]map[string][]string, bool) {
	if o.Security != nil {
		return *o.Security, true
	}
	if s.Security != nil {
		return *s.Security, true
	}
	return nil, false
}

// isPublic reports whether the requirement list allows anonymous access: empty, or with an
// empty alternative ({}).
func isPublic(reqs []map[string][]string) bool {
	return len(reqs) == 0 || slices.ContainsFunc(reqs, func(m map[string][]string) bool { return len(m) == 0 })
}

// public reports whether the operation the URL and method name is declared public.
func (s *spec) public(u *url.URL, method string) bool {
	for _, o := range s.operations() {
		if o.method == method && s.matches(o.path, u.Path) {
			reqs, declared := s.security(o)
			return declared && isPublic(reqs)
		}
	}
	return false
}

// matches reports whether a request path matches a templated spec path under one of the
// servers' base paths.
func (s *spec) matches(template, path string) bool {
	re := "^" + templateVar.ReplaceAllString(regexp.QuoteMeta(template), `[^/]+`) + "$"
	bases := []string{""}
	for _, sv := range s.Servers {
		if u, err := url.Parse(sv.URL); err == nil {
			bases = append(bases, strings.TrimSuffix(u.Path, "/"))
		}
	}
	for _, b := range bases {
		if rest, ok := strings.CutPrefix(path, b); ok {
			if m, _ := regexp.MatchString(re, rest); m {
				return true
			}
		}
	}
	return false
}

// templateVar is a {name} path template variable, after regexp.QuoteMeta.
var templateVar = regexp.MustCompile(`\\\{[^/]*?\\\}`)

// apiKeySchemes are the document's apiKey security schemes.
func (s *spec) apiKeySchemes() []securityScheme {
	var out []securityScheme
	for _, name := range sortedKeys(s.Components.SecuritySchemes) {
		if sc := s.Components.SecuritySchemes[name]; strings.EqualFold(sc.Type, "apiKey") {
			out = append(out, sc)
		}
	}
	return out
}

// resolve follows a local parameter $ref (#/components/parameters/Name).
func (s *spec) resolve(p parameter) parameter {
	if name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/"); ok {
		if r, ok := s.Components.Parameters[name]; ok {
			return r
		}
	}
	return p
}

// versioned reports whether the document puts a version in a server URL, a path or a media
// type parameter (HTTP-14).
func (s *spec) versioned() bool {
	for _, sv := range s.Servers {
		if versionSegment.MatchString(sv.URL) {
			return true
		}
	}
	for p := range s.Paths {
		if versionSegment.MatchString(p) {
			return true
		}
	}
	for _, o := range s.operations() {
		for _, r := range o.Responses {
			for mt := range r.Content {
				if strings.Contains(mt, "version=") {
					return true
				}
			}
		}
	}
	return false
}
