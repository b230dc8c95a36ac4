package oidc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
	"github.com/gatehouse/gatehouse/internal/webui"
)

// TestPagesStrictCSP renders the provider's pages (login, the login after
// a failure, the logout confirmation, a message) and checks each: the one
// stylesheet, a policy with style-src 'self' and no 'unsafe-inline', and
// no inline style or script in the markup.
func TestPagesStrictCSP(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	r, _, _ := webRP(t, env)
	check := func(name string, h http.Header, body string) {
		t.Helper()
		csp := h.Get("Content-Security-Policy")
		if !strings.HasPrefix(csp, "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP %q", name, csp)
		}
		if !strings.Contains(body, `href="`+webui.StylesheetPath+`"`) {
			t.Errorf("%s: no stylesheet link in %s", name, body)
		}
		if bad := webui.InlineCode(body); bad != "" {
			t.Errorf("%s: inline style or script %q", name, bad)
		}
	}
	_, v := r.openLogin()
	login := r.page
	check("login", http.Header{"Content-Security-Policy": {csp(t, r, v)}}, login)

	v.Set("email", email)
	v.Set("password", "wrong password!")
	resp, err := r.browser.PostForm(env.URL+oidc.LoginPath, v)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	check("failed login", resp.Header, string(body))

	resp, err = r.browser.Get(env.URL + oidc.LoggedOutPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	check("signed out", resp.Header, string(body))

	// The link pages (issue 13): setup, and its wrong-link answer.
	link, err := env.Accounts.CreateSetupLink(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for name, u := range map[string]string{"setup": link.URL, "unknown setup link": env.URL + account.SetupPath + "?token=ghsetup_nope"} {
		resp, page := fetch(t, linkBrowser(env), "GET", u, nil)
		check(name, resp.Header, page)
	}
}

// csp fetches the login page's policy once more (openLogin keeps only the
// body) by re-opening the login page of the same state.
func csp(t *testing.T, r *rp, v map[string][]string) string {
	t.Helper()
	resp, err := r.browser.Get(r.env.URL + oidc.LoginPath + "?state=" + v["state"][0])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("Content-Security-Policy")
}

// TestLockoutHintSaysNothing: a failed password sign-in shows the same
// error and the same lockout notice (what to do: wait N minutes, contact
// an administrator) for a known account, an unknown address and a locked
// account: the page cannot tell them apart.
func TestLockoutHintSaysNothing(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	r, _, _ := webRP(t, env)
	failed := func(addr string) string {
		t.Helper()
		_, v := r.openLogin()
		v.Set("email", addr)
		v.Set("password", "not the password")
		resp, err := r.browser.PostForm(env.URL+oidc.LoginPath, v)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: %d", addr, resp.StatusCode)
		}
		s := string(b)
		i, j := strings.Index(s, `<div role="alert"`), strings.Index(s, `</div></div>`)
		if i < 0 || j < i {
			t.Fatalf("%s: no alert in %s", addr, s)
		}
		return s[i:j]
	}
	known := failed(email)
	if !strings.Contains(known, `id="lockout-hint"`) || !strings.Contains(known, "paused for 15 minutes") ||
		!strings.Contains(known, "contact an administrator") {
		t.Fatalf("no lockout notice: %s", known)
	}
	if unknown := failed("nobody@example.org"); unknown != known {
		t.Errorf("an unknown address gets another notice:\n%s\n%s", unknown, known)
	}
	for range 6 {
		failed(email)
	}
	if locked := failed(email); locked != known {
		t.Errorf("a locked account gets another notice:\n%s\n%s", locked, known)
	}
}

// TestSignInAudit: sign-ins succeeded and failed (with the factor), and
// sign-outs, are in the platform's audit log with the actor, the client
// address and user agent; a failure records the address typed only when it
// is an email address (never what might be a password), and never the
// password.
func TestSignInAudit(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		r, c, _ := webRP(t, env)
		fail := func(addr, pw string) {
			t.Helper()
			_, v := r.openLogin()
			v.Set("email", addr)
			v.Set("password", pw)
			if resp := r.submit(v); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("failed login: %d", resp.StatusCode)
			}
		}
		fail(email, "wrong-password-1")
		fail("nobody@example.org", "wrong-password-2")
		fail("Secret-Typed-As-Email", "wrong-password-3")
		r.login()
		// Sign out through the confirmation page (scanned like every page).
		q := url.Values{"client_id": {c.ID}, "post_logout_redirect_uri": {logoutURI}}
		resp, body := r.get(env.URL + oidc.EndSessionPath + "?" + q.Encode())
		token := regexp.MustCompile(`name="logout_csrf" value="([^"]+)"`).FindStringSubmatch(body)
		if resp.StatusCode != http.StatusOK || token == nil || webui.InlineCode(body) != "" {
			t.Fatalf("confirmation page: %d %s", resp.StatusCode, body)
		}
		q.Set("logout_csrf", token[1])
		out, err := r.browser.PostForm(env.URL+oidc.EndSessionPath, q)
		if err != nil {
			t.Fatal(err)
		}
		out.Body.Close()
		if !strings.HasPrefix(out.Header.Get("Location"), logoutURI) {
			t.Fatalf("logout: %d %q", out.StatusCode, out.Header.Get("Location"))
		}

		events, err := env.Store.Read().ListAuditEvents(context.Background(), store.AuditFilter{}, store.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		type detail struct {
			Factor, ClientID, Reason, Email, ClientAddress, UserAgent string
		}
		var got []string
		for _, e := range events {
			if !strings.HasPrefix(e.OperationID, "oidcSign") {
				continue
			}
			for _, secret := range []string{"wrong-password", password, "Secret-Typed"} {
				if strings.Contains(e.After, secret) || strings.Contains(e.Actor, secret) {
					t.Errorf("event %s holds %q: %s", e.OperationID, secret, e.After)
				}
			}
			var d detail
			if err := json.Unmarshal([]byte(e.After), &d); err != nil {
				t.Fatalf("%s: %v", e.After, err)
			}
			factor := oidc.FactorPassword
			if e.OperationID == oidc.OpSignOut {
				factor = oidc.FactorSession
			}
			if d.ClientAddress == "" || d.UserAgent == "" || d.ClientID != c.ID || d.Factor != factor {
				t.Errorf("%s: detail %+v", e.OperationID, d)
			}
			got = append(got, e.OperationID+" "+e.ActorSubject+" "+d.Email+" "+d.Reason)
		}
		want := []string{
			"oidcSignInFailed  " + email + " invalid_credentials",
			"oidcSignInFailed  nobody@example.org invalid_credentials",
			"oidcSignInFailed   invalid_credentials",
			"oidcSignIn " + email + "  ",
			"oidcSignOut " + email + "  ",
		}
		// The audit API lists them like every event.
		listed := env.Must(http.StatusOK, "GET", "/api/v1/auditevents", env.AdminToken, nil)
		for _, op := range []string{oidc.OpSignIn, oidc.OpSignInFailed, oidc.OpSignOut} {
			if !strings.Contains(string(listed.Body), `"`+op+`"`) {
				t.Errorf("GET /api/v1/auditevents lists no %s: %s", op, listed.Body)
			}
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("sign-in events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// TestLockoutAudited: the failed sign-in that locks a local account records
// one oidcAccountLocked event (the account, when the lock ends); attempts
// during the lock record failures but no second lock; an unknown address
// is never "locked".
func TestLockoutAudited(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		r, _, _ := webRP(t, env)
		n, period := env.Password.Lockout()
		for _, addr := range []string{email, "nobody@example.org"} {
			for range n + 2 {
				_, v := r.openLogin()
				v.Set("email", addr)
				v.Set("password", "not the password")
				if resp := r.submit(v); resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("failed login: %d", resp.StatusCode)
				}
			}
		}
		events, err := env.Store.Read().ListAuditEvents(context.Background(), store.AuditFilter{ResourceType: "localUser"}, store.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 || events[0].OperationID != oidc.OpAccountLocked || events[0].ResourceID != email || events[0].ActorSubject != email {
			t.Fatalf("lock events: %+v", events)
		}
		var d struct{ LockedUntil time.Time }
		// The password connector runs on the wall clock.
		if err := json.Unmarshal([]byte(events[0].After), &d); err != nil || d.LockedUntil.Before(time.Now().Add(period-time.Minute)) ||
			d.LockedUntil.After(time.Now().Add(period)) {
			t.Errorf("lockedUntil %v (%v), want about %v", d.LockedUntil, err, time.Now().Add(period))
		}
	})
}

// headerTransport sets X-Forwarded-For to *from on every request (loopback
// is a trusted proxy in tests: the server takes it as the client address).
type headerTransport struct {
	base http.RoundTripper
	from *string
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", *h.from)
	return h.base.RoundTrip(r)
}

// TestFailedSignInAuditPerAddress (review of issue 13): the failed sign-ins
// audited are bounded per client address (30 a minute, the clock does not
// move here): a flood of 40 from one address records its 30, and takes
// nothing from the others: the next failure, from another address, is
// recorded too.
func TestFailedSignInAuditPerAddress(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		r, _, _ := webRP(t, env)
		from := "203.0.113.1"
		base := r.browser.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		r.browser.Transport = headerTransport{base: base, from: &from}
		fail := func(i int) {
			t.Helper()
			_, v := r.openLogin()
			v.Set("email", fmt.Sprintf("nobody-%d@example.org", i))
			v.Set("password", "wrong-password")
			if resp := r.submit(v); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("failed login %d: %d", i, resp.StatusCode)
			}
		}
		for i := range 40 {
			fail(i)
		}
		from = "198.51.100.7"
		fail(40)

		events, err := env.Store.Read().ListAuditEvents(context.Background(), store.AuditFilter{}, store.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		per := map[string]int{}
		for _, e := range events {
			if e.OperationID != oidc.OpSignInFailed {
				continue
			}
			var d struct{ ClientAddress string }
			if err := json.Unmarshal([]byte(e.After), &d); err != nil {
				t.Fatal(err)
			}
			per[d.ClientAddress]++
		}
		if per["203.0.113.1"] != 30 || per["198.51.100.7"] != 1 || len(per) != 2 {
			t.Errorf("failed sign-ins audited per address: %v, want 30 from the flood and 1 from the other", per)
		}
	})
}
