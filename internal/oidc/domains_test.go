package oidc_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestDomainTakeoverReplay replays issue 12's finding 1 against the login:
// organization A registers its own identity provider (the upstream, which
// vouches for jo@acme.example) and claims acme.example, the victim's email
// domain. A pending claim routes nothing, so the victim's login never
// reaches A's provider; an upstream login A started while it held a
// verified domain is refused once the claim changes; the victim B can still
// claim acme.example and prove it by DNS (a real server on loopback), after
// which A cannot verify it (409) and the victim's logins go to B's provider.
func TestDomainTakeoverReplay(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		dns := testenv.NewDNSServer(t)
		f := newFederationWith(t, open, testenv.Options{Resolver: dns.Resolver(t)})
		down := f.down
		orgs := "/api/v1/organizations/"
		spec := func(domain, scope, provider string) map[string]any {
			return map[string]any{"organizationType": "domain", "domain": domain, "providerScope": scope, "providerID": provider}
		}
		status := func(token, orgID string) (name, value, state string) {
			o := down.Must(http.StatusOK, "GET", orgs+orgID, token, nil).Map(t)
			st, _ := o["status"].(map[string]any)
			dv, _ := st["domainVerification"].(map[string]any)
			if dv == nil {
				t.Fatalf("organization %s shows no domain verification: %v", orgID, o)
			}
			return dv["recordName"].(string), dv["recordValue"].(string), dv["state"].(string)
		}
		verify := func(want int, token, orgID string, body map[string]any) {
			t.Helper()
			down.Must(want, "POST", orgs+orgID+"/domain/verify", token, body)
		}

		// A: an organization administrator with its own provider.
		a := down.NewTenant("attacker", "administrator")
		prov := down.Must(http.StatusCreated, "POST", orgs+a.OrgID+"/oauth2providers", a.Token, map[string]any{
			"metadata": map[string]any{"name": "evil-idp"},
			"spec":     map[string]any{"type": "oidc", "issuer": f.up.URL, "clientID": f.upClient, "clientSecret": f.upSecret}}).Map(t)
		provID := prov["metadata"].(map[string]any)["id"].(string)
		setA := func(domain string) {
			t.Helper()
			down.Must(http.StatusOK, "PUT", orgs+a.OrgID, a.Token, map[string]any{
				"metadata": map[string]any{"name": "attacker"}, "spec": spec(domain, "organization", provID)})
		}

		// A proves a domain it does own, and a login of that domain starts
		// at A's provider.
		setA("attacker.example")
		name, value, _ := status(a.Token, a.OrgID)
		dns.SetTXT(name, value)
		verify(http.StatusOK, a.Token, a.OrgID, map[string]any{})
		_, v := f.rp.openLogin()
		v.Set("email", "someone@attacker.example")
		resp, err := f.rp.browser.PostForm(down.URL+oidc.LoginPath, v)
		if err != nil {
			t.Fatal(err)
		}
		to := continueTo(t, resp)
		if !strings.HasPrefix(to, f.up.URL) {
			t.Fatalf("a verified domain is not routed to its provider but to %q", to)
		}
		if resp, err = f.rp.browser.Get(to); err != nil {
			t.Fatal(err)
		}
		// Meanwhile A claims acme.example instead: the claim is pending, so
		// A's provider vouching for jo@acme.example is refused.
		setA("acme.example")
		if _, _, state := status(a.Token, a.OrgID); state != "pending" {
			t.Fatalf("a changed domain is %s, want pending", state)
		}
		final, body := f.upstreamLogin(t, resp)
		if loc, _ := url.Parse(final.Header.Get("Location")); final.StatusCode != http.StatusForbidden || loc != nil && loc.Query().Get("code") != "" {
			t.Fatalf("A's provider signed in %s through a pending claim: %d %q %s", email, final.StatusCode, final.Header.Get("Location"), body)
		}

		// The victim's login (an empty password, as in the finding) does
		// not go to A's provider, neither by the form nor by login_hint.
		_, v = f.rp.openLogin()
		v.Set("email", email)
		v.Set("password", "")
		resp, err = f.rp.browser.PostForm(down.URL+oidc.LoginPath, v)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if continueLink.Match(page) || strings.Contains(resp.Header.Get("Location"), f.up.URL) {
			t.Fatalf("%s was routed upstream through A's pending claim: %d %s", email, resp.StatusCode, page)
		}
		if _, resp, _, _ := f.rp.authorize(param("login_hint", email)); strings.HasPrefix(resp.Header.Get("Location"), f.up.URL) {
			t.Fatalf("login_hint %s was routed through A's pending claim to %q", email, resp.Header.Get("Location"))
		}

		// B, the owner, claims acme.example although A claimed it first
		// (this was the 409 of the finding), publishes its record and
		// verifies; B's logins go through the system provider.
		b := down.Must(http.StatusAccepted, "POST", "/api/v1/organizations", down.AdminToken, map[string]any{
			"metadata": map[string]any{"name": "victim"}, "spec": spec("acme.example", "global", f.provider)}).Map(t)
		bID := b["metadata"].(map[string]any)["id"].(string)
		bAdmin := down.AddMember(bID, "victim-admins", "administrator")
		name, bValue, _ := status(bAdmin.Token, bID)
		_, aValue, _ := status(a.Token, a.OrgID)
		if name != "_gatehouse-challenge.acme.example" || bValue == aValue {
			t.Fatalf("B's challenge %s=%q, A's %q", name, bValue, aValue)
		}
		dns.SetTXT(name, bValue)
		// A cannot pass B's record off as its own, nor mark itself verified.
		verify(http.StatusBadRequest, a.Token, a.OrgID, map[string]any{})
		verify(http.StatusForbidden, a.Token, a.OrgID, map[string]any{"markVerified": true})
		verify(http.StatusOK, bAdmin.Token, bID, map[string]any{})
		if _, _, state := status(bAdmin.Token, bID); state != "verified" {
			t.Fatalf("B's domain is %s after verification", state)
		}
		// Once B verified it, A cannot, whatever the DNS says.
		dns.SetTXT(name, bValue, aValue)
		verify(http.StatusConflict, a.Token, a.OrgID, map[string]any{})

		fl, v := f.rp.openLogin()
		v.Set("email", email)
		resp, err = f.rp.browser.PostForm(down.URL+oidc.LoginPath, v)
		if err != nil {
			t.Fatal(err)
		}
		if resp, err = f.rp.browser.Get(continueTo(t, resp)); err != nil {
			t.Fatal(err)
		}
		final, body = f.upstreamLogin(t, resp)
		loc, _ := url.Parse(final.Header.Get("Location"))
		if loc == nil || loc.Query().Get("code") == "" {
			t.Fatalf("the owner's login did not complete: %d %q %s", final.StatusCode, final.Header.Get("Location"), body)
		}
		f.rp.exchange(fl, loc.Query().Get("code"))
	})
}
