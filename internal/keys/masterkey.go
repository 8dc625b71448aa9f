package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/crypto/hkdf"
)

// EnvMasterKey names the environment variable that supplies the master key. When set it wins
// over the key file, so several nodes (or a container platform's secret store) can share one key.
const EnvMasterKey = "TIAKI_MASTER_KEY"

// MasterKeyFile is the file name of the master key inside the data directory.
const MasterKeyFile = "master.key"

// MasterKeySize is the length of a master key in bytes (256 bits).
const MasterKeySize = 32

// maxKeyText bounds what is read from the key file or the environment: a base64 or hex key with
// some whitespace is far shorter, and anything larger is not a key.
const maxKeyText = 1024

const redacted = "[redacted]"

// MasterKey is the key-encryption key (KEK): it seals signing keys at rest and derives the other
// server secrets (the secret-hash key, demo secrets). Losing it makes every sealed key
// unreadable; leaking it exposes them, so it never prints: String, GoString, Format and
// LogValue all write a placeholder. Those four have value receivers so that printing a
// MasterKey value, not only a pointer, is redacted too.
type MasterKey struct {
	key  []byte
	aead cipher.AEAD // AES-256-GCM under HKDF(key, sealInfo); see seal.go
}

// NewMasterKey makes a master key from 32 raw bytes, for callers that fetch the key elsewhere
// (a KMS, a test). It copies raw.
func NewMasterKey(raw []byte) (*MasterKey, error) {
	if len(raw) != MasterKeySize {
		return nil, fmt.Errorf("keys: a master key is %d bytes, not %d", MasterKeySize, len(raw))
	}
	if allZero(raw) {
		return nil, errors.New("keys: the master key is all zeros; generate one with `openssl rand -base64 32`")
	}
	mk := &MasterKey{key: append([]byte(nil), raw...)}
	block, err := aes.NewCipher(mk.derive(sealInfo, 32))
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if mk.aead, err = cipher.NewGCM(block); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return mk, nil
}

// MasterKeySource says where a master key came from, so that a message can tell an operator
// what to set or restore.
type MasterKeySource struct {
	// Env is set when the key came from TIAKI_MASTER_KEY.
	Env bool
	// Path is the key file: the one read, or, with New, the one SaveMasterKey writes.
	Path string
	// New is set when FindMasterKey found no key and generated one that is not saved yet.
	New bool
}

// String names the source: the environment variable or the file.
func (s MasterKeySource) String() string {
	if s.Env {
		return EnvMasterKey
	}
	return s.Path
}

// FindMasterKey returns the master key from the environment variable TIAKI_MASTER_KEY (32 bytes
// as base64, standard or URL alphabet, padded or not, or as 64 hex characters) or else from
// <dataDir>/master.key. When neither holds a key it generates one and returns it with src.New
// set, without writing it: the caller first makes sure that the store holds nothing sealed
// under another key (CheckMasterKey), then calls SaveMasterKey. A shared store (PostgreSQL)
// reached from a machine without the key would otherwise get a fresh key whose secrets and API
// keys never work anywhere else. getenv is os.Getenv outside tests.
//
// A key file that group or others may read is refused, as ssh refuses such private keys: the
// master key protects every signing key. A corrupt key file is an error and is never
// overwritten, since replacing it would orphan every key sealed under it.
func FindMasterKey(dataDir string, getenv func(string) string) (*MasterKey, MasterKeySource, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if v := getenv(EnvMasterKey); v != "" {
		src := MasterKeySource{Env: true}
		raw, err := parseMasterKey(v)
		if err != nil {
			// The value is never echoed: a near-miss key is still mostly a key.
			return nil, src, fmt.Errorf("keys: %s: %w", EnvMasterKey, err)
		}
		mk, err := NewMasterKey(raw)
		return mk, src, err
	}
	if dataDir == "" {
		return nil, MasterKeySource{}, fmt.Errorf("keys: no master key: set %s or configure a data directory", EnvMasterKey)
	}
	src := MasterKeySource{Path: filepath.Join(dataDir, MasterKeyFile)}
	raw, err := readMasterKeyFile(src.Path)
	if errors.Is(err, fs.ErrNotExist) {
		src.New = true
		raw = make([]byte, MasterKeySize)
		if _, err = rand.Read(raw); err != nil {
			err = fmt.Errorf("keys: generating master key: %w", err)
		}
	}
	if err != nil {
		return nil, src, err
	}
	mk, err := NewMasterKey(raw)
	return mk, src, err
}

// SaveMasterKey writes a key that FindMasterKey generated (src.New) to src.Path; for any other
// source it does nothing. If another process created the file meanwhile with another key, it
// fails rather than replace that key: whatever that process sealed depends on it.
func SaveMasterKey(mk *MasterKey, src MasterKeySource) error {
	if !src.New {
		return nil
	}
	raw, err := createMasterKeyFile(filepath.Dir(src.Path), src.Path, mk.key)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(raw, mk.key) != 1 {
		return fmt.Errorf("keys: another process created %s at the same moment; run the command again to use that key", src.Path)
	}
	return nil
}

// LoadMasterKey is FindMasterKey followed by saving a generated key, for callers with no store
// to check (tests, tools over an empty data directory). When two processes start at once, the
// loser gets the winner's key.
func LoadMasterKey(dataDir string, getenv func(string) string) (*MasterKey, error) {
	mk, src, err := FindMasterKey(dataDir, getenv)
	if err != nil || !src.New {
		return mk, err
	}
	raw, err := createMasterKeyFile(dataDir, src.Path, mk.key)
	if err != nil {
		return nil, err
	}
	return NewMasterKey(raw)
}

// parseMasterKey decodes the text forms an operator may write. Its errors never include s.
func parseMasterKey(s string) ([]byte, error) {
	if len(s) > maxKeyText {
		return nil, errors.New("too long to be a master key")
	}
	s = strings.TrimSpace(s)
	// Hex first: 64 hex digits are also valid base64, decoding to 48 bytes.
	if len(s) == 2*MasterKeySize {
		if raw, err := hex.DecodeString(s); err == nil {
			return raw, nil
		}
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		raw, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(raw) != MasterKeySize {
			return nil, fmt.Errorf("decodes to %d bytes; a master key is %d bytes (base64) or %d hex characters",
				len(raw), MasterKeySize, 2*MasterKeySize)
		}
		return raw, nil
	}
	return nil, fmt.Errorf("not base64 or hex; a master key is %d bytes (base64) or %d hex characters",
		MasterKeySize, 2*MasterKeySize)
}

// readMasterKeyFile reads and checks an existing key file. A missing file yields an error that
// matches fs.ErrNotExist.
func readMasterKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("keys: reading master key: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so the checks apply to what is actually read.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keys: reading master key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("keys: master key %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("keys: master key %s has permissions %04o: it must be readable by its owner only (chmod 600 %s)",
			path, perm, path)
	}
	text, err := io.ReadAll(io.LimitReader(f, maxKeyText+1))
	if err != nil {
		return nil, fmt.Errorf("keys: reading master key: %w", err)
	}
	raw, err := parseMasterKey(string(text))
	clear(text)
	if err != nil {
		return nil, fmt.Errorf("keys: master key %s is corrupt (%v); restore it from a backup or set %s (Tiaki never overwrites it: every sealed key depends on it)",
			path, err, EnvMasterKey)
	}
	return raw, nil
}

// createMasterKeyFile writes raw to path and returns the key the file then holds. The key is
// written to a temporary file and then hard-linked to path: the link appears complete or not
// at all (like a rename), and unlike a rename it fails if path exists (O_EXCL semantics). When
// two processes start at once, the loser reads and returns the winner's key instead of
// replacing it.
func createMasterKeyFile(dir, path string, raw []byte) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keys: creating data directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".master.key-*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("keys: creating master key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = io.WriteString(tmp, base64.StdEncoding.EncodeToString(raw)+"\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("keys: writing master key: %w", err)
	}
	switch err := os.Link(tmp.Name(), path); {
	case err == nil:
		syncDir(dir)
		return raw, nil
	case errors.Is(err, fs.ErrExist):
		return readMasterKeyFile(path)
	default:
		return nil, fmt.Errorf("keys: creating master key (the data directory must support hard links, or set %s): %w",
			EnvMasterKey, err)
	}
}

// syncDir makes a new directory entry durable. Failure only weakens durability after a crash,
// and some platforms cannot sync directories, so it is not an error.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// Derive returns n bytes derived from the master key with HKDF-SHA256 (RFC 5869), label as the
// info parameter. Distinct labels give independent keys, so one master key can serve several
// purposes without any of them learning another's key. Labels are fixed strings in code, each
// with a version ("tiaki demo secrets v1"), and never this package's own ("tiaki seal v1",
// "tiaki secret hash v1"). n must be between 1 and 8160 (RFC 5869 §2.3: at
// most 255 hash lengths); Derive panics otherwise, as that is a programming error.
func (mk *MasterKey) Derive(label string, n int) []byte {
	if n < 1 || n > 255*sha256.Size {
		panic(fmt.Sprintf("keys: Derive length %d out of range", n))
	}
	return mk.derive(label, n)
}

func (mk *MasterKey) derive(label string, n int) []byte {
	// No salt: the input is already a uniformly random key (RFC 5869 §3.1).
	out := make([]byte, n)
	if _, err := io.ReadFull(hkdf.New(sha256.New, mk.key, nil, []byte(label)), out); err != nil {
		panic("keys: hkdf: " + err.Error()) // unreachable: n is within the HKDF limit
	}
	return out
}

// String implements fmt.Stringer with a placeholder.
func (MasterKey) String() string { return redacted }

// GoString keeps %#v from printing the key.
func (MasterKey) GoString() string { return redacted }

// Format implements fmt.Formatter so that every verb (%x, %d, %+v ...) prints the placeholder.
func (MasterKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue implements slog.LogValuer.
func (MasterKey) LogValue() slog.Value { return slog.StringValue(redacted) }

func allZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}
