// Package netguard keeps the server's outbound requests to addresses a
// tenant chose out of the server's own networks (server-side request
// forgery). An organization's administrators name URLs that Gatehouse then
// calls: the back-channel logout URI of their OAuth2 clients, the issuer of
// the identity provider they register (discovery, token, userinfo, JWKS),
// the STS endpoints of their cloud identities. Without a guard, any of them
// could point at loopback, the cluster's private network or a cloud
// metadata service, and Gatehouse would call it with its own network
// position.
//
// The guard is a net.Dialer Control (PublicOnly): it checks the address
// actually connected to, after DNS resolution, so a name that resolves
// inside (or is re-bound to resolve inside after a check) does not pass,
// and every connection is checked, redirects included. Transport builds an
// HTTP transport with it and without a proxy: through a proxy, the address
// checked would be the proxy's, not the destination's.
//
// Requests the platform's operators configure (platform identity providers,
// the platform's cloud endpoints) keep the ordinary client: operators may
// mean an internal address.
package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrNotPublic refuses a connection to an address that is not public
// unicast.
var ErrNotPublic = errors.New("not a public address (the destination was chosen by an organization)")

// internal4 are IPv4 ranges that netip.Addr.IsGlobalUnicast and IsPrivate
// let through but that are internal all the same: RFC 6598's carrier-grade
// NAT range (cloud metadata at 100.100.100.200), "this network" (RFC 791,
// which Linux may route to the host itself), the IETF protocol assignments
// (RFC 6890), benchmarking (RFC 2544, used for internal networks) and the
// reserved 240.0.0.0/4.
var internal4 = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
}

// IPv6 forms that reach an IPv4 address: the well-known NAT64 prefix
// (RFC 6052: an IPv6-only network's DNS64/NAT64 gateway translates it to
// its last 32 bits, private destinations included), the local-use NAT64
// prefix (RFC 8215, whose translation is the site's), 6to4 (RFC 3056, the
// IPv4 address in bits 16-47) and the deprecated IPv4-compatible ::/96.
var (
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	nat64LocalUse  = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour      = netip.MustParsePrefix("2002::/16")
	ipv4Compatible = netip.MustParsePrefix("::/96")
)

// PublicOnly is a net.Dialer Control that refuses any address that is not
// public unicast: loopback, private (RFC 1918, fc00::/7), link-local (cloud
// metadata services at 169.254.169.254), the internal IPv4 ranges above,
// unspecified, multicast, and the IPv6 forms of these (IPv4-mapped, NAT64,
// 6to4, IPv4-compatible).
func PublicOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrNotPublic, address)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrNotPublic, address)
	}
	if !public(ip) {
		return fmt.Errorf("%w: %s", ErrNotPublic, ip.Unmap())
	}
	return nil
}

// public reports whether ip is public unicast, judging an IPv6 form of an
// IPv4 address by that address.
func public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip):
			return public(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(ip):
			return public(netip.AddrFrom4([4]byte(b[2:6])))
		case nat64LocalUse.Contains(ip), ipv4Compatible.Contains(ip):
			return false
		}
	}
	if !ip.IsGlobalUnicast() || ip.IsPrivate() {
		return false
	}
	for _, p := range internal4 {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// Transport is an HTTP transport whose connections go to public addresses
// only (PublicOnly), or anywhere when allowPrivate is set (development and
// tests, whose stand-ins listen on loopback: serve
// --allow-private-tenant-endpoints). It uses no proxy either way, so that
// the address checked is the one connected to; timeout bounds the dial and
// the TLS handshake.
func Transport(timeout time.Duration, allowPrivate bool) *http.Transport {
	t := &http.Transport{
		ForceAttemptHTTP2: true, TLSHandshakeTimeout: timeout, MaxIdleConns: 100,
		IdleConnTimeout: 90 * time.Second, ExpectContinueTimeout: time.Second,
	}
	Guard(t, timeout, allowPrivate)
	return t
}

// Guard makes t connect as Transport's do: without a proxy, through a
// dialer bounded by timeout that refuses addresses that are not public
// unless allowPrivate. The rest of t (TLS roots, timeouts) is kept.
func Guard(t *http.Transport, timeout time.Duration, allowPrivate bool) {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = PublicOnly
	}
	t.Proxy, t.DialContext, t.DialTLSContext, t.Dial, t.DialTLS = nil, d.DialContext, nil, nil, nil //nolint:staticcheck // the deprecated Dial fields are cleared so that none bypasses the guard
}
