package tiaki_test

import (
	"bytes"
	"encoding/json"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The house rules of ../shared/STYLE.md and ARCHITECTURE.md, as tests: every package says what
// it is for, and imports flow in the directions the architecture draws.

const module = "github.com/tiaki-nz/tiaki"

type goPackage struct {
	ImportPath string
	Dir        string
	Name       string
	GoFiles    []string
	Imports    []string
	Deps       []string
	Standard   bool
}

func listPackages(t *testing.T) []goPackage {
	t.Helper()
	touchTree(t)
	out, err := exec.Command("go", "list", "-e", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p goPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return pkgs
}

func TestEveryPackageHasADocComment(t *testing.T) {
	for _, p := range listPackages(t) {
		found := false
		for _, f := range p.GoFiles {
			file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if file.Doc != nil && strings.TrimSpace(file.Doc.Text()) != "" {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("package %s has no package doc comment", p.ImportPath)
		}
	}
}

// touchTree opens every directory and Go file of the repository, so that go test's cache, which
// only sees files the test process itself opens, reruns these tests when the tree changes.
func touchTree(t *testing.T) {
	t.Helper()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "testdata" || d.Name() == "tiaki-data") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") {
			_, err = os.Stat(path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// rel turns an import path of this module into its path inside the repository ("" for the root).
func rel(path string) (string, bool) {
	if path == module {
		return "", true
	}
	r, ok := strings.CutPrefix(path, module+"/")
	return r, ok
}

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

var frontEnds = []string{"internal/authserver", "internal/gateway", "internal/portal", "internal/adminapi", "internal/probe"}

func TestImportDirections(t *testing.T) {
	pkgs := listPackages(t)
	std := map[string]bool{}
	out, err := exec.Command("go", "list", "std").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range strings.Fields(string(out)) {
		std[s] = true
	}
	for _, p := range pkgs {
		self, _ := rel(p.ImportPath)
		for _, imp := range p.Imports {
			if strings.Contains(imp, "luikyv/go-oidc") && !under(self, "internal/authserver") {
				t.Errorf("only internal/authserver imports the OIDC engine: %s imports %s", p.ImportPath, imp)
			}
		}
		for _, dep := range p.Deps {
			d, ours := rel(dep)
			switch {
			case (self == "" || self == "internal/oauth") && !std[dep] && !strings.HasPrefix(dep, "vendor/") && !strings.HasPrefix(dep, "internal/"):
				t.Errorf("%s must import only the standard library, imports %s", p.ImportPath, dep)
			case !ours:
				continue
			case under(self, "cmd/tiaki"):
				continue // the wiring may import anything
			case under(d, "internal/config") || (under(d, "internal/store") && !under(self, "internal/store")):
				t.Errorf("only cmd/tiaki imports config and store packages: %s imports %s", p.ImportPath, dep)
			case under(self, "internal/policy") && under(d, "internal/gateway"):
				t.Errorf("policies never import the gateway: %s imports %s", p.ImportPath, dep)
			case under(self, "internal/probe") && d != "" && !under(d, "internal/oauth") && !under(d, "internal/standard") && !under(d, "internal/yamldoc") && !under(d, "internal/probe"):
				t.Errorf("the probe judges from outside and imports only oauth, standard and yamldoc: %s imports %s", p.ImportPath, dep)
			case under(self, "internal/yamldoc") && !under(d, "internal/yamldoc"):
				t.Errorf("yamldoc, the one YAML reader, imports only the standard library and the YAML parser: %s imports %s", p.ImportPath, dep)
			}
			for _, a := range frontEnds {
				for _, b := range frontEnds {
					if a != b && under(self, a) && under(d, b) {
						t.Errorf("front ends never import each other: %s imports %s", p.ImportPath, dep)
					}
				}
			}
		}
	}
}
