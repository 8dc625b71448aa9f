package main

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"github.com/tiaki-nz/tiaki/internal/certs"
	"github.com/tiaki-nz/tiaki/internal/config"
)

// The files a configuration names are read by the functions below, and by nothing else, so that
// `tiaki config check` and `tiaki serve` (at start and on every reload) judge them alike: a file
// that is missing or does not parse is reported by check as FILE:LINE: KEY: message, and serve
// stops with that same message. Secrets written "file:PATH" are read when the configuration
// loads (internal/config), so check, serve and reload read them alike too.

// serverCert reads the listeners' certificate and key: tls.cert and tls.key, or the development
// CA's pair when tls.cert is empty (pki may then be nil, for config check, and nothing is read).
func serverCert(cfg *config.Config, pki *certs.DevPKI, logger *slog.Logger) (*certs.CertReloader, error) {
	certFile, keyFile := cfg.TLS.Cert, cfg.TLS.Key
	if certFile == "" {
		if pki == nil {
			return nil, nil
		}
		certFile, keyFile = pki.CertFile, pki.KeyFile
	}
	r, err := certs.NewCertReloader(certFile, keyFile, certs.WithLogger(logger))
	if err != nil {
		return nil, cfg.Errorf("tls.cert", "%v", err)
	}
	return r, nil
}

// clientAuth reads tls.client_ca and tls.crl; nil when no client CA is configured.
func clientAuth(cfg *config.Config, logger *slog.Logger) (*certs.ClientAuth, error) {
	if cfg.TLS.ClientCA == "" {
		return nil, nil
	}
	a, err := certs.NewClientAuth(cfg.TLS.ClientCA, cfg.TLS.CRL, certs.WithLogger(logger))
	if err != nil {
		return nil, cfg.Errorf("tls.client_ca", "%v", err)
	}
	return a, nil
}

// checkFiles reads and parses every file cfg names as serve would, and returns every problem as
// config.Errors sorted by line, or nil: the listeners' certificate and key, the client CA and
// CRL, and each API's upstream TLS files, OpenAPI description (with the request validation
// serve compiles from it) and trusted issuers' CA files. Nothing it opens stays open.
func checkFiles(cfg *config.Config) error {
	logger := slog.New(slog.DiscardHandler)
	var errs config.Errors
	add := func(err error) {
		var ce *config.Error
		if errors.As(err, &ce) {
			errs = append(errs, ce)
			return
		}
		errs = append(errs, &config.Error{File: cfg.Path, Msg: err.Error()})
	}
	if r, err := serverCert(cfg, nil, logger); err != nil {
		add(err)
	} else if r != nil {
		_ = r.Close()
	}
	if a, err := clientAuth(cfg, logger); err != nil {
		add(err)
	} else if a != nil {
		_ = a.Close()
	}
	n := &node{logger: logger}
	issuerClients := map[string]*http.Client{}
	for i, api := range cfg.APIs {
		key := fmt.Sprintf("apis[%d]", i) // as buildRoutes names it
		rs := &routeSet{}
		if api.Upstream != builtinEcho {
			if _, err := upstreamTLS(logger, cfg, key, api, rs); err != nil {
				add(err)
			}
		}
		rs.close()
		if _, err := buildValidation(n, cfg, key, api); err != nil {
			add(err)
		}
		// trusted_issuers[].ca, read when an API names the issuer, as serve reads it.
		if o := api.Auth.OAuth2; o != nil {
			if _, err := tokenIssuers(n, cfg, key, o.Issuers, issuerClients); err != nil {
				add(err)
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	slices.SortStableFunc(errs, func(a, b *config.Error) int { return cmp.Compare(a.Line, b.Line) })
	return errs
}
