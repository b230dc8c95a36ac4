package tenancy_test

import (
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tenancy"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// wantStatus fails unless err is an API error with HTTP status want (0: no
// error).
func wantStatus(t *testing.T, what string, err error, want int) {
	t.Helper()
	got := 0
	if err != nil {
		e, ok := apierror.As(err)
		if !ok {
			t.Fatalf("%s: %v, not an API error (want %d)", what, err, want)
		}
		got = e.Status
	}
	if got != want {
		t.Fatalf("%s: status %d (%v), want %d", what, got, err, want)
	}
}

// domainOrg creates an organization claiming domain.
func domainOrg(t *testing.T, s *tenancy.Service, name, domain string) *store.Organization {
	t.Helper()
	o := &store.Organization{Meta: store.Meta{Name: name}, Type: tenancy.OrganizationDomain, Domain: domain}
	if err := s.CreateOrganization(t.Context(), admin, o); err != nil {
		t.Fatalf("claim %s for %s: %v", domain, name, err)
	}
	return o
}

// TestVerifyDomainDNS: a claim is proven only by a TXT record holding its
// own token, looked up through a real DNS server on loopback (the resolver
// --dns-resolver builds); a missing or wrong record is the caller's 400, a
// resolver that is down or silent a 503, and a failed check changes nothing.
func TestVerifyDomainDNS(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		dns := testenv.NewDNSServer(t)
		// A server that never answers, for the timeout.
		silent, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { silent.Close() })
		// A server that is down: its port was closed.
		gone, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		goneAddr := gone.LocalAddr().String()
		gone.Close()

		st := open(t)
		s := newService(st)
		s.DNSTimeout = 500 * time.Millisecond
		resolverAt := func(addr string) tenancy.TXTResolver {
			r, err := tenancy.NewResolver(addr)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		tests := []struct {
			name     string
			domain   string
			resolver string
			txt      func(token string) []string // nil: the name does not exist
			want     int
		}{
			{"record holds the token", "present.example", dns.Addr, func(tok string) []string { return []string{"unrelated", tok} }, http.StatusOK},
			{"no such name", "absent.example", dns.Addr, nil, http.StatusBadRequest},
			{"name without TXT records", "nodata.example", dns.Addr, func(string) []string { return []string{} }, http.StatusBadRequest},
			{"record holds another value", "wrong.example", dns.Addr, func(string) []string { return []string{"someone-elses-token"} }, http.StatusBadRequest},
			{"server failure (SERVFAIL)", "servfail.example", dns.Addr, nil, http.StatusServiceUnavailable},
			{"resolver down", "down.example", goneAddr, func(tok string) []string { return []string{tok} }, http.StatusServiceUnavailable},
			{"resolver silent", "silent.example", silent.LocalAddr().String(), func(tok string) []string { return []string{tok} }, http.StatusServiceUnavailable},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				o := domainOrg(t, s, "org-"+tt.domain[:len(tt.domain)-len(".example")], tt.domain)
				v, ok := tenancy.DomainStatus(o)
				if !ok || v.State != tenancy.DomainPending || v.RecordName != "_gatehouse-challenge."+tt.domain || len(v.RecordValue) < 32 {
					t.Fatalf("status of a new claim: %+v", v)
				}
				if tt.txt != nil {
					dns.SetTXT(v.RecordName, tt.txt(v.RecordValue)...)
				}
				if tt.domain == "servfail.example" {
					dns.Fail(v.RecordName)
				}
				svc := *s
				svc.Resolver = resolverAt(tt.resolver)
				start := time.Now()
				got, err := svc.VerifyDomain(t.Context(), admin, tenancy.VerifyDomainInput{OrganizationID: o.ID})
				if took := time.Since(start); took > 3*time.Second {
					t.Errorf("the check took %v, beyond its timeout", took)
				}
				if tt.want != http.StatusOK {
					wantStatus(t, "verify", err, tt.want)
				} else if err != nil || !got.DomainVerified() || !got.DomainVerifiedAt.Equal(s.Now()) {
					t.Fatalf("verify: %+v %v", got, err)
				}
				stored, err := st.Read().GetOrganization(t.Context(), o.ID)
				if err != nil {
					t.Fatal(err)
				}
				if stored.DomainVerified() != (tt.want == http.StatusOK) || stored.DomainToken != o.DomainToken {
					t.Fatalf("stored after the check: verified %v token %q, want verified %v token %q",
						stored.DomainVerified(), stored.DomainToken, tt.want == http.StatusOK, o.DomainToken)
				}
				_, err = st.Read().OrganizationByDomain(t.Context(), tt.domain)
				if routed := err == nil; routed != (tt.want == http.StatusOK) {
					t.Fatalf("the domain routes: %v (%v)", routed, err)
				}
			})
		}
	})
}

// TestDomainClaims: pending claims of several organizations on one domain
// do not block each other, the owner can always prove its own, a verified
// domain is one organization's (409 for the others), changing a domain
// starts a new claim, marking verified without DNS is the platform's only,
// and public mail domains and public suffixes cannot be claimed.
func TestDomainClaims(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		dns := testenv.NewDNSServer(t)
		st := open(t)
		s := newService(st)
		s.Resolver = dns.Resolver(t)
		ctx := t.Context()
		verify := func(o *store.Organization) error {
			_, err := s.VerifyDomain(ctx, admin, tenancy.VerifyDomainInput{OrganizationID: o.ID})
			return err
		}

		// A (the squatter) claims b.example first; B can still claim it.
		a := domainOrg(t, s, "a", "b.example")
		b := domainOrg(t, s, "b", "b.example")
		if a.DomainToken == b.DomainToken {
			t.Fatal("two claims share a challenge token")
		}
		if _, err := st.Read().OrganizationByDomain(ctx, "b.example"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a pending claim routes: %v", err)
		}
		// B publishes its token: B's check passes, A's does not.
		dns.SetTXT(tenancy.DomainChallengeName("b.example"), b.DomainToken)
		wantStatus(t, "A verifies with B's record", verify(a), http.StatusBadRequest)
		wantStatus(t, "B verifies", verify(b), 0)
		if owner, err := st.Read().OrganizationByDomain(ctx, "b.example"); err != nil || owner.ID != b.ID {
			t.Fatalf("b.example routes to %+v (%v), want B", owner, err)
		}
		// Even with its own token published too, A cannot take it: 409.
		dns.SetTXT(tenancy.DomainChallengeName("b.example"), b.DomainToken, a.DomainToken)
		wantStatus(t, "A verifies a domain B verified", verify(a), http.StatusConflict)
		// Nor can the platform administrator mark it A's.
		_, err := s.VerifyDomain(ctx, admin, tenancy.VerifyDomainInput{OrganizationID: a.ID, MarkVerified: true, Platform: true})
		wantStatus(t, "mark A verified", err, http.StatusConflict)
		// Verifying again is harmless.
		wantStatus(t, "B verifies again", verify(b), 0)

		// An update keeping the domain keeps the claim; a new domain is a
		// new, pending claim with a new token.
		keep := *b
		keep.Description = "same domain"
		if err := s.UpdateOrganization(ctx, admin, b.ID, &keep); err != nil {
			t.Fatal(err)
		}
		if !keep.DomainVerified() || keep.DomainToken != b.DomainToken {
			t.Fatalf("an update keeping the domain lost its verification: %+v", keep)
		}
		moved := keep
		moved.Domain = "b2.example"
		if err := s.UpdateOrganization(ctx, admin, b.ID, &moved); err != nil {
			t.Fatal(err)
		}
		if moved.DomainVerified() || moved.DomainToken == b.DomainToken || moved.DomainToken == "" {
			t.Fatalf("a changed domain kept its verification or token: %+v", moved)
		}
		back := moved
		back.Domain = "b.example"
		if err := s.UpdateOrganization(ctx, admin, b.ID, &back); err != nil {
			t.Fatal(err)
		}
		if back.DomainVerified() || back.DomainToken == b.DomainToken {
			t.Fatalf("returning to a domain restored the old claim: %+v", back)
		}
		// b.example is free again: A, whose token is published, proves it.
		wantStatus(t, "A verifies the freed domain", verify(a), 0)

		// Marking verified without DNS: platform administrators only.
		c := domainOrg(t, s, "c", "c.example")
		_, err = s.VerifyDomain(ctx, admin, tenancy.VerifyDomainInput{OrganizationID: c.ID, MarkVerified: true})
		wantStatus(t, "mark verified as an organization administrator", err, http.StatusForbidden)
		got, err := s.VerifyDomain(ctx, admin, tenancy.VerifyDomainInput{OrganizationID: c.ID, MarkVerified: true, Platform: true})
		wantStatus(t, "mark verified as the platform administrator", err, 0)
		if !got.DomainVerified() {
			t.Fatalf("marked, not verified: %+v", got)
		}
		// No domain, nothing to verify.
		adhoc := &store.Organization{Meta: store.Meta{Name: "adhoc"}, Type: tenancy.OrganizationAdhoc}
		if err := s.CreateOrganization(ctx, admin, adhoc); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, "verify without a domain", verify(adhoc), http.StatusBadRequest)

		// Public mail domains and public suffixes.
		for _, d := range []string{"gmail.com", "GMAIL.com", "mail.gmail.com", "outlook.com", "proton.me", "gmx.de", "qq.com", "co.uk", "github.io"} {
			err := s.CreateOrganization(ctx, admin, &store.Organization{Meta: store.Meta{Name: "public"}, Type: tenancy.OrganizationDomain, Domain: d})
			wantStatus(t, "claim "+d, err, http.StatusBadRequest)
			moved := *c
			moved.Domain = d
			wantStatus(t, "move to "+d, s.UpdateOrganization(ctx, admin, c.ID, &moved), http.StatusBadRequest)
		}
		if n := count(t, st, "organizations"); n != 4 {
			t.Fatalf("%d organizations after the refusals, want 4", n)
		}
	})
}

// TestVerifiedDomainUnique: the database itself refuses a second verified
// claim of one domain (two verifications racing), while pending claims
// share it.
func TestVerifiedDomainUnique(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st := open(t)
		s := newService(st)
		ctx := t.Context()
		a := domainOrg(t, s, "a", "race.example")
		b := domainOrg(t, s, "b", "race.example")
		for i, o := range []*store.Organization{a, b} {
			o.DomainVerifiedAt = time.Unix(1700000000, 0)
			err := st.Tx(ctx, func(q *store.Q) error { return q.UpdateOrganization(ctx, o) })
			if i == 0 && err != nil || i == 1 && !errors.Is(err, store.ErrConflict) {
				t.Fatalf("verified claim %d: %v", i, err)
			}
		}
	})
}

// TestIssueDomainChallenges: a claim from before challenges existed (the
// migration leaves it pending, without a token) gets one at start, once.
func TestIssueDomainChallenges(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st := open(t)
		s := newService(st)
		ctx := t.Context()
		old := &store.Organization{Meta: store.Meta{ID: "old", OrganizationID: "old", Name: "old", CreatedAt: s.Now()},
			Type: tenancy.OrganizationDomain, Domain: "old.example"}
		if err := st.Tx(ctx, func(q *store.Q) error { return q.CreateOrganization(ctx, old) }); err != nil {
			t.Fatal(err)
		}
		// Until then, there is nothing to look up: 409, naming the fix.
		_, err := s.VerifyDomain(ctx, admin, tenancy.VerifyDomainInput{OrganizationID: "old"})
		wantStatus(t, "verify a claim without a challenge", err, http.StatusConflict)
		if err := s.IssueDomainChallenges(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := st.Read().GetOrganization(ctx, "old")
		if err != nil || len(got.DomainToken) < 32 || got.DomainVerified() {
			t.Fatalf("after issuing: %+v %v", got, err)
		}
		if err := s.IssueDomainChallenges(ctx); err != nil {
			t.Fatal(err)
		}
		again, _ := st.Read().GetOrganization(ctx, "old")
		if again.DomainToken != got.DomainToken {
			t.Fatal("a second start replaced the token")
		}
	})
}
