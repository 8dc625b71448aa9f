package main

import (
	"context"
	"fmt"

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
	mk, src, err := keys.FindMasterKey(dataDir, m.Getenv)
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
	if err := bindMasterKey(ctx, st, mk, src); err != nil {
		_ = st.Close()
		return nil, err
	}
	return &cliData{cfg: cfg, dataDir: dataDir, master: mk, store: st, hasher: keys.NewHasher(mk)}, nil
}

func (d *cliData) close() { _ = d.store.Close() }

// bindMasterKey makes sure the master key is the one the store's material was made under, and
// saves a key generated for an empty store (keys.FindMasterKey). Without it, a command run
// where the key is missing (a second machine on a shared PostgreSQL) would make a new key and
// print secrets that never work. serve and every data command call it before writing.
func bindMasterKey(ctx context.Context, st tiaki.Store, mk *keys.MasterKey, src keys.MasterKeySource) error {
	var held []string
	if src.New {
		// Client secrets, API keys and passwords cannot tell which key made them; any of
		// them means the store was in use under some master key.
		clients, err := st.Clients(ctx)
		if err != nil {
			return fmt.Errorf("checking the store for a master key: %w", err)
		}
		apiKeys, err := st.APIKeys(ctx, tiaki.APIKeyFilter{})
		if err != nil {
			return fmt.Errorf("checking the store for a master key: %w", err)
		}
		users, err := st.Users(ctx)
		if err != nil {
			return fmt.Errorf("checking the store for a master key: %w", err)
		}
		for _, h := range []struct {
			n    int
			what string
		}{{len(clients), "clients"}, {len(apiKeys), "API keys"}, {len(users), "users"}} {
			if h.n > 0 {
				held = append(held, fmt.Sprintf("%d %s", h.n, h.what))
			}
		}
	}
	if err := keys.CheckMasterKey(ctx, st, mk, src, held); err != nil {
		return err
	}
	return keys.SaveMasterKey(mk, src)
}
