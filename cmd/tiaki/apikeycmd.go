package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy/apikey"
)

// Bounds on what the CLI accepts for a key's label and consumer: they end up in listings, logs
// and metrics labels.
const maxAPIKeyLabel = 200

func (m *Main) apikeyCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "apikey",
		Short: "Issue, list and revoke API keys",
		Long: `Manage the API keys the gateway accepts. The commands work on the same store as a running
server (the same --config or --data), which refuses a revoked key within seconds.`,
	}
	cmd.AddCommand(m.apikeyCreateCommand(g), m.apikeyListCommand(g), m.apikeyRevokeCommand(g))
	return cmd
}

func (m *Main) apikeyCreateCommand(g *globals) *cobra.Command {
	var api, name, consumer string
	var expires time.Duration
	cmd := &cobra.Command{
		Use:   "create --api NAME --name LABEL",
		Short: "Issue an API key; it is printed once and never again",
		Long: `Issue a new API key for one API. The key is printed once, on standard output, alone on its
line; Tiaki keeps only a keyed hash of it and cannot show it again. The key's ID (the public part
after "tk_") is what list shows and revoke takes.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			if err := d.checkAPI(api); err != nil {
				return err
			}
			key, id, err := apikey.Generate(rand.Reader)
			if err != nil {
				return err
			}
			now := time.Now().UTC()
			k := &tiaki.APIKey{ID: id, Hash: d.hasher.Hash(key), API: api, Name: name, Consumer: consumer,
				Source: tiaki.SourceRuntime, CreatedAt: now}
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
			fmt.Fprintf(m.Stderr, "Issued API key %s for API %s (consumer %s, expires %s).\n"+
				"Send it in the API's key header. Store it now: Tiaki keeps only a hash and cannot show it again.\n",
				id, api, k.Consumer, keyExpiry(k.ExpiresAt))
			return nil
		},
	}
	cmd.Flags().StringVar(&api, "api", "", "the API (apis[].name) the key is for")
	cmd.Flags().StringVar(&name, "name", "", "a label for the key, such as the application's name")
	cmd.Flags().StringVar(&consumer, "consumer", "", "the consumer the key identifies in logs, metrics and the identity assertion (default: the label)")
	cmd.Flags().DurationVar(&expires, "expires", 0, "lifetime, such as 720h (default: no expiry)")
	return cmd
}

// apiKeyView is what list shows of a key: never the key or its hash.
type apiKeyView struct {
	ID        string     `json:"id"`
	API       string     `json:"api"`
	Name      string     `json:"name"`
	Consumer  string     `json:"consumer"`
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
			for i, k := range list {
				views[i] = apiKeyView{ID: k.ID, API: k.API, Name: k.Name, Consumer: k.Consumer, Source: string(k.Source),
					CreatedAt: k.CreatedAt.UTC(), ExpiresAt: optionalUTC(k.ExpiresAt), RevokedAt: optionalUTC(k.RevokedAt)}
			}
			if output == "json" {
				enc := json.NewEncoder(m.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(views)
			}
			tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tAPI\tNAME\tCONSUMER\tCREATED\tEXPIRES\tREVOKED")
			for _, v := range views {
				revoked := "-"
				if v.RevokedAt != nil {
					revoked = v.RevokedAt.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.API, v.Name, v.Consumer,
					v.CreatedAt.Format(time.RFC3339), keyExpiry(timeOrZero(v.ExpiresAt)), revoked)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&api, "api", "", "only keys for this API")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
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

// checkAPI refuses keys for APIs the configuration does not declare or that take no API keys.
func (d *cliData) checkAPI(name string) error {
	var names []string
	for _, a := range d.cfg.APIs {
		if a.Name == name {
			if a.Auth.APIKey == "off" {
				return fmt.Errorf("API %s does not accept API keys (auth.api_key is off in %s)", name, d.cfg.Path)
			}
			return nil
		}
		names = append(names, a.Name)
	}
	return fmt.Errorf("no API named %q in %s (APIs: %s)", clipText(name, 64), d.cfg.Path, strings.Join(names, ", "))
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
