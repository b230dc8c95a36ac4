package client_test

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestBackchannelLogoutURIValidation: a back-channel logout URI is an
// absolute https URL (http only on a loopback host) without fragment; a
// bad one is refused with a 400 that names it and says why.
func TestBackchannelLogoutURIValidation(t *testing.T) {
	t.Parallel()
	r, _ := newRegistry(testenv.SQLite(t))
	cases := []struct {
		name            string
		uri             string
		sessionRequired bool
		want            string // substring of the error; "" means accepted
	}{
		{"none", "", false, ""},
		{"https", "https://app.example.com/backchannel-logout", true, ""},
		{"https with query", "https://app.example.com/logout?tenant=a", false, ""},
		{"http loopback", "http://127.0.0.1:8080/logout", false, ""},
		{"http localhost", "http://localhost:3000/logout", false, ""},
		{"http elsewhere", "http://app.example.com/logout", false, "http is allowed only for loopback"},
		{"fragment", "https://app.example.com/logout#x", false, "must not have a fragment"},
		{"relative", "/logout", false, "absolute https"},
		{"custom scheme", "app:/logout", false, "absolute https"},
		{"no host", "https:///logout", false, "no host"},
		{"user information", "https://u@app.example.com/logout", false, "user information"},
		{"space", "https://app.example.com/log out", false, "printable ASCII"},
		{"too long", "https://app.example.com/" + strings.Repeat("a", 2000), false, "longer than"},
		{"session required without URI", "", true, "needs a backchannel logout URI"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := web()
			spec.BackchannelLogoutURI, spec.BackchannelLogoutSessionRequired = tc.uri, tc.sessionRequired
			c, _, err := r.Create(t.Context(), spec)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				got, err := r.Get(t.Context(), c.ID)
				if err != nil || got.BackchannelLogoutURI != tc.uri || got.BackchannelLogoutSessionRequired != tc.sessionRequired {
					t.Fatalf("stored %q %v (%v), want %q %v", got.BackchannelLogoutURI, got.BackchannelLogoutSessionRequired, err, tc.uri, tc.sessionRequired)
				}
				return
			}
			e, ok := apierror.As(err)
			if !ok || e.Status != 400 {
				t.Fatalf("error %v, want a 400", err)
			}
			if !strings.Contains(e.Description, tc.want) || tc.uri != "" && !strings.Contains(e.Description, "backchannel logout URI") {
				t.Errorf("error %q does not say %q about the backchannel logout URI", e.Description, tc.want)
			}
		})
	}
}

// TestBackchannelLogoutUpdate: the back-channel settings survive an update
// and can be removed, on both databases (migration 00014).
func TestBackchannelLogoutUpdate(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		r, _ := newRegistry(open(t))
		spec := web()
		spec.BackchannelLogoutURI, spec.BackchannelLogoutSessionRequired = "https://app.example.com/bcl", true
		c, _, err := r.Create(t.Context(), spec)
		if err != nil {
			t.Fatal(err)
		}
		spec = client.SpecOf(c)
		spec.Name = "renamed"
		if u, err := r.Update(t.Context(), c.ID, spec); err != nil || u.BackchannelLogoutURI != "https://app.example.com/bcl" || !u.BackchannelLogoutSessionRequired {
			t.Fatalf("after an update: %+v, %v", u, err)
		}
		spec.BackchannelLogoutURI, spec.BackchannelLogoutSessionRequired = "", false
		if _, err := r.Update(t.Context(), c.ID, spec); err != nil {
			t.Fatal(err)
		}
		if got, err := r.Get(t.Context(), c.ID); err != nil || got.BackchannelLogoutURI != "" || got.BackchannelLogoutSessionRequired {
			t.Fatalf("after removing: %+v, %v", got, err)
		}
	})
}

// TestFileBackchannelLogout: the clients file declares the back-channel
// settings, applies them, and refuses a bad URI before writing anything.
func TestFileBackchannelLogout(t *testing.T) {
	t.Parallel()
	r, _ := newRegistry(testenv.SQLite(t))
	file := func(uri string) string {
		return `{"clients": [{"id": "cli", "name": "Command line", "type": "public",
		  "redirectURIs": ["http://127.0.0.1/callback"],
		  "backchannelLogoutURI": "` + uri + `", "backchannelLogoutSessionRequired": true}]}`
	}
	if _, err := r.ApplyFile(t.Context(), writeFile(t, file("https://cli.example.com/bcl")), env(nil)); err != nil {
		t.Fatal(err)
	}
	if c, err := r.Get(t.Context(), "cli"); err != nil || c.BackchannelLogoutURI != "https://cli.example.com/bcl" || !c.BackchannelLogoutSessionRequired {
		t.Fatalf("applied %+v, %v", c, err)
	}
	_, err := client.LoadFile(writeFile(t, file("http://cli.example.com/bcl")), env(nil))
	if err == nil || !strings.Contains(err.Error(), "backchannel logout URI") || !strings.Contains(err.Error(), "cli") {
		t.Fatalf("a clients file with an http back-channel URI: %v", err)
	}
}
