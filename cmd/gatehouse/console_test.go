package main

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestServeConsole: serve registers the console's public client (PKCE, the
// exact redirect URIs of its issuer), serves the console at /console/ with
// its CSP, /console there, and the landing page at / links to it;
// --console=false does neither.
func TestServeConsole(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	p := start(t, bin, "--data-dir", dir, "--issuer", "https://id.example.com")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.Get("http://" + p.addr + "/console/orgs/x/groups")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Security-Policy") == "" || res.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("/console/ deep link: %d %v", res.StatusCode, res.Header)
	}
	res, err = noRedirect.Get("http://" + p.addr + "/console")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/console/" {
		t.Errorf("/console: %d to %q, want 302 to /console/", res.StatusCode, res.Header.Get("Location"))
	}
	// A browser at / gets the landing page, which leads to the console.
	req, _ := http.NewRequest("GET", "http://"+p.addr+"/", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	res, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	landing, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(landing), `href="/console/"`) {
		t.Errorf("/ in a browser: %d, want the landing page linking to /console/: %s", res.StatusCode, landing)
	}
	p.stop(t)

	out, errOut, code := cli(t, bin, "admin", "clients", "get", "gatehouse-console", "--data-dir", dir)
	var c struct {
		Type                   string   `json:"type"`
		RedirectURIs           []string `json:"redirectURIs"`
		PostLogoutRedirectURIs []string `json:"postLogoutRedirectURIs"`
		RequirePKCE            bool     `json:"requirePKCE"`
		GrantTypes             []string `json:"grantTypes"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &c) != nil {
		t.Fatalf("the console's client: exit %d, %s %s", code, out, errOut)
	}
	if c.Type != "public" || !c.RequirePKCE ||
		!slices.Equal(c.RedirectURIs, []string{"https://id.example.com/console/callback"}) ||
		!slices.Equal(c.PostLogoutRedirectURIs, []string{"https://id.example.com/console/"}) ||
		!slices.Equal(c.GrantTypes, []string{"authorization_code", "refresh_token"}) {
		t.Errorf("the console's client: %s", out)
	}

	// Off: no console, and / is the API's 404 again.
	p = start(t, bin, "--data-dir", t.TempDir(), "--console=false")
	defer p.stop(t)
	for path, want := range map[string]int{"/console/": 404, "/": 404} {
		res, err := noRedirect.Get("http://" + p.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("--console=false %s: %d, want %d", path, res.StatusCode, want)
		}
	}
}
