package server_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/loginflow"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// Sessions over the API (issue 13).

const (
	sessionRedirectURI = "http://127.0.0.1:9999/callback"
	sessionPassword    = "correct horse battery staple"
)

// sessionClient registers a confidential web client that may get refresh
// tokens, with client_id name (not a generated one, which could equal
// another table's ID), and returns a relying party of it.
func sessionClient(t testing.TB, e *testenv.Env, name string) *loginflow.Client {
	t.Helper()
	c, sec, err := e.Clients.Create(context.Background(), client.Spec{ID: name, Name: name, RedirectURIs: []string{sessionRedirectURI},
		GrantTypes: []string{client.GrantAuthorizationCode, client.GrantRefreshToken}, Scopes: []string{"openid", "email", "offline_access"}})
	if err != nil {
		t.Fatal(err)
	}
	return &loginflow.Client{BaseURL: e.URL, ClientID: c.ID, ClientSecret: sec, RedirectURI: sessionRedirectURI, HTTP: e.Client}
}

// signIn logs subject in with a password (set here) from a new browser
// through rp, and redeems the code.
func signIn(t testing.TB, e *testenv.Env, rp *loginflow.Client, subject string) *loginflow.Tokens {
	t.Helper()
	ctx := context.Background()
	if err := e.Password.SetPassword(ctx, subject, sessionPassword); err != nil {
		t.Fatal(err)
	}
	code, f, err := rp.Code(ctx, subject, sessionPassword, "openid", "email", "offline_access")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := rp.Exchange(ctx, code, f)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// vouchedSessions stores, as a login through identity provider provider
// of organization org would leave them, a browser session of subject and
// an application session begun in it (at a client that need not exist:
// the store does not ask), and returns their IDs as the API shows them.
// They stand for a login by an organization's own provider, which needs
// an upstream identity provider to happen for real (internal/oidc's
// vouch tests run that).
func vouchedSessions(t testing.TB, e *testenv.Env, subject, org, provider string) (browserID, appID string) {
	t.Helper()
	ctx := context.Background()
	now := e.OIDCClock.Now()
	idp := store.IdP{Org: org, ID: provider, Issuer: "https://idp.example.com", Subject: "upstream-" + subject}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	appID = base64.RawURLEncoding.EncodeToString(b)
	bs := &store.BrowserSession{IDHash: secret.Hash(rand.Text()), Subject: subject, AuthTime: now, AMR: "fed", ACR: oidc.ACRFederated,
		IdP: idp, CreatedAt: now, ExpiresAt: now.Add(time.Hour), UserAgent: "Vouched/1.0", ClientAddress: "192.0.2.7"}
	err := e.Store.Tx(ctx, func(q *store.Q) error {
		if err := q.ReplaceBrowserSession(ctx, "", bs); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	all, err := e.Provider.PersonSessions(ctx, subject, oidc.SessionScope{}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if s.Kind == oidc.SessionKindBrowser && s.UserAgent == "Vouched/1.0" && s.IdP == idp {
			browserID = s.ID
		}
	}
	if browserID == "" {
		t.Fatal("the stored browser session is not listed")
	}
	err = e.Store.Tx(ctx, func(q *store.Q) error {
		return q.ReplaceSession(ctx, &store.OIDCSession{ID: appID, Subject: subject, ClientID: "app-" + appID, Scopes: "openid",
			AMR: "fed", ACR: oidc.ACRFederated, AuthTime: now, RefreshHash: secret.Hash(rand.Text()), RefreshExpiresAt: now.Add(time.Hour),
			AccessJTI: rand.Text(), AccessExpiresAt: now.Add(time.Hour), CreatedAt: now, SID: browserID, IdP: idp}, now)
	})
	if err != nil {
		t.Fatal(err)
	}
	return browserID, appID
}

// wantRefreshRefused checks that a refresh token no longer works: 400
// invalid_grant.
func wantRefreshRefused(t testing.TB, rp *loginflow.Client, what, refreshToken string) {
	t.Helper()
	_, err := rp.Refresh(context.Background(), refreshToken)
	var e *loginflow.Error
	if !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Code != "invalid_grant" {
		t.Errorf("%s: refresh gave %v, want 400 invalid_grant", what, err)
	}
}

// wantTokenDead checks that an access token is refused at /api/v1 and at
// userinfo (401).
func wantTokenDead(t testing.TB, a *apiEnv, what, accessToken string) {
	t.Helper()
	wantError(t, a.call(t, "GET", "/api/v1/account/sessions", accessToken, nil), http.StatusUnauthorized, "access_denied")
	req, _ := http.NewRequest("GET", a.URL+oidc.UserinfoPath, nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	res, err := a.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("%s: userinfo %d, want 401", what, res.StatusCode)
	}
}

// byID indexes a session list.
func byID(list []map[string]any) map[string]map[string]any {
	m := map[string]map[string]any{}
	for _, s := range list {
		m[str(s, "id")] = s
	}
	return m
}

// sessionIDs are the IDs of a session list.
func sessionIDs(list []map[string]any) []string {
	var out []string
	for _, s := range list {
		out = append(out, str(s, "id"))
	}
	return out
}

// TestAccountSessions: the account page's sessions. A person lists their
// browser and application sessions (the calling one marked current, the
// user agent and address recorded at login) and ends them: ending a browser
// session ends the application sessions begun in it; a revoked session's
// refresh token is invalid_grant and its access token 401 at /api/v1 and at
// userinfo; every revoke is audited. Another person's session, a malformed
// ID and machine callers are refused.
func TestAccountSessions(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		const jo, sam = "jo@acme.example", "sam@acme.example"
		web, mail := sessionClient(t, a.Env, "Web"), sessionClient(t, a.Env, "Mail")
		laptop := signIn(t, a.Env, web, jo) // browser 1, application Web
		phone := signIn(t, a.Env, mail, jo) // browser 2, application Mail
		other := signIn(t, a.Env, web, sam)

		list := a.must(t, http.StatusOK, "GET", "/api/v1/account/sessions", laptop.AccessToken, nil).arr(t)
		if len(list) != 4 {
			t.Fatalf("jo's sessions: %v, want 2 browser and 2 application sessions", list)
		}
		var webApp, mailApp, laptopBrowser, phoneBrowser map[string]any
		for _, s := range list {
			switch {
			case str(s, "kind") == "application" && str(s, "clientName") == "Web":
				webApp = s
			case str(s, "kind") == "application" && str(s, "clientName") == "Mail":
				mailApp = s
			}
		}
		if webApp == nil || mailApp == nil {
			t.Fatalf("application sessions missing: %v", list)
		}
		ids := byID(list)
		laptopBrowser, phoneBrowser = ids[str(webApp, "browserSessionId")], ids[str(mailApp, "browserSessionId")]
		if laptopBrowser == nil || phoneBrowser == nil || str(laptopBrowser, "kind") != "browser" || laptopBrowser["id"] == phoneBrowser["id"] {
			t.Fatalf("browser sessions of the applications: %v", list)
		}
		if webApp["current"] != true || laptopBrowser["current"] != true || mailApp["current"] != false || phoneBrowser["current"] != false {
			t.Errorf("current: web %v laptop %v mail %v phone %v", webApp["current"], laptopBrowser["current"], mailApp["current"], phoneBrowser["current"])
		}
		for _, s := range list {
			if str(s, "userAgent") != "Go-http-client/1.1" || str(s, "clientAddress") != "127.0.0.1" || str(s, "provider", "id") != "local" ||
				has(s, "provider", "organizationId") || !parseTime(s["expiresAt"]).After(parseTime(s["createdAt"])) {
				t.Errorf("session %v", s)
			}
		}
		if str(webApp, "clientId") != web.ClientID || len(strs(webApp, "scopes")) == 0 {
			t.Errorf("application session %v", webApp)
		}
		// Refreshing records the last use.
		rotated, err := web.Refresh(context.Background(), laptop.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		list = a.must(t, http.StatusOK, "GET", "/api/v1/account/sessions", rotated.AccessToken, nil).arr(t)
		if !has(byID(list)[str(webApp, "id")], "lastUsedAt") || has(byID(list)[str(mailApp, "id")], "lastUsedAt") {
			t.Errorf("lastUsedAt after a refresh of Web only: %v", list)
		}
		// Paging: two at a time, the same sessions in the same order.
		var paged []string
		for token := ""; ; {
			q := "?limit=2"
			if token != "" {
				q += "&pageToken=" + url.QueryEscape(token)
			}
			r := a.must(t, http.StatusOK, "GET", "/api/v1/account/sessions"+q, rotated.AccessToken, nil)
			paged = append(paged, sessionIDs(r.arr(t))...)
			if token = r.Header.Get("X-Next-Page-Token"); token == "" {
				break
			}
		}
		wantSet(t, "paged sessions", paged, sessionIDs(list))
		if len(paged) != len(list) {
			t.Errorf("paged %v, want %v", paged, sessionIDs(list))
		}
		wantError(t, a.call(t, "GET", "/api/v1/account/sessions?pageToken=bm90LWEta2V5", rotated.AccessToken, nil), http.StatusBadRequest, "invalid_request")

		// Someone else's sessions, malformed IDs, machine callers.
		samList := a.must(t, http.StatusOK, "GET", "/api/v1/account/sessions", other.AccessToken, nil).arr(t)
		if len(samList) != 2 {
			t.Fatalf("sam's sessions: %v", samList)
		}
		for _, s := range samList {
			if byID(list)[str(s, "id")] != nil {
				t.Errorf("sam's session %s is in jo's list", str(s, "id"))
			}
			wantError(t, a.call(t, "DELETE", "/api/v1/account/sessions/"+str(s, "id"), rotated.AccessToken, nil), http.StatusNotFound, "not_found")
		}
		if _, err := web.Refresh(context.Background(), other.RefreshToken); err != nil {
			t.Errorf("sam's refresh token after jo's attempts: %v", err)
		}
		for _, bad := range []string{"no-such-id", "00000000-0000-7000-8000-999999999999", "0123456789abcdef0123456789abcdeF", "x"} {
			wantError(t, a.call(t, "DELETE", "/api/v1/account/sessions/"+bad, rotated.AccessToken, nil), http.StatusNotFound, "not_found")
		}
		wantError(t, a.call(t, "DELETE", "/api/v1/account/sessions/0123456789abcdef0123456789abcdef", rotated.AccessToken, nil), http.StatusNotFound, "not_found")
		acme := a.tenant(t, "acme", "administrator")
		for _, tok := range []string{a.AdminToken, acme.token} {
			wantError(t, a.call(t, "GET", "/api/v1/account/sessions", tok, nil), http.StatusForbidden, "forbidden")
			wantError(t, a.call(t, "DELETE", "/api/v1/account/sessions/"+str(mailApp, "id"), tok, nil), http.StatusForbidden, "forbidden")
		}
		wantError(t, a.call(t, "GET", "/api/v1/account/sessions", "", nil), http.StatusUnauthorized, "access_denied")

		// Ending the phone's browser session ends the Mail session begun
		// in it; the laptop's stay.
		r := a.must(t, http.StatusOK, "DELETE", "/api/v1/account/sessions/"+str(phoneBrowser, "id"), rotated.AccessToken, nil)
		wantRefreshRefused(t, mail, "Mail after its browser session ended", phone.RefreshToken)
		wantTokenDead(t, a, "Mail after its browser session ended", phone.AccessToken)
		if evs := a.eventsOf(t, r); len(evs) != 1 || evs[0]["op"] != "deleteAccountSession" || evs[0]["type"] != "sessions" ||
			evs[0]["id"] != str(phoneBrowser, "id") || evs[0]["org"] != "" || str(evs[0], "actor", "id") != jo {
			t.Errorf("audit events of the revoke: %v", evs)
		}
		left := a.must(t, http.StatusOK, "GET", "/api/v1/account/sessions", rotated.AccessToken, nil).arr(t)
		wantSet(t, "jo's sessions after the phone's ended", sessionIDs(left), []string{str(webApp, "id"), str(laptopBrowser, "id")})
		wantError(t, a.call(t, "DELETE", "/api/v1/account/sessions/"+str(phoneBrowser, "id"), rotated.AccessToken, nil), http.StatusNotFound, "not_found")

		// Ending the calling application session ends its tokens.
		a.must(t, http.StatusOK, "DELETE", "/api/v1/account/sessions/"+str(webApp, "id"), rotated.AccessToken, nil)
		wantRefreshRefused(t, web, "Web after its session ended", rotated.RefreshToken)
		wantTokenDead(t, a, "Web after its session ended", rotated.AccessToken)
		wantTokenDead(t, a, "Web's first access token after its session ended", laptop.AccessToken)
	})
}

// TestAccountConsents: a person lists the applications they allowed and
// revokes one, which ends their sessions at that client on every device;
// an unknown or other client is 404, machine callers get 403.
func TestAccountConsents(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		const jo = "jo@acme.example"
		web, mail := sessionClient(t, a.Env, "Web"), sessionClient(t, a.Env, "Mail")
		tok := signIn(t, a.Env, web, jo)
		second := signIn(t, a.Env, mail, jo)
		ctx := context.Background()
		for _, c := range []string{web.ClientID, mail.ClientID} {
			if err := a.Store.Tx(ctx, func(q *store.Q) error {
				return q.GrantConsent(ctx, jo, c, []string{"openid", "email"}, a.OIDCClock.Now())
			}); err != nil {
				t.Fatal(err)
			}
		}
		list := a.must(t, http.StatusOK, "GET", "/api/v1/account/consents", tok.AccessToken, nil).arr(t)
		if len(list) != 2 {
			t.Fatalf("consents %v", list)
		}
		for _, c := range list {
			want := map[string]string{web.ClientID: "Web", mail.ClientID: "Mail"}[str(c, "clientId")]
			if str(c, "clientName") != want || len(strs(c, "scopes")) != 2 || parseTime(c["grantedAt"]).IsZero() {
				t.Errorf("consent %v", c)
			}
		}
		first := a.must(t, http.StatusOK, "GET", "/api/v1/account/consents?limit=1", tok.AccessToken, nil)
		next := first.Header.Get("X-Next-Page-Token")
		if len(first.arr(t)) != 1 || next == "" {
			t.Fatalf("first page %s", first)
		}
		rest := a.must(t, http.StatusOK, "GET", "/api/v1/account/consents?limit=1&pageToken="+next, tok.AccessToken, nil)
		if len(rest.arr(t)) != 1 || rest.Header.Get("X-Next-Page-Token") != "" || str(rest.arr(t)[0], "clientId") == str(first.arr(t)[0], "clientId") {
			t.Errorf("second page %s", rest)
		}

		acme := a.tenant(t, "acme", "administrator")
		wantError(t, a.call(t, "GET", "/api/v1/account/consents", acme.token, nil), http.StatusForbidden, "forbidden")
		wantError(t, a.call(t, "DELETE", "/api/v1/account/consents/"+mail.ClientID, acme.token, nil), http.StatusForbidden, "forbidden")
		wantError(t, a.call(t, "DELETE", "/api/v1/account/consents/no-such-client", tok.AccessToken, nil), http.StatusNotFound, "not_found")
		wantError(t, a.call(t, "DELETE", "/api/v1/account/consents/-bad", tok.AccessToken, nil), http.StatusNotFound, "not_found")

		r := a.must(t, http.StatusOK, "DELETE", "/api/v1/account/consents/"+mail.ClientID, tok.AccessToken, nil)
		if evs := a.eventsOf(t, r); len(evs) != 1 || evs[0]["type"] != "consents" || evs[0]["id"] != mail.ClientID {
			t.Errorf("audit events %v", evs)
		}
		wantRefreshRefused(t, mail, "Mail after its consent was revoked", second.RefreshToken)
		wantTokenDead(t, a, "Mail after its consent was revoked", second.AccessToken)
		if _, err := web.Refresh(ctx, tok.RefreshToken); err != nil {
			t.Errorf("Web after Mail's consent was revoked: %v", err)
		}
		wantError(t, a.call(t, "DELETE", "/api/v1/account/consents/"+mail.ClientID, tok.AccessToken, nil), http.StatusNotFound, "not_found")
	})
}

// TestUserSessionsAcrossOrganizations: one person (one subject) is a user
// of two organizations and also signs in with a password. Each
// organization's administrator sees and ends only the sessions its own
// identity provider vouched for: never the other organization's, never
// the password login that serves them all (listing it would show one
// tenant the person's use of the others, ending it would sign them out of
// the others). Platform administrators see and end everything.
func TestUserSessionsAcrossOrganizations(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		const jo = "jo@acme.example"
		acme, beta := a.tenant(t, "acme", "administrator"), a.tenant(t, "beta", "administrator")
		acmeReader := a.addMember(t, acme.org, "readers", "reader")
		joAcme := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "users"), acme.token, userWrite("jo", jo, "active", nil)).obj(t))
		joBeta := id(a.must(t, http.StatusCreated, "POST", orgPath(beta.org, "users"), beta.token, userWrite("jo", jo, "active", nil)).obj(t))
		acmeIdP := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "oauth2providers"), acme.token, providerWrite("idp", "c", ptrTo("s"))).obj(t))
		betaIdP := id(a.must(t, http.StatusCreated, "POST", orgPath(beta.org, "oauth2providers"), beta.token, providerWrite("idp", "c", ptrTo("s"))).obj(t))
		acmeBrowser, acmeApp := vouchedSessions(t, a.Env, jo, acme.org, acmeIdP)
		betaBrowser, betaApp := vouchedSessions(t, a.Env, jo, beta.org, betaIdP)
		web := sessionClient(t, a.Env, "Web")
		local := signIn(t, a.Env, web, jo)
		all := a.must(t, http.StatusOK, "GET", "/api/v1/account/sessions", local.AccessToken, nil).arr(t)
		if len(all) != 6 {
			t.Fatalf("jo's own list: %v, want 6 sessions", all)
		}
		var localIDs []string
		for _, s := range all {
			if str(s, "provider", "id") == "local" {
				localIDs = append(localIDs, str(s, "id"))
			}
		}

		acmeList := orgPath(acme.org, "users", joAcme, "sessions")
		got := a.must(t, http.StatusOK, "GET", acmeList, acme.token, nil).arr(t)
		wantSet(t, "acme's view of jo", sessionIDs(got), []string{acmeBrowser, acmeApp})
		for _, s := range got {
			if str(s, "provider", "organizationId") != acme.org || str(s, "provider", "id") != acmeIdP {
				t.Errorf("acme sees %v", s)
			}
		}
		betaGot := a.must(t, http.StatusOK, "GET", orgPath(beta.org, "users", joBeta, "sessions"), beta.token, nil).arr(t)
		wantSet(t, "beta's view of jo", sessionIDs(betaGot), []string{betaBrowser, betaApp})

		// Refusals: another organization's or the platform's sessions
		// through acme's path are 404, acme's user through beta's path
		// 404, acme in beta's path 403, a reader 403.
		for _, sid := range append([]string{betaBrowser, betaApp}, localIDs...) {
			wantError(t, a.call(t, "DELETE", acmeList+"/"+sid, acme.token, nil), http.StatusNotFound, "not_found")
		}
		wantError(t, a.call(t, "GET", orgPath(acme.org, "users", joBeta, "sessions"), acme.token, nil), http.StatusNotFound, "not_found")
		wantError(t, a.call(t, "DELETE", orgPath(acme.org, "users", joBeta, "sessions", betaApp), acme.token, nil), http.StatusNotFound, "not_found")
		wantError(t, a.call(t, "DELETE", orgPath(beta.org, "users", joBeta, "sessions", acmeApp), beta.token, nil), http.StatusNotFound, "not_found")
		wantError(t, a.call(t, "GET", orgPath(beta.org, "users", joBeta, "sessions"), acme.token, nil), http.StatusForbidden, "forbidden")
		wantError(t, a.call(t, "DELETE", orgPath(beta.org, "users", joBeta, "sessions"), acme.token, nil), http.StatusForbidden, "forbidden")
		wantError(t, a.call(t, "GET", acmeList, acmeReader.token, nil), http.StatusForbidden, "forbidden")
		wantError(t, a.call(t, "GET", "/api/v1/subjects/"+jo+"/sessions", acme.token, nil), http.StatusForbidden, "forbidden")
		wantError(t, a.call(t, "DELETE", "/api/v1/subjects/"+jo+"/sessions", acme.token, nil), http.StatusForbidden, "forbidden")
		wantError(t, a.call(t, "GET", "/api/v1/subjects/not-an-email/sessions", a.AdminToken, nil), http.StatusNotFound, "not_found")

		// Acme signs jo out everywhere it may: its own sessions end, the
		// others stay.
		r := a.must(t, http.StatusOK, "DELETE", acmeList, acme.token, nil)
		wantSet(t, "sessions acme ended", sessionIDs(r.arr(t)), []string{acmeBrowser, acmeApp})
		if evs := a.eventsOf(t, r); len(evs) != 1 || evs[0]["org"] != acme.org || evs[0]["id"] != joAcme || evs[0]["op"] != "deleteUserSessions" {
			t.Errorf("audit events %v", evs)
		}
		if got := a.must(t, http.StatusOK, "GET", acmeList, acme.token, nil).arr(t); len(got) != 0 {
			t.Errorf("acme's view after signing jo out: %v", got)
		}
		if _, err := web.Refresh(context.Background(), local.RefreshToken); err != nil {
			t.Errorf("jo's password login after acme signed jo out: %v", err)
		}
		// Beta ends one of its own.
		a.must(t, http.StatusOK, "DELETE", orgPath(beta.org, "users", joBeta, "sessions", betaApp), beta.token, nil)
		wantSet(t, "beta's view after ending one", sessionIDs(a.must(t, http.StatusOK, "GET", orgPath(beta.org, "users", joBeta, "sessions"), beta.token, nil).arr(t)),
			[]string{betaBrowser})

		// The platform administrator sees and ends everything.
		platform := "/api/v1/subjects/" + jo + "/sessions"
		wantSet(t, "the platform's view", sessionIDs(a.must(t, http.StatusOK, "GET", platform, a.AdminToken, nil).arr(t)), append([]string{betaBrowser}, localIDs...))
		a.must(t, http.StatusOK, "DELETE", platform+"/"+betaBrowser, a.AdminToken, nil)
		wantError(t, a.call(t, "DELETE", platform+"/"+betaBrowser, a.AdminToken, nil), http.StatusNotFound, "not_found")
		ended := a.must(t, http.StatusOK, "DELETE", "/api/v1/subjects/JO@acme.example/sessions", a.AdminToken, nil).arr(t)
		wantSet(t, "sessions the platform ended", sessionIDs(ended), localIDs)
		wantRefreshRefused(t, web, "jo's password login after the platform signed jo out", local.RefreshToken)
		wantTokenDead(t, a, "jo's password login after the platform signed jo out", local.AccessToken)
		if got := a.must(t, http.StatusOK, "GET", platform, a.AdminToken, nil).arr(t); len(got) != 0 {
			t.Errorf("jo's sessions after signing out everywhere: %v", got)
		}
	})
}

// TestSessionRevokeSendsBackchannelLogout: ending a session over the API
// tells its client, as a logout does: a logout token for the person and the
// session's sid reaches the client's back-channel logout URI.
func TestSessionRevokeSendsBackchannelLogout(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		const jo = "jo@acme.example"
		got := make(chan map[string]any, 4)
		rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			parts := strings.Split(r.PostForm.Get("logout_token"), ".")
			var claims map[string]any
			if len(parts) == 3 {
				if b, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil {
					_ = json.Unmarshal(b, &claims)
				}
			}
			got <- claims
		}))
		t.Cleanup(rp.Close)
		c, sec, err := a.Clients.Create(context.Background(), client.Spec{ID: "mail", Name: "Mail", RedirectURIs: []string{sessionRedirectURI},
			GrantTypes: []string{client.GrantAuthorizationCode, client.GrantRefreshToken}, Scopes: []string{"openid", "email", "offline_access"},
			BackchannelLogoutURI: rp.URL + "/bcl", BackchannelLogoutSessionRequired: true})
		if err != nil {
			t.Fatal(err)
		}
		mail := &loginflow.Client{BaseURL: a.URL, ClientID: c.ID, ClientSecret: sec, RedirectURI: sessionRedirectURI, HTTP: a.Client}
		tok := signIn(t, a.Env, mail, jo)
		var app map[string]any
		for _, s := range a.must(t, http.StatusOK, "GET", "/api/v1/account/sessions", tok.AccessToken, nil).arr(t) {
			if str(s, "kind") == "application" {
				app = s
			}
		}
		if app == nil {
			t.Fatal("no application session")
		}
		a.must(t, http.StatusOK, "DELETE", "/api/v1/account/sessions/"+str(app, "id"), tok.AccessToken, nil)
		select {
		case claims := <-got:
			events, _ := claims["events"].(map[string]any)
			if claims["sub"] != jo || fmt.Sprint(claims["aud"]) != "[mail]" || claims["sid"] != str(app, "browserSessionId") ||
				events["http://schemas.openid.net/event/backchannel-logout"] == nil {
				t.Errorf("logout token claims %v", claims)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no logout token reached the client")
		}
	})
}

// userAgentTransport sends every request with User-Agent ua.
type userAgentTransport struct {
	ua   string
	base http.RoundTripper
}

func (u userAgentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", u.ua)
	return u.base.RoundTrip(r)
}

// TestSessionUserAgentKeptAsText: the User-Agent a browser sends is kept as
// text only (a tab and invalid UTF-8 dropped) and at most 256 bytes, cut
// at a character boundary, behind a trusted proxy the client's address
// from X-Forwarded-For.
func TestSessionUserAgentKeptAsText(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		ua := "Browser\t/1.0 \xff" + strings.Repeat("é", 200)
		rp := sessionClient(t, a.Env, "Web")
		rp.HTTP = &http.Client{Transport: userAgentTransport{ua: ua, base: forwardedFor{addr: "198.51.100.9", base: a.Client.Transport}}}
		tok := signIn(t, a.Env, rp, "jo@acme.example")
		rp.HTTP = a.Client
		for _, s := range a.must(t, http.StatusOK, "GET", "/api/v1/account/sessions", tok.AccessToken, nil).arr(t) {
			got := str(s, "userAgent")
			want := "Browser/1.0 " + strings.Repeat("é", 122) // 12 + 244 bytes
			if got != want || str(s, "clientAddress") != "198.51.100.9" {
				t.Errorf("user agent %q (%d bytes), address %q; want %q, 198.51.100.9", got, len(got), str(s, "clientAddress"), want)
			}
		}
	})
}

// forwardedFor sends every request with X-Forwarded-For addr (loopback is
// a trusted proxy in tests).
type forwardedFor struct {
	addr string
	base http.RoundTripper
}

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.addr)
	return f.base.RoundTrip(r)
}
