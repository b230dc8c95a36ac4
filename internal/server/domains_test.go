package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestDomainVerificationAPI: the organization's status shows the challenge
// of its domain claim; POST .../domain/verify proves it by DNS (a real
// server on loopback) for the organization's administrators, or marks it
// verified for the platform administrator only; pending claims of two
// organizations on one domain coexist (issue 12: the owner's claim was
// refused with 409), a verified one is one organization's; a failed check
// changes nothing and leaves no audit event; a resolver that is down is a
// 503 with Retry-After, never a 500.
func TestDomainVerificationAPI(t *testing.T) {
	t.Parallel()
	for _, b := range testenv.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			dns := testenv.NewDNSServer(t)
			a := &apiEnv{Env: testenv.NewEnv(t, b.Open(t), testenv.WithResolver(dns.Resolver(t), 2*time.Second))}
			acme := a.tenant(t, "acme", "administrator")
			reader := a.addMember(t, acme.org, "readers", "reader")
			claim := func(token, org, name, domain string) {
				t.Helper()
				a.must(t, http.StatusOK, "PUT", orgPath(org), token, map[string]any{"metadata": md(name),
					"spec": map[string]any{"organizationType": "domain", "domain": domain}})
			}
			verification := func(token, org string) map[string]any {
				t.Helper()
				v, _ := get(a.must(t, http.StatusOK, "GET", orgPath(org), token, nil).obj(t), "status", "domainVerification").(map[string]any)
				if v == nil {
					t.Fatalf("organization %s has no status.domainVerification", org)
				}
				return v
			}
			verify := func(token, org string, body any) *resp {
				t.Helper()
				return a.call(t, "POST", orgPath(org, "domain", "verify"), token, body)
			}

			// No domain: no status, nothing to verify.
			if has(a.admin(t, http.StatusOK, "GET", orgPath(acme.org), nil).obj(t), "status", "domainVerification") {
				t.Fatal("an organization without a domain shows a domain verification")
			}
			wantError(t, verify(acme.token, acme.org, map[string]any{}), http.StatusBadRequest, "invalid_request")

			claim(acme.token, acme.org, "acme", "acme.example")
			v := verification(reader.token, acme.org)
			record, token := str(v, "recordName"), str(v, "recordValue")
			if str(v, "state") != "pending" || record != "_gatehouse-challenge.acme.example" || len(token) < 32 || has(v, "verifiedAt") {
				t.Fatalf("a new claim: %v", v)
			}
			// Another organization may claim the same domain meanwhile.
			squatter := a.tenant(t, "squatter", "administrator")
			claim(squatter.token, squatter.org, "squatter", "acme.example")
			if other := str(verification(squatter.token, squatter.org), "recordValue"); other == token {
				t.Fatal("two claims share a challenge")
			}

			before := a.snapshot(t, acme.org, squatter.org)
			refused := []struct {
				name, token string
				body        any
				status      int
				code        string
			}{
				{"no record yet", acme.token, map[string]any{}, http.StatusBadRequest, "invalid_request"},
				{"administrator marks verified", acme.token, map[string]any{"markVerified": true}, http.StatusForbidden, "forbidden"},
				{"reader", reader.token, map[string]any{}, http.StatusForbidden, "forbidden"},
				{"another organization's administrator", squatter.token, map[string]any{}, http.StatusForbidden, "forbidden"},
				{"markVerified not a boolean", acme.token, map[string]any{"markVerified": "yes"}, http.StatusBadRequest, "invalid_request"},
				{"unknown field", acme.token, map[string]any{"skip": true}, http.StatusBadRequest, "invalid_request"},
			}
			for _, c := range refused {
				r := verify(c.token, acme.org, c.body)
				wantError(t, r, c.status, c.code)
				if evs := a.eventsOf(t, r); len(evs) != 0 {
					t.Errorf("%s: refused, but left audit events %v", c.name, evs)
				}
			}
			a.unchanged(t, before, "refused verifications", acme.org, squatter.org)

			// The record is published: the administrators verify.
			dns.SetTXT(record, token)
			r := verify(acme.token, acme.org, map[string]any{})
			if r.Status != http.StatusOK {
				t.Fatalf("verify: %s", r)
			}
			got := r.obj(t)
			if str(got, "status", "domainVerification", "state") != "verified" || !parseTime(get(got, "status", "domainVerification", "verifiedAt")).Equal(a.Clock.Now()) {
				t.Fatalf("after verification: %v", get(got, "status"))
			}
			evs := a.eventsOf(t, r)
			if len(evs) != 1 || evs[0]["op"] != "verifyOrganizationDomain" || evs[0]["id"] != acme.org || evs[0]["type"] != "organizations" {
				t.Fatalf("audit events of the verification: %v", evs)
			}
			// It is acme's now: nobody else verifies it, not even by fiat.
			wantError(t, verify(squatter.token, squatter.org, map[string]any{}), http.StatusConflict, "conflict")
			wantError(t, verify(a.AdminToken, squatter.org, map[string]any{"markVerified": true}), http.StatusConflict, "conflict")

			// The platform administrator marks a claim verified without DNS.
			late := a.tenant(t, "late", "administrator")
			claim(late.token, late.org, "late", "late.example")
			a.admin(t, http.StatusOK, "POST", orgPath(late.org, "domain", "verify"), map[string]any{"markVerified": true})
			if str(verification(late.token, late.org), "state") != "verified" {
				t.Fatal("marked verified, still pending")
			}

			// Changing the domain starts over.
			claim(acme.token, acme.org, "acme", "acme2.example")
			if v := verification(acme.token, acme.org); str(v, "state") != "pending" || str(v, "recordValue") == token {
				t.Fatalf("a changed domain: %v", v)
			}

			// The resolver down: 503 with Retry-After, nothing changed.
			dns.Close()
			r = verify(acme.token, acme.org, map[string]any{})
			wantError(t, r, http.StatusServiceUnavailable, "temporarily_unavailable")
			if r.Header.Get("Retry-After") == "" {
				t.Errorf("%s: no Retry-After", r)
			}
			if str(verification(acme.token, acme.org), "state") != "pending" {
				t.Fatal("a failed check verified the domain")
			}
		})
	}
}
