package certs

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// newPKI returns a development PKI in a fresh directory, issued now.
func newPKI(t *testing.T) *DevPKI {
	t.Helper()
	p, err := EnsureDevPKI(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// serverCert loads the PKI's server pair.
func serverCert(t *testing.T, p *DevPKI) *tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

// serve runs a TLS server on 127.0.0.1 with cfg. Each connection's server-side handshake result
// is sent on the returned channel; a successful one writes "ok" so the client can tell (in TLS
// 1.3 the client finishes its handshake before the server has checked the client certificate).
func serve(t *testing.T, cfg *tls.Config) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 16)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				tc := tls.Server(c, cfg)
				err := tc.Handshake()
				if err == nil {
					_, err = tc.Write([]byte("ok"))
				}
				results <- err
			})
		}
	})
	return ln.Addr().String(), results
}

// dial connects with cfg, reads the server's "ok" and returns the connection state and the
// client-side error, if any.
func dial(t *testing.T, addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil {
		return c.ConnectionState(), err
	}
	return c.ConnectionState(), nil
}

// serverResult waits for the server side of one handshake.
func serverResult(t *testing.T, results <-chan error) error {
	t.Helper()
	select {
	case err := <-results:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("server handshake did not finish")
		return nil
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testLogger() (*slog.Logger, *syncBuffer) {
	b := &syncBuffer{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

// TestServerConfigPolicy covers TLS-01, TLS-02 and TLS-04 with real clients over 127.0.0.1.
func TestServerConfigPolicy(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	cert := serverCert(t, p)
	addr, results := serve(t, ServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }))

	tests := []struct {
		name      string
		client    func(*tls.Config)
		wantErr   string // in the client's error; "" means success
		wantCurve tls.CurveID
		wantProto string
	}{
		{name: "default TLS 1.3 client", client: func(*tls.Config) {}, wantCurve: tls.X25519MLKEM768},
		{name: "h2 offered", client: func(c *tls.Config) { c.NextProtos = []string{"h2", "http/1.1"} },
			wantCurve: tls.X25519MLKEM768, wantProto: "h2"},
		{name: "http/1.1 only", client: func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} },
			wantCurve: tls.X25519MLKEM768, wantProto: "http/1.1"},
		{name: "TLS 1.2 at most refused", client: func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 },
			wantErr: "protocol version not supported"},
		{name: "TLS 1.0 to 1.2 refused", client: func(c *tls.Config) {
			c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS12
		}, wantErr: "protocol version not supported"},
		{name: "P-384 only refused", client: func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.CurveP384} },
			wantErr: "handshake failure"},
		{name: "P-256 only", client: func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.CurveP256} },
			wantCurve: tls.CurveP256},
		{name: "X25519 only", client: func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.X25519} },
			wantCurve: tls.X25519},
		{name: "ClientConfig", wantCurve: tls.X25519MLKEM768},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: p.CAPool()}
			if tc.client == nil {
				cfg = ClientConfig(p.CAPool(), nil)
			} else {
				tc.client(cfg)
			}
			cfg.ServerName = "localhost"
			cs, err := dial(t, addr, cfg)
			srvErr := serverResult(t, results)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("client error = %v, want one containing %q", err, tc.wantErr)
				}
				if srvErr == nil {
					t.Fatal("server accepted the handshake")
				}
				return
			}
			if err != nil || srvErr != nil {
				t.Fatalf("client error %v, server error %v", err, srvErr)
			}
			got := []any{tls.VersionName(cs.Version), cs.CurveID.String(), cs.NegotiatedProtocol}
			want := []any{"TLS 1.3", tc.wantCurve.String(), tc.wantProto}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("connection (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServerConfigFields(t *testing.T) {
	t.Parallel()
	cfg := ServerConfig(nil)
	got := []any{cfg.MinVersion, cfg.MaxVersion, cfg.CurvePreferences, cfg.NextProtos, cfg.SessionTicketsDisabled}
	want := []any{uint16(tls.VersionTLS13), uint16(tls.VersionTLS13),
		[]tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256}, []string{"h2", "http/1.1"}, false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ServerConfig (-want +got):\n%s", diff)
	}
	// Each call returns its own slices, so a caller editing one config cannot change another.
	cfg.CurvePreferences[0] = tls.CurveP384
	if ServerConfig(nil).CurvePreferences[0] != tls.X25519MLKEM768 {
		t.Error("ServerConfig shares its CurvePreferences slice")
	}
}

// TestClientConfig: outgoing connections are TLS 1.3 only (TLS-01 "between all components")
// and present the client certificate when the server asks (MTLS-03).
func TestClientConfig(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	cert := serverCert(t, p)
	now := time.Now()
	clientCert, _, _, err := p.IssueClientCert("gateway", now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("refuses a TLS 1.2 server", func(t *testing.T) {
		t.Parallel()
		addr, results := serve(t, &tls.Config{Certificates: []tls.Certificate{*cert}, MaxVersion: tls.VersionTLS12})
		_, err := dial(t, addr, ClientConfig(p.CAPool(), nil))
		if err == nil {
			t.Fatal("ClientConfig negotiated TLS 1.2")
		}
		if srvErr := serverResult(t, results); srvErr == nil {
			t.Error("server saw a successful handshake")
		}
	})
	t.Run("refuses an untrusted server", func(t *testing.T) {
		t.Parallel()
		addr, results := serve(t, ServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }))
		_, err := dial(t, addr, ClientConfig(newPKI(t).CAPool(), nil))
		if _, ok := errors.AsType[x509.UnknownAuthorityError](err); !ok {
			t.Fatalf("error = %v, want unknown authority", err)
		}
		serverResult(t, results)
	})
	t.Run("presents the client certificate", func(t *testing.T) {
		t.Parallel()
		srv := ServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil })
		auth, err := NewClientAuth(p.CAFile, "", WithPollInterval(0))
		if err != nil {
			t.Fatal(err)
		}
		auth.Apply(srv, Require)
		addr, results := serve(t, srv)
		cfg := ClientConfig(p.CAPool(), &clientCert)
		cfg.ServerName = "localhost"
		if _, err := dial(t, addr, cfg); err != nil {
			t.Fatal(err)
		}
		if err := serverResult(t, results); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("fields", func(t *testing.T) {
		t.Parallel()
		cfg := ClientConfig(nil, nil)
		got := []any{cfg.MinVersion, cfg.MaxVersion, cfg.CurvePreferences, len(cfg.Certificates), cfg.InsecureSkipVerify}
		want := []any{uint16(tls.VersionTLS13), uint16(tls.VersionTLS13),
			[]tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256}, 0, false}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ClientConfig (-want +got):\n%s", diff)
		}
	})
}
