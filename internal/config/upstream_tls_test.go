package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestUpstreamTLSAndForwardCredentials(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "tiaki.yaml")
	if err := os.WriteFile(path, []byte(`
apis:
  - name: a
    upstream: https://a.internal
    upstream_tls: {ca: ca.pem, cert: /abs/gw.pem, key: keys/gw-key.pem}
    forward_credentials: true
  - name: b
    upstream: https://b.internal
    match: {path_prefix: /b}
    upstream_tls: {ca: ca.pem}
  - name: c
    upstream: builtin:echo
    match: {path_prefix: /c}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []*UpstreamTLS{
		{CA: filepath.Join(dir, "ca.pem"), Cert: "/abs/gw.pem", Key: filepath.Join(dir, "keys/gw-key.pem")},
		{CA: filepath.Join(dir, "ca.pem")},
		nil,
	}
	for i, w := range want {
		if diff := cmp.Diff(w, c.APIs[i].UpstreamTLS); diff != "" {
			t.Errorf("apis[%d].upstream_tls (-want +got):\n%s", i, diff)
		}
	}
	if !c.APIs[0].ForwardCredentials || c.APIs[1].ForwardCredentials {
		t.Errorf("forward_credentials = %v, %v; want true, then the default false", c.APIs[0].ForwardCredentials, c.APIs[1].ForwardCredentials)
	}
}
