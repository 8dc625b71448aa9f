package probe

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki/internal/standard"
)

// Every check cites IDs the catalogue has, and is complete enough to document.
func TestChecksCiteCatalogueIDs(t *testing.T) {
	t.Parallel()
	names := map[string]bool{}
	for _, c := range Checks() {
		if names[c.Name] {
			t.Errorf("check name %q used twice", c.Name)
		}
		names[c.Name] = true
		if c.Title == "" || c.run == nil || len(c.IDs) == 0 || !slices.Contains(Areas, c.Area) {
			t.Errorf("check %q is incomplete: %+v", c.Name, c)
		}
		if c.Area != AreaOpenAPI && c.Sends == "" {
			t.Errorf("check %q does not say what it sends", c.Name)
		}
		for _, id := range c.IDs {
			if _, ok := standard.Lookup(id); !ok {
				t.Errorf("check %q cites %s, which the catalogue lacks", c.Name, id)
			}
		}
	}
}

var idPattern = regexp.MustCompile(`\b[A-Z]+-\d{2}\b`)

// docs/audit.md lists every check with its area and requirement IDs, exactly as the code has
// them, and mentions no ID the catalogue lacks.
func TestDocsAgreeWithChecksAndCatalogue(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/audit.md")
	if err != nil {
		t.Fatal(err)
	}
	// Rows of the checks table: | `name` | Area | ID, ID | what it sends |
	row := regexp.MustCompile("(?m)^\\| `([a-z0-9-]+)` \\| ([^|]+) \\| ([^|]+) \\|")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = strings.TrimSpace(m[2]) + " | " + strings.Join(idPattern.FindAllString(m[3], -1), ", ")
	}
	code := map[string]string{}
	for _, c := range Checks() {
		code[c.Name] = string(c.Area) + " | " + strings.Join(c.IDs, ", ")
	}
	if diff := cmp.Diff(code, documented); diff != "" {
		t.Errorf("docs/audit.md's checks table disagrees with Checks() (-code +docs):\n%s", diff)
	}
	for _, id := range idPattern.FindAllString(string(doc), -1) {
		if _, ok := standard.Lookup(id); !ok && !strings.HasPrefix(id, "RFC-") {
			t.Errorf("docs/audit.md cites %s, which the catalogue lacks", id)
		}
	}
}
