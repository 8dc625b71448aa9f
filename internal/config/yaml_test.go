package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestYAML12FlowCollections: issue #11 item 2. Plain scalars with colons inside nested flow
// collections are strings in YAML 1.2 (and to PyYAML, libyaml and go-yaml); the configuration
// reads them so, in flow and block style alike, and a query in a URL inside [ ] too.
func TestYAML12FlowCollections(t *testing.T) {
	t.Parallel()
	want := map[string][]string{"GET": {"echo:read"}, "POST": {"echo:write", "echo:admin"}}
	for name, y := range map[string]string{
		"flow": `
apis:
  - {name: echo, upstream: builtin:echo, methods: [GET, POST], auth: {api_key: "off", oauth2: {audience: "https://echo.example?x=1", scopes: {GET: [echo:read], POST: [echo:write, echo:admin]}}}}`,
		"block": `
apis:
  - name: echo
    upstream: builtin:echo
    methods: [GET, POST]
    auth:
      api_key: "off"
      oauth2:
        audience: https://echo.example?x=1
        scopes:
          GET:
            - echo:read
          POST: [echo:write, "echo:admin"]`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse("tiaki.yaml", []byte(y))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, c.APIs[0].Auth.OAuth2.Scopes); diff != "" {
				t.Errorf("scopes (-want +got):\n%s", diff)
			}
			if got := c.APIs[0].Auth.OAuth2.Audience; got != "https://echo.example?x=1" {
				t.Errorf("audience = %q", got)
			}
		})
	}
}
