package openapi

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tiaki-nz/tiaki"
)

// permitsSpec is a small description with the given servers block.
func permitsSpec(t *testing.T, servers string) *Spec {
	t.Helper()
	s, err := Parse([]byte(`openapi: 3.0.3
info: {title: Permits, version: "1"}
`+servers+`
paths:
  /permits/{id}:
    get:
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
  /status:
    get:
      responses: {"200": {description: ok}}
`), "permits.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Issue 11 item 15: the server URL's path and the route's prefix combine so that the
// description's paths are found where clients send them; the common case (server path equal
// to the prefix) works whether or not the prefix is stripped.
func TestBasePath(t *testing.T) {
	t.Parallel()
	const (
		none      = ""
		public    = "servers: [{url: 'https://api.example.govt.nz/permits'}]"
		versioned = "servers: [{url: 'https://api.example.govt.nz/permits/v1'}]"
		relative  = "servers: [{url: /permits}]"
		root      = "servers: [{url: 'https://api.example.govt.nz/'}]"
		variable  = "servers: [{url: 'https://{host}/{base}', variables: {host: {default: api.example.govt.nz}, base: {default: permits}}}]"
	)
	for _, tc := range []struct {
		name, servers string
		mount         Mount
		want          string
		// request is a path a client sends, which must find the description's /status.
		request string
	}{
		{"no server, stripped", none, Mount{PathPrefix: "/permits", StripPrefix: true}, "/permits", "/permits/status"},
		{"no server, not stripped", none, Mount{PathPrefix: "/permits"}, "", "/status"},
		{"server /, stripped", root, Mount{PathPrefix: "/permits/", StripPrefix: true}, "/permits", "/permits/status"},
		{"server equals prefix, stripped", public, Mount{PathPrefix: "/permits", StripPrefix: true}, "/permits", "/permits/status"},
		{"server equals prefix, not stripped", public, Mount{PathPrefix: "/permits"}, "/permits", "/permits/status"},
		{"relative server equals prefix, stripped", relative, Mount{PathPrefix: "/permits/", StripPrefix: true}, "/permits", "/permits/status"},
		{"server variables at their defaults", variable, Mount{PathPrefix: "/permits", StripPrefix: true}, "/permits", "/permits/status"},
		{"server below prefix, stripped", versioned, Mount{PathPrefix: "/permits", StripPrefix: true}, "/permits/v1", "/permits/v1/status"},
		{"server below prefix, not stripped", versioned, Mount{PathPrefix: "/permits"}, "/permits/v1", "/permits/v1/status"},
		{"root route", public, Mount{PathPrefix: "/"}, "/permits", "/permits/status"},
		{"server elsewhere, stripped: the upstream serves it", public, Mount{PathPrefix: "/v1-permits", StripPrefix: true},
			"/v1-permits/permits", "/v1-permits/permits/status"},
		{"server elsewhere, stripped, upstream URL holds it", public, Mount{PathPrefix: "/v1-permits", StripPrefix: true, UpstreamPath: "/permits"},
			"/v1-permits", "/v1-permits/status"},
		{"server below the upstream URL's path", versioned, Mount{PathPrefix: "/v1-permits", StripPrefix: true, UpstreamPath: "/permits/"},
			"/v1-permits/v1", "/v1-permits/v1/status"},
		{"root route, upstream URL holds the server path", public, Mount{PathPrefix: "/", StripPrefix: true, UpstreamPath: "/permits"},
			"", "/status"},
		{"prefix below server, not stripped", public, Mount{PathPrefix: "/permits/v2"}, "/permits", "/permits/status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec := permitsSpec(t, tc.servers)
			got, err := spec.BasePath(tc.mount)
			if err != nil || got != tc.want {
				t.Fatalf("BasePath(%+v) = %q, %v; want %q", tc.mount, got, err, tc.want)
			}
			v, err := New(spec, Config{BasePath: got})
			if err != nil {
				t.Fatal(err)
			}
			if d := v.Check(newRequest("GET", tc.request, "", nil), nil); d != nil {
				t.Errorf("GET %s: %d %s", tc.request, d.Status, d.Detail)
			}
		})
	}
}

func TestBasePathRefusesWhatCannotMatch(t *testing.T) {
	t.Parallel()
	spec := permitsSpec(t, "servers: [{url: 'https://api.example.govt.nz/permits'}]")
	_, err := spec.BasePath(Mount{PathPrefix: "/v1-permits"})
	if !errors.Is(err, tiaki.ErrInvalid) || !strings.Contains(err.Error(), "strip_prefix") {
		t.Fatalf("server /permits under prefix /v1-permits, not stripped: %v; want an error that suggests strip_prefix", err)
	}
}

// The refusal of an unknown path says which path was looked up, so a base path that does not
// fit the requests is plain from the answer.
func TestNotFoundSaysWhichPath(t *testing.T) {
	t.Parallel()
	v, err := New(permitsSpec(t, ""), Config{BasePath: "/permits", NotFound: http.StatusNotImplemented})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{"/permits/nothing/here", `lists no path matching "/nothing/here" (the request path after "/permits")`},
		{"/permitsx/status", `The request path "/permitsx/status" is not under "/permits"`},
		{"/permits/%3Cscript%3E", `"/%3Cscript%3E"`},
		{"/permits/" + strings.Repeat("a", 300), `"/` + strings.Repeat("a", 199) + `…"`},
	} {
		d := v.Check(newRequest("GET", tc.path, "", nil), nil)
		if d == nil || d.Status != http.StatusNotImplemented || !strings.Contains(d.Detail, tc.want) {
			t.Errorf("GET %s: %+v; want 501 with detail containing %s", tc.path, d, tc.want)
		}
	}
	// The shared denial is not changed by a request's detail.
	if v.notFound.Detail != "The API does not implement this resource." {
		t.Errorf("the shared denial was changed: %q", v.notFound.Detail)
	}
}
