package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Outage tests (issue 11, item 21): two nodes on a PostgreSQL and a Redis of the test's own,
// under load, while each is stopped and started again. They need PostgreSQL's server binaries
// and redis-server; CI has both (it installs them).

// pgServer is a PostgreSQL server of the test's own (initdb in a temporary directory, a free
// port), so the test can stop and start it without disturbing the shared one.
type pgServer struct {
	bin, dir, port string
	run            []string // runs a command as the data directory's owner
}

func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "" {
		t.Skipf(format, args...)
	}
	t.Fatalf(format+" (and CI must not skip)", args...)
}

func startPrivatePostgres(t *testing.T) *pgServer {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		skipOrFail(t, "no PostgreSQL server binaries under /usr/lib/postgresql")
	}
	slices.Sort(bins)
	p := &pgServer{bin: filepath.Dir(bins[len(bins)-1]), port: strconv.Itoa(freePortNumber(t))}
	dir, err := os.MkdirTemp("", "tiaki-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p.dir = dir
	t.Cleanup(func() {
		_ = p.cmd("pg_ctl", "-D", p.dir, "-m", "immediate", "stop").Run()
		os.RemoveAll(dir)
	})
	// initdb refuses to run as root: run the server as the postgres user then.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			skipOrFail(t, "running as root without a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.run = []string{"runuser", "-u", "postgres", "--"}
	}
	if out, err := p.cmd("initdb", "-D", p.dir, "-A", "trust", "-U", "postgres", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.start(t)
	return p
}

func (p *pgServer) cmd(name string, args ...string) *exec.Cmd {
	argv := append(append(slices.Clone(p.run), filepath.Join(p.bin, name)), args...)
	return exec.Command(argv[0], argv[1:]...)
}

func (p *pgServer) start(t *testing.T) {
	t.Helper()
	opts := "-p " + p.port + " -k " + p.dir + " -c listen_addresses=127.0.0.1 -c fsync=off"
	if out, err := p.cmd("pg_ctl", "-D", p.dir, "-o", opts, "-l", filepath.Join(p.dir, "log"), "-w", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "log"))
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

// stop stops the server as an operator would: connections are terminated, new ones refused.
func (p *pgServer) stop(t *testing.T) {
	t.Helper()
	if out, err := p.cmd("pg_ctl", "-D", p.dir, "-m", "fast", "-w", "stop").CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

func (p *pgServer) dsn() string {
	return "postgres://postgres@127.0.0.1:" + p.port + "/postgres?sslmode=disable"
}

// redisServer is a redis-server of the test's own on a free port.
type redisServer struct {
	port string
	cmd  *exec.Cmd
	done chan struct{}
}

func startPrivateRedis(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		skipOrFail(t, "no redis-server: %v", err)
	}
	r := &redisServer{port: strconv.Itoa(freePortNumber(t))}
	r.start(t)
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *redisServer) start(t *testing.T) {
	t.Helper()
	r.cmd = exec.Command("redis-server", "--port", r.port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(r.cmd, r.done)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+r.port)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *redisServer) stop(t *testing.T) {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

func freePortNumber(t *testing.T) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(freePort(t))
	n, _ := strconv.Atoi(port)
	return n
}

// outcomes counts the answers of one kind of request in one phase of the test.
type outcomes struct {
	mu     sync.Mutex
	byCode map[string]int // "200", "503 temporarily_unavailable retry-after", ...
	slow   []time.Duration
}

func (o *outcomes) add(key string, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.byCode == nil {
		o.byCode = map[string]int{}
	}
	o.byCode[key]++
	o.slow = append(o.slow, took)
}

// counts returns a copy of the counts: the load goroutines may still be adding to a phase
// while the test reads it.
func (o *outcomes) counts() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.byCode)
}

func (o *outcomes) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return fmt.Sprint(o.byCode)
}

func (o *outcomes) total() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, c := range o.byCode {
		n += c
	}
	return n
}

func (o *outcomes) p99() time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.slow) == 0 {
		return 0
	}
	s := slices.Clone(o.slow)
	slices.Sort(s)
	return s[len(s)*99/100]
}

// TestStoreOutageUnderLoad stops PostgreSQL, then Redis, under load on two nodes and checks
// what issue 11 item 21 asks: API keys the gateway knows keep working from its cache, the
// token endpoint answers 200 for clients it knows and never 500 (503 temporarily_unavailable
// with Retry-After for what needs the store), repeated errors are logged once per interval
// with a count, everything works again at once when the store is back, and with Redis down
// fail_open keeps requests at 200 with a bounded latency.
func TestStoreOutageUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("long outage test")
	}
	pg := startPrivatePostgres(t)
	rd := startPrivateRedis(t)
	const (
		outage        = 5 * time.Second
		machineSecret = "machine-outage-secret-0123456789abcdefgh"
		audience      = "https://api.example.govt.nz/orders"
	)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "tiaki.yaml")
	writeAtomic(t, cfgPath, []byte(fmt.Sprintf(`
issuer: https://127.0.0.1:8443
log: {format: json}
store: {driver: postgres, dsn: "%s", outage_grace: 1m}
redis: {addr: "127.0.0.1:%s"}
apis:
  - name: keyed
    upstream: builtin:echo
    match: {path_prefix: /keyed}
    injection_protection: "off"
    rate_limit: {per_consumer: 100000/second, on_store_error: fail_open}
  - name: orders
    upstream: builtin:echo
    match: {path_prefix: /orders}
    auth: {oauth2: {audience: %s}}
clients:
  - id: machine
    auth_method: client_secret_basic
    secret: %s
    grant_types: [client_credentials]
    scopes: ["orders:read"]
`, pg.dsn(), rd.port, audience, machineSecret)))
	master := make([]byte, 32)
	rand.Read(master)
	env := func(name string) string {
		if name == "TIAKI_MASTER_KEY" {
			return hex.EncodeToString(master)
		}
		return ""
	}
	nodes := []*running{
		startTiakiEnv(t, filepath.Join(dir, "node1"), env, "--config", cfgPath),
		startTiakiEnv(t, filepath.Join(dir, "node2"), env, "--config", cfgPath),
	}
	cli := func(args ...string) (int, string, string) {
		return runCLIEnv(t, env, append([]string{"--config", cfgPath, "--data", filepath.Join(dir, "node1")}, args...)...)
	}
	code, stdout, stderr := cli("apikey", "create", "--api", "keyed", "--name", "outage", "--consumer", "batch")
	if code != 0 {
		t.Fatalf("apikey create: %d %s", code, stderr)
	}
	key := strings.TrimSpace(stdout)

	gatewayCall := func(n *running, key string) (string, time.Duration) {
		req, _ := http.NewRequest(http.MethodGet, "https://"+n.Gateway+"/keyed/x", nil)
		req.Header.Set("API-Key", key)
		start := time.Now()
		resp, err := n.client.Do(req)
		took := time.Since(start)
		if err != nil {
			return "error " + err.Error(), took
		}
		resp.Body.Close()
		return strconv.Itoa(resp.StatusCode), took
	}
	tokenCall := func(n *running) (string, time.Duration) {
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:read"}, "resource": {audience}}
		req, _ := http.NewRequest(http.MethodPost, "https://"+n.AuthServer+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", basicAuth("machine", machineSecret))
		start := time.Now()
		resp, err := n.client.Do(req)
		took := time.Since(start)
		if err != nil {
			return "error " + err.Error(), took
		}
		defer resp.Body.Close()
		var body struct {
			Error string `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		out := strconv.Itoa(resp.StatusCode)
		if body.Error != "" {
			out += " " + body.Error
		}
		if resp.Header.Get("Retry-After") != "" {
			out += " retry-after"
		}
		return out, took
	}
	// Both nodes know the key and the client before anything fails.
	for _, n := range nodes {
		if got, _ := gatewayCall(n, key); got != "200" {
			t.Fatalf("gateway before the outage: %s", got)
		}
		if got, _ := tokenCall(n); got != "200" {
			t.Fatalf("token before the outage: %s", got)
		}
	}

	// load runs requests against both nodes until stopped, counting outcomes in the current
	// phase.
	var phase atomic.Pointer[[2]*outcomes] // gateway, token
	newPhase := func() [2]*outcomes {
		p := [2]*outcomes{{}, {}}
		phase.Store(&p)
		return p
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			n := nodes[i%2]
			for !stop.Load() {
				p := phase.Load()
				if i < 2 {
					got, took := gatewayCall(n, key)
					p[0].add(got, took)
				} else {
					got, took := tokenCall(n)
					p[1].add(got, took)
				}
			}
		})
	}
	defer func() { stop.Store(true); wg.Wait() }()

	// problemLines counts each node's warnings and errors so far, and lines that are not JSON
	// (a library writing around slog); per-request access and audit lines are not counted.
	problemLines := func() []int {
		var out []int
		for _, n := range nodes {
			count := 0
			for _, l := range strings.Split(n.stderr.String(), "\n") {
				var rec struct {
					Level string `json:"level"`
				}
				if l == "" {
					continue
				}
				if json.Unmarshal([]byte(l), &rec) != nil || rec.Level == "WARN" || rec.Level == "ERROR" {
					count++
				}
			}
			out = append(out, count)
		}
		return out
	}

	newPhase()
	time.Sleep(time.Second)
	linesBefore := problemLines()
	during := newPhase()
	pg.stop(t)
	time.Sleep(outage / 2)
	// What the nodes have not seen needs the store: 503 with Retry-After, never 500 or a
	// refusal the store did not make.
	form := url.Values{"grant_type": {"client_credentials"}}
	req, _ := http.NewRequest(http.MethodPost, "https://"+nodes[0].AuthServer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", basicAuth("never-seen", machineSecret))
	if resp, err := nodes[0].client.Do(req); err != nil {
		t.Error(err)
	} else {
		var body struct {
			Error string `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || body.Error != "temporarily_unavailable" || resp.Header.Get("Retry-After") == "" {
			t.Errorf("token for a client not seen before the outage: %d %q Retry-After %q, want 503 temporarily_unavailable",
				resp.StatusCode, body.Error, resp.Header.Get("Retry-After"))
		}
	}
	unseenKey := key[:3] + strings.Repeat("a", 12) + key[15:] // well formed, another ID
	if got, _ := gatewayCall(nodes[1], unseenKey); got != "503" {
		t.Errorf("gateway, a key not seen before the outage: %s, want 503", got)
	}
	time.Sleep(outage / 2)
	linesAfter := problemLines()
	pg.start(t)
	recovering := newPhase()
	time.Sleep(time.Second)
	after := newPhase()
	time.Sleep(time.Second)

	t.Logf("PostgreSQL down %v: gateway %v, token %v", outage, during[0], during[1])
	t.Logf("first second back: gateway %v, token %v", recovering[0], recovering[1])
	t.Logf("after: gateway %v, token %v", after[0], after[1])
	if during[0].total() < 50 || during[1].total() < 50 {
		t.Fatalf("too little load during the outage to judge: %d, %d", during[0].total(), during[1].total())
	}
	for code, n := range during[0].counts() {
		if code != "200" {
			t.Errorf("gateway, known API key, during the outage: %d × %s, want only 200", n, code)
		}
	}
	for code, n := range during[1].counts() {
		if code != "200" && code != "503 temporarily_unavailable retry-after" {
			t.Errorf("token endpoint, known client, during the outage: %d × %s, want 200 (or 503 temporarily_unavailable with Retry-After)", n, code)
		}
	}
	for i, ph := range after {
		for code, n := range ph.counts() {
			if code != "200" {
				t.Errorf("%s after recovery: %d × %s", []string{"gateway", "token"}[i], n, code)
			}
		}
	}
	// Errors are logged once per interval with a count, not once per request: a handful of
	// lines per node over the outage, against thousands of requests.
	for i := range nodes {
		if n := linesAfter[i] - linesBefore[i]; n > 40 {
			t.Errorf("node %d wrote %d warnings and errors during a %v outage:\n%s", i+1, n, outage, tail(nodes[i].stderr.String(), 40))
		}
	}
	// The store takes writes again: a new key works on both nodes.
	code, stdout, stderr = cli("apikey", "create", "--api", "keyed", "--name", "after", "--consumer", "batch")
	if code != 0 {
		t.Fatalf("apikey create after the outage: %d %s", code, stderr)
	}
	fresh := strings.TrimSpace(stdout)
	for _, n := range nodes {
		if got, _ := gatewayCall(n, fresh); got != "200" {
			t.Errorf("a key created after the outage: %s", got)
		}
	}

	// Redis: fail_open keeps every request at 200, and the breaker keeps latency bounded.
	redisDown := newPhase()
	rd.stop(t)
	time.Sleep(3 * time.Second)
	rd.start(t)
	newPhase()
	t.Logf("Redis down 3s: gateway %v, p99 %v", redisDown[0], redisDown[0].p99())
	for code, n := range redisDown[0].counts() {
		if code != "200" {
			t.Errorf("gateway with Redis down (fail_open): %d × %s, want only 200", n, code)
		}
	}
	if p := redisDown[0].p99(); p > 250*time.Millisecond {
		t.Errorf("gateway p99 with Redis down: %v, want it bounded (the breaker fails calls at once)", p)
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// runCLIEnv runs the CLI in process with an environment.
func runCLIEnv(t *testing.T, getenv func(string) string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	out, errb := &syncBuffer{}, &syncBuffer{}
	m := &Main{Stdout: out, Stderr: errb, Getenv: getenv}
	code = m.Run(context.Background(), args)
	return code, out.String(), errb.String()
}
