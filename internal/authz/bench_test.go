package authz_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// ACL benchmark shape: one principal in every group, each group holding a
// role and attached to several projects.
const (
	benchGroups           = 50
	benchProjects         = 200
	benchGroupsPerProject = 5 // so each group reaches 200*5/50 = 20 projects
)

// seedACL creates an organization with benchGroups groups and benchProjects
// projects, and a service account and an active user in every group, in one
// transaction. Groups alternate the roles user, user, reader, user,
// administrator so that both project and organization grants are exercised.
func seedACL(b *testing.B, st *store.Store) (orgID string, sa, user *authn.Principal) {
	b.Helper()
	ctx := context.Background()
	ids := testenv.IDs()
	meta := func(org, name string) store.Meta {
		return store.Meta{ID: ids(), OrganizationID: org, Name: name, Tags: []store.Tag{}, CreatedAt: time.Unix(1, 0).UTC()}
	}
	roles := []string{authz.RoleUser, authz.RoleUser, authz.RoleReader, authz.RoleUser, authz.RoleAdministrator}
	org := &store.Organization{Meta: meta("", "acl-bench"), Type: "adhoc"}
	s := &store.ServiceAccount{Meta: meta("", "acl-bench"), TokenHash: "acl-bench", ExpiresAt: time.Now().Add(time.Hour)}
	u := &store.User{Meta: meta("", "acl-bench"), Subject: "bench@example.com", State: authz.ActiveUserState}
	err := st.Tx(ctx, func(q *store.Q) error {
		if err := q.CreateOrganization(ctx, org); err != nil {
			return err
		}
		s.OrganizationID, u.OrganizationID = org.ID, org.ID
		groups := make([]string, benchGroups)
		for i := range groups {
			r, _ := authz.RoleByName(roles[i%len(roles)])
			g := &store.Group{Meta: meta(org.ID, fmt.Sprintf("group-%02d", i)), RoleIDs: []string{r.ID}}
			if err := q.CreateGroup(ctx, g); err != nil {
				return err
			}
			groups[i] = g.ID
		}
		for i := range benchProjects {
			p := &store.Project{Meta: meta(org.ID, fmt.Sprintf("project-%03d", i))}
			for k := range benchGroupsPerProject {
				p.GroupIDs = append(p.GroupIDs, groups[(i+k*11)%benchGroups])
			}
			if err := q.CreateProject(ctx, p); err != nil {
				return err
			}
		}
		s.GroupIDs, u.GroupIDs = groups, groups
		if err := q.CreateServiceAccount(ctx, s); err != nil {
			return err
		}
		return q.CreateUser(ctx, u)
	})
	if err != nil {
		b.Fatalf("seed: %v", err)
	}
	return org.ID,
		&authn.Principal{Kind: authn.KindServiceAccount, ID: s.ID, OrganizationID: org.ID, Subject: "serviceaccount:" + s.Name},
		&authn.Principal{Kind: authn.KindUser, ID: u.Subject, Subject: u.Subject}
}

// BenchmarkACL measures what GET /api/v1/organizations/{id}/acl does besides
// HTTP: authz.Load (platform roles, the member's groups, their roles and
// projects: four indexed queries, five for a user) and Grants.ACL(), for a
// principal in 50 groups reaching 200 projects. "compute" is the pure part
// alone, on memberships loaded once.
func BenchmarkACL(b *testing.B) {
	ctx := context.Background()
	for _, be := range testenv.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			st := be.Open(b)
			orgID, sa, user := seedACL(b, st)
			for _, p := range []*authn.Principal{sa, user} {
				b.Run("load+acl/"+string(p.Kind), func(b *testing.B) {
					for b.Loop() {
						g, err := authz.Load(ctx, st.Read(), p, orgID)
						if err != nil {
							b.Fatal(err)
						}
						if acl := g.ACL(); len(acl.Projects) != benchProjects {
							b.Fatalf("ACL lists %d projects, want %d", len(acl.Projects), benchProjects)
						}
					}
				})
			}
		})
	}
	b.Run("compute", func(b *testing.B) {
		m := &authz.Membership{OrganizationID: "org", Member: true, GroupRoles: map[string][]string{}, GroupProjects: map[string][]string{}}
		roles := []string{authz.RoleUser, authz.RoleUser, authz.RoleReader, authz.RoleUser, authz.RoleAdministrator}
		for i := range benchGroups {
			r, _ := authz.RoleByName(roles[i%len(roles)])
			m.GroupRoles[fmt.Sprint("g", i)] = []string{r.ID}
		}
		for p := range benchProjects {
			for k := range benchGroupsPerProject {
				g := fmt.Sprint("g", (p+k*11)%benchGroups)
				m.GroupProjects[g] = append(m.GroupProjects[g], fmt.Sprintf("p%03d", p))
			}
		}
		for b.Loop() {
			if acl := authz.Compute(nil, m).ACL(); len(acl.Projects) != benchProjects {
				b.Fatalf("ACL lists %d projects", len(acl.Projects))
			}
		}
	})
}
