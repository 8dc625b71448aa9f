package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// canAuth reports whether requests to the API may carry the probe's credential.
func (s *session) canAuth(ctx context.Context) bool {
	if !s.hasCredential() || s.api.Scheme != "https" || s.chain(ctx, originOf(s.api)).err != nil {
		return false
	}
	_, _, ok := s.credential(ctx)
	return ok
}

// HTTP-04: a format the server cannot produce gets 406. Many servers ignore Accept, which HTTP
// allows (RFC 9110 §12.5.1) but Part C does not: the probe reports that as WARN.
func checkAccept(ctx context.Context, s *session) []result {
	if r, ok := s.needAPI(); !ok {
		return []result{r}
	}
	subject := s.api.String()
	resp, err := s.send(ctx, request{method: http.MethodGet, url: s.api.String(), header: http.Header{"Accept": {"application/x-tiaki-probe"}}, auth: s.canAuth(ctx)})
	if err != nil {
		return []result{errResult(subject, err)}
	}
	switch {
	case resp.Status == http.StatusNotAcceptable && resp.Header.Get("Link") == "":
		return []result{warn(subject, "406, but without a Link header to documentation")}
	case resp.Status == http.StatusNotAcceptable:
		return []result{pass(subject, "406 with Link %s", resp.Header.Get("Link"))}
	case resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden:
		return []result{skip(subject, "%d: needs a credential the API accepts", resp.Status)}
	case resp.Status < 300:
		return []result{warn(subject, "%d %s to Accept: application/x-tiaki-probe; Part C asks for 406", resp.Status, resp.Header.Get("Content-Type"))}
	}
	return []result{warn(subject, "%d to an unsupported Accept, not 406", resp.Status)}
}

// HTTP-05 / THREAT-07: a body of an unsupported type gets 415. This needs a POST, so only with
// --allow-writes.
func checkContentType(ctx context.Context, s *session) []result {
	if r, ok := s.needAPI(); !ok {
		return []result{r}
	}
	subject := s.api.String()
	if !s.opts.AllowWrites {
		return []result{skip(subject, "sends a POST: give --allow-writes to run it")}
	}
	resp, err := s.send(ctx, request{method: http.MethodPost, url: s.api.String(), auth: s.canAuth(ctx),
		header: http.Header{"Content-Type": {"text/plain"}, "Accept": {"application/json"}}, body: []byte("tiaki-probe")})
	if err != nil {
		return []result{errResult(subject, err)}
	}
	switch {
	case resp.Status == http.StatusUnsupportedMediaType:
		return []result{pass(subject, "POST text/plain got 415")}
	case resp.Status == http.StatusMethodNotAllowed:
		return []result{skip(subject, "POST is not allowed here (405); point the probe at a resource that takes POST")}
	case resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden:
		return []result{skip(subject, "%d: needs a credential the API accepts", resp.Status)}
	case resp.Status < 300:
		return []result{warn(subject, "POST text/plain got %d: accepted, not 415 (unless the API really takes text/plain)", resp.Status)}
	}
	return []result{warn(subject, "POST text/plain got %d, not 415", resp.Status)}
}

// notFound is a GET of a path that cannot exist on the origin.
func (s *session) notFound(ctx context.Context, origin *url.URL) (*response, error) {
	return s.get(ctx, origin.String()+"/tiaki-probe-"+s.transactionID[len("tiaki-probe-"):]+"/does-not-exist")
}

var (
	stackTrace = regexp.MustCompile(`(?m)goroutine \d+ \[|\.go:\d+|Traceback \(most recent call last\)|^\s+at [\w$.]+\(|Exception in thread|\bpanic:|\.(java|py|rb|php|cs|js):\d+|System\.[A-Z]\w+Exception`)
	banner     = regexp.MustCompile(`(?i)\b(apache|nginx|tomcat|jetty|microsoft-iis|iis|express|werkzeug|gunicorn|kestrel|envoy|openresty|php|asp\.net)[ /]v?\d`)
)

// HTTP-11: error bodies carry a code and a message, never internals (stack traces, product
// banners); THREAT-11: errors come with valid codes, as structured data.
func checkErrorBodies(ctx context.Context, s *session, origin *url.URL) result {
	if _, err := s.notFound(ctx, origin); err != nil {
		return errResult(origin.Host, err)
	}
	if s.api != nil && s.api.Host == origin.Host {
		if _, err := s.unauthenticated(ctx); err != nil {
			return errResult(origin.Host, err)
		}
	}
	var problems []string
	n := 0
	for _, r := range s.seenAt(origin) {
		if r.Status < 400 || r.Method == http.MethodHead || len(r.Body) == 0 || r.Browser {
			continue
		}
		n++
		where := fmt.Sprintf("%s %s → %d", r.Method, pathOf(r.URL), r.Status)
		if ct := r.Header.Get("Content-Type"); !isJSON(ct) {
			problems = append(problems, fmt.Sprintf("%s is %q, not JSON", where, ct))
		}
		if m := stackTrace.Find(r.Body); m != nil {
			problems = append(problems, fmt.Sprintf("%s looks like a stack trace (%q)", where, m))
		}
		if m := banner.Find(r.Body); m != nil {
			problems = append(problems, fmt.Sprintf("%s names server software (%q)", where, m))
		}
	}
	if b := banners(s.seenAt(origin)); b != "" {
		problems = append(problems, b)
	}
	switch {
	case len(problems) > 0:
		return fail(origin.Host, "%s", strings.Join(dedupe(problems), "; "))
	case n == 0:
		return skip(origin.Host, "no error response with a body was seen")
	}
	return pass(origin.Host, "%d error bodies, all JSON, no internals", n)
}

// banners reports Server and X-Powered-By headers that name software with a version.
func banners(rs []*response) string {
	var found []string
	for _, r := range rs {
		for _, h := range []string{"Server", "X-Powered-By", "X-AspNet-Version"} {
			if v := r.Header.Get(h); v != "" && (h != "Server" || strings.ContainsAny(v, "0123456789")) {
				found = append(found, fmt.Sprintf("%s: %s", h, v))
			}
		}
	}
	if len(found) == 0 {
		return ""
	}
	return "headers name server software: " + strings.Join(dedupe(found), ", ")
}

// seenAt returns the responses seen from an origin, over https or plain http to its host.
func (s *session) seenAt(origin *url.URL) []*response {
	var out []*response
	for _, r := range s.seen {
		if u, err := url.Parse(r.URL); err == nil && u.Host == origin.Host && u.Scheme == origin.Scheme {
			out = append(out, r)
		}
	}
	return out
}

// seenJudged returns the responses from the origins judged (not, say, a CA's CRL server).
func (s *session) seenJudged() []*response {
	var out []*response
	for _, o := range s.origins() {
		out = append(out, s.seenAt(o)...)
	}
	return out
}

func pathOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Path
	}
	return raw
}

func dedupe(s []string) []string {
	var out []string
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// HTTP-15: JSON responses are RFC 8259 JSON in UTF-8, without a byte order mark.
func checkJSONValid(ctx context.Context, s *session) []result {
	subject := s.target.String()
	if err := s.baseline(ctx); err != nil {
		return []result{errResult(subject, err)}
	}
	var problems []string
	n := 0
	for _, r := range s.seenJudged() {
		if !isJSON(r.Header.Get("Content-Type")) || len(r.Body) == 0 || len(r.Body) >= maxBody {
			continue
		}
		n++
		where := fmt.Sprintf("%s %s → %d", r.Method, pathOf(r.URL), r.Status)
		switch {
		case !utf8.Valid(r.Body):
			problems = append(problems, where+" is not UTF-8")
		case strings.HasPrefix(string(r.Body), "\uFEFF"):
			problems = append(problems, where+" starts with a byte order mark")
		case !json.Valid(r.Body):
			problems = append(problems, where+" is declared JSON but does not parse")
		}
	}
	switch {
	case len(problems) > 0:
		return []result{fail(subject, "%s", strings.Join(problems, "; "))}
	case n == 0:
		return []result{skip(subject, "no JSON response was seen")}
	}
	return []result{pass(subject, "%d JSON responses, all valid UTF-8 JSON", n)}
}

// baseline makes sure the responses every header check reads have been fetched.
func (s *session) baseline(ctx context.Context) error {
	if s.api != nil {
		if _, err := s.unauthenticated(ctx); err != nil {
			return err
		}
	}
	for _, o := range s.origins() {
		if _, err := s.notFound(ctx, o); err != nil {
			return err
		}
	}
	if s.issuer != nil {
		_, _ = s.metadata(ctx)
	}
	return nil
}

// HTTP-09: every response carries Content-Type.
func checkContentTypePresent(ctx context.Context, s *session) []result {
	subject := s.target.String()
	if err := s.baseline(ctx); err != nil {
		return []result{errResult(subject, err)}
	}
	var missing []string
	all := s.seenJudged()
	for _, r := range all {
		if len(r.Body) > 0 && r.Header.Get("Content-Type") == "" {
			missing = append(missing, fmt.Sprintf("%s %s → %d", r.Method, pathOf(r.URL), r.Status))
		}
	}
	if len(missing) > 0 {
		return []result{fail(subject, "bodies without Content-Type: %s", strings.Join(dedupe(missing), "; "))}
	}
	return []result{pass(subject, "all %d responses with a body carry Content-Type", len(all))}
}

// HTTP-10: Part C (2021 draft) answers a call to a non-existent endpoint with 501; most servers
// say 404, which the probe reports as WARN. A 2xx for a path that cannot exist is a failure.
func checkNotFound(ctx context.Context, s *session, origin *url.URL) result {
	resp, err := s.notFound(ctx, origin)
	if err != nil {
		return errResult(origin.Host, err)
	}
	switch {
	case resp.Status == http.StatusNotImplemented:
		return pass(origin.Host, "a non-existent endpoint got 501")
	case resp.Status < 300:
		return fail(origin.Host, "a non-existent endpoint got %d", resp.Status)
	}
	return warn(origin.Host, "a non-existent endpoint got %d; Part C asks for 501", resp.Status)
}

// TLS-06 (clients stay on TLS: HSTS, RFC 6797) and THREAT-14 (no content sniffing into
// script: X-Content-Type-Options: nosniff) on every response of the judged origins.
func checkSecurityHeaders(ctx context.Context, s *session) []result {
	subject := s.target.String()
	if err := s.baseline(ctx); err != nil {
		return []result{errResult(subject, err)}
	}
	var noHSTS, noSniff []string
	all := s.seenJudged()
	for _, r := range all {
		where := fmt.Sprintf("%s %s", r.Method, pathOf(r.URL))
		if strings.HasPrefix(r.URL, "https://") && !strings.Contains(strings.ToLower(r.Header.Get("Strict-Transport-Security")), "max-age=") {
			noHSTS = append(noHSTS, where)
		}
		if len(r.Body) > 0 && !strings.EqualFold(r.Header.Get("X-Content-Type-Options"), "nosniff") {
			noSniff = append(noSniff, where)
		}
	}
	var problems []string
	if len(noHSTS) > 0 {
		problems = append(problems, "no Strict-Transport-Security on "+listed(dedupe(noHSTS)))
	}
	if len(noSniff) > 0 {
		problems = append(problems, "no X-Content-Type-Options: nosniff on "+listed(dedupe(noSniff)))
	}
	if len(problems) > 0 {
		return []result{fail(subject, "%s", strings.Join(problems, "; "))}
	}
	return []result{pass(subject, "HSTS and nosniff on all %d responses", len(all))}
}

// HTTP-13: authenticated responses stay out of shared caches (no-store or private).
func checkCacheControl(ctx context.Context, s *session) []result {
	if r, ok := s.needAPI(); !ok {
		return []result{r}
	}
	subject := s.api.String()
	if !s.canAuth(ctx) {
		return []result{skip(subject, "needs a credential (--api-key, --token or client credentials) and a verified certificate")}
	}
	resp, err := s.authenticated(ctx)
	if err != nil {
		return []result{errResult(subject, err)}
	}
	if resp.Status >= 300 {
		return []result{skip(subject, "the API answered %d to the probe's credential", resp.Status)}
	}
	if hasDirective(resp.Header, "no-store") || hasDirective(resp.Header, "private") {
		return []result{pass(subject, "Cache-Control: %s", resp.Header.Get("Cache-Control"))}
	}
	return []result{fail(subject, "an authenticated %d has Cache-Control %q: shared caches may keep it", resp.Status, resp.Header.Get("Cache-Control"))}
}

// HTTP-08 / LOG-02: a correlation ID comes back, under Part C's non-X- names.
func checkCorrelation(ctx context.Context, s *session) []result {
	if r, ok := s.needAPI(); !ok {
		return []result{r}
	}
	subject := s.api.String()
	resp, err := s.unauthenticated(ctx)
	if err != nil {
		return []result{errResult(subject, err)}
	}
	if v := resp.Header.Get("Response-Correlation-Id"); v != "" {
		if v == s.transactionID {
			return []result{pass(subject, "Response-Correlation-Id echoes the Request-Transaction-Id sent")}
		}
		return []result{pass(subject, "Response-Correlation-Id returned (the Request-Transaction-Id sent was not echoed)")}
	}
	for _, h := range []string{"X-Request-Id", "X-Correlation-Id", "X-Transaction-Id", "X-Trace-Id"} {
		if resp.Header.Get(h) != "" {
			return []result{warn(subject, "correlation ID in %s: Part C names Response-Correlation-Id, without X-", h)}
		}
	}
	for _, h := range []string{"Request-Id", "Correlation-Id", "Request-Transaction-Id", "Traceparent"} {
		if resp.Header.Get(h) != "" {
			return []result{warn(subject, "correlation ID in %s: Part C names Response-Correlation-Id", h)}
		}
	}
	return []result{fail(subject, "no correlation ID in the response")}
}

// xHeadersAllowed are X- headers that are de facto standards rather than custom headers.
var xHeadersAllowed = []string{"X-Content-Type-Options", "X-Frame-Options", "X-Xss-Protection", "X-Dns-Prefetch-Control",
	"X-Permitted-Cross-Domain-Policies", "X-Robots-Tag", "X-Download-Options"}

// HTTP-12: custom X- headers are deprecated (RFC 6648).
func checkXHeaders(ctx context.Context, s *session) []result {
	subject := s.target.String()
	if err := s.baseline(ctx); err != nil {
		return []result{errResult(subject, err)}
	}
	var found []string
	for _, r := range s.seenJudged() {
		for name := range r.Header {
			if strings.HasPrefix(name, "X-") && !slices.Contains(xHeadersAllowed, name) {
				found = append(found, name)
			}
		}
	}
	found = dedupe(found)
	slices.Sort(found)
	if len(found) > 0 {
		return []result{fail(subject, "custom X- response headers: %s", strings.Join(found, ", "))}
	}
	return []result{pass(subject, "no custom X- response headers")}
}

var versionSegment = regexp.MustCompile(`/v\d+(/|$)`)

// HTTP-14: APIs are versioned, in the Accept/Content-Type (preferred) or as /vN in the path.
func checkVersioning(ctx context.Context, s *session) []result {
	if r, ok := s.needAPI(); !ok {
		return []result{r}
	}
	subject := s.api.String()
	if m := versionSegment.FindString(s.api.Path); m != "" {
		return []result{pass(subject, "major version in the path (%s)", strings.Trim(m, "/"))}
	}
	for _, r := range s.seenAt(originOf(s.api)) {
		if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && params["version"] != "" {
			return []result{pass(subject, "version %s in the Content-Type", params["version"])}
		}
	}
	if s.spec != nil && s.spec.versioned() {
		return []result{pass(subject, "the OpenAPI document declares the version in its servers or paths")}
	}
	return []result{warn(subject, "no version in the path (/vN) or in the response Content-Type (version=)")}
}
