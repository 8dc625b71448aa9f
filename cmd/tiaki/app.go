package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/tiaki-nz/tiaki/internal/config"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed (or found problems, as config check does)
	exitUsage = 2 // the command line itself was wrong
)

// Main is the tiaki command. main() runs it with the process's streams and environment;
// end-to-end tests run it in process with their own, on 127.0.0.1:0 ports.
type Main struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Ready, when set, is called by serve once every listener is bound and serving.
	Ready func(Endpoints)
}

// Endpoints tells where a running serve listens.
type Endpoints struct {
	AuthServer string // host:port of the authorization server (HTTPS)
	Gateway    string // host:port of the gateway (HTTPS)
	Ops        string // host:port of the ops endpoints (plain HTTP)
	Issuer     string
	DataDir    string
	CAFile     string // the CA certificate clients should trust
}

// globals are the flags every data-touching subcommand shares, so the CLI and a running server
// reach one store.
type globals struct {
	configFile string
	dataDir    string
}

// usageError marks errors that are the command line's fault (exit 2).
type usageError struct{ error }

// couldNotRun marks a command that could not do its job at all, as distinct from finding
// problems (exit 2, as tiaki audit documents for an unreachable target).
type couldNotRun struct{ error }

// Run executes the command line args and returns the process exit code.
func (m *Main) Run(ctx context.Context, args []string) int {
	if m.Getenv == nil {
		m.Getenv = os.Getenv
	}
	g := &globals{}
	root := &cobra.Command{
		Use:   "tiaki",
		Short: "Tiaki: the API security framework of the NZ API guidelines, as one binary",
		Long: `Tiaki guards APIs: an OAuth 2.1 / OpenID Connect authorization server, a gateway in front of
every API, a developer portal and a conformance probe, following the NZ Government API
guidelines Part B (API security).

Run "tiaki serve" with no flags to start on the embedded default: SQLite in ./tiaki-data,
generated development certificates and keys, and a demo API, client, user and API key.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// With Args set, cobra hands an unknown subcommand to the root instead of failing with
		// an untyped error, so it can be reported as a usage error (exit 2).
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return argsError{fmt.Errorf("unknown command %q", args[0])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetArgs(args)
	root.SetOut(m.Stdout)
	root.SetErr(m.Stderr)
	root.SetContext(ctx)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.PersistentFlags().StringVar(&g.configFile, "config", "", "configuration file (default ./tiaki.yaml when present, else the embedded default)")
	root.PersistentFlags().StringVar(&g.dataDir, "data", "tiaki-data", "data directory: SQLite database, master key, development certificates")

	root.AddCommand(
		m.serveCommand(g),
		m.configCommand(g),
		m.keysCommand(g),
		m.apikeyCommand(g),
		m.auditCommand(g),
		m.clientCommand(g),
		m.versionCommand(),
	)

	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ue usageError
	var ce *checkFailed
	var cnr couldNotRun
	switch {
	case errors.As(err, &ce):
		return exitError // config check and audit have already printed the problems
	case errors.As(err, &cnr):
		fmt.Fprintf(m.Stderr, "tiaki: %v\n", err)
		return exitUsage
	case errors.As(err, &ue) || isCobraUsage(err):
		fmt.Fprintf(m.Stderr, "tiaki: %v\nRun 'tiaki --help' for usage.\n", err)
		return exitUsage
	default:
		fmt.Fprintf(m.Stderr, "tiaki: %v\n", err)
		return exitError
	}
}

// isCobraUsage recognises cobra's own argument errors (unknown command, wrong arg count), which
// cobra returns as plain errors.
func isCobraUsage(err error) bool {
	var ae argsError
	return errors.As(err, &ae)
}

// argsError wraps positional-argument validation failures.
type argsError struct{ error }

// exactArgs is cobra.ExactArgs with an error type Run can classify as a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return argsError{err}
		}
		return nil
	}
}

// loadConfig finds the configuration: --config FILE, else ./tiaki.yaml when present, else the
// embedded default (demo content, with secrets derived from the master key by demoSecrets).
// embedded reports which.
func (g *globals) loadConfig(demo func() (config.Demo, error)) (cfg *config.Config, embedded bool, err error) {
	path := g.configFile
	if path == "" {
		if _, err := os.Stat("tiaki.yaml"); err == nil {
			path = "tiaki.yaml"
		}
	}
	if path != "" {
		cfg, err := config.Load(path)
		return cfg, false, err
	}
	d, err := demo()
	if err != nil {
		return nil, true, err
	}
	return config.Default(d), true, nil
}

// ensureDataDir creates the data directory (0700: it holds the master key and the database).
func (g *globals) ensureDataDir() (string, error) {
	dir, err := filepath.Abs(g.dataDir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("data directory: %w", err)
	}
	return dir, nil
}
