package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/testenv"
	"github.com/gatehouse/gatehouse/internal/webui"
)

// browserAccept is what Chromium sends with a navigation.
const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// TestPages: what a browser can land on outside the provider's forms is a
// page in the product's design: the landing page at /, a 404 page, the
// errors of the authorization endpoint that cannot go back to the
// application (unknown client, unregistered or missing redirect_uri:
// never a redirect, never JSON), each with the strict policy (the one
// stylesheet, no inline style, no script) and scanned for inline style or
// script; API clients keep their JSON; the stylesheet is served, typed and
// cached for good.
func TestPages(t *testing.T) {
	t.Parallel()
	for _, b := range testenv.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			e := testenv.NewEnv(t, b.Open(t))
			c := &http.Client{Transport: e.Client.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			get := func(path, accept, lang string) (*http.Response, string) {
				t.Helper()
				req, err := http.NewRequest("GET", e.URL+path, nil)
				if err != nil {
					t.Fatal(err)
				}
				if accept != "" {
					req.Header.Set("Accept", accept)
				}
				if lang != "" {
					req.Header.Set("Accept-Language", lang)
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				return resp, string(body)
			}
			web, _, err := e.Clients.Create(context.Background(), client.Spec{Name: "web", RedirectURIs: []string{"http://127.0.0.1:9/cb"},
				GrantTypes: []string{client.GrantAuthorizationCode}, Scopes: []string{"openid"}})
			if err != nil {
				t.Fatal(err)
			}
			pages := []struct {
				name, path, accept, lang string
				status                   int
				want                     []string
			}{
				{"landing", "/", browserAccept, "", http.StatusOK,
					[]string{`<h1>Gatehouse identity service</h1>`, `href="/console/"`, `href="/.well-known/openid-configuration"`,
						`href="/oauth2/v2/jwks"`, `href="/api/v1/openapi.yaml"`, `href="/healthz"`}},
				{"landing in German", "/", browserAccept, "de-DE,de;q=0.9,en;q=0.5", http.StatusOK,
					[]string{`<html lang="de">`, `Konsole öffnen`}},
				{"unknown path", "/nothing/here", browserAccept, "", http.StatusNotFound, []string{`Page not found`}},
				{"unknown client", oidc.AuthorizationPath + "?" + url.Values{"client_id": {"nobody"}, "redirect_uri": {"https://evil.example/cb"},
					"response_type": {"code"}, "scope": {"openid"}, "state": {"s"}}.Encode(), browserAccept, "", http.StatusBadRequest,
					[]string{`<h1>Unknown application</h1>`, `invalid_client`}},
				{"unknown client, German", oidc.AuthorizationPath + "?" + url.Values{"client_id": {"nobody"}, "ui_locales": {"de"}}.Encode(),
					"", "", http.StatusBadRequest, []string{`<h1>Unbekannte Anwendung</h1>`}},
				{"unregistered redirect_uri", oidc.AuthorizationPath + "?" + url.Values{"client_id": {web.ID}, "redirect_uri": {"https://evil.example/cb"},
					"response_type": {"code"}, "scope": {"openid"}, "state": {"s"}}.Encode(), "", "", http.StatusBadRequest,
					[]string{`<h1>Sign-in link not valid</h1>`, `redirect_uri is not registered`}},
				{"no redirect_uri", oidc.AuthorizationPath + "?" + url.Values{"client_id": {web.ID},
					"response_type": {"code"}, "scope": {"openid"}}.Encode(), browserAccept, "", http.StatusBadRequest,
					[]string{`<h1>Sign-in link not valid</h1>`}},
			}
			for _, p := range pages {
				resp, body := get(p.path, p.accept, p.lang)
				if resp.StatusCode != p.status || resp.Header.Get("Location") != "" {
					t.Errorf("%s: %d %q, want %d and no redirect: %s", p.name, resp.StatusCode, resp.Header.Get("Location"), p.status, body)
					continue
				}
				checkPage(t, p.name, resp, body)
				for _, w := range p.want {
					if !strings.Contains(body, w) {
						t.Errorf("%s: no %q in %s", p.name, w, body)
					}
				}
			}

			// API clients: the JSON 404 of an unknown path, at / too.
			for _, accept := range []string{"", "application/json", "*/*", "application/json, text/html"} {
				resp, body := get("/", accept, "")
				var m map[string]string
				if resp.StatusCode != http.StatusNotFound || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
					json.Unmarshal([]byte(body), &m) != nil || m["error"] != "not_found" {
					t.Errorf("GET / with Accept %q: %d %s %s, want the JSON 404", accept, resp.StatusCode, resp.Header.Get("Content-Type"), body)
				}
			}

			// The stylesheet: text/css, cached for good; another name is not
			// served (a 404).
			resp, body := get(webui.StylesheetPath, "text/css,*/*;q=0.1", "")
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/css; charset=utf-8" ||
				resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
				resp.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(body, "--accent: #4f46e5") {
				t.Errorf("stylesheet: %d %v", resp.StatusCode, resp.Header)
			}
			if resp, _ := get("/assets/pages-0000000000000000.css", "", ""); resp.StatusCode != http.StatusNotFound {
				t.Errorf("a stylesheet of another build: %d, want 404", resp.StatusCode)
			}
		})
	}
}

// checkPage checks what every page must be: HTML, never cached, the exact
// policy, the one stylesheet, and no inline style or script.
func checkPage(t *testing.T, name string, resp *http.Response, body string) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("%s: Content-Type %q", name, ct)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); csp != "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'" {
		t.Errorf("%s: CSP %q", name, csp)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: Cache-Control %q", name, resp.Header.Get("Cache-Control"))
	}
	if !strings.Contains(body, `<link rel="stylesheet" href="`+webui.StylesheetPath+`">`) {
		t.Errorf("%s: the stylesheet is not linked", name)
	}
	if bad := webui.InlineCode(body); bad != "" {
		t.Errorf("%s: inline style or script %q", name, bad)
	}
}
