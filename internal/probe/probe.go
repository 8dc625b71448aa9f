package probe

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/standard"
)

// Options say what to probe and how hard.
type Options struct {
	// Target is the URL of an API resource (https://api.example.govt.nz/v1/things), or of an
	// authorization server's issuer when only the authorization server is to be judged.
	Target string
	// Issuer is the authorization server's issuer URL. Empty: the target is tried as one when
	// its path is "/" or empty.
	Issuer string

	APIKey       tiaki.Secret
	Token        tiaki.Secret // a bearer access token the API accepts
	ClientID     string
	ClientSecret tiaki.Secret // with ClientID: client credentials at the issuer's token endpoint

	OpenAPI []byte // an OpenAPI 3 document (YAML or JSON), when given
	// OpenAPIName names the document in findings (its file name).
	OpenAPIName string

	RootCAs *x509.CertPool // trusted roots; nil means the system's
	Only    []string       // run only checks tagged with one of these requirement IDs or ID groups ("TLS")
	MaxRPS  float64        // requests (and TLS handshakes) per second, at most; 0 means DefaultMaxRPS
	Budget  int            // total requests and handshakes; 0 means DefaultBudget
	Burst   int            // requests the throttling check may send; 0 means DefaultBurst
	// AllowWrites lets checks send POST to the target (the 415 check). Without it the probe
	// sends only GET, HEAD, OPTIONS, TRACE and an unknown method to API resources.
	AllowWrites bool
	Timeout     time.Duration // per request; 0 means DefaultTimeout
	Progress    io.Writer     // when set, one line per check as the run goes (a terminal)

	// Now and Sleep are the clock; tests replace them. Nil means the real clock.
	Now   func() time.Time
	Sleep func(context.Context, time.Duration) error
}

// Defaults for Options.
const (
	DefaultMaxRPS  = 5
	DefaultBudget  = 300
	DefaultBurst   = 30
	DefaultTimeout = 10 * time.Second
)

// Verdict is a check's outcome.
type Verdict int

// Verdicts. Fail means the target was seen to break the requirement; Warn means the probe saw
// something doubtful or could not tell; Skip means the check could not run (and says why).
const (
	Pass Verdict = iota
	Warn
	Fail
	Skip
)

// String returns PASS, WARN, FAIL or SKIP.
func (v Verdict) String() string {
	switch v {
	case Pass:
		return "PASS"
	case Warn:
		return "WARN"
	case Fail:
		return "FAIL"
	case Skip:
		return "SKIP"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// MarshalText writes the verdict's name.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText reads a verdict's name, so JSON reports can be read back.
func (v *Verdict) UnmarshalText(b []byte) error {
	for _, c := range []Verdict{Pass, Warn, Fail, Skip} {
		if string(b) == c.String() {
			*v = c
			return nil
		}
	}
	return fmt.Errorf("unknown verdict %q", b)
}

// Area groups findings in reports.
type Area string

// Areas, in report order.
const (
	AreaTLS            Area = "TLS"
	AreaAuthentication Area = "Authentication"
	AreaAPIKeys        Area = "API keys"
	AreaOAuth          Area = "OAuth server"
	AreaTokens         Area = "Tokens"
	AreaThreats        Area = "Threats"
	AreaHTTP           Area = "HTTP behaviour"
	AreaOpenAPI        Area = "OpenAPI document"
)

// Areas lists every area in report order.
var Areas = []Area{AreaTLS, AreaAuthentication, AreaAPIKeys, AreaOAuth, AreaTokens, AreaThreats, AreaHTTP, AreaOpenAPI}

// Finding is one verdict of one check on one subject (a host, a URL or the OpenAPI document).
type Finding struct {
	Check        string // the check's stable name, e.g. "tls-legacy"
	Title        string
	Area         Area
	Subject      string
	Verdict      Verdict
	Reason       string
	Requirements []standard.Requirement
	Strength     standard.Strength // the strongest of Requirements
}

// Mandatory reports whether the finding is a failed MUST, MUST NOT or REQUIRED.
func (f Finding) Mandatory() bool { return f.Verdict == Fail && f.Strength.Mandatory() }

// IDs returns the requirement IDs the finding cites.
func (f Finding) IDs() []string {
	ids := make([]string, len(f.Requirements))
	for i, r := range f.Requirements {
		ids[i] = r.ID
	}
	return ids
}

// Report is the outcome of one run.
type Report struct {
	Target   string
	Issuer   string
	OpenAPI  string
	Started  time.Time
	Duration time.Duration
	Requests int // requests and TLS handshakes sent
	Findings []Finding
}

// Failed reports whether any MUST, MUST NOT or REQUIRED check failed: `tiaki audit` then exits 1.
func (r *Report) Failed() bool {
	return slices.ContainsFunc(r.Findings, Finding.Mandatory)
}

// Count returns how many findings have verdict v.
func (r *Report) Count(v Verdict) int {
	n := 0
	for _, f := range r.Findings {
		if f.Verdict == v {
			n++
		}
	}
	return n
}

// Run probes the target and returns the report. An error means the probe could not run at all:
// bad options, an unreadable OpenAPI document, or a target that cannot be reached; findings
// about a reachable target are never errors.
func Run(ctx context.Context, opts Options) (*Report, error) {
	only, err := selection(opts.Only)
	if err != nil {
		return nil, err
	}
	s, err := newSession(opts)
	if err != nil {
		return nil, err
	}
	rep := &Report{Target: s.target.String(), Started: s.now(), OpenAPI: opts.OpenAPIName}
	if err := s.preflight(ctx); err != nil {
		return nil, err
	}
	if s.issuer != nil {
		rep.Issuer = s.issuer.String()
	}
	todo := slices.DeleteFunc(Checks(), func(c Check) bool { return !only(c) })
	for i, c := range todo {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "\r\033[K[%d/%d] %s", i+1, len(todo), c.Title)
		}
		rep.Findings = append(rep.Findings, s.run(ctx, c)...)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	if opts.Progress != nil {
		fmt.Fprint(opts.Progress, "\r\033[K")
	}
	rep.Duration = s.now().Sub(rep.Started)
	rep.Requests = s.used
	s.redact(rep)
	return rep, nil
}

// selection compiles Options.Only: exact IDs ("TLS-01") and groups ("TLS", "HTTP").
func selection(only []string) (func(Check) bool, error) {
	if len(only) == 0 {
		return func(Check) bool { return true }, nil
	}
	groups := map[string]bool{}
	for _, r := range standard.All() {
		groups[r.ID[:strings.LastIndexByte(r.ID, '-')]] = true
	}
	want := map[string]bool{}
	for _, id := range only {
		id = strings.ToUpper(strings.TrimSpace(id))
		if _, ok := standard.Lookup(id); !ok && !groups[id] {
			return nil, fmt.Errorf("--only: %q is neither a requirement ID nor a group of the catalogue", id)
		}
		want[id] = true
	}
	return func(c Check) bool {
		for _, id := range c.IDs {
			if want[id] || want[id[:strings.LastIndexByte(id, '-')]] {
				return true
			}
		}
		return false
	}, nil
}

// ErrUnreachable wraps the reason the target could not be reached at all.
var ErrUnreachable = errors.New("target unreachable")

func parseTarget(raw, what string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: want an absolute http or https URL", what)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s: put credentials in flags, not in the URL", what)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%s %q: want an absolute http or https URL", what, u.String())
	}
	u.Fragment = ""
	return u, nil
}
