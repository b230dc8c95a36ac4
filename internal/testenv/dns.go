package testenv

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/gatehouse/gatehouse/internal/tenancy"
)

// DNSServer is a real DNS server on loopback (UDP and TCP on one port, built
// on github.com/miekg/dns) answering for the names a test sets: the domain
// verification tests query it through tenancy.NewResolver(Addr), the same
// resolver --dns-resolver builds, so nothing of the lookup is mocked.
type DNSServer struct {
	// Addr is host:port, for tenancy.NewResolver.
	Addr string

	mu      sync.Mutex
	txt     map[string][]string // fully qualified, lower-case name → TXT values
	fail    map[string]bool     // names answered SERVFAIL
	servers []*dns.Server
	closed  bool
}

// NewDNSServer starts a DNS server on 127.0.0.1, stopped when the test ends.
// A name it was not told of is NXDOMAIN.
func NewDNSServer(t testing.TB) *DNSServer {
	t.Helper()
	s := &DNSServer{txt: map[string][]string{}, fail: map[string]bool{}}
	// TCP on the UDP socket's port; another process may hold that TCP
	// port, so try a few UDP ports.
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for range 20 {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatalf("DNS server: %v", err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatalf("DNS server: no port free for UDP and TCP: %v", err)
	}
	s.Addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(s.serveDNS)
	s.servers = []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}}
	for _, srv := range s.servers {
		go func() { _ = srv.ActivateAndServe() }()
	}
	t.Cleanup(s.Close)
	return s
}

// Resolver is a resolver that asks this server (tenancy.NewResolver).
func (s *DNSServer) Resolver(t testing.TB) tenancy.TXTResolver {
	t.Helper()
	r, err := tenancy.NewResolver(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// SetTXT makes name (without the final dot) hold exactly the TXT values
// (none: the name exists without TXT records, a NODATA answer).
func (s *DNSServer) SetTXT(name string, values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.txt[dns.Fqdn(strings.ToLower(name))] = append([]string{}, values...)
}

// Fail makes the server answer SERVFAIL for name, as a resolver does when
// the domain's own servers fail.
func (s *DNSServer) Fail(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[dns.Fqdn(strings.ToLower(name))] = true
}

// Remove makes name unknown again (NXDOMAIN).
func (s *DNSServer) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.txt, dns.Fqdn(strings.ToLower(name)))
}

// Close stops the server: later queries find nobody listening.
func (s *DNSServer) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	for _, srv := range s.servers {
		_ = srv.Shutdown()
	}
}

func (s *DNSServer) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) == 1 {
		q := req.Question[0]
		s.mu.Lock()
		values, ok := s.txt[strings.ToLower(q.Name)]
		fail := s.fail[strings.ToLower(q.Name)]
		s.mu.Unlock()
		switch {
		case fail:
			m.Rcode = dns.RcodeServerFailure
		case !ok:
			m.Rcode = dns.RcodeNameError
		case q.Qtype == dns.TypeTXT:
			for _, v := range values {
				m.Answer = append(m.Answer, &dns.TXT{
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
					Txt: []string{v}})
			}
		}
	}
	_ = w.WriteMsg(m)
}

// VerifyDomain marks organization orgID's domain verified, as the platform
// administrator may without DNS: for tests whose subject is what a verified
// domain does (login routing, onboarding), not how it is proven.
func (e *Env) VerifyDomain(orgID string) {
	e.t.Helper()
	e.Must(http.StatusOK, "POST", "/api/v1/organizations/"+orgID+"/domain/verify", e.AdminToken,
		map[string]any{"markVerified": true})
}

// WithResolver makes domain verification ask r (e.g. a DNSServer's
// Resolver), within timeout (the default when zero).
func WithResolver(r tenancy.TXTResolver, timeout time.Duration) Option {
	return func(o *Options) { o.Resolver, o.DNSTimeout = r, timeout }
}

// OwnDomain makes domain organization orgID's verified email domain (as the
// platform administrator: the claim, then VerifyDomain), for tests whose
// organization vouches for addresses there: its own identity provider, or
// the local accounts it owns (an organization may own them only there).
func (e *Env) OwnDomain(orgID, domain string) {
	e.t.Helper()
	org := e.Must(http.StatusOK, "GET", "/api/v1/organizations/"+orgID, e.AdminToken, nil).Map(e.t)
	spec, _ := org["spec"].(map[string]any)
	if spec == nil {
		spec = map[string]any{}
	}
	spec["organizationType"], spec["domain"] = "domain", domain
	e.Must(http.StatusOK, "PUT", "/api/v1/organizations/"+orgID, e.AdminToken,
		map[string]any{"metadata": org["metadata"], "spec": spec})
	e.VerifyDomain(orgID)
}
