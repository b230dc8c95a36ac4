package authn_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/authn"
)

// TestVouchingOrganization: a user is confined by the organization whose
// provider vouched for it and by the organization whose OAuth2 client its
// token was issued to (issue 13); two different ones confine it to none.
func TestVouchingOrganization(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		p    *authn.Principal
		want string
	}{
		{"nil", nil, ""},
		{"platform login, platform client", &authn.Principal{Kind: authn.KindUser, IdP: &authn.IdP{ID: "local"}}, ""},
		{"no recorded provider", &authn.Principal{Kind: authn.KindUser}, ""},
		{"organization's provider", &authn.Principal{Kind: authn.KindUser, IdP: &authn.IdP{Org: "a", ID: "p"}}, "a"},
		{"organization's client", &authn.Principal{Kind: authn.KindUser, IdP: &authn.IdP{ID: "local"}, ClientOrganization: "a"}, "a"},
		{"organization's client, no recorded provider", &authn.Principal{Kind: authn.KindUser, ClientOrganization: "a"}, "a"},
		{"both the same", &authn.Principal{Kind: authn.KindUser, IdP: &authn.IdP{Org: "a"}, ClientOrganization: "a"}, "a"},
		{"both different", &authn.Principal{Kind: authn.KindUser, IdP: &authn.IdP{Org: "a"}, ClientOrganization: "b"}, authn.NoOrganization},
		{"a service account is not a user", &authn.Principal{Kind: authn.KindServiceAccount, ClientOrganization: "a"}, ""},
	} {
		if got := c.p.VouchingOrganization(); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
