package main

import (
	"context"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/config"
	"github.com/tiaki-nz/tiaki/internal/keys"
)

// cliData is what the data-touching subcommands open: the configuration, the store and the
// keys of the data directory a server uses (--config and --data), so the CLI and a running
// server work on one store.
type cliData struct {
	cfg     *config.Config
	dataDir string
	master  *keys.MasterKey
	store   tiaki.Store
	hasher  *keys.Hasher
}

// openData opens the master key, the configuration and the store as serve does.
func (m *Main) openData(ctx context.Context, g *globals) (*cliData, error) {
	dataDir, err := g.ensureDataDir()
	if err != nil {
		return nil, err
	}
	mk, err := keys.LoadMasterKey(dataDir, m.Getenv)
	if err != nil {
		return nil, err
	}
	cfg, _, err := g.loadConfig(func() (config.Demo, error) { return demoSecrets(mk) })
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, cfg, dataDir)
	if err != nil {
		return nil, err
	}
	return &cliData{cfg: cfg, dataDir: dataDir, master: mk, store: st, hasher: keys.NewHasher(mk)}, nil
}

func (d *cliData) close() { _ = d.store.Close() }
