// Package console serves Gatehouse's web console: a single-page application
// (Preact + TypeScript, sources in console/ at the repository root) that is
// a client of /api/v1 and signs in through Gatehouse's own OpenID provider
// as the public client ClientID. The built files are committed in dist/ and
// embedded, so `go build` and `gatehouse serve` need no Node; CI rebuilds
// them and fails on any difference.
//
// Handler serves them under Prefix: files by name, and index.html for every
// other path (the application routes in the browser, so a deep link such as
// /console/organizations/ID/groups must load it). Asset names carry a content
// hash and are cached for a year; index.html is never cached, so a new build
// is picked up at the next load. A missing asset is a 404, never index.html:
// a stale page asking for an old hash must fail visibly, not run HTML as
// script.
package console

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/client"
)

//go:embed dist
var dist embed.FS

// Prefix is where the console is served.
const Prefix = "/console/"

// ClientID is the public OAuth2 client the console signs in as.
const ClientID = "gatehouse-console"

// Scopes are the scopes the console asks for: the ID token's profile and
// email for the account page, offline_access for a refresh token (rotated
// at every use) so that a session outlives the access token without a
// redirect. /api/v1 needs no scope of its own: any user access token is
// accepted there, and the ACL decides.
var Scopes = []string{"openid", "profile", "email", "offline_access"}

// ContentSecurityPolicy is the console's policy: scripts and styles from
// this origin's files only (nothing inline, no eval), requests to this
// origin only (/api/v1 and the OIDC endpoints), no framing, no plugins.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Client is the console's client registration for issuer: public (no
// secret: the code is in every browser), PKCE S256 required, redirect and
// post-logout URIs exactly ISSUER/console/callback and ISSUER/console/, and
// no consent screen, since it is Gatehouse's own first-party application.
func Client(issuer string) client.Declared {
	base := strings.TrimRight(issuer, "/") + Prefix
	return client.Declared{Spec: client.Spec{
		ID:                      ClientID,
		Name:                    "Gatehouse console",
		Type:                    client.Public,
		RedirectURIs:            []string{base + "callback"},
		PostLogoutRedirectURIs:  []string{base},
		GrantTypes:              []string{client.GrantAuthorizationCode, client.GrantRefreshToken},
		Scopes:                  append([]string(nil), Scopes...),
		TokenEndpointAuthMethod: client.AuthNone,
		RequirePKCE:             true,
	}}
}

// file is one embedded file, with its gzip form when that is smaller.
type file struct {
	name, contentType string
	body, gzipped     []byte
	immutable         bool
	// etag names the content (not the encoding: the gzip form gets a
	// suffix), so that revalidating index.html costs a 304.
	etag string
}

// Handler serves the embedded console under Prefix.
func Handler() (http.Handler, error) {
	return newHandler(dist)
}

func newHandler(fsys fs.FS) (http.Handler, error) {
	root, err := fs.Sub(fsys, "dist")
	if err != nil {
		return nil, err
	}
	files := map[string]*file{}
	err = fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		f := &file{name: p, contentType: contentType(p), body: b, immutable: strings.HasPrefix(p, "assets/"),
			etag: hex.EncodeToString(sum[:12])}
		// Compressed once at start: the files never change while serving.
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(b)
		_ = zw.Close()
		if buf.Len() < len(b) {
			f.gzipped = buf.Bytes()
		}
		files[p] = f
		return nil
	})
	if err != nil {
		return nil, err
	}
	index := files["index.html"]
	if index == nil {
		return nil, fs.ErrNotExist
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		clean := path.Clean(r.URL.Path)
		if clean != strings.TrimSuffix(Prefix, "/") && !strings.HasPrefix(clean, Prefix) {
			// Not under the prefix once cleaned (../): nothing of ours.
			w.Header().Set("Cache-Control", "no-store")
			http.NotFound(w, r)
			return
		}
		name := strings.TrimPrefix(strings.TrimPrefix(clean, strings.TrimSuffix(Prefix, "/")), "/")
		f := files[name]
		if f == nil {
			if strings.HasPrefix(name, "assets/") || path.Ext(name) != "" {
				// A file that is not there (an old build's hash, a typo):
				// never answer it with the page.
				w.Header().Set("Cache-Control", "no-store")
				http.NotFound(w, r)
				return
			}
			f = index
		}
		serve(w, r, f)
	}), nil
}

func serve(w http.ResponseWriter, r *http.Request, f *file) {
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if f.immutable {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	h.Add("Vary", "Accept-Encoding")
	body, etag := f.body, f.etag
	if f.gzipped != nil && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body, etag = f.gzipped, etag+"-gz"
	}
	h.Set("ETag", `"`+etag+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".json", ".map":
		return "application/json"
	case ".png":
		return "image/png"
	case ".ico":
		return "image/x-icon"
	}
	return "application/octet-stream"
}
