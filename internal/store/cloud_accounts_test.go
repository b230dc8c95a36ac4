package store_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestCloudAccounts: the accounts of a connection follow its discoveries;
// an account that goes takes its assignments along (and the kept totals
// stay right), a renamed one renames them, and deleting the connection
// deletes everything it discovered. Organizations stay apart.
func TestCloudAccounts(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		sc, other := newScope(t, st, "acme"), newScope(t, st, "other")
		conn := func(orgID, external string) string {
			c := &store.CloudConnection{Meta: newMeta(orgID, "conn-"+external), Provider: "aws", ExternalOrganizationID: external, Spec: "{}", Status: "{}"}
			tx(t, st, func(q *store.Q) error { return q.CreateCloudConnection(ctx, c) })
			return c.ID
		}
		account := func(id, name string) store.CloudAccount {
			return store.CloudAccount{ID: id, Name: name, Email: name + "@example.com", ARN: "arn:aws:organizations::111111111111:account/o-1/" + id, State: "ACTIVE"}
		}
		sync := func(orgID, connID string, accounts ...store.CloudAccount) {
			t.Helper()
			tx(t, st, func(q *store.Q) error { return q.SyncCloudAccounts(ctx, orgID, connID, accounts) })
		}
		acme, foreign := conn(sc.org, "o-1"), conn(other.org, "o-1")
		sync(sc.org, acme, account("100000000001", "prod"), account("100000000002", "staging"))
		sync(other.org, foreign, account("100000000001", "theirs"))

		ps := newPermissionSet(sc.org, "deployer")
		tx(t, st, func(q *store.Q) error { return q.CreatePermissionSet(ctx, ps) })
		onAccount := func(principalType, principalID, account, name string) *store.AccountAssignment {
			a := assignment(sc.org, principalType, principalID, "someone", ps, account, name)
			a.TargetType = store.TargetCloudAccount
			return a
		}
		prod := onAccount(store.PrincipalGroup, sc.group, "100000000001", "prod")
		staging := onAccount(store.PrincipalUser, sc.user, "100000000002", "staging")
		tx(t, st, func(q *store.Q) error {
			return q.InsertAccountAssignments(ctx, []*store.AccountAssignment{prod, staging})
		})
		wantTotal(t, st, sc.org, 2)

		names, err := st.Read().NamesOf(ctx, store.RefCloudAccounts, sc.org, []string{"100000000001", "100000000002", "100000000003"})
		must(t, err)
		equal(t, "names", names, map[string]string{"100000000001": "prod", "100000000002": "staging"})
		got, err := st.Read().GetCloudAccount(ctx, other.org, "100000000001")
		must(t, err)
		if got.Name != "theirs" || got.ConnectionID != foreign {
			t.Errorf("the other organization's copy of the account: %+v", got)
		}

		// The user reaches prod through its group, staging itself.
		member := store.Member{Type: store.PrincipalUser, ID: sc.user, GroupIDs: []string{sc.group}}
		for _, c := range []struct {
			member  store.Member
			account string
			want    bool
		}{
			{member, "100000000001", true},
			{member, "100000000002", true},
			{store.Member{Type: store.PrincipalUser, ID: sc.user}, "100000000001", false},
			{store.Member{Type: store.PrincipalServiceAccount, ID: sc.serviceAccount}, "100000000002", false},
		} {
			ok, err := st.Read().MemberHasAssignment(ctx, sc.org, c.member, ps.ID, store.TargetCloudAccount, c.account)
			must(t, err)
			if ok != c.want {
				t.Errorf("%+v on %s: %v, want %v", c.member, c.account, ok, c.want)
			}
		}
		ok, err := st.Read().MemberHasAssignment(ctx, sc.org, member, ps.ID, store.TargetProject, "100000000001")
		must(t, err)
		if ok {
			t.Error("a cloud account assignment counted as a project's")
		}

		// Rediscovered: prod renamed, staging gone.
		sync(sc.org, acme, account("100000000001", "production"))
		renamed, err := st.Read().GetAccountAssignment(ctx, sc.org, prod.ID)
		must(t, err)
		equal(t, "renamed target", renamed.TargetName, "production")
		_, err = st.Read().GetAccountAssignment(ctx, sc.org, staging.ID)
		wantErr(t, "assignment of an account that left", err, store.ErrNotFound)
		wantTotal(t, st, sc.org, 1)
		if n := count(t, st, "cloud_accounts", "organization_id = $1", sc.org); n != 1 {
			t.Errorf("%d accounts after rediscovery, want 1", n)
		}

		tx(t, st, func(q *store.Q) error { return q.DeleteCloudConnection(ctx, sc.org, acme) })
		wantTotal(t, st, sc.org, 0)
		if n := count(t, st, "cloud_accounts", "organization_id = $1", sc.org); n != 0 {
			t.Errorf("%d accounts after the connection was deleted", n)
		}
		if n := count(t, st, "cloud_accounts", "organization_id = $1", other.org); n != 1 {
			t.Errorf("the other organization's accounts: %d, want 1", n)
		}
	})
}
