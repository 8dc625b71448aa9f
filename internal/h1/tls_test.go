package h1_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki/internal/h1"
)

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "h1 test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestServeTLS checks that ServeTLS serves HTTP/1.1 clients itself and hands those that
// negotiate HTTP/2 to the net/http server, with the TLS state on the request either way, and
// that failed handshakes do not stop it.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d %t %T", r.ProtoMajor, r.TLS != nil, w)
		if r.TLS != nil {
			fmt.Fprintf(w, " %q", r.TLS.NegotiatedProtocol)
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &h1.Server{Handler: handler, Logger: discardLogger()}
	h2 := &http.Server{Handler: handler, TLSConfig: conf}
	served := make(chan error, 1)
	go func() { served <- h1.ServeTLS(ln, conf, 300*time.Millisecond, s, h2) }()
	t.Cleanup(func() {
		ln.Close()
		if err := <-served; !errors.Is(err, net.ErrClosed) {
			t.Errorf("ServeTLS: %v, want net.ErrClosed once the listener closed", err)
		}
		s.Close()
		h2.Close()
	})
	url := "https://" + ln.Addr().String() + "/"

	get := func(t *testing.T, tr *http.Transport) (string, string) {
		t.Helper()
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Proto, string(b)
	}
	http11 := func() *http.Transport {
		return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}}}
	}
	t.Run("HTTP/1.1 served by h1", func(t *testing.T) {
		tr := http11()
		for range 2 { // the second on the kept-alive connection
			proto, body := get(t, tr)
			if proto != "HTTP/1.1" || !strings.HasPrefix(body, `1 true *h1.`) || !strings.HasSuffix(body, `"http/1.1"`) {
				t.Errorf("%s %q; want HTTP/1.1 with TLS state, served by h1", proto, body)
			}
		}
	})
	t.Run("HTTP/2 handed to net/http", func(t *testing.T) {
		proto, body := get(t, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true})
		if proto != "HTTP/2.0" || !strings.HasPrefix(body, "2 true *http.") || !strings.HasSuffix(body, `"h2"`) {
			t.Errorf("%s %q; want HTTP/2 with TLS state, served by net/http", proto, body)
		}
	})
	t.Run("failed handshakes", func(t *testing.T) {
		// A client that does not trust the certificate.
		untrusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{}}, Timeout: 5 * time.Second}
		if _, err := untrusting.Get(url); err == nil {
			t.Error("a client without the CA completed a request")
		}
		// Plain HTTP on the TLS port is told so, as net/http does.
		c := dial(t, ln.Addr().String())
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
		b, _ := io.ReadAll(c)
		if !strings.HasPrefix(string(b), "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.") {
			t.Errorf("plain HTTP on the TLS port: %q", b)
		}
		// A client that never starts its handshake is dropped after the handshake timeout.
		idle := dial(t, ln.Addr().String())
		start := time.Now()
		if _, err := io.ReadAll(idle); err != nil || time.Since(start) > 2*time.Second {
			t.Errorf("silent client: %v after %v", err, time.Since(start))
		}
		// And the loop goes on serving.
		if proto, body := get(t, http11()); proto != "HTTP/1.1" || !strings.Contains(body, "h1.") {
			t.Errorf("after failed handshakes: %s %q", proto, body)
		}
	})
}

// flakyListener fails its first Accept with a temporary error, as accept does when the process
// is out of file descriptors.
type flakyListener struct {
	net.Listener
	failed bool
}

type temporaryError struct{}

func (temporaryError) Error() string   { return "accept: too many open files" }
func (temporaryError) Timeout() bool   { return false }
func (temporaryError) Temporary() bool { return true }

func (l *flakyListener) Accept() (net.Conn, error) {
	if !l.failed {
		l.failed = true
		return nil, temporaryError{}
	}
	return l.Listener.Accept()
}

// TestServeTLSRetriesTemporaryAcceptErrors: a failed accept that may succeed later pauses the
// loop instead of ending it (and with it the gateway listener).
func TestServeTLSRetriesTemporaryAcceptErrors(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	conf := &tls.Config{Certificates: []tls.Certificate{cert}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	s := &h1.Server{Handler: handler, Logger: discardLogger()}
	h2 := &http.Server{Handler: handler, TLSConfig: conf}
	served := make(chan error, 1)
	go func() { served <- h1.ServeTLS(&flakyListener{Listener: ln}, conf, time.Second, s, h2) }()
	t.Cleanup(func() { ln.Close(); <-served; s.Close(); h2.Close() })
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatalf("after a temporary accept error: %v", err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); string(b) != "ok" {
		t.Fatalf("body %q", b)
	}
}
