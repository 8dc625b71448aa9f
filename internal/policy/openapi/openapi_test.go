package openapi

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/tiaki-nz/tiaki/internal/policy"
	"github.com/tiaki-nz/tiaki/internal/policy/content"
)

func loadSpec(t testing.TB, file string) *Spec {
	t.Helper()
	s, err := Load("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newValidator(t testing.TB, file string, cfg Config) *Validator {
	t.Helper()
	v, err := New(loadSpec(t, file), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// order is a realistic order of about 1 KiB, valid against NewOrder.
const order = `{
  "customer": {"name": "Aroha Ngata", "email": "aroha.ngata@example.co.nz", "phone": "+64 21 555 0199"},
  "items": [
    {"sku": "KTE-0001", "name": "Harakeke kete, medium", "quantity": 2, "unitPrice": 89.95, "currency": "NZD", "tags": ["gift", "handmade"]},
    {"sku": "PNM-0420", "name": "Pounamu pendant", "quantity": 1, "unitPrice": 249.00, "currency": "NZD"},
    {"sku": "TEA-1234", "name": "Kawakawa tea, 50 g", "quantity": 3, "unitPrice": 14.50, "currency": "NZD", "tags": ["food"]},
    {"sku": "BKS-0007", "name": "Te reo Māori phrasebook", "quantity": 1, "unitPrice": 29.99}
  ],
  "shippingAddress": {"line1": "12 Cuba Street", "line2": null, "city": "Te Whanganui-a-Tara", "postcode": "6011", "country": "NZ"},
  "billingAddress": {"line1": "PO Box 5012", "city": "Wellington", "postcode": "6140", "country": "NZ"},
  "deliverBy": "2025-12-19T17:00:00+13:00",
  "notes": "Please leave at the door if nobody is home; it's \"fragile\" <handle with care>.",
  "giftWrap": true,
  "payment": {"method": "card", "token": "tok_4f9a8b7c6d5e"},
  "discount": {"code": "KIAORA"}
}`

func TestCheck(t *testing.T) {
	t.Parallel()
	v := newValidator(t, "orders.yaml", Config{BasePath: "/v1", MaxBody: 4096, MaxDepth: 8, DocsURL: "https://docs.example/orders"})
	withItem := func(item string) string {
		return `{"customer":{"name":"A","email":"a@b.nz"},"shippingAddress":{"line1":"1","city":"W","postcode":"6011","country":"NZ"},"items":[` + item + `]}`
	}
	id := "7c4a8d09-ca37-4c2b-9f44-2d6f1a0e6b1e"
	tests := []struct {
		name       string
		method     string
		target     string
		header     http.Header
		body       string
		wantStatus int
		wantType   string
		wantDetail string // exact, when set
	}{
		{name: "order", method: "POST", target: "/v1/orders", body: order},
		{name: "list", method: "GET", target: "/v1/orders?limit=10&status=open&tags=a,b&sku=ABC-0001&sku=XYZ-9999&other=x"},
		{name: "list, HEAD", method: "HEAD", target: "/v1/orders"},
		{name: "literal beats template", method: "GET", target: "/v1/orders/summary"},
		{name: "path params", method: "GET", target: "/v1/orders/" + id + "/items/3"},
		{name: "escaped path param", method: "DELETE", target: "/v1/orders/7c4a8d09%2Dca37-4c2b-9f44-2d6f1a0e6b1e"},
		{name: "header param", method: "GET", target: "/v1/orders", header: http.Header{"X-Request-Id": {id}}},
		{name: "Accept csv", method: "GET", target: "/v1/orders", header: http.Header{"Accept": {"text/csv"}}},
		{name: "xml note", method: "POST", target: "/v1/notes", header: ct("application/xml"), body: `<note>hi</note>`},
		{name: "text note", method: "POST", target: "/v1/notes", header: ct("text/plain"), body: `anything {`},
		{name: "optional body absent", method: "POST", target: "/v1/notes"},

		{name: "unknown path", method: "GET", target: "/v1/customers", wantStatus: 404, wantType: "not-found"},
		{name: "outside base path", method: "GET", target: "/v2/orders", wantStatus: 404, wantType: "not-found"},
		{name: "trailing slash", method: "GET", target: "/v1/orders/", wantStatus: 404, wantType: "not-found"},
		{name: "method not in spec", method: "PATCH", target: "/v1/orders/" + id, wantStatus: 405, wantType: "method-not-allowed"},
		{name: "not acceptable", method: "GET", target: "/v1/orders", header: http.Header{"Accept": {"application/xml"}}, wantStatus: 406, wantType: "not-acceptable"},
		{name: "query over maximum", method: "GET", target: "/v1/orders?limit=101", wantStatus: 400, wantType: "invalid-parameter", wantDetail: "query.limit: must be <= 100"},
		{name: "query not integer", method: "GET", target: "/v1/orders?limit=1.5", wantStatus: 400, wantDetail: "query.limit: must be an integer"},
		{name: "query not a number", method: "GET", target: "/v1/orders?limit=0x10", wantStatus: 400, wantDetail: "query.limit: must be an integer"},
		{name: "query repeated scalar", method: "GET", target: "/v1/orders?limit=1&limit=2", wantStatus: 400, wantDetail: "query.limit: is repeated"},
		{name: "query enum", method: "GET", target: "/v1/orders?status=lost", wantStatus: 400, wantDetail: `query.status: must be one of: "open", "shipped", "cancelled"`},
		{name: "query array too long", method: "GET", target: "/v1/orders?tags=a,b,c,d", wantStatus: 400, wantDetail: "query.tags: must have at most 3 items"},
		{name: "query exploded array item", method: "GET", target: "/v1/orders?sku=ABC-0001&sku=nope", wantStatus: 400, wantDetail: "query.sku: item 1 must match the pattern ^[A-Z]{3}-[0-9]{4}$"},
		{name: "query bad escape", method: "GET", target: "/v1/orders?status=%zz", wantStatus: 400, wantType: "invalid-parameter"},
		{name: "path param format", method: "GET", target: "/v1/orders/123", wantStatus: 400, wantDetail: "path.orderId: must be a UUID"},
		{name: "path param minimum", method: "GET", target: "/v1/orders/" + id + "/items/-1", wantStatus: 400, wantDetail: "path.index: must be >= 0"},
		{name: "header param format", method: "GET", target: "/v1/orders", header: http.Header{"X-Request-Id": {"x"}}, wantStatus: 400, wantDetail: "header.X-Request-ID: must be a UUID"},

		{name: "body missing", method: "POST", target: "/v1/orders", header: http.Header{}, wantStatus: 400, wantDetail: "body: is required"},
		{name: "no content type", method: "POST", target: "/v1/orders", header: http.Header{}, body: order, wantStatus: 415, wantType: "unsupported-media-type"},
		{name: "form to a JSON operation", method: "POST", target: "/v1/orders", header: ct("application/x-www-form-urlencoded"), body: "a=b", wantStatus: 415, wantType: "unsupported-media-type"},
		{name: "text to a JSON operation", method: "POST", target: "/v1/orders", header: ct("text/plain"), body: order, wantStatus: 415},
		{name: "malformed JSON", method: "POST", target: "/v1/orders", body: `{"customer":`, wantStatus: 400, wantType: "malformed-json"},
		{name: "duplicate key", method: "POST", target: "/v1/orders", body: `{"items":[],"items":[]}`, wantStatus: 400, wantType: "duplicate-key"},
		{name: "too deep", method: "POST", target: "/v1/orders", body: strings.Repeat("[", 9) + strings.Repeat("]", 9), wantStatus: 400, wantType: "too-deep"},
		{name: "too large", method: "POST", target: "/v1/orders", body: `{"notes":"` + strings.Repeat("x", 5000) + `"}`, wantStatus: 413, wantType: "payload-too-large"},
		{name: "wrong type", method: "POST", target: "/v1/orders", body: `[]`, wantStatus: 400, wantType: "invalid-body", wantDetail: "body: must be an object"},
		{name: "missing required", method: "POST", target: "/v1/orders", body: `{"customer":{"name":"A","email":"a@b.nz"},"items":[]}`, wantStatus: 400, wantDetail: "body.items: must have at least 1 items"},
		{name: "missing required property", method: "POST", target: "/v1/orders", body: `{"customer":{"name":"A","email":"a@b.nz"},"items":[{"sku":"ABC-0001","quantity":1,"unitPrice":1}]}`, wantStatus: 400, wantDetail: "body.shippingAddress: is required"},
		{name: "negative price", method: "POST", target: "/v1/orders", body: withItem(`{"sku":"ABC-0001","quantity":1,"unitPrice":1},{"sku":"ABC-0002","quantity":1,"unitPrice":2},{"sku":"ABC-0003","quantity":1,"unitPrice":-0.01}`), wantStatus: 400, wantDetail: "body.items[2].unitPrice: must be >= 0"},
		{name: "string for integer", method: "POST", target: "/v1/orders", body: withItem(`{"sku":"ABC-0001","quantity":"1","unitPrice":1}`), wantStatus: 400, wantDetail: "body.items[0].quantity: must be an integer"},
		{name: "fraction for integer", method: "POST", target: "/v1/orders", body: withItem(`{"sku":"ABC-0001","quantity":1.5,"unitPrice":1}`), wantStatus: 400, wantDetail: "body.items[0].quantity: must be an integer"},
		{name: "1.0 is an integer", method: "POST", target: "/v1/orders", body: withItem(`{"sku":"ABC-0001","quantity":1.0,"unitPrice":1}`)},
		{name: "multipleOf", method: "POST", target: "/v1/orders", body: withItem(`{"sku":"ABC-0001","quantity":1,"unitPrice":1.005}`), wantStatus: 400, wantDetail: "body.items[0].unitPrice: must be a multiple of 0.01"},
		{name: "pattern", method: "POST", target: "/v1/orders", body: withItem(`{"sku":"abc","quantity":1,"unitPrice":1}`), wantStatus: 400, wantDetail: "body.items[0].sku: must match the pattern ^[A-Z]{3}-[0-9]{4}$"},
		{name: "unknown property named safely", method: "POST", target: "/v1/orders", body: withItem(`{"sku":"ABC-0001","quantity":1,"unitPrice":1,"<script>":1}`), wantStatus: 400, wantDetail: `body.items[0]["<script>"]: is not an allowed property`},
		{name: "escaped unknown property", method: "POST", target: "/v1/orders", body: withItem(`{"sku":"ABC-0001","quantity":1,"unitPrice":1,"\u00e9x":1}`), wantStatus: 400, wantDetail: `body.items[0]["\u00e9x"]: is not an allowed property`},
		{name: "uniqueItems", method: "POST", target: "/v1/orders", body: withItem(`{"sku":"ABC-0001","quantity":1,"unitPrice":1,"tags":["a","b","\u0061"]}`), wantStatus: 400, wantDetail: "body.items[0].tags[2]: repeats an earlier item (uniqueItems)"},
		{name: "maxLength counts characters", method: "POST", target: "/v1/orders", body: withItem(`{"sku":"ABC-0001","quantity":1,"unitPrice":1,"tags":["` + strings.Repeat("ā", 30) + `"]}`)},
		{name: "maxLength", method: "POST", target: "/v1/orders", body: withItem(`{"sku":"ABC-0001","quantity":1,"unitPrice":1,"tags":["` + strings.Repeat("ā", 31) + `"]}`), wantStatus: 400, wantDetail: "body.items[0].tags[0]: must be at most 30 characters long"},
		{name: "enum", method: "POST", target: "/v1/orders", body: withItem(`{"sku":"ABC-0001","quantity":1,"unitPrice":1,"currency":"USD"}`), wantStatus: 400, wantDetail: `body.items[0].currency: must be one of: "NZD", "AUD"`},
		{name: "nullable", method: "POST", target: "/v1/orders", body: strings.Replace(order, `"line1": "PO Box 5012"`, `"line1": null`, 1), wantStatus: 400, wantDetail: "body.billingAddress.line1: must be a string"},
		{name: "date-time", method: "POST", target: "/v1/orders", body: strings.Replace(order, "2025-12-19T17:00:00+13:00", "2025-02-30T17:00:00Z", 1), wantStatus: 400, wantDetail: "body.deliverBy: must be a date-time (RFC 3339, such as 2025-01-31T09:30:00Z)"},
		{name: "email", method: "POST", target: "/v1/orders", body: strings.Replace(order, "aroha.ngata@example.co.nz", "aroha", 1), wantStatus: 400, wantDetail: "body.customer.email: must be an email address"},
		{name: "discriminator picks account", method: "POST", target: "/v1/orders", body: strings.Replace(order, `{"method": "card", "token": "tok_4f9a8b7c6d5e"}`, `{"method": "account", "accountNumber": "12-3456-7890123-00"}`, 1)},
		{name: "discriminator checks the picked one", method: "POST", target: "/v1/orders", body: strings.Replace(order, `{"method": "card", "token": "tok_4f9a8b7c6d5e"}`, `{"method": "card", "accountNumber": "12-3456-7890123-00"}`, 1), wantStatus: 400, wantDetail: "body.payment.token: is required"},
		{name: "discriminator unknown", method: "POST", target: "/v1/orders", body: strings.Replace(order, `"method": "card"`, `"method": "cash"`, 1), wantStatus: 400, wantDetail: "body.payment.method: is not one of the known kinds"},
		{name: "anyOf second", method: "POST", target: "/v1/orders", body: strings.Replace(order, `{"code": "KIAORA"}`, `{"percent": 10}`, 1)},
		{name: "anyOf none", method: "POST", target: "/v1/orders", body: strings.Replace(order, `{"code": "KIAORA"}`, `{"percent": 0}`, 1), wantStatus: 400, wantDetail: "body.discount: must match at least one of the schemas in anyOf"},
		{name: "readOnly in a request", method: "PUT", target: "/v1/orders/" + id, body: `{"id":"` + id + `","status":"open","customer":{"name":"A","email":"a@b.nz"},"items":[{"sku":"ABC-0001","quantity":1,"unitPrice":1}]}`, wantStatus: 400, wantDetail: "body.id: is read-only and must not be sent"},
		{name: "readOnly required but not in requests", method: "PUT", target: "/v1/orders/" + id, body: `{"status":"open","customer":{"name":"A","email":"a@b.nz"},"items":[{"sku":"ABC-0001","quantity":1,"unitPrice":1}],"secret":"s"}`},
		{name: "trailing data after a valid body", method: "POST", target: "/v1/orders", body: order + "{}", wantStatus: 400, wantType: "malformed-json"},
		{name: "XXE to the XML operation", method: "POST", target: "/v1/notes", header: ct("application/xml"), body: `<!DOCTYPE n [<!ENTITY x SYSTEM "file:///etc/passwd">]><n>&x;</n>`, wantStatus: 400, wantType: "xml-dtd-refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := tt.header
			if h == nil && tt.body != "" {
				h = ct("application/json")
			}
			r := newRequest(tt.method, tt.target, tt.body, h)
			d := v.Check(r, nil)
			if tt.wantStatus == 0 {
				if d != nil {
					t.Fatalf("denied: %d %s: %s", d.Status, d.Type, d.Detail)
				}
				if tt.body != "" {
					got, _ := io.ReadAll(r.Body)
					if string(got) != tt.body {
						t.Errorf("the upstream would read %q", got)
					}
				}
				return
			}
			if d == nil {
				t.Fatal("passed, want a denial")
			}
			if d.Status != tt.wantStatus || tt.wantType != "" && d.Type != tt.wantType || tt.wantDetail != "" && d.Detail != tt.wantDetail {
				t.Errorf("got %d %s %q\nwant %d %s %q", d.Status, d.Type, d.Detail, tt.wantStatus, tt.wantType, tt.wantDetail)
			}
			if d.Status == 405 && strings.Join(d.Allow, ",") != "DELETE,GET,HEAD,PUT" {
				t.Errorf("Allow = %v", d.Allow)
			}
		})
	}
}

func ct(v string) http.Header { return http.Header{"Content-Type": {v}} }

func newRequest(method, target, body string, h http.Header) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	for k, vs := range h {
		r.Header[k] = vs
	}
	return r
}

func TestNotFound501(t *testing.T) {
	t.Parallel()
	v := newValidator(t, "orders.yaml", Config{NotFound: 501})
	if d := v.Check(newRequest("GET", "/nope", "", nil), nil); d == nil || d.Status != 501 {
		t.Errorf("Check = %+v, want 501", d)
	}
	if _, err := New(loadSpec(t, "orders.yaml"), Config{NotFound: 500}); err == nil {
		t.Error("NotFound 500 accepted")
	}
}

// The gateway runs the policy through CheckHeader, so the 406 gets its Link.
var _ policy.HeaderChecker = (*Validator)(nil)

func TestEnforceLink(t *testing.T) {
	t.Parallel()
	v := newValidator(t, "orders.yaml", Config{DocsURL: "https://docs.example/orders"})
	r := newRequest("GET", "/orders", "", http.Header{"Accept": {"application/xml"}})
	rec := httptest.NewRecorder()
	err := v.Enforce(rec, r, http.NotFoundHandler())
	if d, ok := err.(*policy.Denial); !ok || d.Status != 406 {
		t.Fatalf("Enforce = %v", err)
	}
	if got := rec.Header().Get("Link"); got != `<https://docs.example/orders>; rel="help"` {
		t.Errorf("Link = %q", got)
	}
}

func TestSpecPaths(t *testing.T) {
	t.Parallel()
	s := loadSpec(t, "orders.yaml")
	if got := s.ServerPath(); got != "/v1" {
		t.Errorf("ServerPath = %q", got)
	}
	if got := s.Version(); got != "3.0.3" {
		t.Errorf("Version = %q", got)
	}
}

func TestLoadRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct{ file, want string }{
		{"url-ref.yaml", "only files beside the description"},
		{"outside-ref.yaml", "outside the description's directory"},
		{"swagger2.yaml", "only OpenAPI 3.0 and 3.1"},
		{"missing.yaml", "no such file"},
	}
	for _, tt := range tests {
		_, err := Load("testdata/" + tt.file)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%s) = %v, want an error containing %q", tt.file, err, tt.want)
		}
	}
	if _, err := Load("testdata/split/main.yaml"); err != nil {
		t.Errorf("a description split over files in its directory: %v", err)
	}
	// A pattern Go cannot compile would be silently unenforced: refuse it at load.
	s, err := Parse([]byte(`{"openapi":"3.0.3","info":{"title":"t","version":"1"},"paths":{"/a":{"post":{
		"requestBody":{"content":{"application/json":{"schema":{"type":"string","pattern":"^(?!admin).*$"}}}},
		"responses":{"200":{"description":"ok"}}}}}}`), "lookahead")
	if err == nil {
		_, err = New(s, Config{})
	}
	if err == nil || !strings.Contains(err.Error(), "RE2") && !strings.Contains(err.Error(), "parsing regexp") {
		t.Errorf("a look-ahead pattern: %v, want an RE2 error", err)
	}
}

func TestSplitSpec(t *testing.T) {
	t.Parallel()
	v := newValidator(t, "split/main.yaml", Config{})
	if d := v.Check(newRequest("POST", "/pets", `{"name":"Rex","age":3}`, ct("application/json")), nil); d != nil {
		t.Errorf("valid pet refused: %s", d.Detail)
	}
	d := v.Check(newRequest("POST", "/pets", `{"name":"Rex","age":-1}`, ct("application/json")), nil)
	if d == nil || d.Detail != "body.age: must be >= 0" {
		t.Errorf("Check = %+v", d)
	}
}

func TestOpenAPI31(t *testing.T) {
	t.Parallel()
	v := newValidator(t, "v31.yaml", Config{})
	tests := []struct {
		body, want string
	}{
		{body: `{"kind":"reading","value":3.5,"unit":null,"labels":["a"]}`},
		{body: `{"kind":"reading","value":3.5,"unit":"kPa"}`},
		{body: `{"kind":"other","value":3.5}`, want: `body.kind: must be one of: "reading"`},
		{body: `{"kind":"reading","value":0}`, want: "body.value: must be > 0"},
		{body: `{"kind":"reading","value":100}`, want: "body.value: must be < 100"},
		{body: `{"kind":"reading","value":1,"unit":5}`, want: "body.unit: must be a string or null"},
		{body: `{"kind":"reading","value":1,"labels":[]}`, want: "body.labels: must have at least 1 items"},
		{body: `{"kind":"reading","value":1,"never":1}`, want: "body.never: is not allowed here"},
		{body: `{"kind":"reading","value":1,"extra":true}`},
		{body: `{"kind":"reading","value":1,"extra":"x"}`, want: `body.extra: must be a boolean`},
		{body: `{"kind":"reading","value":1,"ref":{"note":"hi"}}`},
		{body: `{"kind":"reading","value":1,"ref":{"note":"this note is far too long"}}`, want: "body.ref.note: must be at most 10 characters long"},
	}
	for _, tt := range tests {
		d := v.Check(newRequest("POST", "/readings", tt.body, ct("application/json")), nil)
		got := ""
		if d != nil {
			got = d.Detail
		}
		if got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.body, got, tt.want)
		}
	}
}

func TestFallback(t *testing.T) {
	t.Parallel()
	v := newValidator(t, "fallback.yaml", Config{})
	want := []string{"POST /labels: query parameter style deepObject"}
	if got := v.Fallbacks(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Fallbacks = %q, want %q", got, want)
	}
	tests := []struct {
		method, target, body string
		wantStatus           int
		wantDetail           string
	}{
		{method: "POST", target: "/labels?page=2", body: `{"x-a":"b"}`},
		{method: "POST", target: "/labels", body: `{"x-a":5}`, wantStatus: 400, wantDetail: `body.x-a: value must be a string`},
		{method: "POST", target: "/labels?page=0", body: `{"x-a":"b"}`, wantStatus: 400, wantDetail: `query.page: number must be at least 1`},
		{method: "POST", target: "/labels", body: `{"x-a":"b","x-a":"c"}`, wantStatus: 400},
		{method: "POST", target: "/labels", body: `{}`, wantStatus: 0},
		{method: "GET", target: "/tags", wantStatus: 0},
	}
	for _, tt := range tests {
		d := v.Check(newRequest(tt.method, tt.target, tt.body, ct("application/json")), nil)
		switch {
		case tt.wantStatus == 0 && d != nil:
			t.Errorf("%s %s: denied %s", tt.target, tt.body, d.Detail)
		case tt.wantStatus != 0 && (d == nil || d.Status != tt.wantStatus || tt.wantDetail != "" && d.Detail != tt.wantDetail):
			t.Errorf("%s %s: got %+v, want %d %q", tt.target, tt.body, d, tt.wantStatus, tt.wantDetail)
		}
	}
}

// kinBody validates body against the POST /orders request body with kin-openapi, the way the
// fallback does.
func kinBody(t testing.TB, v *Validator, body []byte) error {
	var values [maxPathParams]string
	r := newRequest("POST", "/orders", "", ct("application/json"))
	op, n, d := v.lookup(r, &values)
	if d != nil {
		t.Fatal(d)
	}
	in := v.kinInput(op, r, values[:n], body)
	return openapi3filter.ValidateRequestBody(context.Background(), in, op.route.Operation.RequestBody.Value)
}

// TestAgreesWithKin checks the compiled validator against kin-openapi on the same bodies.
func TestAgreesWithKin(t *testing.T) {
	t.Parallel()
	v := newValidator(t, "orders.yaml", Config{})
	var values [maxPathParams]string
	op, _, _ := v.lookup(newRequest("POST", "/orders", "", nil), &values)
	node := op.body.media[0].node
	corpus := differentialCorpus()
	refused := 0
	for i, body := range corpus {
		ours := validateJSON(node, []byte(body), 32, modeRequest, "body")
		theirs := kinBody(t, v, []byte(body))
		if (ours == nil) != (theirs == nil) {
			t.Errorf("body %d: compiled says %v, kin-openapi says %v\n%s", i, ours, theirs, body)
		}
		if ours != nil {
			refused++
		}
	}
	if refused < len(corpus)/2 || refused == len(corpus) {
		t.Errorf("%d of %d bodies refused: the corpus no longer tells the validators apart", refused, len(corpus))
	}
}

func differentialCorpus() []string {
	r := strings.NewReplacer
	return []string{
		order,
		r(`"quantity": 2`, `"quantity": 0`).Replace(order),
		r(`"quantity": 2`, `"quantity": 2.5`).Replace(order),
		r(`"unitPrice": 89.95`, `"unitPrice": 89.951`).Replace(order),
		r(`"unitPrice": 89.95`, `"unitPrice": 1e2`).Replace(order),
		r(`"postcode": "6011"`, `"postcode": "601"`).Replace(order),
		r(`"country": "NZ"`, `"country": "nz"`).Replace(order),
		r(`"line2": null`, `"line2": "Level 2"`).Replace(order),
		r(`"giftWrap": true`, `"giftWrap": "yes"`).Replace(order),
		r(`"tags": ["gift", "handmade"]`, `"tags": ["gift", "gift"]`).Replace(order),
		r(`"tags": ["gift", "handmade"]`, `"tags": []`).Replace(order),
		r(`"deliverBy": "2025-12-19T17:00:00+13:00"`, `"deliverBy": "2025-12-19"`).Replace(order),
		r(`"deliverBy": "2025-12-19T17:00:00+13:00"`, `"deliverBy": "2024-02-29T00:00:00.123Z"`).Replace(order),
		r(`"email": "aroha.ngata@example.co.nz"`, `"email": "a@@b"`).Replace(order),
		r(`"phone": "+64 21 555 0199"`, `"phone": "call me"`).Replace(order),
		r(`"token": "tok_4f9a8b7c6d5e"`, `"token": "short"`).Replace(order),
		r(`"code": "KIAORA"`, `"code": "kiaora"`).Replace(order),
		r(`{"code": "KIAORA"}`, `{"percent": 50}`).Replace(order),
		r(`{"code": "KIAORA"}`, `{"percent": 51}`).Replace(order),
		r(`"giftWrap": true,`, `"giftWrap": true, "extra": 1,`).Replace(order),
		r(`"notes": `, `"notes": 5, "x": `).Replace(order),
		`{}`, `[]`, `null`, `"order"`,
		`{"customer":{"name":"","email":"a@b"},"items":[{"sku":"ABC-0001","quantity":1,"unitPrice":0}],"shippingAddress":{"line1":"1","city":"W","postcode":"6011","country":"AU"}}`,
		`{"customer":{"name":"A","email":"a@b","extra":{"deep":[1,2,{"x":null}]}},"items":[{"sku":"ABC-0001","quantity":1000,"unitPrice":0.01}],"shippingAddress":{"line1":"1","city":"W","postcode":"6011","country":"AU"}}`,
	}
}

func TestBodyAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	v := newValidator(t, "orders.yaml", Config{})
	var values [maxPathParams]string
	op, _, _ := v.lookup(newRequest("POST", "/orders", "", nil), &values)
	node := op.body.media[0].node
	body := []byte(order)
	if err := validateJSON(node, body, 32, modeRequest, "body"); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(50, func() { _ = validateJSON(node, body, 32, modeRequest, "body") }); n > 0 {
		t.Errorf("validating a valid 1 KiB body allocates %v times, want 0", n)
	}
}

func TestCheckUsesBufferedBody(t *testing.T) {
	t.Parallel()
	v := newValidator(t, "orders.yaml", Config{})
	r := newRequest("POST", "/orders", order, ct("application/json"))
	c, err := content.New(content.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Check(r, nil); d != nil {
		t.Fatal(d)
	}
	first := r.Body
	if d := v.Check(r, nil); d != nil {
		t.Fatal(d)
	}
	if r.Body != first {
		t.Error("the openapi policy read the body again instead of using the content policy's buffer")
	}
	got, _ := io.ReadAll(r.Body)
	if !bytes.Equal(got, []byte(order)) {
		t.Error("body changed")
	}
}
