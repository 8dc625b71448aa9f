package waf

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/types"

	"github.com/tiaki-nz/tiaki/internal/policy"
)

// ruleSet is the OWASP Core Rule Set compiled into one Coraza WAF. The WAF is immutable and
// safe for concurrent use; each request gets its own transaction.
type ruleSet struct {
	waf coraza.WAF
	// bodyError answers a body Coraza could not parse (rules 200002/200003).
	bodyError *policy.Denial
	tooLarge  *policy.Denial
}

// directives configures Coraza and the CRS. They follow coraza.conf-recommended and
// crs-setup.conf.example, changed where Tiaki differs:
//   - the engine blocks (SecRuleEngine On), in the CRS's anomaly scoring mode: each rule adds
//     to a score and rule 949110 refuses the request at the default inbound threshold (5, one
//     critical match) at paranoia level 1, the CRS defaults;
//   - only the REQUEST-* rule files are loaded and response bodies are not inspected: Tiaki
//     checks what comes in, and response checks belong to OpenAPI response validation;
//   - bodies are held in memory only, up to the route's limit (never spilled to temporary files),
//     and nothing is written to an audit log: Tiaki's own audit event names the rule;
//   - the method and content-type allow-lists (rules 911100, 920420) are removed: the gateway's
//     method allow-list and the content policy enforce them, configured per route.
const directives = `
SecRuleEngine On
SecRequestBodyAccess On
SecRequestBodyLimit %[1]d
SecRequestBodyInMemoryLimit %[1]d
SecRequestBodyNoFilesLimit %[1]d
SecRequestBodyLimitAction Reject
SecRequestBodyJsonDepthLimit %[2]d
SecResponseBodyAccess Off
SecAuditEngine Off
SecRule REQUEST_HEADERS:Content-Type "^(?:application(?:/soap\+|/)|text/)xml" "id:'200000',phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "^application/json" "id:'200001',phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQUEST_HEADERS:Content-Type "^application/[a-z0-9.-]+[+]json" "id:'200006',phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQBODY_ERROR "!@eq 0" "id:'200002',phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.'"
SecRule MULTIPART_STRICT_ERROR "!@eq 0" "id:'200003',phase:2,t:none,log,deny,status:400,msg:'Multipart request body failed strict validation.'"
Include @crs-setup.conf.example
SecAction "id:900000,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level=1"
Include @owasp_crs/REQUEST-*.conf
SecRuleRemoveById 911100 920420
`

func newRuleSet(maxBody int64, maxDepth int) (*ruleSet, error) {
	cfg := coraza.NewWAFConfig().
		WithRootFS(coreruleset.FS).
		WithDirectives(fmt.Sprintf(directives, maxBody, maxDepth))
	w, err := coraza.NewWAF(cfg)
	if err != nil {
		return nil, fmt.Errorf("waf: compiling the OWASP Core Rule Set: %w", err)
	}
	return &ruleSet{
		waf: w,
		bodyError: &policy.Denial{Status: http.StatusBadRequest, Type: "invalid-request",
			Title: "Invalid request body", Detail: "The request body does not parse as its Content-Type says.",
			Reason: "core rule set: body malformed for its content type"},
		tooLarge: &policy.Denial{Status: http.StatusRequestEntityTooLarge, Type: "payload-too-large",
			Title: "Payload too large", Detail: "The request body is larger than the gateway inspects.",
			Reason: "core rule set: body over the limit"},
	}, nil
}

// check runs the request phases (headers, then body) of one transaction. body is the whole
// request body, already read; headers named in withheld (credentials) are not shown to the
// rules.
func (rs *ruleSet) check(r *http.Request, body []byte, withheld map[string]struct{}) *policy.Denial {
	tx := rs.waf.NewTransaction()
	defer func() {
		tx.ProcessLogging()
		_ = tx.Close()
	}()
	client, port := r.RemoteAddr, 0
	if host, p, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		client = host
		port, _ = strconv.Atoi(p)
	}
	tx.ProcessConnection(client, port, "", 0)
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	tx.ProcessURI(uri, r.Method, r.Proto)
	for name, values := range r.Header {
		if _, skip := withheld[name]; skip {
			continue
		}
		for _, v := range values {
			tx.AddRequestHeader(name, v)
		}
	}
	if r.Host != "" {
		// net/http moves Host out of Header; the CRS checks it (rules 920280, 920350).
		tx.AddRequestHeader("Host", r.Host)
		tx.SetServerName(r.Host)
	}
	for _, te := range r.TransferEncoding {
		tx.AddRequestHeader("Transfer-Encoding", te)
	}
	if _, ok := r.Header["Content-Length"]; !ok && r.ContentLength > 0 {
		// What the client sent, for requests built in process (rule 920180 wants it on POST).
		tx.AddRequestHeader("Content-Length", strconv.FormatInt(r.ContentLength, 10))
	}
	if it := tx.ProcessRequestHeaders(); it != nil {
		return rs.denial(tx, it)
	}
	if len(body) > 0 {
		it, _, err := tx.WriteRequestBody(body)
		if err != nil {
			return rs.tooLarge
		}
		if it != nil {
			return rs.denial(tx, it)
		}
	}
	it, err := tx.ProcessRequestBody()
	if err != nil {
		return rs.bodyError
	}
	if it != nil {
		return rs.denial(tx, it)
	}
	return nil
}

// denial turns an interruption into a refusal naming the rules that matched. Only rule IDs
// and the score rule are named: a matched rule's message and data quote the request.
func (rs *ruleSet) denial(tx types.Transaction, it *types.Interruption) *policy.Denial {
	switch it.RuleID {
	case 200002, 200003:
		return rs.bodyError
	}
	if it.Status == http.StatusRequestEntityTooLarge {
		return rs.tooLarge
	}
	ids := matchedAttackRules(tx.MatchedRules())
	return blocked("core rule set " + strconv.Itoa(it.RuleID) + " (rules " + strings.Join(ids, ",") + ")")
}

// matchedAttackRules returns the IDs of the detection rules that matched, in order, without the
// CRS's bookkeeping rules (initialisation, paranoia-level skips, scoring), which carry no
// severity.
func matchedAttackRules(matched []types.MatchedRule) []string {
	var ids []string
	for _, m := range matched {
		rule := m.Rule()
		id := rule.ID()
		if rule.Severity() == types.RuleSeverityUnset || id >= 949000 && id < 950000 {
			continue
		}
		s := strconv.Itoa(id)
		if !slices.Contains(ids, s) {
			ids = append(ids, s)
		}
	}
	return ids
}
