package branding

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/webui"
)

// AssetsPattern is the route of Assets.
const AssetsPattern = "GET /branding/{organizationID}/{file}"

// Assets serves an organization's branded stylesheet and logo at the URLs
// StylesheetPath and LogoPath give: only the current version (an old URL is
// a 404), cached for good, with the type Gatehouse generated or decoded (the
// server's nosniff header holds browsers to it) and a policy that lets a
// logo opened on its own do nothing but show.
func Assets(st *store.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org, file := r.PathValue("organizationID"), r.PathValue("file")
		version, logo := strings.CutSuffix(file, "-logo")
		if !logo {
			var css bool
			if version, css = strings.CutSuffix(file, ".css"); !css {
				apierror.Write(w, apierror.NotFoundError("nothing at %s", r.URL.Path))
				return
			}
		}
		b, err := st.Read().GetBranding(r.Context(), org)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (b.Version != version || (logo && len(b.Logo) == 0))) {
			apierror.Write(w, apierror.NotFoundError("nothing at %s", r.URL.Path))
			return
		}
		if err != nil {
			apierror.Write(w, apierror.Internal())
			return
		}
		h := w.Header()
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		if logo {
			h.Set("Content-Type", b.LogoType)
			_, _ = w.Write(b.Logo)
			return
		}
		h.Set("Content-Type", "text/css; charset=utf-8")
		_, _ = w.Write(Stylesheet(b))
	})
}

// Page is what a sign-in page shows of branding b of the organization
// named orgName: its display name (else the organization's name), logo and
// stylesheet.
func Page(b *store.Branding, orgName string) *webui.Brand {
	name := b.DisplayName
	if name == "" {
		name = orgName
	}
	return &webui.Brand{Name: name, LogoURL: LogoPath(b), StyleURL: StylesheetPath(b)}
}
