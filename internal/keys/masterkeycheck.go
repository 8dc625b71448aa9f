package keys

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tiaki-nz/tiaki"
)

// Errors of CheckMasterKey.
var (
	// ErrNoMasterKey: no master key was found, and the store already holds material made under
	// one, so a new key must not be created.
	ErrNoMasterKey = errors.New("keys: no master key")
	// ErrWrongMasterKey: the store's signing keys were sealed under another master key.
	ErrWrongMasterKey = errors.New("keys: wrong master key")
)

// CheckMasterKey makes sure that mk is the master key the store's material was made under,
// before anything is written with it. The store's sealed signing keys tell: one that does not
// open under mk was sealed under another key. A key FindMasterKey has just generated
// (src.New) suits only a store that holds nothing: no signing key and nothing in held, which
// names what else the caller found in the store that depends on the master key (client
// secrets and API keys are keyed hashes of it, so they cannot tell which key made them).
func CheckMasterKey(ctx context.Context, st tiaki.SigningKeyStore, mk *MasterKey, src MasterKeySource, held []string) error {
	recs, err := st.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: loading signing keys: %w", err)
	}
	if src.New {
		if len(recs) > 0 {
			held = append([]string{"signing keys"}, held...)
		}
		if len(held) == 0 {
			return nil
		}
		return fmt.Errorf("%w: %s is not set and %s does not exist, but the store already holds %s made under one; "+
			"set %s to that key, or restore %s (Tiaki creates a master key only for an empty store: nothing in this one would work under a new key)",
			ErrNoMasterKey, EnvMasterKey, src.Path, strings.Join(held, ", "), EnvMasterKey, src.Path)
	}
	for i := range recs {
		if !SupportedAlgorithm(recs[i].Algorithm) {
			continue // perhaps a newer Tiaki's; Manager skips it too
		}
		plain, err := mk.Open(recs[i].SealedPrivate, []byte(recs[i].ID))
		clear(plain)
		if errors.Is(err, ErrOpen) {
			return fmt.Errorf("%w: the master key from %s does not open the store's signing key %s; "+
				"give every node and the CLI the same master key (%s, or the file %s)",
				ErrWrongMasterKey, src, recs[i].ID, EnvMasterKey, MasterKeyFile)
		}
	}
	return nil
}
