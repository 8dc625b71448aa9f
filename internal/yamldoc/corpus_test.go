package yamldoc

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCorpus reads every testdata/corpus/*.yaml (flow and block collections, plain scalars with
// colons, quoted and multi-line scalars, anchors, merge keys, YAML 1.1 forms that YAML 1.2 reads
// as strings) and compares the value with the .json beside it, written by a reference YAML 1.2
// parser (testdata/gen-corpus.mjs says how).
func TestCorpus(t *testing.T) {
	t.Parallel()
	inputs, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.yaml"))
	if err != nil || len(inputs) < 20 {
		t.Fatalf("corpus too small: %d files, %v", len(inputs), err)
	}
	for _, in := range inputs {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".yaml"), func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := os.ReadFile(strings.TrimSuffix(in, ".yaml") + ".json")
			if err != nil {
				t.Fatalf("%v (run testdata/gen-corpus.mjs)", err)
			}
			got, err := JSON(src, Limits{MaxAliasNodes: 10_000})
			if err != nil {
				t.Fatalf("JSON: %v", err)
			}
			var want, have any
			if err := json.Unmarshal(ref, &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(got, &have); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, have); diff != "" {
				t.Errorf("%s read differently from the reference parser (-reference +yamldoc):\n%s", in, diff)
			}
		})
	}
}
