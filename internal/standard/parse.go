package standard

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode"
)

// Parse reads the catalogue markdown (nz-api-security.md) and returns its requirement rows in
// order. Rows are the table lines whose first cell is an ID ("| TLS-01 |"); each must have the
// seven columns of §0.1 and a known strength. The generator and the drift test both use it.
func Parse(r io.Reader) ([]Requirement, error) {
	var (
		out     []Requirement
		section string
		seen    = map[string]bool{}
		n       int
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		n++
		line := sc.Text()
		if h, ok := strings.CutPrefix(line, "### "); ok {
			section = sectionTitle(h)
			continue
		}
		if !rowPrefix.MatchString(line) {
			continue
		}
		req, err := parseRow(line, section)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if seen[req.ID] {
			return nil, fmt.Errorf("line %d: duplicate ID %s", n, req.ID)
		}
		seen[req.ID] = true
		out = append(out, req)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no requirement rows found")
	}
	return out, nil
}

var (
	rowPrefix = regexp.MustCompile(`^\| [A-Z]+-\d+ \|`)
	// An anchor is "B:part11-section1-para1 ✓" or "B:~part1-section1": part letter, '~' when
	// inferred, then the fragment.
	anchorRE = regexp.MustCompile(`^([ABC]):(~?)([A-Za-z0-9-]+)`)
)

func parseRow(line, section string) (Requirement, error) {
	cells := strings.Split(line, "|")
	// "| a | b | … | g |" splits into an empty first and last field around the seven cells.
	if len(cells) != 9 {
		return Requirement{}, fmt.Errorf("want 7 cells, found %d", len(cells)-2)
	}
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	id, anchorCell, strengthCell, text, comp := cells[1], cells[2], cells[3], cells[4], cells[5]
	m := anchorRE.FindStringSubmatch(anchorCell)
	if m == nil {
		return Requirement{}, fmt.Errorf("%s: anchor %q is not PART:fragment", id, anchorCell)
	}
	// The ✓ that confirms the first anchor follows it directly, before any second anchor
	// (";" or ",") or parenthetical note.
	rest := anchorCell[len(m[0]):]
	if i := strings.IndexAny(rest, ";,("); i >= 0 {
		rest = rest[:i]
	}
	s, ok := ParseStrength(strengthCell)
	if !ok {
		return Requirement{}, fmt.Errorf("%s: unknown strength %q", id, strengthCell)
	}
	var comps []string
	for c := range strings.SplitSeq(comp, ",") {
		if c = strings.TrimSpace(c); c != "" && c != "—" {
			comps = append(comps, c)
		}
	}
	return Requirement{
		ID:           id,
		Part:         Part(m[1][0]),
		Anchor:       m[3],
		Confirmed:    m[2] == "" && strings.Contains(rest, "✓"),
		Strength:     s,
		StrengthNote: strengthCell,
		Elevated:     strings.Contains(strengthCell, "⇑E"),
		Implied:      strings.Contains(strengthCell, "impl."),
		Summary:      summary(text),
		Components:   comps,
		Section:      section,
	}, nil
}

// sectionTitle drops the number from "2.10 Communications security / TLS (Part B 11.1, …)".
func sectionTitle(h string) string {
	if i := strings.IndexByte(h, ' '); i > 0 && strings.IndexFunc(h[:i], func(r rune) bool { return !unicode.IsDigit(r) && r != '.' }) < 0 {
		h = h[i+1:]
	}
	return strings.TrimSpace(h)
}

// summary is the first sentence of a Requirement cell, without markdown emphasis or code marks.
func summary(text string) string {
	text = strings.NewReplacer("**", "", "`", "").Replace(text)
	for i := 0; i < len(text); i++ {
		if text[i] != '.' || i+2 >= len(text) || text[i+1] != ' ' {
			continue
		}
		next := rune(text[i+2])
		if !unicode.IsUpper(next) {
			continue
		}
		if abbrev(text[:i]) {
			continue
		}
		return text[:i+1]
	}
	return text
}

// abbrev reports whether the text before a full stop ends with an abbreviation ("e.g", "i.e",
// "etc", "impl") rather than a sentence.
func abbrev(before string) bool {
	for _, a := range []string{"e.g", "i.e", "etc", "impl", "vs", "cf"} {
		if strings.HasSuffix(before, a) {
			return true
		}
	}
	return false
}
