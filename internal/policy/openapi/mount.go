package openapi

import (
	"fmt"
	"strings"

	"github.com/tiaki-nz/tiaki"
)

// Mount is where a gateway route publishes the API a description describes.
type Mount struct {
	// PathPrefix is the route's path prefix; "" or "/" for the root.
	PathPrefix string
	// StripPrefix says the gateway removes PathPrefix before forwarding.
	StripPrefix bool
	// UpstreamPath is the path of the upstream's URL, which the gateway puts before what it
	// forwards; "" or "/" for none.
	UpstreamPath string
}

// BasePath is the part of a request path, as the gateway receives it, that comes before the
// paths the description lists (Config.BasePath). The server URL's path (ServerPath) is
// counted once on the way from the client to the upstream:
//
//  1. No server path: the paths start right after the route's prefix when the gateway strips
//     it, else at the root (they then include the prefix, as the upstream sees them).
//  2. With strip_prefix, when the upstream URL's path holds the server path: the upstream
//     adds it, so the paths start after the prefix (prefix /v1-permits, upstream
//     http://permits/permits, server /permits: /v1-permits/x is the description's /x, and the
//     upstream sees /permits/x). A server path below the upstream's keeps the rest
//     (upstream /api, server /api/permits: after the prefix comes /permits).
//  3. A server path equal to the route's prefix, or below it: the server URL is the API's
//     public address, where clients send requests (server https://host/permits and prefix
//     /permits: /permits/x is /x, whether or not the gateway strips the prefix).
//  4. Any other server path, with strip_prefix: it is where the upstream serves the paths,
//     so clients send it after the prefix (prefix /v1-permits, server /permits, upstream with
//     no path: /v1-permits/permits/x is /x, and the upstream sees /permits/x).
//  5. Any other server path, without strip_prefix: the upstream sees the request path as it
//     came, so the server path must contain the prefix (prefix /permits/v1, server
//     /permits: /permits/v1/x is /v1/x). A server path outside the prefix is an error, since
//     no request could match.
func (s *Spec) BasePath(m Mount) (string, error) {
	prefix := strings.TrimSuffix(m.PathPrefix, "/")
	up := strings.TrimSuffix(m.UpstreamPath, "/")
	server := s.ServerPath()
	switch {
	case server == "":
		if m.StripPrefix {
			return prefix, nil
		}
		return "", nil
	case m.StripPrefix && up != "" && within(server, up):
		return prefix + server[len(up):], nil
	case within(server, prefix):
		return server, nil
	case m.StripPrefix:
		return prefix + server, nil
	case within(prefix, server):
		return server, nil
	}
	return "", fmt.Errorf("openapi: %s: the server URL's path %s is outside the route's path prefix %s, and "+
		"the prefix is not stripped, so no request could match; set strip_prefix (the upstream then serves the "+
		"description's paths under %s) or correct the server URL: %w", s.name, server, m.PathPrefix, server, tiaki.ErrInvalid)
}

// within reports whether path p is base or below it, on whole segments ("" is the root).
func within(p, base string) bool {
	return p == base || strings.HasPrefix(p, base+"/") || base == ""
}
