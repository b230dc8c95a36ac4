package oidc_test

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/png"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestBrandedLoginPage (issue 14): a sign-in routed to an organization (by
// a client it owns, or by a login_hint in its verified domain) shows its
// display name, logo and colours, through a stylesheet and an image
// Gatehouse serves (the page's policy stays 'self', nothing inline); any
// other sign-in, and a hint in a domain merely claimed, shows the
// platform's look. The assets are cached for good at URLs that change with
// them; an old URL is a 404.
func TestBrandedLoginPage(t *testing.T) {
	t.Parallel()
	for _, b := range testenv.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			env := newEnv(t, b.Open)
			acme := env.NewTenant("acme", authz.RoleAdministrator)
			other := env.NewTenant("other", authz.RoleAdministrator)
			env.OwnDomain(acme.OrgID, "acme.example")
			var logo bytes.Buffer
			if err := png.Encode(&logo, image.NewRGBA(image.Rect(0, 0, 40, 20))); err != nil {
				t.Fatal(err)
			}
			brand := env.Must(http.StatusOK, "PUT", "/api/v1/organizations/"+acme.OrgID+"/branding", acme.Token, map[string]any{
				"displayName": "Acme <Corp>", "primaryColor": "#FF6600", "backgroundColor": "#101820",
				"logo": base64.StdEncoding.EncodeToString(logo.Bytes())}).Map(t)
			css, _ := brand["stylesheetURL"].(string)
			logoURL, _ := brand["logoURL"].(string)
			if !strings.HasPrefix(css, "/branding/"+acme.OrgID+"/") || !strings.HasPrefix(logoURL, "/branding/"+acme.OrgID+"/") {
				t.Fatalf("branding read: %v", brand)
			}
			// A claim on a domain that is not verified routes nothing.
			env.Must(http.StatusOK, "PUT", "/api/v1/organizations/"+other.OrgID, env.AdminToken, map[string]any{
				"metadata": map[string]any{"name": "other"}, "spec": map[string]any{"organizationType": "domain", "domain": "other.example"}})
			env.Must(http.StatusOK, "PUT", "/api/v1/organizations/"+other.OrgID+"/branding", other.Token, map[string]any{"displayName": "Other"})

			oc, osec := newOrgClient(t, env, acme.OrgID, nil)
			orgRP := newRP(t, env, oc, osec)
			pc, psec := newClient(t, env, nil)
			platRP := newRP(t, env, pc, psec)
			branded := func(page string) {
				t.Helper()
				for _, want := range []string{`<link rel="stylesheet" href="` + css + `">`, `<img class="brand-logo" src="` + logoURL + `" alt="">`,
					`<span id="brand-name">Acme &lt;Corp&gt;</span>`} {
					if !strings.Contains(page, want) {
						t.Errorf("branded login page lacks %s:\n%s", want, page)
					}
				}
				if regexp.MustCompile(`(?i)<style|style=|<script`).MatchString(page) {
					t.Errorf("inline style or script on the page:\n%s", page)
				}
			}
			unbranded := func(what, page string) {
				t.Helper()
				if strings.Contains(page, "/branding/") || strings.Contains(page, "brand-name") || !strings.Contains(page, "<span>Gatehouse</span>") {
					t.Errorf("%s: not the platform's look:\n%s", what, page)
				}
			}
			orgRP.openLogin()
			branded(orgRP.page)
			platRP.openLogin(param("login_hint", "jo@acme.example"))
			branded(platRP.page)
			platRP.openLogin()
			unbranded("a platform client", platRP.page)
			platRP.openLogin(param("login_hint", "jo@other.example"))
			unbranded("a hint in a domain not verified", platRP.page)
			platRP.openLogin(param("login_hint", "jo@elsewhere.example"))
			unbranded("a hint in no organization's domain", platRP.page)

			fetch := func(path string) (*http.Response, []byte) {
				t.Helper()
				res, err := env.Client.Get(env.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				body, _ := io.ReadAll(res.Body)
				return res, body
			}
			res, body := fetch(css)
			if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/css; charset=utf-8" ||
				!strings.Contains(res.Header.Get("Cache-Control"), "immutable") || !strings.Contains(string(body), "--accent: #ff6600") {
				t.Fatalf("stylesheet: %d %v %s", res.StatusCode, res.Header, body)
			}
			res, body = fetch(logoURL)
			if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/png" || !bytes.Equal(body, logo.Bytes()) ||
				res.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'none'") {
				t.Fatalf("logo: %d %v", res.StatusCode, res.Header)
			}
			// A change is a new URL; the old ones are gone.
			env.Must(http.StatusOK, "PUT", "/api/v1/organizations/"+acme.OrgID+"/branding", acme.Token, map[string]any{"primaryColor": "#0055aa"})
			for _, old := range []string{css, logoURL, "/branding/" + acme.OrgID + "/nothing.txt", "/branding/no-such-org/x.css"} {
				if res, _ := fetch(old); res.StatusCode != http.StatusNotFound {
					t.Errorf("%s after the change: %d, want 404", old, res.StatusCode)
				}
			}
			orgRP.openLogin()
			if strings.Contains(orgRP.page, "brand-logo") || !strings.Contains(orgRP.page, `<span id="brand-name">acme</span>`) {
				t.Errorf("without a logo or display name: the mark and the organization's name:\n%s", orgRP.page)
			}
			env.Must(http.StatusOK, "DELETE", "/api/v1/organizations/"+acme.OrgID+"/branding", acme.Token, nil)
			orgRP.openLogin()
			unbranded("branding removed", orgRP.page)
		})
	}
}
