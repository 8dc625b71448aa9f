package openapi

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// maxPathParams bounds the parameters one path template may have, so matching keeps its
// values in a fixed array.
const maxPathParams = 16

// router finds the path item a request path belongs to. Templates are split into segments and
// kept in a tree; a concrete segment wins over a template one (OpenAPI 3.0.3 §4.7.8: "concrete
// paths are matched before their templated counterparts").
type router struct {
	root segment
}

type segment struct {
	literal map[string]*segment
	mixed   []*mixedSegment // segments like {name}.{ext}
	param   *segment        // a whole-segment {name}
	item    *pathItem       // when a template ends here
}

type mixedSegment struct {
	re   *regexp.Regexp
	next *segment
}

// pathItem is one path template and the operations under it.
type pathItem struct {
	template string
	names    []string // parameter names in the order they appear
	ops      map[string]*operation
	allow    []string
}

func (rt *router) add(template string, item *pathItem) error {
	if !strings.HasPrefix(template, "/") {
		return fmt.Errorf("path %q: must start with /", template)
	}
	s := &rt.root
	rest := template[1:]
	for {
		seg, more, last := strings.Cut(rest, "/")
		rest = more
		switch {
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") && strings.Count(seg, "{") == 1:
			item.names = append(item.names, seg[1:len(seg)-1])
			if s.param == nil {
				s.param = &segment{}
			}
			s = s.param
		case strings.Contains(seg, "{"):
			re, names, err := mixedPattern(seg)
			if err != nil {
				return fmt.Errorf("path %q: %w", template, err)
			}
			item.names = append(item.names, names...)
			var next *segment
			for _, m := range s.mixed {
				if m.re.String() == re.String() {
					next = m.next
				}
			}
			if next == nil {
				next = &segment{}
				s.mixed = append(s.mixed, &mixedSegment{re: re, next: next})
			}
			s = next
		default:
			if s.literal == nil {
				s.literal = map[string]*segment{}
			}
			next := s.literal[seg]
			if next == nil {
				next = &segment{}
				s.literal[seg] = next
			}
			s = next
		}
		if !last {
			break
		}
	}
	if len(item.names) > maxPathParams {
		return fmt.Errorf("path %q: more than %d parameters", template, maxPathParams)
	}
	if s.item != nil {
		return fmt.Errorf("paths %q and %q are the same template", s.item.template, template)
	}
	s.item = item
	return nil
}

// mixedPattern compiles a segment such as "{name}.{ext}" or "v{version}".
func mixedPattern(seg string) (*regexp.Regexp, []string, error) {
	var b strings.Builder
	var names []string
	b.WriteString("^")
	for seg != "" {
		open := strings.IndexByte(seg, '{')
		if open < 0 {
			b.WriteString(regexp.QuoteMeta(seg))
			break
		}
		b.WriteString(regexp.QuoteMeta(seg[:open]))
		end := strings.IndexByte(seg[open:], '}')
		if end < 0 {
			return nil, nil, fmt.Errorf("unclosed { in segment %q", seg)
		}
		names = append(names, seg[open+1:open+end])
		b.WriteString("(.+?)")
		seg = seg[open+end+1:]
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	return re, names, err
}

// match finds the item for an escaped path, and fills values with the parameter values
// (percent-decoded) in template order.
func (rt *router) match(path string, values *[maxPathParams]string) (*pathItem, int, bool) {
	if path == "" || path[0] != '/' {
		return nil, 0, false
	}
	item, n, ok := rt.root.match(path[1:], values, 0)
	return item, n, ok
}

func (s *segment) match(rest string, values *[maxPathParams]string, n int) (*pathItem, int, bool) {
	seg, more, last := strings.Cut(rest, "/")
	pick := func(next *segment) (*pathItem, int, bool) {
		if !last {
			if next.item != nil {
				return next.item, n, true
			}
			return nil, 0, false
		}
		return next.match(more, values, n)
	}
	if s.literal != nil {
		name := seg
		if strings.IndexByte(seg, '%') >= 0 {
			if u, err := url.PathUnescape(seg); err == nil {
				name = u
			}
		}
		if next := s.literal[name]; next != nil {
			if item, k, ok := pick(next); ok {
				return item, k, true
			}
		}
	}
	for _, m := range s.mixed {
		sub := m.re.FindStringSubmatch(seg)
		if sub == nil || n+len(sub)-1 > maxPathParams {
			continue
		}
		k := n
		for _, v := range sub[1:] {
			values[k] = unescapeSegment(v)
			k++
		}
		saved := n
		n = k
		if item, k, ok := pick(m.next); ok {
			return item, k, true
		}
		n = saved
	}
	if s.param != nil && seg != "" && n < maxPathParams {
		values[n] = unescapeSegment(seg)
		n++
		if item, k, ok := pick(s.param); ok {
			return item, k, true
		}
		n--
	}
	return nil, 0, false
}

// unescapeSegment decodes a path segment; a malformed escape is kept as it is and fails the
// parameter's schema if that matters.
func unescapeSegment(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// allowed lists an item's methods for a 405 answer's Allow field (RFC 9110 §15.5.6).
func allowed(ops map[string]*operation) []string {
	var out []string
	for m := range ops {
		out = append(out, m)
	}
	if ops["GET"] != nil && ops["HEAD"] == nil {
		out = append(out, "HEAD")
	}
	slices.Sort(out)
	return out
}
