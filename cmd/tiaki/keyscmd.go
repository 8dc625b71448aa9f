package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tiaki-nz/tiaki/internal/keys"
)

func (m *Main) keysCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage the authorization server's signing keys",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "rotate",
		Short: "Publish the next signing key now; it starts signing after keys.prepublish",
		Long: `Create the next signing key for every configured algorithm. It is published in the JWKS at
once and starts signing after keys.prepublish (default 1h), so verifiers can fetch it before any
token carries its kid; the current key then retires and stays published until every token it
signed has expired. A running server picks the change up within a minute.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			d, err := m.openData(ctx, g)
			if err != nil {
				return err
			}
			defer d.close()
			cfg, st := d.cfg, d.store
			mgr := keys.NewManager(st, d.master, keys.Options{
				Algorithms:       cfg.Keys.Algorithms,
				RotateEvery:      cfg.Keys.RotateEvery.Duration,
				Prepublish:       cfg.Keys.Prepublish.Duration,
				MaxTokenLifetime: cfg.Tokens.AccessTokenTTL.Duration + 5*time.Minute,
			})
			if err := mgr.Ensure(ctx); err != nil {
				return err
			}
			before, err := st.SigningKeys(ctx)
			if err != nil {
				return err
			}
			if err := mgr.Rotate(ctx); err != nil {
				return err
			}
			after, err := st.SigningKeys(ctx)
			if err != nil {
				return err
			}
			old := map[string]bool{}
			for _, k := range before {
				old[k.ID] = true
			}
			for _, k := range after {
				if !old[k.ID] {
					fmt.Fprintf(m.Stdout, "published %s key %s; it signs from %s\n", k.Algorithm, k.ID, k.ActiveAt.UTC().Format(time.RFC3339))
				}
			}
			return nil
		},
	})
	return cmd
}
