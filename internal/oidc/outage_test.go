package oidc_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// fault takes the database away from a running Gatehouse and gives it back.
type fault struct {
	st   *store.Store
	down func()
	up   func()
	// readsFail: while down, reads fail too (PostgreSQL cut off), not only
	// writes (SQLite's write lock held by another process).
	readsFail bool
}

// postgresFault is the shared PostgreSQL behind a TCP proxy that the test
// cuts: every connection drops and new ones are refused.
func postgresFault(t *testing.T) fault {
	st, p := testenv.OpenThroughProxy(t, testenv.PostgresURL(t))
	return fault{st: st, down: p.Cut, up: p.Restore, readsFail: true}
}

// sqliteFault is a SQLite database whose write lock another connection
// holds for longer than the store's busy timeout: the SQLite way of being
// unavailable (readers go on, in WAL mode).
func sqliteFault(t *testing.T) fault {
	dir := t.TempDir()
	st, err := store.Open(context.Background(), "", dir, store.WithBusyTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "gatehouse.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	var conn *sql.Conn
	return fault{st: st,
		down: func() {
			var err error
			if conn, err = other.Conn(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
				t.Fatal(err)
			}
		},
		up: func() {
			if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
				t.Fatal(err)
			}
			conn.Close()
		}}
}

// TestDatabaseOutage: while the database is unreachable (PostgreSQL) or
// locked (SQLite), every request that needs it gets a 503 with Retry-After,
// in the API's error shape or as an HTML page for pages; never a 500, and
// never the misleading error a library makes of a failed lookup
// (invalid_grant for a good code). Nothing is written. When the database is
// back, the same process serves everything again.
func TestDatabaseOutage(t *testing.T) {
	backends := map[string]func(*testing.T) fault{"sqlite": sqliteFault}
	if os.Getenv(testenv.PostgresURLEnv) != "" {
		backends["postgres"] = postgresFault
	}
	for name, makeFault := range backends {
		t.Run(name, func(t *testing.T) {
			f := makeFault(t)
			env := testenv.NewEnv(t, f.st)
			if err := env.Password.SetPassword(context.Background(), email, password); err != nil {
				t.Fatal(err)
			}
			web, webSecret := newClient(t, env, nil)
			svc, svcSecret := newClient(t, env, func(s *client.Spec) {
				s.Name = "svc"
				s.GrantTypes = []string{client.GrantClientCredentials}
				s.RedirectURIs, s.PostLogoutRedirectURIs, s.Scopes = nil, nil, []string{"read"}
			})
			r := newRP(t, env, web, webSecret)
			tok := r.exchange(r.login())
			codeFlow, freshCode := r.login()
			// Last, as the browser keeps the CSRF cookie of its latest form.
			_, loginForm := r.openLogin()
			loginForm.Set("email", email)
			loginForm.Set("password", password)

			type call struct {
				name   string
				writes bool
				html   bool
				do     func() *http.Response
				// check, when set, replaces the 503 check where reads
				// work but writes fail.
				check func(t *testing.T, resp *http.Response)
			}
			post := func(path string, v url.Values, id, sec string) func() *http.Response {
				return func() *http.Response {
					req, _ := http.NewRequest("POST", env.URL+path, strings.NewReader(v.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					if id != "" {
						req.SetBasicAuth(id, sec)
					}
					return roundTrip(t, r.browser, req)
				}
			}
			api := func(method, path, body string) func() *http.Response {
				return func() *http.Response {
					req, _ := http.NewRequest(method, env.URL+path, strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+env.AdminToken)
					req.Header.Set("Content-Type", "application/json")
					return roundTrip(t, r.browser, req)
				}
			}
			calls := []call{
				{name: "API read", do: api("GET", "/api/v1/organizations", "")},
				{name: "API write", writes: true, do: api("POST", "/api/v1/organizations",
					`{"metadata":{"name":"during-outage"},"spec":{"organizationType":"adhoc"}}`)},
				{name: "client_credentials", do: post(oidc.TokenPath, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}, svc.ID, svcSecret)},
				{name: "code redemption", writes: true, do: post(oidc.TokenPath, url.Values{"grant_type": {"authorization_code"},
					"code": {freshCode}, "redirect_uri": {redirectURI}, "code_verifier": {codeFlow.verifier}}, web.ID, webSecret)},
				{name: "refresh", writes: true, do: post(oidc.TokenPath, url.Values{"grant_type": {"refresh_token"},
					"refresh_token": {tok.RefreshToken}}, web.ID, webSecret)},
				{name: "userinfo", do: func() *http.Response {
					req, _ := http.NewRequest("GET", env.URL+oidc.UserinfoPath, nil)
					req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
					return roundTrip(t, r.browser, req)
				}},
				{name: "authorization (login page)", writes: true, html: true, do: func() *http.Response {
					req, _ := http.NewRequest("GET", r.conf.AuthCodeURL("st-outage"), nil)
					req.Header.Set("Accept", "text/html")
					return roundTrip(t, r.browser, req)
				}, check: func(t *testing.T, resp *http.Response) {
					// The client is known (reads work), so the browser goes
					// back to it with RFC 6749's temporarily_unavailable.
					loc, _ := url.Parse(resp.Header.Get("Location"))
					if resp.StatusCode != http.StatusFound || loc == nil || !strings.HasPrefix(loc.String(), redirectURI) ||
						loc.Query().Get("error") != "temporarily_unavailable" || loc.Query().Get("state") != "st-outage" {
						t.Errorf("authorization while writes are blocked: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
					}
				}},
				{name: "login form post", writes: true, html: true, do: post(oidc.LoginPath, loginForm, "", "")},
				{name: "readyz", do: func() *http.Response {
					req, _ := http.NewRequest("GET", env.URL+"/readyz", nil)
					return roundTrip(t, r.browser, req)
				}},
			}

			f.down()
			for _, c := range calls {
				resp := c.do()
				if !c.writes && !f.readsFail {
					if resp.StatusCode != http.StatusOK {
						t.Errorf("%s while writes are blocked: status %d, want 200", c.name, resp.StatusCode)
					}
					continue
				}
				if c.check != nil && !f.readsFail {
					c.check(t, resp)
					continue
				}
				wantUnavailable(t, c.name, resp, c.html)
			}
			f.up()

			// Back without a restart: what failed now works.
			env.Must(http.StatusOK, "GET", "/readyz", "", nil)
			var orgs []map[string]any
			env.Must(http.StatusOK, "GET", "/api/v1/organizations", env.AdminToken, nil).JSON(t, &orgs)
			for _, o := range orgs {
				if o["metadata"].(map[string]any)["name"] == "during-outage" {
					t.Error("the organization created during the outage exists")
				}
			}
			env.Must(http.StatusAccepted, "POST", "/api/v1/organizations", env.AdminToken, map[string]any{
				"metadata": map[string]any{"name": "after-outage"}, "spec": map[string]any{"organizationType": "adhoc"}})
			// Refresh first: redeeming the code replaces the session.
			if _, err := r.refresh(tok.RefreshToken); err != nil {
				t.Errorf("the refresh token presented during the outage does not work after it: %v", err)
			}
			if got := r.exchange(codeFlow, freshCode); got.AccessToken == "" {
				t.Error("the code presented during the outage does not work after it")
			}
			if resp := post(oidc.LoginPath, loginForm, "", "")(); resp.StatusCode != http.StatusSeeOther {
				t.Errorf("login form after the outage: status %d, want 303", resp.StatusCode)
			}
		})
	}
}

// roundTrip sends req and returns the response with its body read into a
// replayable reader.
func roundTrip(t *testing.T, c *http.Client, req *http.Request) *http.Response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	return resp
}

// wantUnavailable checks a 503: Retry-After, and the error shape with
// temporarily_unavailable (or an HTML page for page requests).
func wantUnavailable(t *testing.T, what string, resp *http.Response, html bool) {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("%s during the outage: status %d, want 503; body %s", what, resp.StatusCode, b)
		return
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Errorf("%s: 503 without Retry-After", what)
	}
	ct := resp.Header.Get("Content-Type")
	if html {
		if !strings.HasPrefix(ct, "text/html") || !strings.Contains(string(b), "unavailable") {
			t.Errorf("%s: want an HTML page saying unavailable, got %s: %s", what, ct, b)
		}
		return
	}
	var e map[string]string
	if !strings.HasPrefix(ct, "application/json") || json.Unmarshal(b, &e) != nil ||
		e["error"] != "temporarily_unavailable" || e["error_description"] == "" || len(e) != 2 {
		t.Errorf("%s: want {error: temporarily_unavailable, error_description}, got %s: %s", what, ct, b)
	}
}
