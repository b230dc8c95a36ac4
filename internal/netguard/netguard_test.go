package netguard_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/netguard"
)

// TestPublicOnly: only public unicast addresses pass.
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
		{"[::ffff:169.254.169.254]:80", false},
		{"[fd00::1]:443", false},
		{"[fe80::1]:443", false},
		{"224.0.0.1:80", false},
		{"255.255.255.255:80", false},
		// Forms that reach an IPv4 address through IPv6: NAT64 (RFC 6052;
		// an IPv6-only cluster's DNS64 gateway translates them, private
		// destinations included), 6to4, IPv4-compatible. The embedded
		// address decides; a public one through NAT64 still passes.
		{"[64:ff9b::a9fe:a9fe]:80", false}, // 169.254.169.254
		{"[64:ff9b::a00:5]:443", false},    // 10.0.0.5
		{"[64:ff9b::7f00:1]:80", false},    // 127.0.0.1
		{"[64:ff9b::5db8:d70e]:443", true}, // 93.184.215.14
		{"[64:ff9b:1::a00:5]:443", false},  // local-use NAT64 (RFC 8215)
		{"[2002:a9fe:a9fe::1]:80", false},  // 6to4 of 169.254.169.254
		{"[2002:a00:5::1]:443", false},     // 6to4 of 10.0.0.5
		{"[2002:5db8:d70e::1]:443", true},  // 6to4 of a public address
		{"[::a00:5]:443", false},           // IPv4-compatible 10.0.0.5
		{"[::a9fe:a9fe]:80", false},        // IPv4-compatible 169.254.169.254
		{"0.1.2.3:80", false},              // "this network" (RFC 791)
		{"198.18.0.1:80", false},           // benchmarking (RFC 2544), used inside
		{"192.0.0.170:80", false},          // IETF protocol assignments
		{"240.0.0.1:80", false},            // reserved
		{"not-an-address", false},
		{"example.com:443", false}, // a name is never dialled as such
	} {
		err := netguard.PublicOnly("tcp", c.addr, nil)
		if (err == nil) != c.ok {
			t.Errorf("%s: %v, want allowed %v", c.addr, err, c.ok)
		}
		if err != nil && !errors.Is(err, netguard.ErrNotPublic) {
			t.Errorf("%s: %v does not wrap ErrNotPublic", c.addr, err)
		}
	}
}

// TestTransport: the guarded transport refuses a loopback server, also when
// reached through a name that resolves to it; with allowPrivate it connects.
func TestTransport(t *testing.T) {
	t.Parallel()
	inside := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("secret")) }))
	t.Cleanup(inside.Close)
	get := func(c *http.Client, u string) error {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		return res.Body.Close()
	}
	guarded := &http.Client{Transport: netguard.Transport(5*time.Second, false)}
	_, port, err := net.SplitHostPort(inside.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{inside.URL, "http://localhost:" + port} {
		if err := get(guarded, u); !errors.Is(err, netguard.ErrNotPublic) {
			t.Errorf("guarded GET %s: %v, want ErrNotPublic", u, err)
		}
	}
	open := &http.Client{Transport: netguard.Transport(5*time.Second, true)}
	if err := get(open, inside.URL); err != nil {
		t.Errorf("allowPrivate: %v", err)
	}
}
