package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/config"
	"github.com/tiaki-nz/tiaki/internal/oauth"
	"github.com/tiaki-nz/tiaki/internal/policy/apikey"
)

// Bounds on what the CLI accepts for a key's label, consumer and scopes: they end up in
// listings, logs, metrics labels and the identity assertion.
const (
	maxAPIKeyLabel  = 200
	maxAPIKeyScopes = 64
)

func (m *Main) apikeyCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "apikey",
		Short: "Issue, list and revoke API keys",
		Long: `Manage the API keys the gateway accepts. The commands work on the same store as a running
server (the same --config or --data), which refuses a revoked key within seconds.`,
	}
	cmd.AddCommand(m.apikeyCreateCommand(g), m.apikeyListCommand(g), m.apikeyShowCommand(g), m.apikeyRevokeCommand(g))
	return cmd
}

func (m *Main) apikeyCreateCommand(g *globals) *cobra.Command {
	var api, name, consumer string
	var scopeArgs []string
	var expires time.Duration
	cmd := &cobra.Command{
		Use:   "create --api NAME --name LABEL [--scope SCOPE]...",
		Short: "Issue an API key; it is printed once and never again",
		Long: `Issue a new API key for one API. The key is printed once, on standard output, alone on its
line; Tiaki keeps only a keyed hash of it and cannot show it again. The key's ID (the public part
after "tk_") is what list shows and revoke takes.

A key holds the scopes given with --scope (repeat it, or list several separated by spaces). On
a method that requires scopes (apis[].auth.oauth2.scopes), a request the key alone authorises
needs every scope the method lists, exactly as a token would; a key without scopes is refused
(403 insufficient_scope) on such methods and works on the others.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			scopes, err := keyScopes(scopeArgs)
			if err != nil {
				return usageError{err}
			}
			switch {
			case api == "":
				return usageError{errors.New("--api is required")}
			case name == "":
				return usageError{errors.New("--name is required")}
			case len(name) > maxAPIKeyLabel || len(consumer) > maxAPIKeyLabel:
				return usageError{fmt.Errorf("--name and --consumer are at most %d characters", maxAPIKeyLabel)}
			case !labelText(name) || !labelText(consumer):
				return usageError{errors.New("--name and --consumer must be printable text")}
			case expires < 0:
				return usageError{errors.New("--expires must be positive")}
			}
			ctx := cmd.Context()
			d, err := m.openData(ctx, g)
			if err != nil {
				return err
			}
			defer d.close()
			a, err := d.checkAPI(api)
			if err != nil {
				return err
			}
			key, id, err := apikey.Generate(rand.Reader)
			if err != nil {
				return err
			}
			now := time.Now().UTC()
			k := &tiaki.APIKey{ID: id, Hash: d.hasher.Hash(key), API: api, Name: name, Consumer: consumer,
				Scopes: scopes, Source: tiaki.SourceRuntime, CreatedAt: now}
			if k.Consumer == "" {
				k.Consumer = name
			}
			if expires > 0 {
				k.ExpiresAt = now.Add(expires)
			}
			if err := d.store.CreateAPIKey(ctx, k); err != nil {
				return fmt.Errorf("storing the API key: %w", err)
			}
			fmt.Fprintln(m.Stdout, key)
			fmt.Fprintf(m.Stderr, "Issued API key %s for API %s (consumer %s, scopes %s, expires %s).\n"+
				"Send it in the API's key header. Store it now: Tiaki keeps only a hash and cannot show it again.\n",
				id, api, k.Consumer, scopeList(k.Scopes), keyExpiry(k.ExpiresAt))
			for _, w := range scopeWarnings(a, k.Scopes) {
				fmt.Fprintln(m.Stderr, "Warning: "+w)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&api, "api", "", "the API (apis[].name) the key is for")
	cmd.Flags().StringVar(&name, "name", "", "a label for the key, such as the application's name")
	cmd.Flags().StringVar(&consumer, "consumer", "", "the consumer the key identifies in logs, metrics and the identity assertion (default: the label)")
	cmd.Flags().StringArrayVar(&scopeArgs, "scope", nil, "a scope the key holds; repeat it or separate scopes by spaces (default: none)")
	cmd.Flags().DurationVar(&expires, "expires", 0, "lifetime, such as 720h (default: no expiry)")
	return cmd
}

// keyScopes reads the --scope values: each may hold several scopes separated by spaces (as an
// OAuth scope parameter does). Each must be a scope token; duplicates are dropped.
func keyScopes(args []string) ([]string, error) {
	var scopes []string
	for _, a := range args {
		for _, s := range strings.Fields(a) {
			if !oauth.ValidScope(s) {
				return nil, fmt.Errorf("--scope %q: not a scope (RFC 6749 §3.3: printable ASCII except space, \" and \\, at most %d characters)", clipText(s, 40), oauth.MaxScopeLength)
			}
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
	}
	if len(scopes) > maxAPIKeyScopes {
		return nil, fmt.Errorf("--scope: at most %d scopes", maxAPIKeyScopes)
	}
	return scopes, nil
}

// scopeWarnings says what a key with scopes cannot do on api: scoped methods whose scopes it
// lacks, and scopes no method of the API asks for (a typing mistake, most likely).
func scopeWarnings(api config.API, scopes []string) []string {
	var byMethod map[string][]string
	if api.Auth.OAuth2 != nil {
		byMethod = api.Auth.OAuth2.Scopes
	}
	var out []string
	used := map[string]bool{}
	methods := make([]string, 0, len(byMethod))
	for m := range byMethod {
		methods = append(methods, m)
	}
	slices.Sort(methods)
	for _, m := range methods {
		var lacks []string
		for _, s := range byMethod[m] {
			used[s] = true
			if !slices.Contains(scopes, s) {
				lacks = append(lacks, s)
			}
		}
		if len(lacks) > 0 {
			out = append(out, fmt.Sprintf("%s %s needs %s, which this key lacks: the key is refused (403) there", api.Name, m, strings.Join(lacks, " ")))
		}
	}
	for _, s := range scopes {
		if !used[s] {
			out = append(out, fmt.Sprintf("no method of %s requires the scope %s", api.Name, s))
		}
	}
	return out
}

func scopeList(scopes []string) string {
	if len(scopes) == 0 {
		return "none"
	}
	return strings.Join(scopes, " ")
}

// apiKeyView is what list shows of a key: never the key or its hash.
type apiKeyView struct {
	ID        string     `json:"id"`
	API       string     `json:"api"`
	Name      string     `json:"name"`
	Consumer  string     `json:"consumer"`
	Scopes    []string   `json:"scopes"`
	Source    string     `json:"source"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

func (m *Main) apikeyListCommand(g *globals) *cobra.Command {
	var api, output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List API keys (IDs and metadata; never the keys)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return usageError{fmt.Errorf("--output %q: want table or json", output)}
			}
			ctx := cmd.Context()
			d, err := m.openData(ctx, g)
			if err != nil {
				return err
			}
			defer d.close()
			list, err := d.store.APIKeys(ctx, tiaki.APIKeyFilter{API: api})
			if err != nil {
				return err
			}
			views := make([]apiKeyView, len(list))
			for i := range list {
				views[i] = apiKeyViewOf(&list[i])
			}
			if output == "json" {
				enc := json.NewEncoder(m.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(views)
			}
			tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tAPI\tNAME\tCONSUMER\tSCOPES\tCREATED\tEXPIRES\tREVOKED")
			for _, v := range views {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.API, v.Name, v.Consumer, scopeList(v.Scopes),
					v.CreatedAt.Format(time.RFC3339), keyExpiry(timeOrZero(v.ExpiresAt)), keyRevoked(v.RevokedAt))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&api, "api", "", "only keys for this API")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func (m *Main) apikeyShowCommand(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one API key's metadata and scopes (never the key)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" {
				return usageError{fmt.Errorf("--output %q: want table or json", output)}
			}
			id := args[0]
			if kid, ok := apikey.Parse(id); ok {
				id = kid // someone pasted the whole key: take its ID, and never echo the key back
			}
			ctx := cmd.Context()
			d, err := m.openData(ctx, g)
			if err != nil {
				return err
			}
			defer d.close()
			k, err := d.store.APIKey(ctx, id)
			if errors.Is(err, tiaki.ErrNotFound) {
				return fmt.Errorf("no API key has the ID %q", clipText(id, 40))
			}
			if err != nil {
				return err
			}
			v := apiKeyViewOf(k)
			if output == "json" {
				enc := json.NewEncoder(m.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
			for _, row := range [][2]string{
				{"id", v.ID}, {"api", v.API}, {"name", v.Name}, {"consumer", v.Consumer}, {"scopes", scopeList(v.Scopes)},
				{"source", v.Source}, {"created", v.CreatedAt.Format(time.RFC3339)},
				{"expires", keyExpiry(timeOrZero(v.ExpiresAt))}, {"revoked", keyRevoked(v.RevokedAt)},
			} {
				fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func apiKeyViewOf(k *tiaki.APIKey) apiKeyView {
	scopes := k.Scopes
	if scopes == nil {
		scopes = []string{} // "scopes": [] in JSON, not null
	}
	return apiKeyView{ID: k.ID, API: k.API, Name: k.Name, Consumer: k.Consumer, Scopes: scopes, Source: string(k.Source),
		CreatedAt: k.CreatedAt.UTC(), ExpiresAt: optionalUTC(k.ExpiresAt), RevokedAt: optionalUTC(k.RevokedAt)}
}

func keyRevoked(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func (m *Main) apikeyRevokeCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API key; running gateways refuse it within seconds",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if kid, ok := apikey.Parse(id); ok {
				id = kid // someone pasted the whole key: take its ID, and never echo the key back
			}
			ctx := cmd.Context()
			d, err := m.openData(ctx, g)
			if err != nil {
				return err
			}
			defer d.close()
			err = d.store.RevokeAPIKey(ctx, id, time.Now().UTC())
			if errors.Is(err, tiaki.ErrNotFound) {
				return fmt.Errorf("no API key has the ID %q", clipText(id, 40))
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(m.Stdout, "revoked API key %s; running gateways refuse it within %v\n", id, apikey.CacheTTL)
			return nil
		},
	}
}

// checkAPI finds the API a key is for, refusing APIs the configuration does not declare or
// that take no API keys.
func (d *cliData) checkAPI(name string) (config.API, error) {
	var names []string
	for _, a := range d.cfg.APIs {
		if a.Name == name {
			if a.Auth.APIKey == "off" {
				return a, fmt.Errorf("API %s does not accept API keys (auth.api_key is off in %s)", name, d.cfg.Path)
			}
			return a, nil
		}
		names = append(names, a.Name)
	}
	return config.API{}, fmt.Errorf("no API named %q in %s (APIs: %s)", clipText(name, 64), d.cfg.Path, strings.Join(names, ", "))
}

func keyExpiry(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func optionalUTC(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func timeOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func labelText(s string) bool {
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
