// Command gen writes catalogue_gen.go, the catalogue of package standard as Go data, from the
// catalogue markdown. Run it through go generate in internal/standard:
//
//	go run ./gen -in nz-api-security.md -out catalogue_gen.go
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/tiaki-nz/tiaki/internal/standard"
)

func main() {
	in := flag.String("in", "nz-api-security.md", "catalogue markdown")
	out := flag.String("out", "catalogue_gen.go", "Go file to write")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	reqs, err := standard.Parse(f)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	src, err := standard.GoSource(reqs)
	if err != nil {
		return err
	}
	return os.WriteFile(out, src, 0o644)
}
