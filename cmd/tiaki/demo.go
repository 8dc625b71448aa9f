package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/config"
	"github.com/tiaki-nz/tiaki/internal/keys"
	"github.com/tiaki-nz/tiaki/internal/policy/apikey"
)

// The demo's credentials are derived from the master key rather than generated and stored: a
// second start prints the same secrets while the store still holds only their hashes.
const (
	demoClientID = "demo-client"
	demoUser     = "demo"
	demoAPI      = "demo"
)

func demoSecrets(mk *keys.MasterKey) (config.Demo, error) {
	return config.Demo{
		ClientSecret: tiaki.Secret(base64.RawURLEncoding.EncodeToString(mk.Derive("tiaki demo client secret v1", 32))),
		UserPassword: tiaki.Secret(base64.RawURLEncoding.EncodeToString(mk.Derive("tiaki demo user password v1", 12))),
	}, nil
}

// demoKeyScopes are the demo API key's scopes: it reads the demo API (GET, and HEAD with it)
// and, like a token with only demo:read, is refused (403 insufficient_scope) on POST, which
// needs demo:write. Each start writes them, so a store from before keys had scopes catches up.
var demoKeyScopes = []string{"demo:read"}

// demoAPIKey derives the demo API key in the gateway's key format.
func demoAPIKey(mk *keys.MasterKey) (key, id string, err error) {
	return apikey.Generate(bytes.NewReader(mk.Derive("tiaki demo api key v1", 128)))
}

// printBanner tells a person, once per start, where everything is and how to try it.
func printBanner(w io.Writer, n *node, ep Endpoints) {
	ca := ep.CAFile
	if rel, err := filepath.Rel(".", ca); err == nil && !strings.HasPrefix(rel, "..") {
		ca = rel
	}
	fmt.Fprintf(w, "\nTiaki %s is running", tiakiVersion())
	if n.embedded {
		fmt.Fprint(w, " on its embedded default")
	}
	fmt.Fprintf(w, " (data in %s).\n\n", ep.DataDir)
	fmt.Fprintf(w, "  Authorization server  https://%s   discovery: %s/.well-known/openid-configuration\n", ep.AuthServer, ep.Issuer)
	fmt.Fprintf(w, "  Gateway               https://%s\n", ep.Gateway)
	for _, api := range n.cfg.APIs {
		fmt.Fprintf(w, "    API %-16s  https://%s%s  ->  %s\n", api.Name, ep.Gateway, api.Match.PathPrefix, api.Upstream)
	}
	fmt.Fprintf(w, "  Ops (plain HTTP)      http://%s   /healthz /readyz /metrics\n", ep.Ops)
	fmt.Fprintf(w, "  CA certificate        %s   (trust it: curl --cacert %s)\n", ca, ca)
	if !n.cfg.Demo {
		fmt.Fprintln(w)
		return
	}
	d, _ := demoSecrets(n.master)
	key, _, _ := demoAPIKey(n.master)
	api := n.cfg.APIs[0]
	for _, a := range n.cfg.APIs {
		if a.Name == demoAPI {
			api = a
		}
	}
	fmt.Fprintf(w, `
Demo credentials (derived from the data directory's master key; the same at every start):
  client   %s  secret %s
  user     %s  password %s
  API key  %s

Get a token (client credentials):
  TOKEN=$(curl -s --cacert %s -u %s:%s -d grant_type=client_credentials -d scope=demo:read -d resource=%s https://%s/token | sed -E 's/.*"access_token":"([^"]+)".*/\1/')

Call the demo API with the token, then with the API key:
  curl --cacert %s -H "Authorization: Bearer $TOKEN" https://%s%s/hello
  curl --cacert %s -H "%s: %s" https://%s%s/hello

`, demoClientID, d.ClientSecret.Reveal(), demoUser, d.UserPassword.Reveal(), key,
		ca, demoClientID, d.ClientSecret.Reveal(), api.Auth.OAuth2.Audience, ep.AuthServer,
		ca, ep.Gateway, api.Match.PathPrefix,
		ca, api.Auth.APIKeyHeader, key, ep.Gateway, api.Match.PathPrefix)
}
