package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tiaki-nz/tiaki/internal/config"
)

// checkFailed reports that config check found problems (already printed): exit 1, no more text.
type checkFailed struct{}

func (*checkFailed) Error() string { return "configuration is not valid" }

func (m *Main) configCommand(_ *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Work with configuration files",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a configuration file; print every problem with file:line and key",
		Long: `Validate a configuration file exactly as "tiaki serve" would, and print every problem found,
one per line, as FILE:LINE: KEY: MESSAGE. Every file it names is read and parsed as serve reads
it: certificates, keys, the client CA and CRL, upstream TLS files, OpenAPI descriptions and
"file:" secrets. Exit status 0 when valid, 1 when not.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(args[0])
			if err == nil {
				err = checkFiles(cfg)
			}
			if err != nil {
				fmt.Fprintln(m.Stderr, err)
				return &checkFailed{}
			}
			_, err = fmt.Fprintf(m.Stdout, "%s: valid\n", args[0])
			return err
		},
	})
	return cmd
}
