package keys

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// sameKey reports whether two master keys are equal, judged by what they derive.
func sameKey(a, b *MasterKey) bool {
	return bytes.Equal(a.Derive("test", 32), b.Derive("test", 32))
}

func TestLoadMasterKeyFromEnv(t *testing.T) {
	t.Parallel()
	raw := bytes.Repeat([]byte{0xfb, 0xef, 0x07}, 11)[:MasterKeySize] // has + and / in std base64
	want, err := NewMasterKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		value string
	}{
		{"std base64", base64.StdEncoding.EncodeToString(raw)},
		{"std base64 unpadded", base64.RawStdEncoding.EncodeToString(raw)},
		{"url base64", base64.URLEncoding.EncodeToString(raw)},
		{"url base64 unpadded", base64.RawURLEncoding.EncodeToString(raw)},
		{"hex", hex.EncodeToString(raw)},
		{"hex upper case", strings.ToUpper(hex.EncodeToString(raw))},
		{"surrounding whitespace", "  " + base64.StdEncoding.EncodeToString(raw) + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			mk, err := LoadMasterKey(dir, envOf(map[string]string{EnvMasterKey: tt.value}))
			if err != nil {
				t.Fatal(err)
			}
			if !sameKey(mk, want) {
				t.Error("decoded a different key")
			}
			if _, err := os.Stat(filepath.Join(dir, MasterKeyFile)); !os.IsNotExist(err) {
				t.Errorf("key file created although %s is set (stat: %v)", EnvMasterKey, err)
			}
		})
	}
}

func TestLoadMasterKeyFromEnvErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, value, wantErr string
	}{
		{"too short", base64.StdEncoding.EncodeToString([]byte("sixteen byte key")), "decodes to 16 bytes"},
		{"too long", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("k"), 48)), "decodes to 48 bytes"},
		{"hex too short", strings.Repeat("ab", 31), "64 hex characters"},
		{"garbage", "this is not a key at all!!", "not base64 or hex"},
		{"huge", strings.Repeat("A", 5000), "too long"},
		{"all zeros", base64.StdEncoding.EncodeToString(make([]byte, 32)), "all zeros"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadMasterKey(t.TempDir(), envOf(map[string]string{EnvMasterKey: tt.value}))
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not say %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), tt.value[:16]) {
				t.Errorf("error %q echoes the value", err)
			}
		})
	}
}

func TestLoadMasterKeyCreatesFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data", "nested")
	mk, err := LoadMasterKey(dir, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, MasterKeyFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %04o, want 0600", perm)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(text)))
	if err != nil || len(raw) != MasterKeySize {
		t.Fatalf("key file holds %d bytes (err %v), want %d in base64", len(raw), err, MasterKeySize)
	}
	fromFile, _ := NewMasterKey(raw)
	if !sameKey(mk, fromFile) {
		t.Error("returned key differs from the file")
	}

	again, err := LoadMasterKey(dir, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !sameKey(mk, again) {
		t.Error("second start loaded a different key")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data directory holds %d entries, want only %s (temporary files left?)", len(entries), MasterKeyFile)
	}
}

func TestLoadMasterKeyConcurrentFirstStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n = 8
	keys := make([]*MasterKey, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], errs[i] = LoadMasterKey(dir, envOf(nil)) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("start %d: %v", i, errs[i])
		}
		if !sameKey(keys[0], keys[i]) {
			t.Errorf("start %d got a different key from start 0", i)
		}
	}
}

func TestLoadMasterKeyFileErrors(t *testing.T) {
	t.Parallel()
	good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)) + "\n"
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr string
	}{
		{"readable by group", good, 0o640, "chmod 600"},
		{"readable by others", good, 0o604, "chmod 600"},
		{"corrupt", "not a key\n", 0o600, "corrupt"},
		{"truncated", good[:20], 0o600, "corrupt"},
		{"empty", "", 0o600, "corrupt"},
		{"oversized", strings.Repeat("A", 4096), 0o600, "corrupt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, MasterKeyFile)
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil { // umask may have cleared bits
				t.Fatal(err)
			}
			_, err := LoadMasterKey(dir, envOf(nil))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
			}
			if len(tt.content) > 8 && strings.Contains(err.Error(), strings.TrimSpace(tt.content)) {
				t.Errorf("error %q echoes the file's content", err)
			}
			after, _ := os.ReadFile(path)
			if string(after) != tt.content {
				t.Error("the key file was changed")
			}
		})
	}

	t.Run("not a regular file", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, MasterKeyFile), 0o700); err != nil {
			t.Fatal(err)
		}
		_, err := LoadMasterKey(dir, envOf(nil))
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("error %v, want one saying the key is not a regular file", err)
		}
	})
	t.Run("no data directory", func(t *testing.T) {
		t.Parallel()
		_, err := LoadMasterKey("", envOf(nil))
		if err == nil || !strings.Contains(err.Error(), EnvMasterKey) {
			t.Fatalf("error %v, want one naming %s", err, EnvMasterKey)
		}
	})
}

func TestMasterKeyNeverPrints(t *testing.T) {
	t.Parallel()
	raw := bytes.Repeat([]byte{0xab}, MasterKeySize)
	mk, err := NewMasterKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	h := NewHasher(mk)
	leaks := []string{
		hex.EncodeToString(raw[:8]), base64.StdEncoding.EncodeToString(raw[:9]),
		"171 171 171", "0xab", "ab ab", "[171",
	}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		out = append(out, fmt.Sprintf(verb, mk), fmt.Sprintf(verb, *mk), fmt.Sprintf(verb, h),
			fmt.Sprintf(verb, []any{mk}), fmt.Sprintf(verb, struct{ K *MasterKey }{mk}))
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "mk", mk, "mkv", *mk, "hasher", h)
	out = append(out, logs.String())
	j, _ := json.Marshal(mk)
	out = append(out, string(j))
	for _, s := range out {
		for _, leak := range leaks {
			if strings.Contains(s, leak) {
				t.Errorf("output %q contains key material %q", s, leak)
			}
		}
	}
	if got := fmt.Sprint(mk); got != "[redacted]" {
		t.Errorf("fmt.Sprint(mk) = %q, want [redacted]", got)
	}
}
