package console

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gatehouse/gatehouse/internal/client"
)

// testFS is a small build: the page and one hashed script.
var testFS = fstest.MapFS{
	"dist/index.html":             {Data: []byte(`<!doctype html><script type="module" src="/console/assets/app-ABC123.js"></script>` + strings.Repeat(" ", 2000))},
	"dist/assets/app-ABC123.js":   {Data: []byte("console.log(1);" + strings.Repeat("/* padding */", 200))},
	"dist/assets/app-ABC123.css":  {Data: []byte("body{}")},
	"dist/favicon.svg":            {Data: []byte("<svg/>")},
	"dist/not-an-asset/readme.md": {Data: []byte("x")},
}

func get(t *testing.T, h http.Handler, method, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

// TestHandler: the page for the root and every deep link, hashed assets
// cached for good, the page never cached, a missing asset a 404 (never the
// page), the console's CSP on everything, gzip when asked.
func TestHandler(t *testing.T) {
	t.Parallel()
	h, err := newHandler(testFS)
	if err != nil {
		t.Fatal(err)
	}
	index := string(testFS["dist/index.html"].Data)
	for _, tc := range []struct {
		name, method, path string
		status             int
		body, cache        string
	}{
		{"root", "GET", "/console/", 200, index, "no-cache"},
		{"deep link", "GET", "/console/orgs/0192/groups", 200, index, "no-cache"},
		{"callback", "GET", "/console/callback?code=x&state=y", 200, index, "no-cache"},
		{"index by name", "GET", "/console/index.html", 200, index, "no-cache"},
		{"head", "HEAD", "/console/orgs", 200, "", "no-cache"},
		{"hashed asset", "GET", "/console/assets/app-ABC123.js", 200, string(testFS["dist/assets/app-ABC123.js"].Data), "public, max-age=31536000, immutable"},
		{"missing hashed asset", "GET", "/console/assets/app-OLD999.js", 404, "", "no-store"},
		{"missing file with an extension", "GET", "/console/robots.txt", 404, "", "no-store"},
		{"traversal stays inside", "GET", "/console/../../etc/passwd", 404, "", "no-store"},
		{"post", "POST", "/console/", 405, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := get(t, h, tc.method, tc.path)
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			if tc.body != "" && string(b) != tc.body {
				t.Errorf("body %.60q..., want %.60q...", b, tc.body)
			}
			if got := res.Header.Get("Cache-Control"); got != tc.cache {
				t.Errorf("Cache-Control %q, want %q", got, tc.cache)
			}
			if tc.status == 200 {
				if got := res.Header.Get("Content-Security-Policy"); got != ContentSecurityPolicy {
					t.Errorf("CSP %q", got)
				}
				if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("X-Frame-Options") != "DENY" {
					t.Errorf("security headers missing: %v", res.Header)
				}
			}
		})
	}
	t.Run("types", func(t *testing.T) {
		t.Parallel()
		for path, want := range map[string]string{
			"/console/assets/app-ABC123.js":  "text/javascript; charset=utf-8",
			"/console/assets/app-ABC123.css": "text/css; charset=utf-8",
			"/console/favicon.svg":           "image/svg+xml",
			"/console/":                      "text/html; charset=utf-8",
		} {
			if got := get(t, h, "GET", path).Header.Get("Content-Type"); got != want {
				t.Errorf("%s: Content-Type %q, want %q", path, got, want)
			}
		}
	})
	t.Run("gzip", func(t *testing.T) {
		t.Parallel()
		res := get(t, h, "GET", "/console/assets/app-ABC123.js", "Accept-Encoding", "br, gzip")
		if res.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(res.Header.Get("Vary"), "Accept-Encoding") {
			t.Fatalf("not gzipped: %v", res.Header)
		}
		zr, err := gzip.NewReader(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(zr)
		if string(b) != string(testFS["dist/assets/app-ABC123.js"].Data) {
			t.Error("the gzipped body is not the file")
		}
		if res := get(t, h, "GET", "/console/assets/app-ABC123.js", "Accept-Encoding", "gzip;q=0"); res.Header.Get("Content-Encoding") != "" {
			t.Error("gzip;q=0 got gzip")
		}
		// Too small to gain from compression: sent as it is.
		if res := get(t, h, "GET", "/console/favicon.svg", "Accept-Encoding", "gzip"); res.Header.Get("Content-Encoding") != "" {
			t.Error("a file gzip does not shrink was gzipped")
		}
	})
	t.Run("revalidation", func(t *testing.T) {
		t.Parallel()
		etag := get(t, h, "GET", "/console/").Header.Get("ETag")
		if etag == "" {
			t.Fatal("no ETag on the page")
		}
		if res := get(t, h, "GET", "/console/orgs", "If-None-Match", etag); res.StatusCode != http.StatusNotModified {
			t.Errorf("If-None-Match: status %d, want 304", res.StatusCode)
		}
	})
}

// TestEmbeddedBuild: the committed build is embedded, and its page names
// hashed assets that are there.
func TestEmbeddedBuild(t *testing.T) {
	t.Parallel()
	h, err := Handler()
	if err != nil {
		t.Fatal(err)
	}
	res := get(t, h, "GET", "/console/")
	page, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	refs := regexp.MustCompile(`/console/assets/app-[A-Z0-9]+\.(js|css)`).FindAllString(string(page), -1)
	if len(refs) != 2 {
		t.Fatalf("the page names %v, want one script and one stylesheet", refs)
	}
	for _, ref := range refs {
		if res := get(t, h, "GET", ref); res.StatusCode != 200 || res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("%s: status %d, Cache-Control %q", ref, res.StatusCode, res.Header.Get("Cache-Control"))
		}
	}
	if strings.Contains(string(page), "<script>") || strings.Contains(string(page), "style=") {
		t.Error("inline script or style in the page: the CSP would block it")
	}
}

// TestClient: the console's registration is a public client with PKCE,
// exactly these redirect URIs, and no grant beyond code and refresh.
func TestClient(t *testing.T) {
	t.Parallel()
	for _, issuer := range []string{"https://id.example.com", "https://id.example.com/"} {
		d := Client(issuer)
		s := d.Spec
		if s.ID != "gatehouse-console" || s.Type != client.Public || !s.RequirePKCE || s.TokenEndpointAuthMethod != client.AuthNone || d.SecretHash != "" {
			t.Errorf("%s: %+v", issuer, s)
		}
		if !slices.Equal(s.RedirectURIs, []string{"https://id.example.com/console/callback"}) ||
			!slices.Equal(s.PostLogoutRedirectURIs, []string{"https://id.example.com/console/"}) {
			t.Errorf("%s: redirect URIs %v, post-logout %v", issuer, s.RedirectURIs, s.PostLogoutRedirectURIs)
		}
		if !slices.Equal(s.GrantTypes, []string{client.GrantAuthorizationCode, client.GrantRefreshToken}) {
			t.Errorf("grants %v", s.GrantTypes)
		}
		if !slices.Equal(s.Scopes, []string{"openid", "profile", "email", "offline_access"}) {
			t.Errorf("scopes %v", s.Scopes)
		}
	}
}
