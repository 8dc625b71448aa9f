package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/errors")

// TestErrorGolden loads every testdata/errors/*.yaml and compares the error text with the
// .golden file beside it. Each input breaks one rule (or a family of rules) on purpose.
func TestErrorGolden(t *testing.T) {
	for _, name := range []string{
		"TIAKI_TEST_UNSET_PASSWORD", "TIAKI_TEST_UNSET_HOST", "TIAKI_TEST_UNSET_PORT", "TIAKI_TEST_UNSET_TTL",
	} {
		t.Setenv(name, "") // restores the variable when the test ends
		os.Unsetenv(name)
	}
	inputs, err := filepath.Glob(filepath.Join("testdata", "errors", "*.yaml"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range inputs {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".yaml"), func(t *testing.T) {
			_, err := Load(in)
			if err == nil {
				t.Fatalf("Load(%s) succeeded; every input under testdata/errors must fail", in)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(in, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("Load(%s) errors differ from %s (-want +got):\n%s", in, golden, diff)
			}
		})
	}
}
