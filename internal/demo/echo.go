// Package demo is the content Tiaki serves on its embedded default so a newcomer can try it at
// once: an echo upstream built into the binary, placed behind the gateway like any backend.
// The demo client, user and API key are created by cmd/tiaki from secrets derived from the data
// directory's master key, so a second start prints the same credentials without storing them.
package demo

import (
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
)

// maxEcho bounds how much of a request body the echo reads back.
const maxEcho = 64 << 10

// Echo is the demo upstream: it answers every request with a JSON description of what it
// received — method, path, query, the headers that matter and the body — so a person can see
// exactly what the gateway forwards (the identity assertion, the correlation ID, and that
// client-supplied identity headers were stripped).
func Echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxEcho+1))
		if err != nil {
			http.Error(w, `{"error":"could not read body"}`, http.StatusBadRequest)
			return
		}
		truncated := len(body) > maxEcho
		if truncated {
			body = body[:maxEcho]
		}
		headers := map[string]string{}
		names := make([]string, 0, len(r.Header))
		for name := range r.Header {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			// Credentials are the caller's business, not the echo's: never reflect them.
			switch strings.ToLower(name) {
			case "authorization", "api-key", "cookie", "dpop":
				continue
			}
			headers[name] = strings.Join(r.Header[name], ", ")
		}
		reply := struct {
			Service   string            `json:"service"`
			Method    string            `json:"method"`
			Path      string            `json:"path"`
			Query     string            `json:"query,omitempty"`
			Headers   map[string]string `json:"headers"`
			Body      string            `json:"body,omitempty"`
			Truncated bool              `json:"truncated,omitempty"`
			TLS       string            `json:"tls,omitempty"`
		}{
			Service: "tiaki demo echo",
			Method:  r.Method,
			Path:    r.URL.Path,
			Query:   r.URL.RawQuery,
			Headers: headers,
			Body:    string(body),
		}
		reply.Truncated = truncated
		if r.TLS != nil {
			reply.TLS = "TLS 1.3"
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if r.Method == http.MethodHead {
			return
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(reply)
	})
}
