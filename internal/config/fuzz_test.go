package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadBytes feeds arbitrary bytes to Parse: it must never panic or hang, and must return
// either a Config that passes Validate again or Errors whose every entry names the file.
func FuzzLoadBytes(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "errors", "*.yaml"))
	seeds = append(seeds, examplePath, "default.yaml")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte("users: [{username: u, password: file:/dev/zero}]"))
	f.Add([]byte("issuer: ${UNSET_FUZZ_VAR}\x00"))
	dir := f.TempDir()
	name := filepath.Join(dir, "fuzz.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(name, data)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %v (%T) is not a non-empty Errors", err, err)
			}
			for _, e := range es {
				if e.Msg == errDecoderPanic {
					t.Fatalf("the decoder panicked on this input")
				}
				if e.File != name || e.Msg == "" {
					t.Fatalf("error %+v does not name the file or says nothing", e)
				}
			}
			return
		}
		if c == nil {
			t.Fatal("nil Config and nil error")
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a Config that Validate refuses: %v", err)
		}
	})
}
