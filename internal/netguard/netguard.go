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

// sharedAddressSpace is RFC 6598's carrier-grade NAT range, which
// netip.Addr.IsPrivate does not count but which is internal all the same.
var sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")

// PublicOnly is a net.Dialer Control that refuses any address that is not
// public unicast: loopback, private (RFC 1918, fc00::/7), link-local (cloud
// metadata services at 169.254.169.254), shared address space
// (100.64.0.0/10), unspecified, multicast, and IPv4-mapped forms of these.
func PublicOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrNotPublic, address)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrNotPublic, address)
	}
	ip = ip.Unmap()
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || sharedAddressSpace.Contains(ip) {
		return fmt.Errorf("%w: %s", ErrNotPublic, ip)
	}
	return nil
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
