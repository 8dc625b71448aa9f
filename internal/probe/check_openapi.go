package probe

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// needSpec is the SKIP of document checks without --openapi.
func (s *session) needSpec() (result, bool) {
	if s.spec == nil {
		return skip("", "no OpenAPI document: give --openapi"), false
	}
	return result{}, true
}

func (s *session) specName() string {
	if s.opts.OpenAPIName != "" {
		return s.opts.OpenAPIName
	}
	return "OpenAPI document"
}

// listed shortens a list of places for a reason: the first few and a count.
func listed(items []string) string {
	const show = 5
	if len(items) <= show {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:show], ", "), len(items)-show)
}

// AUTHN-01: every operation is authenticated unless declared public; AUTHN-04: anonymous access
// is not recommended; AUTHN-08: production APIs use OAuth 2.0 (an oauth2 or openIdConnect
// scheme).
func checkSpecSecurity(_ context.Context, s *session) []result {
	if r, ok := s.needSpec(); !ok {
		return []result{r}
	}
	var undeclared, public []string
	oauth := false
	for _, sc := range s.spec.Components.SecuritySchemes {
		if strings.EqualFold(sc.Type, "oauth2") || strings.EqualFold(sc.Type, "openIdConnect") {
			oauth = true
		}
	}
	ops := s.spec.operations()
	for _, o := range ops {
		reqs, declared := s.spec.security(o)
		switch {
		case !declared:
			undeclared = append(undeclared, o.method+" "+o.path)
		case isPublic(reqs):
			public = append(public, o.method+" "+o.path)
		}
	}
	switch {
	case len(undeclared) > 0:
		return []result{fail(s.specName(), "operations with no security requirement and not declared public (security: []): %s", listed(undeclared))}
	case len(public) > 0:
		return []result{warn(s.specName(), "operations declared public (anonymous access is not recommended): %s", listed(public))}
	case !oauth:
		return []result{warn(s.specName(), "all %d operations secured, but by no oauth2 or openIdConnect scheme (OAuth 2.0 is recommended for production APIs)", len(ops))}
	}
	return []result{pass(s.specName(), "all %d operations declare security", len(ops))}
}

// KEY-08: API keys in a header, never in the URL (query), without the X- prefix; KEY-09: not in
// Authorization.
func checkSpecAPIKeys(_ context.Context, s *session) []result {
	if r, ok := s.needSpec(); !ok {
		return []result{r}
	}
	var problems, notes []string
	schemes := s.spec.Components.SecuritySchemes
	n := 0
	for _, name := range sortedKeys(schemes) {
		sc := schemes[name]
		if !strings.EqualFold(sc.Type, "apiKey") {
			continue
		}
		n++
		switch {
		case sc.In == "query":
			problems = append(problems, fmt.Sprintf("scheme %q takes the key in the query string (?%s=)", name, sc.Name))
		case sc.In == "cookie":
			notes = append(notes, fmt.Sprintf("scheme %q takes the key in a cookie; Part C names a header", name))
		case strings.EqualFold(sc.Name, "Authorization"):
			problems = append(problems, fmt.Sprintf("scheme %q puts the key in Authorization", name))
		case strings.HasPrefix(strings.ToLower(sc.Name), "x-"):
			problems = append(problems, fmt.Sprintf("scheme %q names its header %q, with the X- prefix", name, sc.Name))
		}
	}
	switch {
	case len(problems) > 0:
		return []result{fail(s.specName(), "%s", strings.Join(append(problems, notes...), "; "))}
	case len(notes) > 0:
		return []result{warn(s.specName(), "%s", strings.Join(notes, "; "))}
	case n == 0:
		return []result{skip(s.specName(), "no apiKey security scheme")}
	}
	return []result{pass(s.specName(), "%d apiKey scheme(s), all in a header without X-", n)}
}

// HTTP-12: no custom X- headers, in parameters or in response headers.
func checkSpecXHeaders(_ context.Context, s *session) []result {
	if r, ok := s.needSpec(); !ok {
		return []result{r}
	}
	var found []string
	for _, o := range s.spec.operations() {
		for _, p := range append(append([]parameter{}, o.item.Parameters...), o.Parameters...) {
			if p = s.spec.resolve(p); p.In == "header" && strings.HasPrefix(strings.ToLower(p.Name), "x-") {
				found = append(found, fmt.Sprintf("%s (%s %s)", p.Name, o.method, o.path))
			}
		}
		for _, code := range sortedKeys(o.Responses) {
			for h := range o.Responses[code].Headers {
				if strings.HasPrefix(strings.ToLower(h), "x-") {
					found = append(found, fmt.Sprintf("%s (%s %s → %s)", h, o.method, o.path, code))
				}
			}
		}
	}
	if len(found) > 0 {
		return []result{fail(s.specName(), "X- headers: %s", listed(dedupe(found)))}
	}
	return []result{pass(s.specName(), "no X- headers declared")}
}

// HTTP-14: the API is versioned.
func checkSpecVersioning(_ context.Context, s *session) []result {
	if r, ok := s.needSpec(); !ok {
		return []result{r}
	}
	if s.spec.versioned() {
		return []result{pass(s.specName(), "version in the servers, paths or media types (info.version %q)", s.spec.Info.Version)}
	}
	return []result{fail(s.specName(), "no /vN in servers or paths and no version= media type (info.version %q describes the document, not the API's address)", s.spec.Info.Version)}
}

// HTTP-11 / HTTP-10: operations declare their errors (a 4xx, or default), and secured ones
// declare 401.
func checkSpecErrors(_ context.Context, s *session) []result {
	if r, ok := s.needSpec(); !ok {
		return []result{r}
	}
	var none, no401 []string
	for _, o := range s.spec.operations() {
		has4xx, has401 := false, false
		for code := range o.Responses {
			c := strings.ToUpper(code)
			if strings.HasPrefix(c, "4") || strings.HasPrefix(c, "5") || c == "DEFAULT" {
				has4xx = true
			}
			if c == "401" || c == "4XX" || c == "DEFAULT" {
				has401 = true
			}
		}
		reqs, declared := s.spec.security(o)
		switch {
		case !has4xx:
			none = append(none, o.method+" "+o.path)
		case declared && !isPublic(reqs) && !has401:
			no401 = append(no401, o.method+" "+o.path)
		}
	}
	switch {
	case len(none) > 0:
		return []result{fail(s.specName(), "operations declaring no error response: %s", listed(none))}
	case len(no401) > 0:
		return []result{warn(s.specName(), "secured operations not declaring 401: %s", listed(no401))}
	}
	return []result{pass(s.specName(), "every operation declares its error responses")}
}

// HTTP-02: GET is safe; a GET that takes a request body is suspect.
func checkSpecSafeGet(_ context.Context, s *session) []result {
	if r, ok := s.needSpec(); !ok {
		return []result{r}
	}
	var found []string
	for _, o := range s.spec.operations() {
		if (o.method == http.MethodGet || o.method == http.MethodHead) && o.RequestBody != nil {
			found = append(found, o.method+" "+o.path)
		}
	}
	if len(found) > 0 {
		return []result{fail(s.specName(), "GET or HEAD with a request body: %s", listed(found))}
	}
	return []result{pass(s.specName(), "no GET or HEAD takes a request body")}
}
