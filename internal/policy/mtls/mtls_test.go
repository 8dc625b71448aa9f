package mtls

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/certs"
	"github.com/tiaki-nz/tiaki/internal/policy"
)

// pki is the development CA with its key, so tests can issue certificates with SANs and sign
// real CRLs.
type pki struct {
	dev     *certs.DevPKI
	ca      *x509.Certificate
	key     crypto.Signer
	crlFile string
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	dir := t.TempDir()
	dev, err := certs.EnsureDevPKI(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{dev: dev, crlFile: filepath.Join(dir, "clients.crl")}
	p.ca = parseCert(t, readPEM(t, dev.CAFile))
	k, err := x509.ParsePKCS8PrivateKey(readPEM(t, filepath.Join(dir, "ca-key.pem")))
	if err != nil {
		t.Fatal(err)
	}
	p.key = k.(crypto.Signer)
	p.writeCRL(t) // an empty CRL: nothing revoked yet
	return p
}

func readPEM(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s: no PEM", path)
	}
	return block.Bytes
}

func parseCert(t testing.TB, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// issue makes a client certificate from the CA, with whatever names tmpl holds. It works on a
// copy of tmpl, which parallel subtests share.
func (p *pki) issue(t testing.TB, shared *x509.Certificate) tls.Certificate {
	t.Helper()
	tmpl := *shared
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	tmpl.SerialNumber = serial.Add(serial, big.NewInt(1))
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, p.ca, key.Public(), p.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: parseCert(t, der)}
}

// writeCRL writes a real CRL, signed by the CA, revoking the given certificates.
func (p *pki) writeCRL(t testing.TB, revoked ...*x509.Certificate) {
	t.Helper()
	now := time.Now()
	tmpl := &x509.RevocationList{Number: big.NewInt(now.UnixNano()), ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour)}
	for _, c := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: now.Add(-time.Second)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, p.ca, p.key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.crlFile, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a real TLS 1.3 listener as the gateway builds it: certs.ServerConfig, client
// certificates requested and verified (chain and CRL) in the handshake by certs.ClientAuth, and
// the policy under test in the handler.
type env struct {
	pki   *pki
	auth  *certs.ClientAuth
	clock *clock
	base  string
}

func start(t *testing.T, cfg Config) *env {
	t.Helper()
	p := newPKI(t)
	auth, err := certs.NewClientAuth(p.dev.CAFile, p.crlFile, certs.WithPollInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { auth.Close() })
	e := &env{pki: p, auth: auth, clock: &clock{now: time.Now()}}
	v, err := New(cfg, Deps{Peers: auth, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(p.dev.CertFile, p.dev.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	tcfg := certs.ServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &pair, nil })
	auth.Apply(tcfg, certs.Request)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var pr tiaki.Principal
			if d := v.Check(r, &pr); d != nil {
				policy.Render(w, r, d)
				return
			}
			json.NewEncoder(w).Encode(pr)
		}),
		TLSConfig:         tcfg,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          discardLog,
	}
	var wg sync.WaitGroup
	wg.Go(func() { srv.ServeTLS(ln, "", "") })
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		wg.Wait()
	})
	e.base = "https://127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	return e
}

func (e *env) client(t *testing.T, cert *tls.Certificate) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: certs.ClientConfig(e.pki.dev.CAPool(), cert), ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// result is one request's outcome; err is set when the connection itself was refused.
type result struct {
	status    int
	challenge string
	principal tiaki.Principal
	reused    bool
	err       error
}

func (e *env) get(t *testing.T, c *http.Client) result {
	t.Helper()
	var res result
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { res.reused = i.Reused }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", e.base+"/orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		res.err = err
		return res
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		res.err = err
		return res
	}
	res.status, res.challenge = resp.StatusCode, resp.Header.Get("Www-Authenticate")
	if res.status == 200 {
		if err := json.Unmarshal(body, &res.principal); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
	}
	return res
}

func TestRequired(t *testing.T) {
	t.Parallel()
	e := start(t, Config{Required: true})
	valid := e.pki.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "orders-app"}})
	revoked := e.pki.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "lost-laptop"}})
	e.pki.writeCRL(t, revoked.Leaf)
	if err := e.auth.Reload(); err != nil {
		t.Fatal(err)
	}

	got := e.get(t, e.client(t, &valid))
	want := tiaki.Principal{Consumer: "orders-app", CredentialID: thumb(valid.Leaf),
		Credentials: []tiaki.CredentialKind{tiaki.CredentialMTLS}, ExpiresAt: valid.Leaf.NotAfter}
	if got.err != nil || got.status != 200 {
		t.Fatalf("valid certificate: %d %v", got.status, got.err)
	}
	if diff := cmp.Diff(want, got.principal); diff != "" {
		t.Errorf("principal (-want +got):\n%s", diff)
	}

	got = e.get(t, e.client(t, nil))
	if got.status != 401 || got.challenge != challenge {
		t.Errorf("no certificate: %d %q %v, want 401 with a challenge", got.status, got.challenge, got.err)
	}

	// A certificate revoked before the connection never gets past the handshake (the TLS 1.3
	// client learns of it at its first read).
	got = e.get(t, e.client(t, &revoked))
	if got.err == nil {
		t.Errorf("revoked certificate: %d, want the handshake refused", got.status)
	}
}

// TestRevokedAfterHandshake: the CRL changes while a connection is open; the next request on
// that same connection is refused once the recheck interval has passed.
func TestRevokedAfterHandshake(t *testing.T) {
	t.Parallel()
	e := start(t, Config{Required: true})
	cert := e.pki.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "orders-app"}})
	c := e.client(t, &cert)
	if got := e.get(t, c); got.status != 200 {
		t.Fatalf("before revocation: %d %v", got.status, got.err)
	}
	e.pki.writeCRL(t, cert.Leaf)
	if err := e.auth.Reload(); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(RecheckInterval)
	got := e.get(t, c)
	if !got.reused {
		t.Fatal("the client opened a new connection; the test needs the old one")
	}
	if got.status != 401 {
		t.Errorf("revoked mid-connection: %d, want 401", got.status)
	}
}

func TestOptional(t *testing.T) {
	t.Parallel()
	e := start(t, Config{})
	if got := e.get(t, e.client(t, nil)); got.status != 200 || len(got.principal.Credentials) != 0 {
		t.Errorf("no certificate on an optional route: %d %v, want 200 unauthenticated", got.status, got.principal)
	}
	cert := e.pki.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "orders-app"}})
	if got := e.get(t, e.client(t, &cert)); got.status != 200 || got.principal.Consumer != "orders-app" {
		t.Errorf("certificate on an optional route: %d %v", got.status, got.principal)
	}
}

func TestConsumer(t *testing.T) {
	t.Parallel()
	spiffe, _ := url.Parse("spiffe://govt.nz/ns/payments/sa/orders")
	full := &x509.Certificate{Subject: pkix.Name{CommonName: "orders-cn"}, DNSNames: []string{"orders.agency.govt.nz", "alt.example"},
		URIs: []*url.URL{spiffe}}
	cnOnly := &x509.Certificate{Subject: pkix.Name{CommonName: "orders-cn"}}
	for _, tt := range []struct {
		from ConsumerFrom
		tmpl *x509.Certificate
		want string // "" when refused
	}{
		{SubjectCN, full, "orders-cn"},
		{SANDNS, full, "orders.agency.govt.nz"},
		{SANURI, full, "spiffe://govt.nz/ns/payments/sa/orders"},
		{SANDNS, cnOnly, ""},
		{SANURI, cnOnly, ""},
		{SubjectCN, &x509.Certificate{DNSNames: []string{"x.example"}}, ""},
	} {
		t.Run(string(tt.from)+"/"+tt.want, func(t *testing.T) {
			t.Parallel()
			e := start(t, Config{Required: true, Consumer: tt.from})
			cert := e.pki.issue(t, tt.tmpl)
			got := e.get(t, e.client(t, &cert))
			if tt.want == "" {
				if got.status != 401 {
					t.Errorf("certificate without %s: %d, want 401", tt.from, got.status)
				}
				return
			}
			if got.status != 200 || got.principal.Consumer != tt.want {
				t.Errorf("got %d consumer %q, want %q", got.status, got.principal.Consumer, tt.want)
			}
		})
	}
}

// countingPeers counts verifications and fails when err is set.
type countingPeers struct {
	mu  sync.Mutex
	n   int
	err error
}

func (c *countingPeers) VerifyPeer([]*x509.Certificate) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.err
}

// TestRecheck: a chain is verified once per interval, not once per request.
func TestRecheck(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	cert := p.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "orders-app"}})
	peers := &countingPeers{}
	clk := &clock{now: time.Now()}
	v, err := New(Config{Required: true}, Deps{Peers: peers, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest("GET", "https://api.example/", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert.Leaf}}
	for range 10 {
		var pr tiaki.Principal
		if d := v.Check(r, &pr); d != nil {
			t.Fatal(d)
		}
	}
	clk.Add(RecheckInterval)
	peers.err = errors.New("certs: certificate revoked")
	var pr tiaki.Principal
	d := v.Check(r, &pr)
	if d == nil || !strings.Contains(d.Reason, "revoked") || peers.n != 2 {
		t.Errorf("after the interval: %v with %d verifications, want a refusal after 2", d, peers.n)
	}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{}, Deps{}); err == nil {
		t.Error("New accepted no PeerVerifier")
	}
	if _, err := New(Config{Consumer: "email"}, Deps{Peers: &countingPeers{}}); err == nil {
		t.Error("New accepted consumer email")
	}
}

func BenchmarkCheck(b *testing.B) {
	p := newPKI(b)
	cert := p.issue(b, &x509.Certificate{Subject: pkix.Name{CommonName: "orders-app"}})
	auth, err := certs.NewClientAuth(p.dev.CAFile, p.crlFile, certs.WithPollInterval(0))
	if err != nil {
		b.Fatal(err)
	}
	defer auth.Close()
	v, err := New(Config{Required: true}, Deps{Peers: auth})
	if err != nil {
		b.Fatal(err)
	}
	r, _ := http.NewRequest("GET", "https://api.example/", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert.Leaf}}
	pr := tiaki.Principal{Credentials: make([]tiaki.CredentialKind, 0, 4)}
	b.ReportAllocs()
	for b.Loop() {
		pr = tiaki.Principal{Credentials: pr.Credentials[:0]}
		if d := v.Check(r, &pr); d != nil {
			b.Fatal(d)
		}
	}
}

func thumb(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// discardLog keeps the server's handshake-failure lines (the revoked certificate) out of the
// test output.
var discardLog = log.New(io.Discard, "", 0)
