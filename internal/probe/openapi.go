package probe

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/tiaki-nz/tiaki/internal/yamldoc"
)

// spec is the part of an OpenAPI 3 document the checks read. Security requirement lists are
// pointers because an absent list (inherit) and an empty one (public) mean different things.
type spec struct {
	OpenAPI string `json:"openapi"`
	Swagger string `json:"swagger"`
	Info    struct {
		Title   string `json:"title"`
		Version string `json:"version"`
	} `json:"info"`
	Servers []struct {
		URL string `json:"url"`
	} `json:"servers"`
	Paths      map[string]pathItem    `json:"paths"`
	Security   *[]map[string][]string `json:"security"`
	Components struct {
		SecuritySchemes map[string]securityScheme `json:"securitySchemes"`
		Parameters      map[string]parameter      `json:"parameters"`
		Responses       map[string]specResponse   `json:"responses"`
	} `json:"components"`
}

type pathItem struct {
	Parameters []parameter `json:"parameters"`
	Get        *operation  `json:"get"`
	Put        *operation  `json:"put"`
	Post       *operation  `json:"post"`
	Delete     *operation  `json:"delete"`
	Options    *operation  `json:"options"`
	Head       *operation  `json:"head"`
	Patch      *operation  `json:"patch"`
	Trace      *operation  `json:"trace"`
}

type operation struct {
	OperationID string                  `json:"operationId"`
	Security    *[]map[string][]string  `json:"security"`
	Parameters  []parameter             `json:"parameters"`
	RequestBody any                     `json:"requestBody"`
	Responses   map[string]specResponse `json:"responses"`
}

type parameter struct {
	Ref  string `json:"$ref"`
	Name string `json:"name"`
	In   string `json:"in"`
}

type specResponse struct {
	Ref     string         `json:"$ref"`
	Headers map[string]any `json:"headers"`
	Content map[string]any `json:"content"`
}

type securityScheme struct {
	Type   string `json:"type"`
	Name   string `json:"name"`
	In     string `json:"in"`
	Scheme string `json:"scheme"`
}

// Bounds on the document: its size, how deeply flow collections ([ ], { }) nest (checked
// before the YAML parser, which recurses, sees it) and how far aliases may expand it.
var specLimits = yamldoc.Limits{
	MaxBytes:      8 << 20,
	MaxFlowDepth:  200,
	MaxAliasNodes: 100_000,
}

// parseSpec reads an OpenAPI 3 document in YAML or JSON with yamldoc, the reader the gateway
// and the configuration use, so a document means the same to the probe as to Tiaki.
func parseSpec(data []byte) (*spec, error) {
	doc, err := yamldoc.JSON(data, specLimits)
	if err != nil {
		var ye *yamldoc.Error
		if errors.As(err, &ye) && ye.Syntax {
			return nil, fmt.Errorf("not YAML or JSON: %w", err)
		}
		return nil, err
	}
	if string(doc) == "null" {
		return nil, errors.New("want exactly one YAML document")
	}
	var s spec
	if err := json.Unmarshal(doc, &s); err != nil {
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
