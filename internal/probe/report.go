package probe

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tiaki-nz/tiaki/internal/standard"
)

// byArea returns the findings of one area, in run order.
func (r *Report) byArea(a Area) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Area == a {
			out = append(out, f)
		}
	}
	return out
}

// WriteText writes the human report: a table per area, each finding with its reason and the
// DocRef link of its first requirement, then every cited requirement with its link, then the
// summary and what the exit code will be.
func (r *Report) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "Tiaki audit of %s\n", r.Target)
	if r.Issuer != "" {
		fmt.Fprintf(bw, "  authorization server  %s\n", r.Issuer)
	}
	if r.OpenAPI != "" {
		fmt.Fprintf(bw, "  OpenAPI document      %s\n", r.OpenAPI)
	}
	fmt.Fprintf(bw, "  %d findings from %d requests in %s, %s\n", len(r.Findings), r.Requests, r.Duration.Round(100*time.Millisecond), r.Started.UTC().Format(time.RFC3339))
	for _, a := range Areas {
		fs := r.byArea(a)
		if len(fs) == 0 {
			continue
		}
		fmt.Fprintf(bw, "\n%s\n", a)
		for _, f := range fs {
			title := f.Title
			if f.Subject != "" {
				title += "  [" + f.Subject + "]"
			}
			fmt.Fprintf(bw, "  %-4s  %-26s %-15s %s\n", f.Verdict, strings.Join(f.IDs(), ","), f.Strength, title)
			fmt.Fprintf(bw, "        %s\n", f.Reason)
			if len(f.Requirements) > 0 {
				fmt.Fprintf(bw, "        %s\n", f.Requirements[0].DocRef())
			}
		}
	}
	fmt.Fprintf(bw, "\nRequirements cited\n")
	for _, req := range r.cited() {
		note := ""
		if !req.Confirmed {
			note = " (anchor inferred)"
		}
		fmt.Fprintf(bw, "  %-10s %-15s %s%s\n             %s\n", req.ID, req.Strength, req.DocRef(), note, req.Summary)
	}
	mandatory := 0
	for _, f := range r.Findings {
		if f.Mandatory() {
			mandatory++
		}
	}
	fmt.Fprintf(bw, "\n%d PASS, %d FAIL (%d of a MUST or REQUIRED), %d WARN, %d SKIP\n", r.Count(Pass), r.Count(Fail), mandatory, r.Count(Warn), r.Count(Skip))
	if r.Failed() {
		fmt.Fprintln(bw, "Result: FAIL: a MUST or REQUIRED requirement is not met.")
	} else {
		fmt.Fprintln(bw, "Result: no MUST or REQUIRED requirement failed.")
	}
	return bw.Flush()
}

// cited returns every requirement the findings cite, in catalogue order.
func (r *Report) cited() []standard.Requirement {
	ids := map[string]bool{}
	for _, f := range r.Findings {
		for _, id := range f.IDs() {
			ids[id] = true
		}
	}
	var out []standard.Requirement
	for _, req := range standard.All() {
		if ids[req.ID] {
			out = append(out, req)
		}
	}
	return out
}

// jsonReport is the JSON form of a Report; its field names are a stable interface for CI.
type jsonReport struct {
	Target   string         `json:"target"`
	Issuer   string         `json:"issuer,omitempty"`
	OpenAPI  string         `json:"openapi,omitempty"`
	Started  time.Time      `json:"started"`
	Seconds  float64        `json:"duration_seconds"`
	Requests int            `json:"requests"`
	Failed   bool           `json:"failed"` // a MUST or REQUIRED check failed
	Summary  map[string]int `json:"summary"`
	Findings []jsonFinding  `json:"findings"`
}

type jsonFinding struct {
	Check        string            `json:"check"`
	Title        string            `json:"title"`
	Area         Area              `json:"area"`
	Subject      string            `json:"subject,omitempty"`
	Verdict      Verdict           `json:"verdict"`
	Reason       string            `json:"reason"`
	Strength     string            `json:"strength"`
	Mandatory    bool              `json:"mandatory_failure"`
	Requirements []jsonRequirement `json:"requirements"`
}

type jsonRequirement struct {
	ID              string `json:"id"`
	Strength        string `json:"strength"`
	DocRef          string `json:"docref"`
	AnchorConfirmed bool   `json:"anchor_confirmed"`
	Summary         string `json:"summary"`
}

// WriteJSON writes the report as one JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	out := jsonReport{Target: r.Target, Issuer: r.Issuer, OpenAPI: r.OpenAPI, Started: r.Started.UTC(),
		Seconds: r.Duration.Seconds(), Requests: r.Requests, Failed: r.Failed(),
		Summary:  map[string]int{"pass": r.Count(Pass), "fail": r.Count(Fail), "warn": r.Count(Warn), "skip": r.Count(Skip)},
		Findings: []jsonFinding{}}
	for _, f := range r.Findings {
		jf := jsonFinding{Check: f.Check, Title: f.Title, Area: f.Area, Subject: f.Subject, Verdict: f.Verdict,
			Reason: f.Reason, Strength: f.Strength.String(), Mandatory: f.Mandatory(), Requirements: []jsonRequirement{}}
		for _, req := range f.Requirements {
			jf.Requirements = append(jf.Requirements, jsonRequirement{ID: req.ID, Strength: req.Strength.String(),
				DocRef: req.DocRef(), AnchorConfirmed: req.Confirmed, Summary: req.Summary})
		}
		out.Findings = append(out.Findings, jf)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// JUnit XML, as CI servers read it: one suite per area, one case per finding. FAIL is a
// failure (whatever its strength: the exit code, not the XML, decides whether CI stops), SKIP
// is skipped, WARN passes with the reason in system-out.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the report as JUnit XML.
func (r *Report) WriteJUnit(w io.Writer) error {
	out := junitSuites{Name: "tiaki audit " + r.Target, Time: fmt.Sprintf("%.3f", r.Duration.Seconds())}
	for _, a := range Areas {
		fs := r.byArea(a)
		if len(fs) == 0 {
			continue
		}
		suite := junitSuite{Name: string(a)}
		for _, f := range fs {
			name := fmt.Sprintf("%s %s", strings.Join(f.IDs(), ","), f.Title)
			if f.Subject != "" {
				name += " [" + f.Subject + "]"
			}
			c := junitCase{Name: name, Classname: "tiaki.audit." + f.Check}
			detail := f.Reason
			if len(f.Requirements) > 0 {
				detail += "\n" + f.Requirements[0].DocRef()
			}
			switch f.Verdict {
			case Fail:
				c.Failure = &junitMessage{Message: f.Reason, Type: f.Strength.String(), Text: detail}
				suite.Failures++
			case Skip:
				c.Skipped = &junitMessage{Message: f.Reason}
				suite.Skipped++
			case Warn:
				c.SystemOut = "WARN: " + detail
			default:
				c.SystemOut = "PASS: " + detail
			}
			suite.Cases = append(suite.Cases, c)
			suite.Tests++
		}
		out.Tests += suite.Tests
		out.Failures += suite.Failures
		out.Skipped += suite.Skipped
		out.Suites = append(out.Suites, suite)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
