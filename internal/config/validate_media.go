package config

import (
	"fmt"
	"mime"
)

// mediaTypes checks apis[].consumes and apis[].produces: each entry a media type.
func (v *checker) mediaTypes() {
	for i, a := range v.c.APIs {
		for _, f := range []struct {
			name string
			list []string
		}{{"consumes", a.Consumes}, {"produces", a.Produces}} {
			key := fmt.Sprintf("apis[%d].%s", i, f.name)
			if len(f.list) == 0 {
				v.errorf(key, "list at least one media type (for example application/json)")
			}
			for j, t := range f.list {
				if _, _, err := mime.ParseMediaType(t); err != nil {
					v.errorf(fmt.Sprintf("%s[%d]", key, j), "%q is not a media type", t)
				}
			}
		}
	}
}
