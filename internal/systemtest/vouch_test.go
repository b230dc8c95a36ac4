package systemtest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/loginflow"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// victimEmail is the administrator of the victim organization B, whom the
// attacker's identity provider claims to be.
const victimEmail = "admin@b.example"

// TestForeignProviderTakeover replays issue 12's finding 1 with two
// Gatehouse processes. The attacker's identity provider is a Gatehouse of
// its own, where a local user admin@b.example exists, with an OAuth2
// client for the victim Gatehouse. In the victim Gatehouse, organization B
// has admin@b.example as administrator; the attacker administers
// organization A, registers the first Gatehouse as A's own OIDC provider
// and claims b.example as A's domain (providerScope organization). A
// browser (an HTTP client with a cookie jar) then logs in at the victim as
// admin@b.example with an empty password, is routed to A's provider, and
// types the password there.
//
// The attacker must get nothing that works in B: either the victim refuses
// the login (no code, no token: the domain was never A's to claim), or the
// token it issues is confined to A, where the provider was registered:
// listing B's API keys and stored credentials and creating an API key in B
// answer 403, the platform query of the email's organizations too, B is not
// among the token's organizations, and B has no new API key afterwards. On
// the code before the fix the token listed B's credentials and created an
// administrator API key in B.
func TestForeignProviderTakeover(t *testing.T) {
	engines := map[string]func(t *testing.T, dataDir string) []string{
		"sqlite": func(t *testing.T, dataDir string) []string { return []string{"--data-dir", dataDir} },
	}
	if os.Getenv(testenv.PostgresURLEnv) != "" {
		engines["postgres"] = func(t *testing.T, dataDir string) []string {
			return []string{"--database-url", newDatabase(t), "--encryption-key", newKey(), "--data-dir", dataDir}
		}
	}
	for name, flags := range engines {
		t.Run(name, func(t *testing.T) { testForeignProviderTakeover(t, flags) })
	}
}

func testForeignProviderTakeover(t *testing.T, flags func(t *testing.T, dataDir string) []string) {
	ctx := context.Background()
	hc := &http.Client{Timeout: 30 * time.Second}
	idpAddr, victimAddr := freeAddr(t), freeAddr(t)
	idpURL, victimURL := "http://"+idpAddr, "http://"+victimAddr
	idpDir, victimDir := t.TempDir(), t.TempDir()
	idpFlags, victimFlags := flags(t, idpDir), flags(t, victimDir)
	// The admin CLI needs the database flags only.
	dbOnly := func(f []string) []string {
		i := slices.Index(f, "--database-url")
		if i >= 0 {
			return f[i : i+2]
		}
		return f
	}

	// The attacker's identity provider: a Gatehouse whose local user
	// admin@b.example the attacker controls, and a client for the victim.
	gatehouse(t, "", append([]string{"migrate"}, dbOnly(idpFlags)...)...)
	gatehouse(t, password+"\n", append([]string{"admin", "users", "set-password", "--email", victimEmail}, dbOnly(idpFlags)...)...)
	upstream := createClient(t, dbOnly(idpFlags), "victim-gatehouse", "--redirect-uri", victimURL+"/oidc/callback",
		"--grant", "authorization_code", "--scope", "openid", "--scope", "email", "--scope", "profile")
	serveOn(t, idpAddr, append(append(idpFlags, "--issuer", idpURL, "--onboarding", "off"), noRateLimits...)...)

	// The victim Gatehouse, and its relying party.
	gatehouse(t, "", append([]string{"migrate"}, dbOnly(victimFlags)...)...)
	rp := createClient(t, dbOnly(victimFlags), "web", "--redirect-uri", redirectURI,
		"--grant", "authorization_code", "--scope", "openid", "--scope", "email")
	rp.BaseURL, rp.HTTP = victimURL, hc
	// The attacker's provider listens on loopback, as everything here.
	serveOn(t, victimAddr, append(append(victimFlags, "--issuer", victimURL, "--allow-private-tenant-endpoints"), noRateLimits...)...)
	admin := readToken(t, filepath.Join(victimDir, "bootstrap-token"))
	api := victimAPI(func(token string, want int, method, path string, body any) map[string]any {
		t.Helper()
		status, b, err := call(hc, victimURL, token, method, path, body)
		if err != nil || status != want {
			t.Fatalf("%s %s: %d %s %v, want %d", method, path, status, b, err, want)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	})

	// Organization B: admin@b.example is its administrator.
	orgB := newOrgWithAdmins(t, hc, victimURL, api, admin, "b")
	api(admin, http.StatusCreated, "POST", "/api/v1/organizations/"+orgB.id+"/users", map[string]any{
		"spec": map[string]any{"subject": victimEmail, "state": "active", "groupIDs": []string{orgB.group}}})
	api(admin, http.StatusOK, "GET", "/api/v1/organizations/"+orgB.id+"/apikeys", nil)

	// Organization A, administered by the attacker (a service account of
	// A's administrators' group): A's own provider is the attacker's
	// Gatehouse, and A claims b.example.
	orgA := newOrgWithAdmins(t, hc, victimURL, api, admin, "a")
	sa := api(admin, http.StatusCreated, "POST", "/api/v1/organizations/"+orgA.id+"/serviceaccounts", map[string]any{
		"metadata": map[string]any{"name": "attacker"}, "spec": map[string]any{"groupIDs": []string{orgA.group}}})
	attacker := sa["status"].(map[string]any)["accessToken"].(string)
	provider := api(attacker, http.StatusCreated, "POST", "/api/v1/organizations/"+orgA.id+"/oauth2providers", map[string]any{
		"metadata": map[string]any{"name": "a-idp"},
		"spec":     map[string]any{"type": "oidc", "issuer": idpURL, "clientID": upstream.ClientID, "clientSecret": upstream.ClientSecret}})
	status, b, err := call(hc, victimURL, attacker, "PUT", "/api/v1/organizations/"+orgA.id, map[string]any{
		"metadata": map[string]any{"name": "a"},
		"spec": map[string]any{"organizationType": "domain", "domain": "b.example", "providerScope": "organization",
			"providerID": id(provider)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("A claims b.example with its own provider: %d %s", status, b)

	// The login, as a browser walks it.
	code, flow, outcome := walkLogin(t, ctx, hc, rp, idpURL, victimEmail)
	if code == "" {
		// A refusal must be the victim's own decision about this login,
		// not a broken setup: a 4xx of the victim Gatehouse.
		if outcome.status/100 != 4 || outcome.host != victimURL {
			t.Fatalf("the login failed, but not as a refusal by the victim: %d at %s: %.500s", outcome.status, outcome.host, outcome.page)
		}
		t.Logf("the victim refused the login: %d at %s", outcome.status, outcome.host)
		assertNoKeys(t, hc, victimURL, admin, orgB.id)
		return
	}
	tok, err := rp.Exchange(ctx, code, flow)
	if err != nil {
		t.Logf("the victim refused the code: %v", err)
		assertNoKeys(t, hc, victimURL, admin, orgB.id)
		return
	}
	t.Logf("the victim issued a token to the login through A's provider; it must not work in B")
	roleID := orgB.adminRole
	for _, probe := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/organizations/" + orgB.id + "/apikeys", nil},
		{"GET", "/api/v1/organizations/" + orgB.id + "/credentials", nil},
		{"GET", "/api/v1/organizations/" + orgB.id + "/users", nil},
		{"POST", "/api/v1/organizations/" + orgB.id + "/apikeys", map[string]any{
			"metadata": map[string]any{"name": "takeover"}, "spec": map[string]any{"roleID": roleID}}},
		{"GET", "/api/v1/organizations?email=" + url.QueryEscape(victimEmail), nil},
	} {
		status, body, err := call(hc, victimURL, tok.AccessToken, probe.method, probe.path, probe.body)
		if err != nil || status != http.StatusForbidden {
			t.Errorf("the token vouched for by A's provider: %s %s answered %d %s %v, want 403", probe.method, probe.path, status, body, err)
		}
	}
	var orgs []map[string]any
	status, body, err := call(hc, victimURL, tok.AccessToken, "GET", "/api/v1/organizations", nil)
	if err != nil || status != http.StatusOK || json.Unmarshal(body, &orgs) != nil {
		t.Fatalf("listOrganizations: %d %s %v", status, body, err)
	}
	for _, o := range orgs {
		if id(o) == orgB.id {
			t.Errorf("listOrganizations shows B to the token vouched for by A's provider: %s", body)
		}
	}
	assertNoKeys(t, hc, victimURL, admin, orgB.id)
}

// org is an organization with a group of administrators.
type org struct{ id, group, adminRole string }

// victimAPI sends an /api/v1 request to the victim Gatehouse with a
// bearer token, fails the test unless the status is want, and returns the
// decoded body (nil when it is not an object).
type victimAPI func(token string, want int, method, path string, body any) map[string]any

// newOrgWithAdmins creates an ad hoc organization (as the platform
// administrator) and a group holding its administrator role.
func newOrgWithAdmins(t *testing.T, hc *http.Client, base string, api victimAPI, admin, name string) org {
	t.Helper()
	o := org{id: id(api(admin, http.StatusAccepted, "POST", "/api/v1/organizations", map[string]any{
		"metadata": map[string]any{"name": name}, "spec": map[string]any{"organizationType": "adhoc"}}))}
	var roles []map[string]any
	status, body, err := call(hc, base, admin, "GET", "/api/v1/organizations/"+o.id+"/roles", nil)
	if err != nil || status != http.StatusOK || json.Unmarshal(body, &roles) != nil {
		t.Fatalf("list roles: %d %s %v", status, body, err)
	}
	for _, r := range roles {
		if md, _ := r["metadata"].(map[string]any); md["name"] == "administrator" {
			o.adminRole = id(r)
		}
	}
	if o.adminRole == "" {
		t.Fatalf("no administrator role in %s", body)
	}
	o.group = id(api(admin, http.StatusCreated, "POST", "/api/v1/organizations/"+o.id+"/groups", map[string]any{
		"metadata": map[string]any{"name": name + "-administrators"},
		"spec":     map[string]any{"roleIDs": []string{o.adminRole}, "userIDs": []string{}, "serviceAccountIDs": []string{}}}))
	return o
}

// assertNoKeys: organization orgID has no API key (the attacker made none).
func assertNoKeys(t *testing.T, hc *http.Client, base, admin, orgID string) {
	t.Helper()
	var keys []map[string]any
	status, body, err := call(hc, base, admin, "GET", "/api/v1/organizations/"+orgID+"/apikeys", nil)
	if err != nil || status != http.StatusOK || json.Unmarshal(body, &keys) != nil {
		t.Fatalf("list B's API keys: %d %s %v", status, body, err)
	}
	if len(keys) != 0 {
		t.Errorf("B has API keys it never made: %s", body)
	}
}

// createClient registers a confidential client with the admin CLI.
func createClient(t *testing.T, db []string, name string, flags ...string) *loginflow.Client {
	t.Helper()
	out := gatehouse(t, "", append(append([]string{"admin", "clients", "create", "--name", name}, db...), flags...)...)
	var created struct{ ID, Secret string }
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ID == "" || created.Secret == "" {
		t.Fatalf("admin clients create printed %q: %v", out, err)
	}
	return &loginflow.Client{ClientID: created.ID, ClientSecret: created.Secret, RedirectURI: redirectURI}
}

// walkEnd is where a login walk ended without a code: the status and host
// of the last answer, and its page.
type walkEnd struct {
	status     int
	host, page string
}

// walkLogin is a browser logging in at the relying party rp's Gatehouse as
// email with an empty password: it follows redirects and the pages that
// move on upstream, across hosts, and types password into the login form
// of the identity provider at idpURL. It returns the code the relying party
// received with its flow, or "" and where the walk ended.
func walkLogin(t *testing.T, ctx context.Context, hc *http.Client, rp *loginflow.Client, idpURL, email string) (string, *loginflow.Flow, walkEnd) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: hc.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	f := &loginflow.Flow{State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier()}
	q := url.Values{"response_type": {"code"}, "client_id": {rp.ClientID}, "redirect_uri": {rp.RedirectURI},
		"scope": {"openid email"}, "state": {f.State}, "nonce": {f.Nonce},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(f.Verifier)}, "code_challenge_method": {"S256"}}
	send := func(method, u string, form url.Values) (*http.Response, string) {
		t.Helper()
		var rd io.Reader
		if form != nil {
			rd = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(ctx, method, u, rd)
		if err != nil {
			t.Fatal(err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.Header.Set("Accept", "text/html")
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, u, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	fields := func(body string) url.Values {
		v := url.Values{}
		for _, m := range formField.FindAllStringSubmatch(body, -1) {
			v.Set(m[1], html.UnescapeString(m[2]))
		}
		return v
	}
	resp, body := send("GET", rp.BaseURL+"/oauth2/v2/authorization?"+q.Encode(), nil)
	typed := map[string]bool{}
	for range 30 {
		host := resp.Request.URL.Scheme + "://" + resp.Request.URL.Host
		end := walkEnd{status: resp.StatusCode, host: host, page: body}
		loc := resp.Header.Get("Location")
		if m := continueLink.FindStringSubmatch(body); resp.StatusCode == http.StatusOK && m != nil {
			loc = html.UnescapeString(m[1])
		}
		switch {
		case strings.HasPrefix(loc, rp.RedirectURI):
			u, err := url.Parse(loc)
			if err != nil || u.Query().Get("state") != f.State || u.Query().Get("code") == "" {
				end.page = "back at the relying party without a code: " + loc
				return "", nil, end
			}
			return u.Query().Get("code"), f, walkEnd{}
		case resp.StatusCode/100 == 3 && loc != "" || resp.StatusCode == http.StatusOK && loc != "":
			next, err := resp.Request.URL.Parse(loc)
			if err != nil {
				t.Fatal(err)
			}
			resp, body = send("GET", next.String(), nil)
		case resp.StatusCode == http.StatusOK && strings.Contains(body, `action="/oauth2/v2/login"`):
			// A login form: at the victim the email with an empty password
			// (routed by its domain), at the identity provider the password.
			if typed[host] {
				return "", nil, end // the form again: the login was refused
			}
			typed[host] = true
			v := fields(body)
			v.Set("email", email)
			v.Set("password", "")
			if host == idpURL {
				v.Set("password", password)
			}
			resp, body = send("POST", host+"/oauth2/v2/login", v)
		default:
			return "", nil, end
		}
	}
	t.Fatal("the login did not end within 30 steps")
	return "", nil, walkEnd{}
}
