package oidc

import "testing"

// TestPublicOnly: an organization's client's back-channel delivery connects
// to public unicast addresses only.
func TestPublicOnly(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		addr string
		ok   bool
	}{
		{"93.184.215.14:443", true},
		{"[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:443", true},
		{"127.0.0.1:80", false},
		{"[::1]:80", false},
		{"10.1.2.3:443", false},
		{"172.16.0.1:443", false},
		{"192.168.1.1:443", false},
		{"169.254.169.254:80", false},
		{"100.64.0.1:80", false},
		{"0.0.0.0:80", false},
		{"[::ffff:127.0.0.1]:80", false},
		{"[fd00::1]:443", false},
		{"[fe80::1]:443", false},
		{"224.0.0.1:80", false},
		{"not-an-address", false},
	} {
		if err := publicOnly("tcp", c.addr, nil); (err == nil) != c.ok {
			t.Errorf("%s: %v, want allowed %v", c.addr, err, c.ok)
		}
	}
}
