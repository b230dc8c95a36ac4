package oidc

import "testing"

// TestAuditKey: the failed sign-in bound keys an IPv4 address by itself and
// an IPv6 address by its /64, so that one host cannot escape its bound by
// rotating the addresses of its prefix.
func TestAuditKey(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not-an-address", "not-an-address"},
	} {
		if got := auditKey(c.in); got != c.want {
			t.Errorf("auditKey(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
