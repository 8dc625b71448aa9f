package config

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestCORSDefaults: CORS is off unless an API asks for it; when it does, methods default to the
// API's and headers to Content-Type and the headers of the credentials the API accepts.
func TestCORSDefaults(t *testing.T) {
	t.Parallel()
	c, err := Parse("tiaki.yaml", []byte(`
apis:
  - name: keyed
    upstream: builtin:echo
    methods: [GET, POST]
    cors:
      allow_origins: [https://App.example.govt.nz]
  - name: tokens
    upstream: builtin:echo
    match: {path_prefix: /tokens}
    auth:
      oauth2: {audience: https://api.example.govt.nz/tokens}
    cors:
      allow_origins: [https://app.example.govt.nz]
      allow_headers: [Authorization]
      allow_credentials: true
      max_age: 10m
  - name: closed
    upstream: builtin:echo
    match: {path_prefix: /closed}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []*CORS{
		{AllowOrigins: []string{"https://App.example.govt.nz"}, AllowMethods: []string{"GET", "POST"},
			AllowHeaders: []string{"Content-Type", "API-Key"}},
		{AllowOrigins: []string{"https://app.example.govt.nz"}, AllowMethods: []string{"GET"},
			AllowHeaders: []string{"Authorization"}, AllowCredentials: true, MaxAge: Duration{10 * time.Minute}},
		nil,
	}
	for i, w := range want {
		if diff := cmp.Diff(w, c.APIs[i].CORS); diff != "" {
			t.Errorf("apis[%d].cors (-want +got):\n%s", i, diff)
		}
	}
}
