package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStalledBodiesEndToEnd sends every listener a request whose body stops after two bytes
// (issue 11: Content-Length 100, two bytes, then silence used to hold the connection and its
// goroutine for ever). Each listener answers within its bound and closes the connection: the
// gateway within the API's limits.body_timeout, over HTTP/1.1 (internal/h1) and HTTP/2, with
// 408 where it was reading the body and the refusal it had decided on where it was not; the
// authorization server's token endpoint and the ops listener within formBodyTimeout.
func TestStalledBodiesEndToEnd(t *testing.T) {
	dir := t.TempDir()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"read":%d}`, len(b))
	}))
	t.Cleanup(upstream.Close)
	cfgPath := filepath.Join(dir, "tiaki.yaml")
	writeAtomic(t, cfgPath, []byte(fmt.Sprintf(`
apis:
  - name: open
    upstream: %s
    match: {path_prefix: /open}
    methods: [POST]
    auth: {api_key: "off"}
    consumes: [text/plain]
    injection_protection: "off"
    limits: {body_timeout: 1s}
  - name: checked
    upstream: %s
    match: {path_prefix: /checked}
    methods: [POST]
    auth: {api_key: "off"}
    limits: {body_timeout: 1s}
  - name: keyed
    upstream: %s
    match: {path_prefix: /keyed}
    methods: [POST]
    auth: {api_key: required}
    limits: {body_timeout: 1s}
`, upstream.URL, upstream.URL, upstream.URL)))
	r := startTiaki(t, filepath.Join(dir, "data"), "--config", cfgPath)
	pool := r.client.Transport.(*http.Transport).TLSClientConfig.RootCAs
	const routeBound = time.Second

	// stall writes a request that declares a 100-byte body and sends two bytes of it, and
	// reads the response as an HTTP/1.1 client.
	stall := func(t *testing.T, addr string, tlsConf *tls.Config, path, contentType string) (*http.Response, string, time.Duration, *bufio.Reader) {
		t.Helper()
		var c io.ReadWriteCloser
		if tlsConf != nil {
			tc, err := tls.Dial("tcp", addr, tlsConf)
			if err != nil {
				t.Fatal(err)
			}
			tc.SetDeadline(time.Now().Add(30 * time.Second))
			c = tc
		} else {
			t.Fatal("every listener here speaks TLS")
		}
		t.Cleanup(func() { c.Close() })
		start := time.Now()
		io.WriteString(c, "POST "+path+" HTTP/1.1\r\nHost: "+addr+"\r\nContent-Type: "+contentType+"\r\n"+
			"Content-Length: 100\r\n\r\n{\"")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("no response from %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body), time.Since(start), br
	}
	expectClosed := func(t *testing.T, resp *http.Response, br *bufio.Reader) {
		t.Helper()
		if !resp.Close {
			t.Error("no Connection: close")
		}
		if n, err := br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Errorf("after the response: %d bytes, %v; want the connection closed", n, err)
		}
	}
	h1Conf := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, NextProtos: []string{"http/1.1"}}

	for _, tc := range []struct{ name, path, contentType string }{
		{"gateway HTTP/1.1, body streamed upstream", "/open/x", "text/plain"},
		{"gateway HTTP/1.1, body read by a policy", "/checked/x", "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body, took, br := stall(t, r.Gateway, h1Conf, tc.path, tc.contentType)
			if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(body, `"request-timeout"`) {
				t.Errorf("got %d %s, want 408 request-timeout", resp.StatusCode, body)
			}
			if took < routeBound-100*time.Millisecond || took > routeBound+5*time.Second {
				t.Errorf("answered after %v, want about %v", took, routeBound)
			}
			expectClosed(t, resp, br)
		})
	}
	t.Run("gateway HTTP/1.1, refused before reading", func(t *testing.T) {
		t.Parallel()
		resp, body, took, br := stall(t, r.Gateway, h1Conf, "/keyed/x", "application/json")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("got %d %s, want 401", resp.StatusCode, body)
		}
		if took > routeBound+5*time.Second {
			t.Errorf("answered after %v, want within about %v", took, routeBound)
		}
		expectClosed(t, resp, br)
	})
	t.Run("gateway HTTP/2", func(t *testing.T) {
		t.Parallel()
		pr, pw := io.Pipe()
		defer pw.Close()
		go pw.Write([]byte(`{"`))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+r.Gateway+"/checked/x", pr)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = 100
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := r.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		took := time.Since(start)
		if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), `"request-timeout"`) {
			t.Errorf("got %s %d %s, want HTTP/2 408 request-timeout", resp.Proto, resp.StatusCode, body)
		}
		if took < routeBound-100*time.Millisecond || took > routeBound+5*time.Second {
			t.Errorf("answered after %v, want about %v", took, routeBound)
		}
	})
	t.Run("authorization server token endpoint", func(t *testing.T) {
		t.Parallel()
		resp, body, took, br := stall(t, r.AuthServer, h1Conf, "/token", "application/x-www-form-urlencoded")
		// 408, with an OAuth error body: the form could not be read in time (RFC 6749 §5.2).
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(body, `"invalid_request"`) {
			t.Errorf("got %d %s, want 408 invalid_request", resp.StatusCode, body)
		}
		if took < formBodyTimeout-100*time.Millisecond || took > formBodyTimeout+5*time.Second {
			t.Errorf("answered after %v, want about %v", took, formBodyTimeout)
		}
		expectClosed(t, resp, br)
	})
}
