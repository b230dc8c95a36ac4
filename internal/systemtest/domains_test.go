package systemtest

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

var (
	continueLink = regexp.MustCompile(`<a id="continue" href="([^"]+)"`)
	formField    = regexp.MustCompile(`name="(state|csrf_token)" value="([^"]*)"`)
)

// TestDomainTakeoverReplay replays issue 12's finding 1 with two Gatehouse
// processes: one is the attacker's identity provider (it vouches for any
// address its operator gives a password, admin@b.example included); on the
// other, organization A registers that provider and claims b.example, the
// victim's domain, as in the finding. The victim's login with an empty
// password must not be routed to A's provider (it was, and ended as B's
// administrator); B can still claim b.example (it got 409) and prove it by
// DNS through --dns-resolver (a DNS server the test runs on loopback), after
// which A cannot verify it (409).
func TestDomainTakeoverReplay(t *testing.T) {
	// Each engine's flags of serve, and of the admin CLI.
	engines := map[string]func(t *testing.T, dataDir string) (serve, cli []string){
		"sqlite": func(t *testing.T, dataDir string) ([]string, []string) {
			return []string{"--data-dir", dataDir}, []string{"--data-dir", dataDir}
		},
	}
	if os.Getenv(testenv.PostgresURLEnv) != "" {
		engines["postgres"] = func(t *testing.T, dataDir string) ([]string, []string) {
			db := newDatabase(t)
			return []string{"--database-url", db, "--encryption-key", newKey(), "--data-dir", dataDir}, []string{"--database-url", db}
		}
	}
	for name, database := range engines {
		t.Run(name, func(t *testing.T) {
			const victim, victimPassword = "admin@b.example", "attacker chosen password"
			hc := &http.Client{Timeout: 30 * time.Second}

			// The attacker's identity provider: a Gatehouse the attacker runs.
			idpDir, idpAddr := t.TempDir(), freeAddr(t)
			idp := serveOn(t, idpAddr, append([]string{"--data-dir", idpDir, "--issuer", "http://" + idpAddr, "--onboarding", "off"}, noRateLimits...)...)
			gatehouse(t, victimPassword+"\n", "admin", "users", "set-password", "--email", victim, "--data-dir", idpDir)

			// The target Gatehouse, asking the test's DNS server.
			dns := testenv.NewDNSServer(t)
			dir, addr := t.TempDir(), freeAddr(t)
			db, cli := database(t, dir)
			// Organizations' providers here listen on loopback.
			target := serveOn(t, addr, append(append([]string{"--issuer", "http://" + addr, "--onboarding", "off", "--allow-private-tenant-endpoints",
				"--dns-resolver", dns.Addr, "--dns-timeout", "2s"}, db...), noRateLimits...)...)
			admin := readToken(t, filepath.Join(dir, "bootstrap-token"))
			api := func(want int, token, method, path string, body any) map[string]any {
				t.Helper()
				status, b, err := call(hc, target.URL, token, method, path, body)
				if err != nil || status != want {
					t.Fatalf("%s %s: %d %s %v, want %d", method, path, status, b, err, want)
				}
				var m map[string]any
				_ = json.Unmarshal(b, &m)
				return m
			}
			var created struct{ ID, Secret string }
			out := gatehouse(t, "", "admin", "clients", "create", "--name", "target", "--data-dir", idpDir,
				"--redirect-uri", target.URL+oidc.UpstreamCallbackPath, "--grant", "authorization_code", "--scope", "openid", "--scope", "email")
			if err := json.Unmarshal([]byte(out), &created); err != nil {
				t.Fatalf("admin clients create printed %q: %v", out, err)
			}
			out = gatehouse(t, "", append(append([]string{"admin", "clients", "create", "--name", "web"}, cli...),
				"--redirect-uri", redirectURI, "--grant", "authorization_code", "--scope", "openid", "--scope", "email")...)
			var web struct{ ID string }
			if err := json.Unmarshal([]byte(out), &web); err != nil {
				t.Fatalf("admin clients create printed %q: %v", out, err)
			}

			// Organization A: an administrator (a service account) registers the
			// attacker's provider and claims b.example with it.
			a := api(http.StatusAccepted, admin, "POST", "/api/v1/organizations", map[string]any{
				"metadata": map[string]any{"name": "attacker"}, "spec": map[string]any{"organizationType": "adhoc"}})
			orgA := "/api/v1/organizations/" + id(a)
			var adminRole string
			for _, r := range listOf(t, hc, target.URL, admin, orgA+"/roles") {
				if md, _ := r["metadata"].(map[string]any); md["name"] == "administrator" {
					adminRole, _ = md["id"].(string)
				}
			}
			g := api(http.StatusCreated, admin, "POST", orgA+"/groups", map[string]any{"metadata": map[string]any{"name": "admins"},
				"spec": map[string]any{"roleIDs": []string{adminRole}, "userIDs": []string{}, "serviceAccountIDs": []string{}}})
			sa := api(http.StatusCreated, admin, "POST", orgA+"/serviceaccounts", map[string]any{"metadata": map[string]any{"name": "mallory"},
				"spec": map[string]any{"groupIDs": []string{id(g)}}})
			aToken, _ := sa["status"].(map[string]any)["accessToken"].(string)
			prov := api(http.StatusCreated, aToken, "POST", orgA+"/oauth2providers", map[string]any{"metadata": map[string]any{"name": "evil-idp"},
				"spec": map[string]any{"type": "oidc", "issuer": idp.URL, "clientID": created.ID, "clientSecret": created.Secret}})
			api(http.StatusOK, aToken, "PUT", orgA, map[string]any{"metadata": map[string]any{"name": "attacker"},
				"spec": map[string]any{"organizationType": "domain", "domain": "b.example", "providerScope": "organization", "providerID": id(prov)}})

			// The victim's login, with an empty password as in the finding: the
			// browser must not be sent to A's provider.
			jar, _ := cookiejar.New(nil)
			browser := &http.Client{Timeout: 30 * time.Second, Jar: jar,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			q := url.Values{"response_type": {"code"}, "client_id": {web.ID}, "redirect_uri": {redirectURI}, "scope": {"openid email"},
				"state": {"st"}, "nonce": {"n"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
			page := get(t, browser, target.URL+oidc.AuthorizationPath+"?"+q.Encode())
			form := url.Values{"email": {victim}, "password": {""}}
			for _, m := range formField.FindAllStringSubmatch(page, -1) {
				form.Set(m[1], html.UnescapeString(m[2]))
			}
			resp, err := browser.PostForm(target.URL+oidc.LoginPath, form)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if m := continueLink.FindSubmatch(body); m != nil || strings.HasPrefix(resp.Header.Get("Location"), idp.URL) {
				to := resp.Header.Get("Location")
				if m != nil {
					to = html.UnescapeString(string(m[1]))
				}
				t.Fatalf("%s was sent to the attacker's identity provider through A's unverified claim: %d, on to %s", victim, resp.StatusCode, to)
			}

			// Organization B, the domain's owner, claims it too: this was a 409.
			b := api(http.StatusAccepted, admin, "POST", "/api/v1/organizations", map[string]any{
				"metadata": map[string]any{"name": "victim"}, "spec": map[string]any{"organizationType": "domain", "domain": "b.example"}})
			orgB := "/api/v1/organizations/" + id(b)

			// B proves b.example by DNS; then A cannot verify it, even with its own
			// record published beside B's.
			recordOf := func(org string) (string, string) {
				dv := api(http.StatusOK, admin, "GET", org, nil)["status"].(map[string]any)["domainVerification"].(map[string]any)
				return dv["recordName"].(string), dv["recordValue"].(string)
			}
			name, bValue := recordOf(orgB)
			_, aValue := recordOf(orgA)
			dns.SetTXT(name, bValue)
			api(http.StatusBadRequest, aToken, "POST", orgA+"/domain/verify", map[string]any{})
			verified := api(http.StatusOK, admin, "POST", orgB+"/domain/verify", map[string]any{})
			if verified["status"].(map[string]any)["domainVerification"].(map[string]any)["state"] != "verified" {
				t.Fatalf("B's domain after verification: %v", verified["status"])
			}
			dns.SetTXT(name, bValue, aValue)
			api(http.StatusConflict, aToken, "POST", orgA+"/domain/verify", map[string]any{})
			api(http.StatusForbidden, aToken, "POST", orgA+"/domain/verify", map[string]any{"markVerified": true})
		})
	}
}

// get fetches u in browser, following redirects, and returns the body of
// the final 200.
func get(t *testing.T, browser *http.Client, u string) string {
	t.Helper()
	for range 10 {
		resp, err := browser.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 == 3 {
			next, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			u = next.String()
			continue
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
		}
		return string(b)
	}
	t.Fatalf("GET %s: too many redirects", u)
	return ""
}

// listOf reads a JSON list as the bearer of token.
func listOf(t *testing.T, hc *http.Client, base, token, path string) []map[string]any {
	t.Helper()
	status, b, err := call(hc, base, token, "GET", path, nil)
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET %s: %d %s %v", path, status, b, err)
	}
	var out []map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
