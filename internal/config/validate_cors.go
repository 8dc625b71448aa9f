package config

import (
	"slices"

	"github.com/tiaki-nz/tiaki/internal/policy/cors"
)

// cors checks apis[].cors, the cross-origin policy (internal/policy/cors, whose origin grammar
// it uses, so that config check and the gateway agree on every entry).
func (v *checker) cors() {
	for i, a := range v.c.APIs {
		c := a.CORS
		if c == nil {
			continue
		}
		key := indexKey("apis", i) + ".cors"
		if len(c.AllowOrigins) == 0 {
			v.errorf(key+".allow_origins", "list at least one origin (scheme://host[:port])")
		}
		for j, o := range c.AllowOrigins {
			ok := indexKey(key+".allow_origins", j)
			if _, err := cors.ParseOrigin(o); err != nil {
				v.errorf(ok, "%v", err)
			} else if o == "*" && c.AllowCredentials {
				// Fetch §3.3.4: a credentialed response must name its origin; "*" would let
				// every site read what the user's cookies or certificate unlock.
				v.errorf(ok, `"*" cannot be combined with allow_credentials: list the origins`)
			}
		}
		if len(c.AllowMethods) == 0 {
			v.errorf(key+".allow_methods", "list at least one method")
		}
		for j, m := range c.AllowMethods {
			if !slices.Contains(a.Methods, m) && !(m == "HEAD" && slices.Contains(a.Methods, "GET")) {
				v.errorf(indexKey(key+".allow_methods", j), "%s is not in this API's methods", quoteShort(m))
			}
		}
		v.corsHeaders(key+".allow_headers", c.AllowHeaders, c.AllowCredentials)
		v.corsHeaders(key+".expose_headers", c.ExposeHeaders, c.AllowCredentials)
		if c.MaxAge.Duration < 0 || c.MaxAge.Duration > cors.MaxMaxAge { // 24h
			v.errorf(key+".max_age", "must be between 0s and 24h (browsers cap it anyway)")
		}
	}
}

func (v *checker) corsHeaders(key string, names []string, credentials bool) {
	for j, h := range names {
		switch {
		case h == "*" && credentials:
			v.errorf(indexKey(key, j), `"*" cannot be combined with allow_credentials: list the headers`)
		case h != "*" && !validHeaderName(h):
			v.errorf(indexKey(key, j), "%s is not a valid header name (RFC 9110 §5.1)", quoteShort(h))
		}
	}
}
