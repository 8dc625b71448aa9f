package auditlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tiaki-nz/tiaki"
)

var t0 = time.Date(2026, 5, 1, 14, 3, 4, 567_891_000, time.FixedZone("NZST", 12*3600))

func TestJSONSink(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	s := NewJSONSink(&buf)
	s.Emit(&Event{Type: TypeDenial, Time: t0, RequestID: "req-1", ClientIP: "203.0.113.9", Consumer: "app",
		CredentialID: "abcd", Credentials: []tiaki.CredentialKind{tiaki.CredentialAPIKey, tiaki.CredentialBearer}, Route: "payments",
		Method: "GET", Path: "/payments/1", Status: 401, Latency: 1500 * time.Microsecond,
		Rule: "invalid-api-key", Reason: "unknown API key ID"})
	s.Emit(&Event{Type: TypeAuthFailuresBurst, Time: t0, ClientIP: "203.0.113.9", Count: 20, Window: time.Minute})

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), buf.String())
	}
	var got []map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %v: %s", err, l)
		}
		got = append(got, m)
	}
	want := []map[string]any{{
		"time": "2026-05-01T02:03:04.567Z", "level": "INFO", "msg": "gateway.denial", "request_id": "req-1",
		"client_ip": "203.0.113.9", "consumer": "app", "credential_id": "abcd", "credentials": "api_key bearer",
		"route": "payments", "method": "GET", "path": "/payments/1", "status": 401.0, "latency_ms": 1.5,
		"rule": "invalid-api-key", "reason": "unknown API key ID",
	}, {
		"time": "2026-05-01T02:03:04.567Z", "level": "WARN", "msg": "security.auth_failures_burst",
		"client_ip": "203.0.113.9", "count": 20.0, "window_ms": 60000.0,
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestJSONSinkStampsMissingTime(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	NewJSONSink(&buf).Emit(&Event{Type: TypeRequest})
	if !regexp.MustCompile(`^\{"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"`).Match(buf.Bytes()) {
		t.Errorf("time not RFC 3339 UTC with ms: %s", buf.String())
	}
}

func TestMemoryIsBoundedAndCopies(t *testing.T) {
	t.Parallel()
	m := NewMemory(3)
	creds := []tiaki.CredentialKind{tiaki.CredentialBearer}
	for i := range 5 {
		m.Emit(&Event{Type: TypeRequest, Status: 200 + i, Credentials: creds})
	}
	creds[0] = "changed"
	var statuses []int
	for _, e := range m.Events() {
		statuses = append(statuses, e.Status)
		if e.Credentials[0] != tiaki.CredentialBearer {
			t.Error("Memory kept the caller's slice")
		}
	}
	if diff := cmp.Diff([]int{202, 203, 204}, statuses); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	if n := len(m.OfType(TypeDenial)); n != 0 {
		t.Errorf("OfType(denial) = %d events", n)
	}
}

func TestTee(t *testing.T) {
	t.Parallel()
	a, b := NewMemory(0), NewMemory(0)
	Tee(a, Discard, b).Emit(&Event{Type: TypeRequest})
	if len(a.Events()) != 1 || len(b.Events()) != 1 {
		t.Error("Tee did not reach every sink")
	}
}

// failure is one 401 seen at offset from t0.
type failure struct {
	at       time.Duration
	ip       string
	consumer string
	status   int
}

func TestBurstDetector(t *testing.T) {
	t.Parallel()
	repeat := func(n int, every time.Duration, ip, consumer string, from time.Duration) []failure {
		out := make([]failure, n)
		for i := range out {
			out[i] = failure{at: from + time.Duration(i)*every, ip: ip, consumer: consumer, status: 401}
		}
		return out
	}
	type burst struct{ ip, consumer string }
	tests := []struct {
		name   string
		events []failure
		want   []burst
	}{
		{"19 failures are not a burst", repeat(19, time.Second, "10.0.0.1", "", 0), nil},
		{"20 within a minute are", repeat(20, time.Second, "10.0.0.1", "", 0), []burst{{ip: "10.0.0.1"}}},
		{"a burst is reported once per window", repeat(60, 500*time.Millisecond, "10.0.0.1", "", 0), []burst{{ip: "10.0.0.1"}}},
		{"and again in the next window", repeat(100, time.Second, "10.0.0.1", "", 0), []burst{{ip: "10.0.0.1"}, {ip: "10.0.0.1"}}},
		{"20 spread over more than a minute are not", repeat(20, 4*time.Second, "10.0.0.1", "", 0), nil},
		{"different IPs are counted apart", append(repeat(10, time.Second, "10.0.0.1", "", 0), repeat(10, time.Second, "10.0.0.2", "", 0)...), nil},
		{"one consumer from many IPs", func() []failure {
			var out []failure
			for i := range 20 {
				out = append(out, failure{at: time.Duration(i) * time.Second, ip: fmt.Sprintf("10.0.1.%d", i), consumer: "app", status: 401})
			}
			return out
		}(), []burst{{consumer: "app"}}},
		{"IP and consumer both", repeat(20, time.Second, "10.0.0.1", "app", 0), []burst{{ip: "10.0.0.1"}, {consumer: "app"}}},
		{"403 and 200 do not count", func() []failure {
			out := repeat(19, time.Second, "10.0.0.1", "", 0)
			return append(out, failure{at: 20 * time.Second, ip: "10.0.0.1", status: 403}, failure{at: 21 * time.Second, ip: "10.0.0.1", status: 200})
		}(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mem := NewMemory(0)
			d, err := NewBurstDetector(mem, BurstOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range tt.events {
				d.Emit(&Event{Type: TypeDenial, Time: t0.Add(f.at), ClientIP: f.ip, Consumer: f.consumer, Status: f.status, Route: "r"})
			}
			var got []burst
			for _, e := range mem.OfType(TypeAuthFailuresBurst) {
				got = append(got, burst{ip: e.ClientIP, consumer: e.Consumer})
				if e.Count != 20 || e.Window != time.Minute || e.Route != "r" || e.Reason == "" {
					t.Errorf("burst event %+v", e)
				}
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(burst{})); diff != "" {
				t.Errorf("bursts (-want +got):\n%s", diff)
			}
			if n := len(mem.Events()) - len(got); n != len(tt.events) {
				t.Errorf("%d events passed on, want %d", n, len(tt.events))
			}
		})
	}
}

func TestBurstDetectorBoundsMemory(t *testing.T) {
	t.Parallel()
	d, err := NewBurstDetector(Discard, BurstOptions{MaxKeys: 64})
	if err != nil {
		t.Fatal(err)
	}
	// An address that keeps failing survives a flood of one-off addresses.
	for i := range 5000 {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		d.Emit(&Event{Status: 401, ClientIP: fmt.Sprintf("192.0.2.%d:%d", i%250, i), Time: at})
		if i%3 == 0 {
			d.Emit(&Event{Status: 401, ClientIP: "198.51.100.7", Time: at})
		}
	}
	if n := d.Tracked(); n > 64 {
		t.Errorf("tracking %d sources, bound 64", n)
	}
}

func TestBurstDetectorCountsWithoutAllocating(t *testing.T) {
	d, err := NewBurstDetector(Discard, BurstOptions{Threshold: 1000})
	if err != nil {
		t.Fatal(err)
	}
	e := &Event{Status: 401, ClientIP: "10.0.0.1", Consumer: "app", Time: t0}
	d.Emit(e) // first sight copies the keys
	if n := testing.AllocsPerRun(200, func() { d.Emit(e) }); n != 0 {
		t.Errorf("Emit allocates %v times per known source", n)
	}
}

func TestNewBurstDetectorRefuses(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]BurstOptions{
		"threshold 1":   {Threshold: 1},
		"short window":  {Window: time.Millisecond},
		"negative keys": {MaxKeys: -1},
	} {
		if _, err := NewBurstDetector(Discard, o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewBurstDetector(nil, BurstOptions{}); err == nil {
		t.Error("nil sink accepted")
	}
}

func BenchmarkBurstDetector(b *testing.B) {
	d, _ := NewBurstDetector(Discard, BurstOptions{})
	e := &Event{Status: 401, ClientIP: "10.0.0.1", Time: t0}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e.Time = t0.Add(time.Duration(i) * time.Second)
		d.Emit(e)
	}
}

func BenchmarkJSONSink(b *testing.B) {
	var buf bytes.Buffer
	s := NewJSONSink(&buf)
	e := &Event{Type: TypeRequest, Time: t0, RequestID: "01hx", ClientIP: "10.0.0.1", Consumer: "app",
		Credentials: []tiaki.CredentialKind{tiaki.CredentialBearer}, Route: "payments", Method: "GET", Path: "/p", Status: 200, Latency: time.Millisecond}
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		s.Emit(e)
	}
}

func TestJSONSinkEscapesEveryField(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	nasty := "a\"b\\c\nd\x01e<f>&g\xffh\u2028i ĀĒ 😀"
	NewJSONSink(&buf).Emit(&Event{Type: TypeDenial, Time: t0, Path: nasty, Reason: nasty})
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, buf.String())
	}
	want := strings.ToValidUTF8(nasty, "\ufffd")
	if m["path"] != want || m["reason"] != want {
		t.Errorf("round trip: got %q, want %q", m["path"], want)
	}
	if strings.Count(buf.String(), "\n") != 1 {
		t.Errorf("a field broke the line: %q", buf.String())
	}
}
