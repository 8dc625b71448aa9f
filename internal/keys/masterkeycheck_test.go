package keys

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFindMasterKeyDefersTheFile: a generated key is written only by SaveMasterKey, and a
// second generated key never replaces the first.
func TestFindMasterKeyDefersTheFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mk, src, err := FindMasterKey(dir, envOf(nil))
	if err != nil || !src.New || src.Path != filepath.Join(dir, MasterKeyFile) {
		t.Fatalf("FindMasterKey on an empty directory: %+v %v", src, err)
	}
	if _, err := os.Stat(src.Path); !os.IsNotExist(err) {
		t.Fatalf("FindMasterKey wrote the key file (stat: %v)", err)
	}
	other, otherSrc, err := FindMasterKey(dir, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveMasterKey(mk, src); err != nil {
		t.Fatal(err)
	}
	if err := SaveMasterKey(other, otherSrc); err == nil {
		t.Error("a second generated key was saved over the first")
	}
	got, gotSrc, err := FindMasterKey(dir, envOf(nil))
	if err != nil || gotSrc.New || !sameKey(got, mk) {
		t.Fatalf("reading the saved key: %+v %v (same key: %v)", gotSrc, err, err == nil && sameKey(got, mk))
	}
}

func TestCheckMasterKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ES256)
	if err := f.node(t).Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	empty := newMemStore()
	fileSrc := MasterKeySource{Path: "/data/master.key"}
	newSrc := MasterKeySource{Path: "/data/master.key", New: true}
	tests := []struct {
		name    string
		store   *memStore
		mk      *MasterKey
		src     MasterKeySource
		held    []string
		wantErr error
		mention []string
	}{
		{"new key, empty store", empty, testMasterKey(t, 9), newSrc, nil, nil, nil},
		{"new key, store holds signing keys", f.store, testMasterKey(t, 9), newSrc, nil, ErrNoMasterKey,
			[]string{EnvMasterKey, "/data/master.key", "signing keys"}},
		{"new key, store holds API keys", empty, testMasterKey(t, 9), newSrc, []string{"3 API keys"}, ErrNoMasterKey,
			[]string{EnvMasterKey, "/data/master.key", "3 API keys"}},
		{"the sealing key", f.store, f.mk, fileSrc, nil, nil, nil},
		{"another key from the environment", f.store, testMasterKey(t, 9), MasterKeySource{Env: true}, nil, ErrWrongMasterKey,
			[]string{"from " + EnvMasterKey}},
		{"another key from the file", f.store, testMasterKey(t, 9), fileSrc, []string{"clients"}, ErrWrongMasterKey,
			[]string{"from /data/master.key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckMasterKey(ctx, tt.store, tt.mk, tt.src, tt.held)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("%q does not mention %q", err, m)
				}
			}
		})
	}
}
