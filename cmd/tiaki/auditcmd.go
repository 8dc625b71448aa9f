package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/probe"
)

// Environment variables the audit reads secrets from when their flags are not given, so CI can
// keep them out of command lines and process lists.
const (
	envAuditAPIKey       = "TIAKI_AUDIT_API_KEY"
	envAuditToken        = "TIAKI_AUDIT_TOKEN"
	envAuditClientSecret = "TIAKI_AUDIT_CLIENT_SECRET"
)

// maxAuditFile bounds --ca and --openapi files.
const maxAuditFile = 16 << 20

func (m *Main) auditCommand(_ *globals) *cobra.Command {
	var (
		apiKey, token, clientID, clientSecret string
		issuer, spec, caFile, format          string
		only                                  []string
		maxRPS                                float64
		budget                                int
		allowWrites                           bool
	)
	cmd := &cobra.Command{
		Use:   "audit URL",
		Short: "Check a live API (Tiaki's or anyone's) against the NZ API security guidelines",
		Long: `Audit probes a live API and its authorization server from the outside and reports, for every
automatable requirement of the NZ Government API guidelines (Part B, with parts of A and C), a
verdict with the requirement ID, its strength and its DocRef link. See docs/audit.md.

URL is an API resource (https://api.example.govt.nz/v1/things), or an issuer to judge only
its authorization server. Credentials let the probe see authenticated behaviour; it never
sends them over plain HTTP, in a URL, or to a server whose certificate does not verify, and
never prints them. Secrets may come from the environment instead of flags:
` + envAuditAPIKey + `, ` + envAuditToken + `, ` + envAuditClientSecret + `.

Exit status: 0 when no MUST or REQUIRED check fails, 1 when one does, 2 when the probe could
not run (bad flags, unreachable target, unreadable OpenAPI document).`,
		Example: `  tiaki audit https://127.0.0.1:8444/demo/hello --issuer https://127.0.0.1:8443 --ca tiaki-data/ca.pem \
      --api-key "$KEY" --client-id demo-client --client-secret "$SECRET"
  tiaki audit https://api.example.govt.nz/v1/things --openapi things.yaml --format junit > audit.xml`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := probe.Options{Target: args[0], Issuer: issuer, ClientID: clientID, Only: only,
				MaxRPS: maxRPS, Budget: budget, AllowWrites: allowWrites}
			opts.APIKey = m.secretFlag(apiKey, envAuditAPIKey)
			opts.Token = m.secretFlag(token, envAuditToken)
			opts.ClientSecret = m.secretFlag(clientSecret, envAuditClientSecret)
			if !opts.Token.IsZero() && clientID != "" {
				return usageError{errors.New("give --token or --client-id and --client-secret, not both")}
			}
			write, err := reportWriter(format)
			if err != nil {
				return usageError{err}
			}
			if maxRPS <= 0 || budget <= 0 {
				return usageError{errors.New("--max-rps and --max-requests must be positive")}
			}
			if caFile != "" {
				if opts.RootCAs, err = readCA(caFile); err != nil {
					return usageError{err}
				}
			}
			if spec != "" {
				if opts.OpenAPI, err = readAuditFile(spec); err != nil {
					return usageError{fmt.Errorf("--openapi: %w", err)}
				}
				opts.OpenAPIName = filepath.Base(spec)
			}
			if f, ok := m.Stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				opts.Progress = f
			}
			rep, err := probe.Run(cmd.Context(), opts)
			if err != nil {
				return couldNotRun{fmt.Errorf("audit could not run: %w", err)}
			}
			if err := write(rep, m.Stdout); err != nil {
				return err
			}
			if rep.Failed() {
				return &checkFailed{} // exit 1; the report says why
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&apiKey, "api-key", "", "API key the API issued to you (or $"+envAuditAPIKey+")")
	f.StringVar(&token, "token", "", "bearer access token the API accepts (or $"+envAuditToken+")")
	f.StringVar(&clientID, "client-id", "", "OAuth client for client credentials at the issuer")
	f.StringVar(&clientSecret, "client-secret", "", "the client's secret (or $"+envAuditClientSecret+")")
	f.StringVar(&issuer, "issuer", "", "authorization server issuer URL (default: URL itself, when it serves metadata)")
	f.StringVar(&spec, "openapi", "", "OpenAPI 3 document (YAML or JSON) to check, and to learn the API from")
	f.StringVar(&caFile, "ca", "", "PEM file of a CA to trust besides the system's (e.g. tiaki-data/ca.pem)")
	f.StringVar(&format, "format", "text", "report format: text, json or junit")
	f.StringSliceVar(&only, "only", nil, "run only checks of these requirement IDs or groups (TLS-01,KEY,HTTP-12)")
	f.Float64Var(&maxRPS, "max-rps", probe.DefaultMaxRPS, "never send more than this many requests per second")
	f.IntVar(&budget, "max-requests", probe.DefaultBudget, "never send more than this many requests in all")
	f.BoolVar(&allowWrites, "allow-writes", false, "allow checks that send POST to the API (the 415 check)")
	return cmd
}

// secretFlag is the flag's value, else the environment variable's.
func (m *Main) secretFlag(flag, env string) tiaki.Secret {
	if flag != "" {
		return tiaki.Secret(flag)
	}
	return tiaki.Secret(m.Getenv(env))
}

func reportWriter(format string) (func(*probe.Report, io.Writer) error, error) {
	switch format {
	case "text":
		return (*probe.Report).WriteText, nil
	case "json":
		return (*probe.Report).WriteJSON, nil
	case "junit":
		return (*probe.Report).WriteJUnit, nil
	}
	return nil, fmt.Errorf("--format %q: want text, json or junit", format)
}

func readAuditFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxAuditFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxAuditFile {
		return nil, fmt.Errorf("%s is larger than %d MiB", path, maxAuditFile>>20)
	}
	return b, nil
}

// readCA returns the system roots plus the file's certificates.
func readCA(path string) (*x509.CertPool, error) {
	pem, err := readAuditFile(path)
	if err != nil {
		return nil, fmt.Errorf("--ca: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca %s holds no PEM certificate", path)
	}
	return pool, nil
}
