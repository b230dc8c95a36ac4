package oidc_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/mfa"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
	"github.com/gatehouse/gatehouse/internal/webui"
)

const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

// deviceClient registers a public client allowed the device grant (and
// refresh tokens), with no redirect URI: a command-line tool.
func deviceClient(t *testing.T, env *testenv.Env, name string) *client.Client {
	t.Helper()
	c, _ := newClient(t, env, func(s *client.Spec) {
		s.Name, s.Type, s.TokenEndpointAuthMethod = name, client.Public, client.AuthNone
		s.RedirectURIs, s.PostLogoutRedirectURIs = nil, nil
		s.GrantTypes = []string{client.GrantDeviceCode, client.GrantRefreshToken}
	})
	return c
}

// startDevice asks the device authorization endpoint for codes.
func startDevice(t *testing.T, env *testenv.Env, clientID string) map[string]any {
	t.Helper()
	status, body := postForm(t, env.Client, env.URL+oidc.DeviceAuthorizationPath,
		url.Values{"client_id": {clientID}, "scope": {"openid email offline_access"}}, "", "")
	if status != http.StatusOK {
		t.Fatalf("device authorization: %d %v", status, body)
	}
	return body
}

// poll is one device_code grant request: the status and the answer.
func poll(t *testing.T, env *testenv.Env, clientID, deviceCode string) (int, map[string]any) {
	t.Helper()
	return postToken(t, env, url.Values{"grant_type": {deviceGrant}, "client_id": {clientID}, "device_code": {deviceCode}}, "", "")
}

// wantPoll polls and checks the error code ("" for tokens).
func wantPoll(t *testing.T, env *testenv.Env, clientID, deviceCode, want string) map[string]any {
	t.Helper()
	status, body := poll(t, env, clientID, deviceCode)
	switch {
	case want == "" && (status != http.StatusOK || body["access_token"] == nil):
		t.Fatalf("poll: %d %v, want tokens", status, body)
	case want != "" && (status != http.StatusBadRequest || body["error"] != want):
		t.Fatalf("poll: %d %v, want 400 %s", status, body, want)
	}
	return body
}

var deviceCSRF = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)

// enterCode opens the user code page in r's browser and submits typed; it
// returns the answer (redirects within Gatehouse followed) and its body.
func enterCode(t *testing.T, r *rp, typed string) (*http.Response, string) {
	t.Helper()
	resp, body := r.get(r.env.URL + oidc.DevicePath)
	m := deviceCSRF.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("device page: %d %s", resp.StatusCode, body)
	}
	resp, err := r.browser.PostForm(r.env.URL+oidc.DevicePath, url.Values{"csrf_token": {m[1]}, "user_code": {typed}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return resp, string(b)
	}
	return r.get(resp.Request.URL.ResolveReference(mustURL(t, resp.Header.Get("Location"))).String())
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// decide posts the approval page's form with decision.
func decide(t *testing.T, r *rp, page, decision string) (int, string) {
	t.Helper()
	v := form(t, page)
	v.Set("decision", decision)
	resp, err := r.browser.PostForm(r.env.URL+oidc.DeviceConfirmPath, v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDeviceFlow (issue 16, RFC 8628): the device polls, the person enters
// the user code, signs in with the ordinary login page and approves on a
// page naming the client and its scopes; the device's next poll gets
// tokens, once. Too-fast polls get slow_down (per device code, interval
// raised), a code expires, another client cannot redeem it, a denial is
// access_denied, and a browser with a session goes straight to approval.
func TestDeviceFlow(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		c := deviceClient(t, env, "Gatehouse CLI")
		r := newRP(t, env, c, "")

		d := startDevice(t, env, c.ID)
		userCode, _ := d["user_code"].(string)
		deviceCode, _ := d["device_code"].(string)
		if !regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`).MatchString(userCode) || len(deviceCode) < 40 ||
			d["verification_uri"] != env.URL+oidc.DevicePath || d["interval"] != float64(5) || d["expires_in"] != float64(600) ||
			d["verification_uri_complete"] != env.URL+oidc.DevicePath+"?user_code="+userCode {
			t.Fatalf("device authorization %v", d)
		}
		// Nothing approved yet; polling again at once is too fast.
		wantPoll(t, env, c.ID, deviceCode, "authorization_pending")
		wantPoll(t, env, c.ID, deviceCode, "slow_down")
		// slow_down raised the interval to 10 s: 6 s later is still too fast.
		env.OIDCClock.Advance(6 * time.Second)
		wantPoll(t, env, c.ID, deviceCode, "slow_down")
		env.OIDCClock.Advance(16 * time.Second)
		wantPoll(t, env, c.ID, deviceCode, "authorization_pending")

		// The person types the code (lower case, without the dash), signs in
		// and sees the approval page.
		resp, login := enterCode(t, r, strings.ToLower(strings.ReplaceAll(userCode, "-", "")))
		if resp.StatusCode != http.StatusOK || !strings.Contains(login, `action="/oauth2/v2/login"`) {
			t.Fatalf("after the code: %d %s", resp.StatusCode, login)
		}
		v := form(t, login)
		v.Set("email", email)
		v.Set("password", password)
		resp = r.submit(v)
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), oidc.DeviceConfirmPath) {
			t.Fatalf("login: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, page := r.get(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="client-name">Gatehouse CLI<`) ||
			!strings.Contains(page, "refresh token") || !strings.Contains(page, `id="device-warning"`) {
			t.Fatalf("approval page: %d %s", resp.StatusCode, page)
		}
		// The callback never issues a code for a device login.
		if resp, _ := r.get(env.URL + oidc.CallbackPath + "?id=" + form(t, page).Get("state")); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("callback of a device login: %d", resp.StatusCode)
		}
		// A forged approval (wrong CSRF token) changes nothing.
		forged := form(t, page)
		forged.Set("csrf_token", "forged")
		forged.Set("decision", "approve")
		if resp, err := r.browser.PostForm(env.URL+oidc.DeviceConfirmPath, forged); err != nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("forged approval: %v %v", resp.StatusCode, err)
		}
		env.OIDCClock.Advance(16 * time.Second)
		wantPoll(t, env, c.ID, deviceCode, "authorization_pending")

		if status, body := decide(t, r, page, "approve"); status != http.StatusOK || !strings.Contains(body, "Device connected") {
			t.Fatalf("approve: %d %s", status, body)
		}
		events, err := env.Store.Read().ListAuditEvents(context.Background(), store.AuditFilter{}, store.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		approved := false
		for _, e := range events {
			approved = approved || e.OperationID == oidc.OpDeviceApproved && e.ActorID == email && strings.Contains(e.After, c.ID)
		}
		if !approved {
			t.Errorf("no %s event for %s", oidc.OpDeviceApproved, email)
		}
		env.OIDCClock.Advance(16 * time.Second)
		tok := wantPoll(t, env, c.ID, deviceCode, "")
		if tok["refresh_token"] == nil || tok["id_token"] == nil {
			t.Fatalf("tokens %v", tok)
		}
		if ui, err := r.userinfo(tok["access_token"].(string)); err != nil || ui.Email != email {
			t.Fatalf("userinfo %+v %v", ui, err)
		}
		if nt, err := r.refresh(tok["refresh_token"].(string)); err != nil || nt.AccessToken == "" {
			t.Fatalf("refresh: %v", err)
		}
		// Single use.
		env.OIDCClock.Advance(16 * time.Second)
		wantPoll(t, env, c.ID, deviceCode, "invalid_grant")

		// Another client cannot redeem a device code; an unknown one is refused.
		other := deviceClient(t, env, "other")
		d2 := startDevice(t, env, c.ID)
		wantPoll(t, env, other.ID, d2["device_code"].(string), "invalid_grant")
		wantPoll(t, env, c.ID, "not-a-device-code", "invalid_grant")

		// Denied, from a browser that still has its session: straight to
		// the approval page, no login.
		resp, page = enterCode(t, r, d2["user_code"].(string))
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `action="/oauth2/v2/device/confirm"`) {
			t.Fatalf("code with a session: %d %s", resp.StatusCode, page)
		}
		if status, body := decide(t, r, page, "deny"); status != http.StatusOK || !strings.Contains(body, "Device not connected") {
			t.Fatalf("deny: %d %s", status, body)
		}
		env.OIDCClock.Advance(16 * time.Second)
		wantPoll(t, env, c.ID, d2["device_code"].(string), "access_denied")
		// The denied code cannot be entered again.
		if resp, _ := enterCode(t, r, d2["user_code"].(string)); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("denied code entered again: %d", resp.StatusCode)
		}

		// Expiry.
		d3 := startDevice(t, env, c.ID)
		env.OIDCClock.Advance(oidc.DeviceCodeLifetime + time.Second)
		wantPoll(t, env, c.ID, d3["device_code"].(string), "expired_token")
		if resp, _ := enterCode(t, r, d3["user_code"].(string)); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("expired code entered: %d", resp.StatusCode)
		}

		// A client without the grant gets no codes.
		web, sec := newClient(t, env, nil)
		if status, body := postForm(t, env.Client, env.URL+oidc.DeviceAuthorizationPath, url.Values{"scope": {"openid"}}, web.ID, sec); status != http.StatusBadRequest || body["error"] != "unauthorized_client" {
			t.Fatalf("device authorization of a web client: %d %v", status, body)
		}
	})
}

// TestDeviceCodeGuessing: wrong user codes are counted per address; past
// the limit the page answers 429 even for a right one, and a wrong code
// shows the form again with the error.
func TestDeviceCodeGuessing(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	c := deviceClient(t, env, "cli")
	r := newRP(t, env, c, "")
	d := startDevice(t, env, c.ID)
	for i := range 10 {
		resp, err := postDeviceCode(t, r, "BCDF-GHJK")
		if err != nil || resp != http.StatusBadRequest {
			t.Fatalf("wrong code %d: %d %v", i, resp, err)
		}
	}
	if status, _ := postDeviceCode(t, r, d["user_code"].(string)); status != http.StatusTooManyRequests {
		t.Fatalf("after 10 wrong codes: %d, want 429", status)
	}
}

// postDeviceCode submits typed on the user code page and returns the
// status (redirects not followed).
func postDeviceCode(t *testing.T, r *rp, typed string) (int, error) {
	t.Helper()
	_, body := r.get(r.env.URL + oidc.DevicePath)
	m := deviceCSRF.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no form: %s", body)
	}
	resp, err := r.browser.PostForm(r.env.URL+oidc.DevicePath, url.Values{"csrf_token": {m[1]}, "user_code": {typed}})
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestDeviceFlowOrganizationClient: an organization's client confines the
// device grant as the code flow: its members get tokens carrying gh_corg,
// a person who is not a member is refused (the device gets access_denied,
// the browser the user code page saying so).
func TestDeviceFlowOrganizationClient(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		env := newEnv(t, open)
		acme := env.NewTenant("acme", authz.RoleAdministrator)
		other := env.NewTenant("other", authz.RoleAdministrator)
		addUser(t, env, acme, email, "active")
		const stranger = "sam@other.example"
		addUser(t, env, other, stranger, "active")
		if err := env.Password.SetPassword(context.Background(), stranger, password); err != nil {
			t.Fatal(err)
		}
		oc, _ := newOrgClient(t, env, acme.OrgID, func(s *client.Spec) {
			s.Type, s.TokenEndpointAuthMethod = client.Public, client.AuthNone
			s.RedirectURIs, s.PostLogoutRedirectURIs = nil, nil
			s.GrantTypes = []string{client.GrantDeviceCode}
		})
		signIn := func(who string) (*rp, string, string) {
			t.Helper()
			r := newRP(t, env, oc, "")
			d := startDevice(t, env, oc.ID)
			_, login := enterCode(t, r, d["user_code"].(string))
			v := form(t, login)
			v.Set("email", who)
			v.Set("password", password)
			resp := r.submit(v)
			_, page := r.get(resp.Header.Get("Location"))
			return r, d["device_code"].(string), page
		}

		r, deviceCode, page := signIn(email)
		if status, _ := decide(t, r, page, "approve"); status != http.StatusOK {
			t.Fatalf("approve: %d", status)
		}
		tok := wantPoll(t, env, oc.ID, deviceCode, "")
		if c := claimsOf(t, tok["access_token"].(string)); c["gh_corg"] != acme.OrgID {
			t.Fatalf("gh_corg %v, want %s", c["gh_corg"], acme.OrgID)
		}

		_, deviceCode, page = signIn(stranger)
		if !strings.Contains(page, `id="device-refused"`) {
			t.Fatalf("stranger: %s", page)
		}
		wantPoll(t, env, oc.ID, deviceCode, "access_denied")
	})
}

// TestDevicePages: the user code and approval pages are in the product's
// design under the strict policy (the one stylesheet, nothing inline, forms
// to this origin only), in German for a German browser, and a user code
// posted without the page's CSRF token is refused.
func TestDevicePages(t *testing.T) {
	env := newEnv(t, testenv.SQLite)
	c := deviceClient(t, env, "Kommandozeile")
	r := newRP(t, env, c, "")
	r.browser.Transport = germanTransport{r.browser.Transport}
	check := func(name string, resp *http.Response, body, want string) {
		t.Helper()
		if csp := resp.Header.Get("Content-Security-Policy"); csp != webui.CSP() {
			t.Errorf("%s: CSP %q", name, csp)
		}
		if !strings.Contains(body, `href="`+webui.StylesheetPath+`"`) || webui.InlineCode(body) != "" || !strings.Contains(body, want) {
			t.Errorf("%s: %s", name, body)
		}
	}
	d := startDevice(t, env, c.ID)
	resp, page := r.get(d["verification_uri_complete"].(string))
	check("user code page", resp, page, "Gerät verbinden")
	if !strings.Contains(page, `value="`+d["user_code"].(string)+`"`) {
		t.Errorf("the code is not filled in: %s", page)
	}
	if resp, err := r.browser.PostForm(env.URL+oidc.DevicePath, url.Values{"user_code": {d["user_code"].(string)}}); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("user code without CSRF token: %v %v", resp.StatusCode, err)
	}
	_, login := enterCode(t, r, d["user_code"].(string))
	v := form(t, login)
	v.Set("email", email)
	v.Set("password", password)
	resp, page = r.get(r.submit(v).Header.Get("Location"))
	check("approval page", resp, page, "Dieses Gerät verbinden?")
}

// germanTransport asks for German pages.
type germanTransport struct{ rt http.RoundTripper }

func (g germanTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Accept-Language", "de")
	return g.rt.RoundTrip(req)
}

// TestDeviceFlowUpstream: the person signs in for a device through an
// upstream identity provider (the login page's button), approves, and the
// device's tokens say so (amr fed).
func TestDeviceFlowUpstream(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFederation(t, open)
		c := deviceClient(t, f.down, "TV")
		f.rp = newRP(t, f.down, c, "")
		d := startDevice(t, f.down, c.ID)
		_, login := enterCode(t, f.rp, d["user_code"].(string))
		v := form(t, login)
		v.Set("provider", f.provider)
		resp, err := f.rp.browser.PostForm(f.down.URL+oidc.LoginPath, v)
		if err != nil {
			t.Fatal(err)
		}
		page, body := f.upstreamLogin(t, resp)
		if page.StatusCode != http.StatusOK || !strings.HasPrefix(page.Request.URL.String(), f.down.URL+oidc.DeviceConfirmPath) {
			t.Fatalf("after the upstream login: %d at %s: %s", page.StatusCode, page.Request.URL, body)
		}
		if status, _ := decide(t, f.rp, body, "approve"); status != http.StatusOK {
			t.Fatalf("approve: %d", status)
		}
		tok := wantPoll(t, f.down, c.ID, d["device_code"].(string), "")
		if amr := claimsOf(t, tok["id_token"].(string))["amr"]; fmt.Sprint(amr) != "[fed]" {
			t.Fatalf("amr %v, want [fed]", amr)
		}
	})
}

// TestDeviceFlowSecondFactor: a device login of a person with TOTP
// enrolled asks for the code after the password and before the approval
// page; the approval page (GET or POST, with the login's state) cannot be
// reached by skipping the code, and the device gets nothing until the code
// is given and the person approves.
func TestDeviceFlowSecondFactor(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		env := newEnv(t, open)
		// The person enrols a TOTP factor through the account API.
		web, _, _ := webRP(t, env)
		f, loc := web.passwordStep()
		_, _, tok := web.finish(f, loc)
		var enrol struct {
			Factor map[string]any `json:"factor"`
			Secret string         `json:"secret"`
		}
		env.Must(http.StatusCreated, "POST", "/api/v1/account/factors/totp", tok.AccessToken, map[string]any{"name": "phone"}).JSON(t, &enrol)
		env.Must(http.StatusOK, "POST", "/api/v1/account/factors/"+enrol.Factor["id"].(string)+"/confirm", tok.AccessToken,
			map[string]any{"code": totpCode(t, env, enrol.Secret)})

		// A device login in a new browser: the code prompt after the password.
		c := deviceClient(t, env, "Gatehouse CLI")
		r := newRP(t, env, c, "")
		d := startDevice(t, env, c.ID)
		deviceCode := d["device_code"].(string)
		resp, login := enterCode(t, r, d["user_code"].(string))
		if resp.StatusCode != http.StatusOK || !strings.Contains(login, `action="/oauth2/v2/login"`) {
			t.Fatalf("after the code: %d %s", resp.StatusCode, login)
		}
		v := form(t, login)
		v.Set("email", email)
		v.Set("password", password)
		status, loc, body := r.do(http.MethodPost, env.URL+oidc.LoginPath, v)
		if status != http.StatusSeeOther || !strings.HasPrefix(loc, env.URL+oidc.MFAPath+"?") {
			t.Fatalf("after the password: %d %q %s, want the code prompt", status, loc, body)
		}
		state := mustURL(t, loc).Query().Get("state")
		if state == "" {
			t.Fatalf("no state in %s", loc)
		}

		// Skipping the code: the approval page and its form refuse the state.
		_, _, prompt := r.do(http.MethodGet, loc, nil)
		csrf := form(t, prompt).Get("csrf_token")
		if status, _, page := r.do(http.MethodGet, env.URL+oidc.DeviceConfirmPath+"?state="+url.QueryEscape(state), nil); status == http.StatusOK || strings.Contains(page, `action="/oauth2/v2/device/confirm"`) {
			t.Fatalf("approval page before the code: %d %s", status, page)
		}
		skip := url.Values{"state": {state}, "csrf_token": {csrf}, "decision": {"approve"}}
		if status, _, body := r.do(http.MethodPost, env.URL+oidc.DeviceConfirmPath, skip); status == http.StatusOK || strings.Contains(body, "Device connected") {
			t.Fatalf("approval before the code: %d %s", status, body)
		}
		env.OIDCClock.Advance(16 * time.Second)
		wantPoll(t, env, c.ID, deviceCode, "authorization_pending")

		// The code, then the approval page, then tokens.
		env.OIDCClock.Advance(mfa.Period)
		status, next, _ := r.postCode(loc, totpCode(t, env, enrol.Secret))
		if status != http.StatusSeeOther || !strings.Contains(next, oidc.DeviceConfirmPath) {
			t.Fatalf("after the code: %d %s", status, next)
		}
		resp, page := r.get(next)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="client-name">Gatehouse CLI<`) {
			t.Fatalf("approval page: %d %s", resp.StatusCode, page)
		}
		if status, body := decide(t, r, page, "approve"); status != http.StatusOK || !strings.Contains(body, "Device connected") {
			t.Fatalf("approve: %d %s", status, body)
		}
		env.OIDCClock.Advance(16 * time.Second)
		wantPoll(t, env, c.ID, deviceCode, "")
	})
}
