package server_test

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/png"
	"net/http"
	"strings"
	"testing"
)

// TestBrandingAPI (issue 14): an organization's administrators set, read
// and remove its branding; its readers read it; other organizations' people
// neither. Bad values (a colour that is not #rrggbb, CSS smuggled in one, an
// SVG or oversized logo, unknown fields) are a 400 that changes nothing and
// records nothing; every write is one audit event, the logo in it by size and
// hash, never its bytes.
func TestBrandingAPI(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		reader := a.addMember(t, acme.org, "readers", "reader")
		other := a.tenant(t, "other", "administrator")
		path := orgPath(acme.org, "branding")

		// None yet: the platform's look, no URLs.
		r := a.must(t, http.StatusOK, "GET", path, reader.token, nil).obj(t)
		if str(r, "displayName") != "" || has(r, "stylesheetURL") || has(r, "logo") {
			t.Fatalf("no branding: %v", r)
		}
		wantError(t, a.call(t, "DELETE", path, acme.token, nil), http.StatusNotFound, "not_found")

		var img bytes.Buffer
		if err := png.Encode(&img, image.NewRGBA(image.Rect(0, 0, 30, 10))); err != nil {
			t.Fatal(err)
		}
		logo := base64.StdEncoding.EncodeToString(img.Bytes())
		put := a.must(t, http.StatusOK, "PUT", path, acme.token, map[string]any{"displayName": "Acme", "primaryColor": "#AA3300", "logo": logo})
		got := put.obj(t)
		if str(got, "primaryColor") != "#aa3300" || str(got, "logo") != logo || str(got, "logoType") != "image/png" ||
			!strings.HasSuffix(str(got, "logoURL"), "-logo") || !strings.HasSuffix(str(got, "stylesheetURL"), ".css") {
			t.Fatalf("written: %v", got)
		}
		evs := a.eventsOf(t, put)
		if len(evs) != 1 || evs[0]["op"] != "updateOrganizationBranding" || evs[0]["type"] != "branding" || evs[0]["id"] != acme.org || evs[0]["org"] != acme.org {
			t.Fatalf("events: %v", evs)
		}
		after, _ := evs[0]["after"].(map[string]any)
		if after["logoBytes"] != float64(img.Len()) || len(str(after, "logoSHA256")) != 64 || has(after, "logo") {
			t.Fatalf("audited after state: %v", after)
		}
		if read := a.must(t, http.StatusOK, "GET", path, reader.token, nil).obj(t); str(read, "stylesheetURL") != str(got, "stylesheetURL") {
			t.Fatalf("read back: %v", read)
		}

		svg := base64.StdEncoding.EncodeToString([]byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`))
		before := a.call(t, "GET", path, acme.token, nil).String()
		for _, c := range []struct {
			name, token string
			body        any
			status      int
			code        string
		}{
			{"colour by name", acme.token, map[string]any{"primaryColor": "orange"}, 400, "invalid_request"},
			{"CSS in a colour", acme.token, map[string]any{"backgroundColor": "#fff;} body{background:url(https://evil.example/x)"}, 400, "invalid_request"},
			{"SVG logo", acme.token, map[string]any{"logo": svg}, 400, "invalid_request"},
			{"logo not base64", acme.token, map[string]any{"logo": "not base64!"}, 400, "invalid_request"},
			{"logo over 64 KiB", acme.token, map[string]any{"logo": base64.StdEncoding.EncodeToString(make([]byte, 70<<10))}, 400, "invalid_request"},
			{"display name too long", acme.token, map[string]any{"displayName": strings.Repeat("x", 65)}, 400, "invalid_request"},
			{"unknown field (a stylesheet)", acme.token, map[string]any{"css": "body{}"}, 400, "invalid_request"},
			{"a logo by URL", acme.token, map[string]any{"logoURL": "https://cdn.example/logo.png"}, 400, "invalid_request"},
			{"reader", reader.token, map[string]any{"displayName": "Mine"}, 403, "forbidden"},
			{"another organization's administrator", other.token, map[string]any{"displayName": "Mine"}, 403, "forbidden"},
		} {
			r := a.call(t, "PUT", path, c.token, c.body)
			wantError(t, r, c.status, c.code)
			if evs := a.eventsOf(t, r); len(evs) != 0 {
				t.Errorf("%s: refused, yet audited: %v", c.name, evs)
			}
		}
		wantError(t, a.call(t, "GET", path, other.token, nil), http.StatusForbidden, "forbidden")
		wantError(t, a.call(t, "DELETE", path, reader.token, nil), http.StatusForbidden, "forbidden")
		if now := a.call(t, "GET", path, acme.token, nil).String(); now != before {
			t.Fatalf("refused writes changed the branding:\n%s\n%s", before, now)
		}

		del := a.must(t, http.StatusOK, "DELETE", path, acme.token, nil)
		if evs := a.eventsOf(t, del); len(evs) != 1 || evs[0]["op"] != "deleteOrganizationBranding" || evs[0]["after"] != nil {
			t.Fatalf("delete events: %v", evs)
		}
		if r := a.must(t, http.StatusOK, "GET", path, acme.token, nil).obj(t); has(r, "stylesheetURL") {
			t.Fatalf("after delete: %v", r)
		}
		// The platform administrator manages any organization's.
		a.admin(t, http.StatusOK, "PUT", path, map[string]any{"backgroundColor": "#ffffff"})
		// Deleting the organization takes its branding along.
		a.admin(t, http.StatusAccepted, "DELETE", orgPath(acme.org), nil)
		var n int
		if err := a.Store.DB().QueryRow(`SELECT count(*) FROM organization_branding WHERE organization_id = $1`, acme.org).Scan(&n); err != nil || n != 0 {
			t.Fatalf("branding rows of a deleted organization: %d, %v", n, err)
		}
	})
}
