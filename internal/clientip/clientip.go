// Package clientip tells the address of the client behind a request: the
// connection's peer, or, when that peer is a trusted proxy (a load
// balancer), the nearest untrusted address in X-Forwarded-For. Anyone can
// send X-Forwarded-For, so it is believed only from the proxies an operator
// configured: otherwise a client could pick its own address and escape every
// per-address limit.
package clientip

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver finds client addresses. The zero Resolver trusts no proxy.
type Resolver struct {
	// Trusted are the proxies whose X-Forwarded-For is believed.
	Trusted []netip.Prefix
}

// ParsePrefixes reads a comma-separated list of CIDR prefixes or single
// addresses ("10.0.0.0/8, 192.0.2.7, 2001:db8::/32"); empty is none.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: %w", f, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", f, err)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func (r *Resolver) trusted(a netip.Addr) bool {
	for _, p := range r.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Addr is the client's address: the peer of the connection unless it is a
// trusted proxy, in which case X-Forwarded-For is read from the right (the
// entry the trusted proxy appended) leftwards, skipping trusted proxies;
// the first other address is the client. An unparsable entry stops the
// walk at the last trusted hop. The second result reports whether the
// request carried X-Forwarded-For from a peer that is not trusted (a proxy
// the operator did not configure, or a client lying).
func (r *Resolver) Addr(req *http.Request) (netip.Addr, bool) {
	peer := peerAddr(req.RemoteAddr)
	xff := req.Header.Values("X-Forwarded-For")
	if len(xff) == 0 {
		return peer, false
	}
	if !peer.IsValid() || !r.trusted(peer) {
		return peer, true
	}
	hops := strings.Split(strings.Join(xff, ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		client = a.Unmap()
		if !r.trusted(client) {
			break
		}
	}
	return client, false
}

func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// Key is the rate limiting key of an address: IPv4 addresses as they are,
// IPv6 addresses by their /64, which one subscriber usually holds whole.
func Key(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

type addrKey struct{}

// WithAddr returns ctx carrying the client address a, resolved once by the
// HTTP layer (which knows the trusted proxies) for the packages behind it:
// the OpenID Connect provider records it with a browser session.
func WithAddr(ctx context.Context, a netip.Addr) context.Context {
	return context.WithValue(ctx, addrKey{}, a)
}

// FromContext is the address WithAddr put in ctx (ok false if none).
func FromContext(ctx context.Context) (netip.Addr, bool) {
	a, ok := ctx.Value(addrKey{}).(netip.Addr)
	return a, ok && a.IsValid()
}

// Middleware puts the request's client address (r.Addr) in its context.
func (r *Resolver) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		a, _ := r.Addr(req)
		next.ServeHTTP(w, req.WithContext(WithAddr(req.Context(), a)))
	})
}
