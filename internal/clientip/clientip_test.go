package clientip_test

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/gatehouse/gatehouse/internal/clientip"
)

func TestParsePrefixes(t *testing.T) {
	t.Parallel()
	got, err := clientip.ParsePrefixes(" 10.0.0.0/8, 192.0.2.7 ,2001:db8::/32,,::ffff:198.51.100.1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "198.51.100.1/32"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("prefix %d = %s, want %s", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "not-an-ip", "10.0.0.0/8, 300.1.1.1"} {
		if _, err := clientip.ParsePrefixes(bad); err == nil {
			t.Errorf("ParsePrefixes(%q) accepted", bad)
		}
	}
	if p, err := clientip.ParsePrefixes(""); err != nil || len(p) != 0 {
		t.Errorf("empty: %v %v", p, err)
	}
}

func TestAddr(t *testing.T) {
	t.Parallel()
	trusted, _ := clientip.ParsePrefixes("10.0.0.0/8, 192.0.2.7")
	r := &clientip.Resolver{Trusted: trusted}
	for _, c := range []struct {
		name, remote string
		xff          []string
		want         string
		untrusted    bool
	}{
		{"direct client", "203.0.113.5:4000", nil, "203.0.113.5", false},
		{"client lying, no proxy", "203.0.113.5:4000", []string{"1.2.3.4"}, "203.0.113.5", true},
		{"behind the load balancer", "10.1.2.3:80", []string{"198.51.100.9"}, "198.51.100.9", false},
		{"client's own XFF is skipped", "10.1.2.3:80", []string{"1.2.3.4, 198.51.100.9"}, "198.51.100.9", false},
		{"two trusted hops", "192.0.2.7:80", []string{"198.51.100.9, 10.9.9.9"}, "198.51.100.9", false},
		{"several headers", "10.1.2.3:80", []string{"1.2.3.4", "198.51.100.9"}, "198.51.100.9", false},
		{"garbage stops at the last trusted hop", "10.1.2.3:80", []string{"198.51.100.9, junk, 10.0.0.2"}, "10.0.0.2", false},
		{"only proxies", "10.1.2.3:80", []string{"10.0.0.2"}, "10.0.0.2", false},
		{"IPv6 peer", "[2001:db8::1]:443", nil, "2001:db8::1", false},
		{"IPv4-mapped peer", "[::ffff:203.0.113.5]:443", nil, "203.0.113.5", false},
	} {
		req := &http.Request{RemoteAddr: c.remote, Header: http.Header{}}
		for _, v := range c.xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		got, untrusted := r.Addr(req)
		if got.String() != c.want || untrusted != c.untrusted {
			t.Errorf("%s: Addr = %s, untrusted %v; want %s, %v", c.name, got, untrusted, c.want, c.untrusted)
		}
	}
}

func TestKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"203.0.113.5":          "203.0.113.5",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2::ffff":   "2001:db8:1:2::/64",
	} {
		if got := clientip.Key(netip.MustParseAddr(in)); got != want {
			t.Errorf("Key(%s) = %s, want %s", in, got, want)
		}
	}
}
