package openapi

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unsafe"

	"github.com/getkin/kin-openapi/openapi3"
)

// param is one compiled path, query or header parameter.
type param struct {
	in         string // "path", "query", "header"
	name       string
	header     string // canonical header key
	where      string // for messages: "query.limit"
	required   bool
	allowEmpty bool
	node       *node
	array      bool // the schema is an array of scalars
	explode    bool // form style: one query field per item
	sep        byte // separator of a non-exploded array
	pathIndex  int  // position among the path template's parameters
}

// compileParams merges path-item and operation parameters (the operation's win, OpenAPI 3.0.3
// §4.7.10) and compiles each.
func (c *compiler) params(item, op openapi3.Parameters, names []string) ([]*param, error) {
	var list []*openapi3.Parameter
	for _, r := range op {
		if r.Value != nil {
			list = append(list, r.Value)
		}
	}
	for _, r := range item {
		if r.Value != nil && op.GetByInAndName(r.Value.In, r.Value.Name) == nil {
			list = append(list, r.Value)
		}
	}
	var out []*param
	for _, p := range list {
		cp, err := c.param(p, names)
		if err != nil {
			return nil, err
		}
		out = append(out, cp)
	}
	return out, nil
}

func (c *compiler) param(p *openapi3.Parameter, names []string) (*param, error) {
	if p.Schema == nil || len(p.Content) > 0 {
		return nil, unsupported("parameter " + p.Name + " described by content")
	}
	cp := &param{in: p.In, name: p.Name, where: p.In + "." + p.Name, required: p.Required, allowEmpty: p.AllowEmptyValue, pathIndex: -1}
	sm, err := p.SerializationMethod()
	if err != nil {
		return nil, err
	}
	switch p.In {
	case openapi3.ParameterInPath:
		cp.required = true // OpenAPI 3.0.3 §4.7.12.1: path parameters are always required
		for i, n := range names {
			if n == p.Name {
				cp.pathIndex = i
			}
		}
		if cp.pathIndex < 0 {
			return nil, unsupported("path parameter " + p.Name + " missing from the template")
		}
		if sm.Style != openapi3.SerializationSimple {
			return nil, unsupported("path parameter style " + sm.Style)
		}
		cp.sep = ','
	case openapi3.ParameterInQuery:
		switch sm.Style {
		case openapi3.SerializationForm:
			cp.sep, cp.explode = ',', sm.Explode
		case openapi3.SerializationSpaceDelimited:
			cp.sep = ' '
		case openapi3.SerializationPipeDelimited:
			cp.sep = '|'
		default:
			return nil, unsupported("query parameter style " + sm.Style)
		}
	case openapi3.ParameterInHeader:
		cp.header = http.CanonicalHeaderKey(p.Name)
		cp.sep = ','
	default:
		return nil, unsupported(p.In + " parameters")
	}
	n, err := c.root(p.Schema)
	if err != nil {
		return nil, err
	}
	if n != nil {
		if n.combined || n.types.has(tObject) && n.types != tAny {
			return nil, unsupported("parameter " + p.Name + " with an object or combined schema")
		}
		if n.types == tArray {
			if n.items != nil && (n.items.combined || n.items.types.has(tArray|tObject) && n.items.types != tAny) {
				return nil, unsupported("parameter " + p.Name + " with nested arrays")
			}
			cp.array = true
		}
	}
	cp.node = n
	return cp, nil
}

// check validates the parameter; it returns what is wrong, or "".
func (p *param) check(r *http.Request, pathValues []string) string {
	switch p.in {
	case openapi3.ParameterInPath:
		return p.value(pathValues[p.pathIndex])
	case openapi3.ParameterInHeader:
		vs := r.Header[p.header]
		if len(vs) == 0 {
			return p.missing()
		}
		v := vs[0]
		if len(vs) > 1 {
			v = strings.Join(vs, ",") // RFC 9110 §5.3: repeated fields are one list
		}
		return p.value(strings.TrimSpace(v))
	}
	return p.query(r.URL.RawQuery)
}

func (p *param) missing() string {
	if p.required {
		return "is required"
	}
	return ""
}

// query finds the parameter in a raw query string without building url.Values.
func (p *param) query(raw string) string {
	found, items := false, 0
	for raw != "" {
		var field string
		field, raw, _ = strings.Cut(raw, "&")
		key, value, _ := strings.Cut(field, "=")
		if !queryKeyIs(key, p.name) {
			continue
		}
		v, err := url.QueryUnescape(value)
		if err != nil {
			return "is not a valid query value (bad percent-encoding)"
		}
		found = true
		if p.array && p.explode {
			if msg := p.item(v, items); msg != "" {
				return msg
			}
			items++
			continue
		}
		if items > 0 {
			return "is repeated"
		}
		items++
		if msg := p.value(v); msg != "" {
			return msg
		}
	}
	if !found {
		return p.missing()
	}
	if p.array && p.explode && p.node != nil {
		return countProblem(p.node, items)
	}
	return ""
}

func queryKeyIs(key, name string) bool {
	if strings.ContainsAny(key, "%+") {
		k, err := url.QueryUnescape(key)
		return err == nil && k == name
	}
	return key == name
}

// value validates one serialised value: a scalar, or a whole delimited array.
func (p *param) value(v string) string {
	if v == "" && p.allowEmpty {
		return ""
	}
	if !p.array {
		return scalarProblem(p.node, v)
	}
	if v == "" {
		return countProblem(p.node, 0)
	}
	items := 0
	for v != "" || items == 0 {
		var item string
		item, v, _ = strings.Cut(v, string(p.sep))
		if msg := p.item(item, items); msg != "" {
			return msg
		}
		items++
		if v == "" {
			break
		}
	}
	return countProblem(p.node, items)
}

func (p *param) item(v string, i int) string {
	if p.node.maxItems >= 0 && i >= p.node.maxItems {
		return "must have at most " + strconv.Itoa(p.node.maxItems) + " items"
	}
	if msg := scalarProblem(p.node.items, v); msg != "" {
		return "item " + strconv.Itoa(i) + " " + msg
	}
	return ""
}

func countProblem(n *node, items int) string {
	if items < n.minItems {
		return "must have at least " + strconv.Itoa(n.minItems) + " items"
	}
	return ""
}

// scalarProblem validates a parameter value, which is text, against a scalar schema: it is a
// number if the schema allows numbers and the text is one (in JSON number syntax), a boolean
// if it allows booleans and the text is true or false, else a string.
func scalarProblem(n *node, s string) string {
	if n == nil {
		return ""
	}
	if n.never {
		return "is not allowed"
	}
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	if n.types.has(tNumber|tInteger) && jsonNumber(s) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return "is out of range for a number"
		}
		return numberProblem(n, f)
	}
	if n.types.has(tBoolean) && (s == "true" || s == "false") {
		if e := n.enum; e != nil && !(s == "true" && e.hasTrue || s == "false" && e.hasFalse) {
			return "must be one of: " + e.list
		}
		return ""
	}
	if n.types.has(tString) {
		return stringProblem(n, b)
	}
	return n.types.expected()
}

// jsonNumber reports whether s is a number in JSON syntax (RFC 8259 §6), the syntax
// parameters are matched against; strconv.ParseFloat alone would also take "inf" or "0x1p4".
func jsonNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	start := i
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	if i == start || s[start] == '0' && i-start > 1 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		f := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == f {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		f := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == f {
			return false
		}
	}
	return i == len(s)
}
