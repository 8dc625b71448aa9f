package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki/internal/config"
)

func TestKeepRunning(t *testing.T) {
	t.Parallel()
	parse := func(src string) *config.Config {
		t.Helper()
		c, err := config.Parse("tiaki.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	const apis = "apis: [{name: a, upstream: builtin:echo, auth: {api_key: \"off\"}}]\n"
	tests := []struct {
		name, next string
		restart    []string
	}{
		{"only apis changed", "apis: [{name: b, upstream: builtin:echo, auth: {api_key: \"off\"}}]\n", nil},
		{"listener, issuer and gateway", "issuer: https://as.example\nlisten: {gateway: \"127.0.0.1:9444\"}\ngateway: {unknown_route_status: 501}\n" + apis,
			[]string{"issuer", "listen", "gateway"}},
		{"tokens", "tokens: {access_token_ttl: 5m}\n" + apis, []string{"tokens"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			running, next := parse(apis), parse(tt.next)
			wantAPIs := next.APIs
			restart := keepRunning(next, running)
			if diff := cmp.Diff(tt.restart, restart); diff != "" {
				t.Errorf("restart needed (-want +got):\n%s", diff)
			}
			if restart := keepRunning(next, running); len(restart) != 0 {
				t.Errorf("after keepRunning, still differs in %v", restart)
			}
			if diff := cmp.Diff(wantAPIs, next.APIs); diff != "" {
				t.Errorf("apis not taken from the new file (-want +got):\n%s", diff)
			}
		})
	}
}
