package probe

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// THREAT-04 (throttle every exposed API), KEY-07 (per-key throttling), AUTHN-12 (anonymous
// routes too): a bounded burst, never faster than --max-rps, looks for 429 with Retry-After
// (Part C lists 429; RFC 6585 §4). No 429 is a WARN: the limit may simply be higher than the
// probe is allowed to go.
func checkThrottling(ctx context.Context, s *session) []result {
	if r, ok := s.needAPI(); !ok {
		return []result{r}
	}
	subject := s.api.String()
	burst := min(cmpOr(s.opts.Burst, DefaultBurst), s.budget-s.used)
	if burst <= 0 {
		return []result{errResult(subject, errBudget)}
	}
	auth := s.canAuth(ctx)
	for i := 1; i <= burst; i++ {
		resp, err := s.send(ctx, request{method: http.MethodGet, url: s.api.String(), auth: auth})
		if err != nil {
			return []result{errResult(subject, err)}
		}
		if resp.Status != http.StatusTooManyRequests {
			continue
		}
		ra := resp.Header.Get("Retry-After")
		if !validRetryAfter(ra) {
			return []result{warn(subject, "429 after %d requests, but without a valid Retry-After (%q)", i, ra)}
		}
		return []result{pass(subject, "429 after %d requests, Retry-After: %s", i, ra)}
	}
	who := "without credentials"
	if auth {
		who = "with the probe's credential"
	}
	return []result{warn(subject, "no 429 in %d requests %s at up to %g/s: cannot tell whether the API is throttled (its limit may be higher)", burst, who, s.rps())}
}

// validRetryAfter accepts delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
func validRetryAfter(v string) bool {
	v = strings.TrimSpace(v)
	if n, err := strconv.Atoi(v); err == nil {
		return n >= 0
	}
	_, err := http.ParseTime(v)
	return err == nil
}

func (s *session) rps() float64 { return float64(time.Second) / float64(s.pace.interval) }
