package probe

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// HTTP-01 (the standard verbs) and THREAT-02 (allow-list the methods): TRACE and a made-up
// method get 405 with Allow (RFC 9110 §15.5.6) or 501, never a 2xx.
func checkMethods(ctx context.Context, s *session) []result {
	if r, ok := s.needAPI(); !ok {
		return []result{r}
	}
	subject := s.api.String()
	auth := s.canAuth(ctx)
	var fails, warns, passes []string
	for _, method := range []string{http.MethodTrace, "TIAKIPROBE"} {
		resp, err := s.send(ctx, request{method: method, url: s.api.String(), auth: auth})
		if err != nil {
			return []result{errResult(subject, err)}
		}
		switch {
		case resp.Status < 300:
			fails = append(fails, fmt.Sprintf("%s answered %d", method, resp.Status))
		case resp.Status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "":
			fails = append(fails, fmt.Sprintf("%s got 405 without Allow (RFC 9110 §15.5.6 requires it)", method))
		case resp.Status == http.StatusMethodNotAllowed || resp.Status == http.StatusNotImplemented:
			passes = append(passes, fmt.Sprintf("%s %d", method, resp.Status))
		default:
			warns = append(warns, fmt.Sprintf("%s got %d, not 405 or 501", method, resp.Status))
		}
	}
	switch {
	case len(fails) > 0:
		return []result{fail(subject, "%s", strings.Join(append(fails, warns...), "; "))}
	case len(warns) > 0:
		if !auth {
			warns = append(warns, "(sent without credentials)")
		}
		return []result{warn(subject, "%s", strings.Join(warns, "; "))}
	}
	return []result{pass(subject, "%s", strings.Join(passes, "; "))}
}

// HTTP-03: a HEAD response has no body. net/http clients drop one silently, so the probe
// speaks HTTP/1.1 on a raw connection and counts the bytes after the header block.
func checkHead(ctx context.Context, s *session) []result {
	if r, ok := s.needAPI(); !ok {
		return []result{r}
	}
	subject := s.api.String()
	status, extra, err := s.rawHead(ctx, s.api, s.canAuth(ctx))
	if err != nil {
		return []result{errResult(subject, err)}
	}
	if extra > 0 {
		return []result{fail(subject, "HEAD got %d and %d bytes of body after the headers", status, extra)}
	}
	return []result{pass(subject, "HEAD got %d with no body", status)}
}

// headWait is how long rawHead waits for body bytes after the headers.
const headWait = 1500 * time.Millisecond

func (s *session) rawHead(ctx context.Context, u *url.URL, auth bool) (status, extra int, err error) {
	var authLine string
	if auth {
		name, value, ok := s.credential(ctx)
		if !ok {
			auth = false
		} else {
			authLine = name + ": " + value + "\r\n"
		}
	}
	if err := s.spend(ctx); err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var conn net.Conn
	if u.Scheme == "https" {
		cfg := &tls.Config{ServerName: u.Hostname(), RootCAs: s.roots, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
		if !auth {
			cfg.InsecureSkipVerify = true //nolint:gosec // no credential on this connection
		}
		conn, err = (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", hostPort(u))
	} else {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", hostPort(u))
	}
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	req := "HEAD " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: tiaki-audit\r\nAccept: application/json\r\nConnection: close\r\n" + authLine + "\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return 0, 0, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodHead})
	if err != nil {
		return 0, 0, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(headWait))
	n, _ := io.Copy(io.Discard, io.LimitReader(br, 64<<10))
	return resp.StatusCode, int(n), nil
}
