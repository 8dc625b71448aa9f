package openapi

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRouter(t *testing.T) {
	t.Parallel()
	var rt router
	for _, tmpl := range []string{"/a", "/a/{id}", "/a/b", "/a/{id}/c", "/files/{name}.{ext}", "/v{version}/x", "/"} {
		if err := rt.add(tmpl, &pathItem{template: tmpl}); err != nil {
			t.Fatal(err)
		}
	}
	// OpenAPI 3.0.3 §4.7.8: templates that differ only in parameter names are identical.
	if err := rt.add("/a/{other}", &pathItem{template: "/a/{other}"}); err == nil {
		t.Error("/a/{other} beside /a/{id} was accepted")
	}
	tests := []struct {
		path     string
		want     string // "" for no match
		wantVals []string
	}{
		{"/", "/", nil},
		{"/a", "/a", nil},
		{"/a/b", "/a/b", nil},
		{"/a/x", "/a/{id}", []string{"x"}},
		{"/a/x%2Fy", "/a/{id}", []string{"x/y"}},
		{"/a/b/c", "/a/{id}/c", []string{"b"}},
		{"/a/x/c", "/a/{id}/c", []string{"x"}},
		{"/files/report.final.pdf", "/files/{name}.{ext}", []string{"report", "final.pdf"}},
		{"/v2/x", "/v{version}/x", []string{"2"}},
		{"/a/", "", nil},
		{"/a/x/d", "", nil},
		{"/files/noext", "", nil},
		{"relative", "", nil},
	}
	for _, tt := range tests {
		var values [maxPathParams]string
		item, n, ok := rt.match(tt.path, &values)
		got := ""
		if ok {
			got = item.template
		}
		if got != tt.want {
			t.Errorf("match(%q) = %q, want %q", tt.path, got, tt.want)
			continue
		}
		if ok && !cmp.Equal(values[:n], tt.wantVals, cmp.Comparer(func(a, b []string) bool { return len(a) == len(b) && (len(a) == 0 || cmp.Equal(a, b)) })) {
			t.Errorf("match(%q) values = %q, want %q", tt.path, values[:n], tt.wantVals)
		}
	}
	if err := rt.add("/a/{id}", &pathItem{template: "/a/{id}"}); err == nil {
		t.Error("the same template twice was accepted")
	}
	if err := rt.add("no-slash", &pathItem{}); err == nil {
		t.Error("a template without a leading / was accepted")
	}
}
