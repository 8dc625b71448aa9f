package web

import (
	"errors"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tiaki-nz/tiaki"
)

func TestParseTrustedProxies(t *testing.T) {
	t.Parallel()
	got, err := ParseTrustedProxies([]string{"10.0.0.0/8", " 192.0.2.7 ", "2001:db8::/32", "::ffff:198.51.100.0/120", "10.1.2.3/16"})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("10.1.0.0/16"), // masked
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "10.0.0.0/33", "example.com", "fe80::1%eth0", "10.0.0.1-10.0.0.9"} {
		if _, err := ParseTrustedProxies([]string{bad}); !errors.Is(err, tiaki.ErrInvalid) {
			t.Errorf("ParseTrustedProxies(%q) error = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", "2001:db8:ffff::/48"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		remote    string
		xff       []string
		forwarded []string
		want      string // "" for the zero Addr
	}{
		{name: "direct client", remote: "203.0.113.9:5555", want: "203.0.113.9"},
		{name: "direct IPv6 client", remote: "[2001:db8:1::5]:443", want: "2001:db8:1::5"},
		{name: "IPv4-mapped peer is unmapped", remote: "[::ffff:203.0.113.9]:1", want: "203.0.113.9"},
		{name: "zone dropped", remote: "[fe80::1%eth0]:1", want: "fe80::1"},
		{name: "unix socket", remote: "@", want: ""},

		// Spoofing attempts: an untrusted peer's headers are never read.
		{name: "untrusted peer sends XFF", remote: "203.0.113.9:1", xff: []string{"198.51.100.1"}, want: "203.0.113.9"},
		{name: "untrusted peer sends trusted-looking XFF", remote: "203.0.113.9:1", xff: []string{"10.0.0.1"}, want: "203.0.113.9"},
		{name: "untrusted peer sends Forwarded", remote: "203.0.113.9:1", forwarded: []string{"for=198.51.100.1"}, want: "203.0.113.9"},

		// Behind a trusted proxy.
		{name: "trusted proxy, no header", remote: "10.0.0.2:1", want: "10.0.0.2"},
		{name: "trusted proxy, one hop", remote: "10.0.0.2:1", xff: []string{"203.0.113.9"}, want: "203.0.113.9"},
		{name: "client-prepended entries ignored", remote: "10.0.0.2:1", xff: []string{"1.1.1.1, 2.2.2.2, 203.0.113.9"}, want: "203.0.113.9"},
		{name: "client forges a trusted hop on the left", remote: "10.0.0.2:1", xff: []string{"10.9.9.9, 203.0.113.9"}, want: "203.0.113.9"},
		{name: "chain of trusted proxies", remote: "10.0.0.2:1", xff: []string{"198.51.100.4, 203.0.113.9, 10.0.0.7, 10.0.0.8"}, want: "203.0.113.9"},
		{name: "several header lines form one list", remote: "10.0.0.2:1", xff: []string{"198.51.100.4", "203.0.113.9,10.0.0.7"}, want: "203.0.113.9"},
		{name: "all hops trusted", remote: "10.0.0.2:1", xff: []string{"10.0.0.5, 10.0.0.6"}, want: "10.0.0.5"},
		{name: "ports and brackets", remote: "10.0.0.2:1", xff: []string{"[2001:db8:1::9]:4711"}, want: "2001:db8:1::9"},
		{name: "IPv4 with port", remote: "10.0.0.2:1", xff: []string{"203.0.113.9:4711"}, want: "203.0.113.9"},
		{name: "bare IPv6", remote: "10.0.0.2:1", xff: []string{"2001:db8:1::9"}, want: "2001:db8:1::9"},
		{name: "IPv6 trusted proxy", remote: "[2001:db8:ffff::1]:1", xff: []string{"203.0.113.9"}, want: "203.0.113.9"},
		{name: "garbage from the proxy: last trusted hop", remote: "10.0.0.2:1", xff: []string{"203.0.113.9, garbage"}, want: "10.0.0.2"},
		{name: "unknown behind a trusted hop", remote: "10.0.0.2:1", xff: []string{"unknown, 10.0.0.7"}, want: "10.0.0.7"},
		{name: "empty elements ignored", remote: "10.0.0.2:1", xff: []string{", 203.0.113.9 ,,"}, want: "203.0.113.9"},
		{name: "empty header", remote: "10.0.0.2:1", xff: []string{""}, want: "10.0.0.2"},
		{name: "XFF preferred to Forwarded", remote: "10.0.0.2:1", xff: []string{"203.0.113.9"}, forwarded: []string{"for=198.51.100.1"}, want: "203.0.113.9"},
		{name: "hop budget", remote: "10.0.0.2:1", xff: []string{"203.0.113.9" + strings.Repeat(", 10.0.0.1", 40)}, want: "10.0.0.1"},

		// RFC 7239.
		{name: "Forwarded", remote: "10.0.0.2:1", forwarded: []string{"for=203.0.113.9;proto=https;by=10.0.0.2"}, want: "203.0.113.9"},
		{name: "Forwarded quoted IPv6 with port", remote: "10.0.0.2:1", forwarded: []string{`for="[2001:db8:1::17]:4711"`}, want: "2001:db8:1::17"},
		{name: "Forwarded chain", remote: "10.0.0.2:1", forwarded: []string{"for=198.51.100.1, for=203.0.113.9", "for=10.0.0.3"}, want: "203.0.113.9"},
		{name: "Forwarded case-insensitive name", remote: "10.0.0.2:1", forwarded: []string{"For=203.0.113.9"}, want: "203.0.113.9"},
		{name: "Forwarded comma inside quotes", remote: "10.0.0.2:1", forwarded: []string{`for=203.0.113.9;ext="a,b"`}, want: "203.0.113.9"},
		{name: "Forwarded obfuscated", remote: "10.0.0.2:1", forwarded: []string{"for=_hidden"}, want: "10.0.0.2"},
		{name: "Forwarded unknown", remote: "10.0.0.2:1", forwarded: []string{"for=unknown, for=10.0.0.4"}, want: "10.0.0.4"},
		{name: "Forwarded element without for", remote: "10.0.0.2:1", forwarded: []string{"for=203.0.113.9, proto=https"}, want: "10.0.0.2"},
		{name: "Forwarded escapes refused", remote: "10.0.0.2:1", forwarded: []string{`for="203.0.113.\9"`}, want: "10.0.0.2"},
		{name: "Forwarded unbalanced bracket", remote: "10.0.0.2:1", forwarded: []string{`for="[2001:db8::1"`}, want: "10.0.0.2"},
		{name: "Forwarded IPv4 in brackets", remote: "10.0.0.2:1", forwarded: []string{`for="[203.0.113.9]"`}, want: "10.0.0.2"},
		{name: "Forwarded hop budget", remote: "10.0.0.2:1", forwarded: []string{"for=203.0.113.9" + strings.Repeat(", for=10.0.0.1", 40)}, want: "10.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != nil {
				r.Header["X-Forwarded-For"] = tc.xff
			}
			if tc.forwarded != nil {
				r.Header["Forwarded"] = tc.forwarded
			}
			got := ClientIP(r, trusted)
			var want netip.Addr
			if tc.want != "" {
				want = netip.MustParseAddr(tc.want)
			}
			if got != want {
				t.Errorf("ClientIP = %v, want %v", got, want)
			}
		})
	}
}

func TestClientIPWithoutTrustedProxies(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.2:1"
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	if got := ClientIP(r, nil); got != netip.MustParseAddr("10.0.0.2") {
		t.Errorf("ClientIP = %v, want the peer", got)
	}
}

func TestClientIPAllocatesNothing(t *testing.T) {
	trusted, _ := ParseTrustedProxies([]string{"10.0.0.0/8"})
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.2:1"
	r.Header["X-Forwarded-For"] = []string{"198.51.100.4, 203.0.113.9, 10.0.0.7"}
	r.Header["Forwarded"] = []string{"for=203.0.113.9"}
	if n := testing.AllocsPerRun(100, func() { ClientIP(r, trusted) }); n != 0 {
		t.Errorf("ClientIP allocates %v times per call", n)
	}
	delete(r.Header, "X-Forwarded-For")
	if n := testing.AllocsPerRun(100, func() { ClientIP(r, trusted) }); n != 0 {
		t.Errorf("ClientIP with Forwarded allocates %v times per call", n)
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("198.51.100.4, 203.0.113.9", `for="[2001:db8::1]:80";proto=https, for=unknown`)
	f.Add("[::1", `for="\"`)
	f.Add(",,,", `;;;,,,"`)
	trusted, _ := ParseTrustedProxies([]string{"0.0.0.0/0", "::/0"})
	f.Fuzz(func(t *testing.T, xff, fwd string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.0.0.2:1"
		r.Header["X-Forwarded-For"] = []string{xff}
		if got := ClientIP(r, trusted); !got.IsValid() {
			t.Fatalf("ClientIP(XFF %q) = invalid address", xff)
		}
		delete(r.Header, "X-Forwarded-For")
		r.Header["Forwarded"] = []string{fwd}
		if got := ClientIP(r, trusted); !got.IsValid() {
			t.Fatalf("ClientIP(Forwarded %q) = invalid address", fwd)
		}
	})
}
