package standard

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The committed catalogue_gen.go must be exactly what the generator makes of the markdown.
func TestGeneratedCatalogueMatchesMarkdown(t *testing.T) {
	t.Parallel()
	md, err := os.ReadFile("../../docs/nz-api-security.md")
	if err != nil {
		t.Fatal(err)
	}
	reqs, err := Parse(bytes.NewReader(md))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(reqs, All()); diff != "" {
		t.Fatalf("catalogue_gen.go is stale; run go generate ./internal/standard (-markdown +generated):\n%s", diff)
	}
	src, err := GoSource(reqs)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("catalogue_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(src, committed) {
		t.Fatal("catalogue_gen.go differs from the generator's output; run go generate ./internal/standard")
	}
}

// The counts in the catalogue's own §0.2 summary.
func TestCountsMatchTheCataloguesSummary(t *testing.T) {
	t.Parallel()
	counts := map[Strength]int{}
	mandatory, elevated, anyConfirmed := 0, 0, 0
	for _, r := range All() {
		counts[r.Strength]++
		if r.Strength.Mandatory() {
			mandatory++
		}
		if r.Elevated {
			elevated++
		}
	}
	want := map[Strength]int{Must: 12, MustNot: 1, Required: 17, Should: 27, ShouldNot: 3, Recommended: 49, NotRecommended: 10, May: 11, Info: 65}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("strength counts (-§0.2 +parsed):\n%s", diff)
	}
	if len(All()) != 195 || mandatory != 30 || elevated != 12 {
		t.Errorf("rows %d, mandatory %d, elevated %d; §0.2 says 195, 30, 12", len(All()), mandatory, elevated)
	}
	// §0.2: 86 rows cite a confirmed anchor somewhere in the cell; Confirmed speaks of the
	// first anchor only, so it can be no more than that.
	md, _ := os.ReadFile("../../docs/nz-api-security.md")
	for _, line := range strings.Split(string(md), "\n") {
		if rowPrefix.MatchString(line) && strings.Contains(strings.Split(line, "|")[2], "✓") {
			anyConfirmed++
		}
	}
	confirmed := 0
	for _, r := range All() {
		if r.Confirmed {
			confirmed++
		}
	}
	if anyConfirmed != 86 || confirmed > anyConfirmed || confirmed < 80 {
		t.Errorf("confirmed anchors: %d rows with ✓, %d first anchors confirmed", anyConfirmed, confirmed)
	}
}

func TestLookupAndDocRef(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		id        string
		want      string
		strength  Strength
		confirmed bool
	}{
		{"TLS-01", "https://docref.digital.govt.nz/nz/dia-apis-partb/2022/en/#part11-section1-para1", Must, true},
		{"KEY-08", "https://docref.digital.govt.nz/nz/dia-apis-partc/2022/en/#part4", Required, false},
		{"THREAT-20", "https://docref.digital.govt.nz/nz/dia-apis-parta/2022/en/#part3-section1-para11", Should, true},
		{"TTM-05", "https://docref.digital.govt.nz/nz/dia-apis-partb/2022/en/#part11-section7-para2-tb1-tr4", Info, false},
		{"HTTP-03", "https://docref.digital.govt.nz/nz/dia-apis-partc/2022/en/#part3", MustNot, false},
	} {
		t.Run(c.id, func(t *testing.T) {
			r, ok := Lookup(c.id)
			if !ok {
				t.Fatal("not found")
			}
			if r.DocRef() != c.want || r.Strength != c.strength || r.Confirmed != c.confirmed {
				t.Errorf("got %s %v confirmed=%v", r.DocRef(), r.Strength, r.Confirmed)
			}
		})
	}
	if _, ok := Lookup("TLS-99"); ok {
		t.Error("Lookup found an ID the catalogue lacks")
	}
	r, _ := Lookup("KEY-01")
	if !r.Elevated || r.Section != "API keys (Part B 7.3, Appendix D, Part C Appendix B)" || !cmp.Equal(r.Components, []string{"GW", "PORTAL"}) {
		t.Errorf("KEY-01 = %+v", r)
	}
}

func TestParseStrength(t *testing.T) {
	t.Parallel()
	for cell, want := range map[string]Strength{
		"MUST":                            Must,
		"MUST NOT":                        MustNot,
		"SHOULD NOT (\"should never\")":   ShouldNot,
		"NOT RECOMMENDED (conditional)":   NotRecommended,
		"REQUIRED (section label) / MUST": Required,
		"INFO (impl. MUST)":               Info,
		"RECOMMENDED ⇑E":                  Recommended,
		"MAY (listed)":                    May,
	} {
		if got, ok := ParseStrength(cell); !ok || got != want {
			t.Errorf("ParseStrength(%q) = %v, %v; want %v", cell, got, ok, want)
		}
	}
	if _, ok := ParseStrength("OPTIONAL"); ok {
		t.Error("an unknown strength word was accepted")
	}
	if !Must.Mandatory() || !Required.Mandatory() || !MustNot.Mandatory() || Should.Mandatory() || Strength(42).String() != "Strength(42)" {
		t.Error("Mandatory or String wrong")
	}
}

func TestParseRejectsMalformedRows(t *testing.T) {
	t.Parallel()
	const ok = "| TLS-01 | B:part11-section1-para1 ✓ | MUST | All of it. | GW | test | P |\n"
	for name, md := range map[string]string{
		"too few cells":  "| TLS-01 | B:part11 | MUST | x | GW | P |\n",
		"bad anchor":     "| TLS-01 | part11 | MUST | x | GW | t | P |\n",
		"bad strength":   "| TLS-01 | B:part11 | OPTIONAL | x | GW | t | P |\n",
		"duplicate":      ok + ok,
		"no rows at all": "# nothing\n",
	} {
		if _, err := Parse(strings.NewReader(md)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	reqs, err := Parse(strings.NewReader("### 2.10 Communications security / TLS (Part B 11.1)\n\n" + ok))
	if err != nil || len(reqs) != 1 || reqs[0].Section != "Communications security / TLS (Part B 11.1)" || reqs[0].Summary != "All of it." {
		t.Errorf("Parse = %+v, %v", reqs, err)
	}
}

func TestSummaryIsOneSentence(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"One. Two.":                        "One.",
		"Use **TLS**, e.g. 1.3. Then more": "Use TLS, e.g. 1.3.",
		"No full stop":                     "No full stop",
		"Names `X-` headers. More.":        "Names X- headers.",
	} {
		if got := summary(in); got != want {
			t.Errorf("summary(%q) = %q, want %q", in, got, want)
		}
	}
}
