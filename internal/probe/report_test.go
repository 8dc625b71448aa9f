package probe

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki/internal/standard"
)

var update = flag.Bool("update", false, "rewrite golden files")

func reqs(ids ...string) ([]standard.Requirement, standard.Strength) {
	var out []standard.Requirement
	var s standard.Strength
	for _, id := range ids {
		r, _ := standard.Lookup(id)
		out = append(out, r)
		s = max(s, r.Strength)
	}
	return out, s
}

func finding(check, title string, area Area, subject string, v Verdict, reason string, ids ...string) Finding {
	r, s := reqs(ids...)
	return Finding{Check: check, Title: title, Area: area, Subject: subject, Verdict: v, Reason: reason, Requirements: r, Strength: s}
}

func sampleReport() *Report {
	return &Report{Target: "https://api.example.govt.nz/v1/things", Issuer: "https://as.example.govt.nz", OpenAPI: "things.yaml",
		Started: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), Duration: 4200 * time.Millisecond, Requests: 61,
		Findings: []Finding{
			finding("tls-legacy", "TLS 1.0, 1.1 and 1.2 refused", AreaTLS, "api.example.govt.nz:443", Fail, "accepts TLS 1.2: a client can negotiate less than TLS 1.3", "TLS-01", "TLS-02"),
			finding("auth-required", "Unauthenticated request gets 401 with a challenge", AreaAuthentication, "https://api.example.govt.nz/v1/things", Pass, "401 with challenge Bearer", "AUTHN-01", "AUTHN-04"),
			finding("accept-406", "Unsupported Accept gets 406", AreaHTTP, "https://api.example.govt.nz/v1/things", Warn, `200 application/json to Accept: application/x-tiaki-probe; Part C asks for 406 & <more>`, "HTTP-04"),
			finding("spec-safe-get", "GET operations take no request body", AreaOpenAPI, "things.yaml", Skip, "no OpenAPI document", "HTTP-02"),
		}}
}

func TestReportGolden(t *testing.T) {
	t.Parallel()
	rep := sampleReport()
	for _, c := range []struct {
		file  string
		write func(*bytes.Buffer) error
	}{
		{"report.txt", func(b *bytes.Buffer) error { return rep.WriteText(b) }},
		{"report.json", func(b *bytes.Buffer) error { return rep.WriteJSON(b) }},
		{"report.xml", func(b *bytes.Buffer) error { return rep.WriteJUnit(b) }},
	} {
		t.Run(c.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := c.write(&b); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", c.file+".golden")
			if *update {
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("%s differs from the golden file (go test -run TestReportGolden -update):\n%s", c.file, b.String())
			}
		})
	}
}

func TestReportFormatsParse(t *testing.T) {
	t.Parallel()
	rep := sampleReport()
	var j bytes.Buffer
	if err := rep.WriteJSON(&j); err != nil {
		t.Fatal(err)
	}
	var jr jsonReport
	if err := json.Unmarshal(j.Bytes(), &jr); err != nil {
		t.Fatal(err)
	}
	if !jr.Failed || len(jr.Findings) != 4 || !jr.Findings[0].Mandatory || jr.Findings[0].Requirements[0].DocRef != "https://docref.digital.govt.nz/nz/dia-apis-partb/2022/en/#part11-section1-para1" {
		t.Errorf("JSON report: %+v", jr)
	}
	var x bytes.Buffer
	if err := rep.WriteJUnit(&x); err != nil {
		t.Fatal(err)
	}
	var xr junitSuites
	if err := xml.Unmarshal(x.Bytes(), &xr); err != nil {
		t.Fatal(err)
	}
	if xr.Tests != 4 || xr.Failures != 1 || xr.Skipped != 1 || len(xr.Suites) != 4 {
		t.Errorf("JUnit: tests %d failures %d skipped %d suites %d", xr.Tests, xr.Failures, xr.Skipped, len(xr.Suites))
	}
	if !rep.Failed() || rep.Count(Pass) != 1 {
		t.Error("Failed or Count wrong")
	}
	rep.Findings[0].Verdict = Warn
	if rep.Failed() {
		t.Error("a WARN of a MUST made the report fail")
	}
}
