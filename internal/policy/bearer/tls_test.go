package bearer

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/certs"
	"github.com/tiaki-nz/tiaki/internal/policy"
)

// tlsEnv is a real TLS 1.3 listener (certs.ServerConfig, client certificates requested and
// verified by certs.ClientAuth as the gateway's listener does) whose handler runs one checker
// and answers with the principal, or renders the denial.
type tlsEnv struct {
	pki  *certs.DevPKI
	base string // https://127.0.0.1:port
}

// principalDoc is the handler's answer when the checker passes.
type principalDoc struct {
	Consumer    string
	Subject     string
	Credentials []tiaki.CredentialKind
}

func startTLS(t testing.TB, c policy.Checker) *tlsEnv {
	t.Helper()
	p, err := certs.EnsureDevPKI(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := certs.NewClientAuth(p.CAFile, "", certs.WithPollInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { auth.Close() })
	cfg := certs.ServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &pair, nil })
	auth.Apply(cfg, certs.Request)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var pr tiaki.Principal
			if d := c.Check(r, &pr); d != nil {
				policy.Render(w, r, d)
				return
			}
			json.NewEncoder(w).Encode(principalDoc{pr.Consumer, pr.Subject, pr.Credentials})
		}),
		TLSConfig:         cfg,
		ReadHeaderTimeout: 5 * time.Second,
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("ServeTLS: %v", err)
		}
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		wg.Wait()
	})
	return &tlsEnv{pki: p, base: "https://127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)}
}

// client returns an HTTPS client trusting the environment's CA, presenting cert if not nil.
func (e *tlsEnv) client(t testing.TB, cert *tls.Certificate) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: certs.ClientConfig(e.pki.CAPool(), cert), ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// clientCert issues a client certificate from the environment's development CA.
func (e *tlsEnv) clientCert(t testing.TB, name string) tls.Certificate {
	t.Helper()
	now := time.Now()
	c, _, _, err := e.pki.IssueClientCert(name, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// response is what a test reads back: the status, the challenges, the problem type or the
// principal.
type response struct {
	status      int
	challenges  []string
	problemType string
	principal   principalDoc
}

func (e *tlsEnv) do(t testing.TB, c *http.Client, method, path string, header http.Header) response {
	t.Helper()
	req, err := http.NewRequest(method, e.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := response{status: resp.StatusCode, challenges: resp.Header.Values("Www-Authenticate")}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &out.principal); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
		return out
	}
	var problem struct{ Type string }
	if err := json.Unmarshal(body, &problem); err != nil {
		t.Fatalf("problem body %s: %v", body, err)
	}
	if len(problem.Type) > len(policy.TypeBase) {
		out.problemType = problem.Type[len(policy.TypeBase):]
	}
	return out
}
