package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMFinishesInFlightRequests runs the real binary and sends it a real SIGTERM while a
// request is half uploaded: the request completes, then the process exits 0.
func TestSIGTERMFinishesInFlightRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tiaki")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "--data", filepath.Join(dir, "data"),
		"--authserver-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0", "--ops-addr", "127.0.0.1:0")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	// Read the banner up to the API key line.
	gatewayRe := regexp.MustCompile(`Gateway\s+https://(\S+)`)
	var gateway, key string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && key == "" {
		line := sc.Text()
		if m := gatewayRe.FindStringSubmatch(line); m != nil {
			gateway = m[1]
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "API key  "); ok {
			key = strings.TrimSpace(v)
		}
	}
	go io.Copy(io.Discard, stdout)
	if gateway == "" || key == "" {
		t.Fatal("banner not read")
	}
	pemBytes, err := os.ReadFile(filepath.Join(dir, "data", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	pr, pw := io.Pipe()
	req, _ := http.NewRequest("GET", "https://"+gateway+"/demo/upload", pr)
	req.Header.Set("API-Key", key)
	req.Header.Set("Content-Type", "application/json")
	status := make(chan int, 1)
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("in-flight request failed: %v", err)
			status <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	pw.Write([]byte(`{"first": "half", `))
	time.Sleep(300 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	pw.Write([]byte(`"second": "half"}`))
	pw.Close()
	if got := <-status; got != http.StatusOK {
		t.Fatalf("in-flight request status %d, want 200", got)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("did not exit after SIGTERM")
	}
}
