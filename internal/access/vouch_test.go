package access_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/gatehouse/gatehouse/internal/access"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestVouchedByOrganizationProvider: issue 12, finding 1, at the decision
// function. The same email is an active administrator of A and of B and
// holds the platform administrator role. A principal vouched for by A's own
// identity provider may act in A only: in B it is refused (not a member),
// and it holds no platform role. Local passwords, platform providers and
// tokens from before the gh_idp claim (IdP nil) keep their rights
// everywhere. On the code before the fix every row was allowed everywhere.
func TestVouchedByOrganizationProvider(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		ge := testenv.NewEnv(t, open(t))
		ctx := context.Background()
		const subject = "admin@b.example"
		a, b := ge.NewTenant("a", authz.RoleAdministrator), ge.NewTenant("b", authz.RoleAdministrator)
		for _, ten := range []*testenv.Tenant{a, b} {
			ge.Must(http.StatusCreated, "POST", "/api/v1/organizations/"+ten.OrgID+"/users", ge.AdminToken, map[string]any{
				"spec": map[string]any{"subject": subject, "state": "active", "groupIDs": []string{ten.GroupID}}})
		}
		platformAdmin, _ := authz.RoleByName(authz.RolePlatformAdministrator)
		if err := ge.Store.Tx(ctx, func(q *store.Q) error {
			return q.BindPlatformRole(ctx, store.MemberUser, subject, platformAdmin.ID)
		}); err != nil {
			t.Fatal(err)
		}
		e := access.NewEngine(ge.Store, env(t), 0)
		tests := []struct {
			name           string
			idp            *authn.IdP
			inA, inB, plat bool
		}{
			{"token from before the claim", nil, true, true, true},
			{"local password", &authn.IdP{ID: "local"}, true, true, true},
			{"platform provider", &authn.IdP{ID: "google", Issuer: "https://accounts.google.com", Subject: "1"}, true, true, true},
			{"A's own provider", &authn.IdP{Org: a.OrgID, ID: "a-idp", Issuer: "https://idp.a.example", Subject: "x"}, true, false, false},
			{"B's own provider", &authn.IdP{Org: b.OrgID, ID: "b-idp"}, false, true, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p := &authn.Principal{Kind: authn.KindUser, ID: subject, Subject: subject, IdP: tt.idp}
				decide := func(org, op string) bool {
					t.Helper()
					c, err := e.Load(ctx, ge.Store.Read(), p, org)
					if err != nil {
						t.Fatal(err)
					}
					return e.Decide(ctx, c, access.Request{Entry: authz.Catalogue[op], Organization: org}).Allowed
				}
				for _, c := range []struct {
					org, op string
					want    bool
				}{
					{a.OrgID, "listApiKeys", tt.inA},
					{a.OrgID, "createApiKey", tt.inA},
					{b.OrgID, "listApiKeys", tt.inB},
					{b.OrgID, "createApiKey", tt.inB},
					{"", "createOrganization", tt.plat},
				} {
					if got := decide(c.org, c.op); got != c.want {
						t.Errorf("%s in %q: allowed %v, want %v", c.op, c.org, got, c.want)
					}
				}
			})
		}
	})
}
