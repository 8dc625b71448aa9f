package standard

import (
	"fmt"
	"slices"
	"strings"
)

// Part is the guideline document a requirement comes from.
type Part byte

// The three parts of the NZ API guidelines 2022.
const (
	PartA Part = 'A' // API concepts and management
	PartB Part = 'B' // API security
	PartC Part = 'C' // API development
)

// String returns "A", "B" or "C".
func (p Part) String() string { return string(p) }

// Strength is the normative word a requirement's text uses, ordered from weakest to strongest
// so that the strongest of several requirements is their maximum.
type Strength int

// Strengths, as the catalogue's §0.1 defines them. Required is a "Required" label, normatively
// the same as Must.
const (
	Info Strength = iota
	May
	NotRecommended
	Recommended
	ShouldNot
	Should
	Required
	MustNot
	Must
)

var strengthNames = []string{"INFO", "MAY", "NOT RECOMMENDED", "RECOMMENDED", "SHOULD NOT", "SHOULD", "REQUIRED", "MUST NOT", "MUST"}

// String returns the word as the catalogue writes it ("MUST NOT", "RECOMMENDED").
func (s Strength) String() string {
	if s < 0 || int(s) >= len(strengthNames) {
		return fmt.Sprintf("Strength(%d)", int(s))
	}
	return strengthNames[s]
}

// Mandatory reports whether the strength is MUST, MUST NOT or REQUIRED: a failure of such a
// requirement makes the probe exit non-zero.
func (s Strength) Mandatory() bool { return s >= Required }

// ParseStrength reads the strength a Strength cell starts with. Longer words are tried first so
// "MUST NOT" is not read as "MUST" (the order of the catalogue's own counting script).
func ParseStrength(cell string) (Strength, bool) {
	c := strings.ToUpper(strings.TrimSpace(cell))
	for _, s := range []Strength{MustNot, NotRecommended, ShouldNot, Required, Must, Recommended, Should, May, Info} {
		if strings.HasPrefix(c, s.String()) {
			return s, true
		}
	}
	return 0, false
}

// Requirement is one row of the catalogue.
type Requirement struct {
	ID     string // stable short ID, e.g. "TLS-01"
	Part   Part
	Anchor string // DocRef fragment of the row's first anchor, without the '#'
	// Confirmed is true when the anchor appears in the published 2022 DocRef index (✓ in the
	// catalogue); false when it was inferred (~) and should be checked before it is relied on.
	Confirmed bool
	Strength  Strength
	// StrengthNote is the Strength cell as written, with its qualifiers ("INFO (impl. MUST)").
	StrengthNote string
	Elevated     bool // ⇑E: proposed for elevation to MUST by the NZ API Standard drafting project
	Implied      bool // the obligation is implied by the text rather than stated
	Summary      string
	Components   []string // AS, GW, PORTAL, PROBE, CLIENT, DOC, all
	Section      string   // the catalogue heading the row sits under
}

// DocRef is the link to the requirement's clause on docref.digital.govt.nz.
func (r Requirement) DocRef() string {
	return fmt.Sprintf("https://docref.digital.govt.nz/nz/dia-apis-part%c/2022/en/#%s", strings.ToLower(string(r.Part))[0], r.Anchor)
}

// Lookup returns the requirement with the given ID.
func Lookup(id string) (Requirement, bool) {
	i, ok := index[id]
	if !ok {
		return Requirement{}, false
	}
	return catalogue[i], true
}

// All returns every requirement in catalogue order. The slice is a copy; the requirements
// share their Components slices with the catalogue and must not be modified.
func All() []Requirement { return slices.Clone(catalogue) }

var index = func() map[string]int {
	m := make(map[string]int, len(catalogue))
	for i, r := range catalogue {
		m[r.ID] = i
	}
	return m
}()
