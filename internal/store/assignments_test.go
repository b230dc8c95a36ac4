package store_test

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// Permission sets and account assignments (issue 6).

func newPermissionSet(orgID, name string, roleIDs ...string) *store.PermissionSet {
	return &store.PermissionSet{Meta: newMeta(orgID, name), RoleIDs: roleIDs, SessionDuration: 3600, Version: 1}
}

func assignment(orgID, principalType, principalID, principalName string, ps *store.PermissionSet, projectID, projectName string) *store.AccountAssignment {
	return &store.AccountAssignment{ID: newID(), OrganizationID: orgID, PrincipalType: principalType, PrincipalID: principalID,
		PrincipalName: principalName, PermissionSetID: ps.ID, PermissionSetName: ps.Name, TargetType: store.TargetProject,
		TargetID: projectID, TargetName: projectName, CreatedAt: t0, CreatedBy: "tester"}
}

// assignmentIDs lists the IDs of as.
func assignmentIDs(as []*store.AccountAssignment) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.ID
	}
	return out
}

// wantTotal checks that orgID's kept totals are the numbers of its rows,
// in all and by principal type.
func wantTotal(t testing.TB, st *store.Store, orgID string, want int) {
	t.Helper()
	got, err := st.Read().AccountAssignmentTotal(t.Context(), orgID, "")
	must(t, err)
	rows := count(t, st, "account_assignments", "organization_id = $1", orgID)
	if got != want || rows != want {
		t.Errorf("assignments of %s: kept total %d, rows %d, want %d", orgID, got, rows, want)
	}
	for _, typ := range []string{store.PrincipalUser, store.PrincipalGroup, store.PrincipalServiceAccount} {
		got, err := st.Read().AccountAssignmentTotal(t.Context(), orgID, typ)
		must(t, err)
		if rows := count(t, st, "account_assignments", "organization_id = $1 AND principal_type = $2", orgID, typ); got != rows {
			t.Errorf("%s assignments of %s: kept total %d, rows %d", typ, orgID, got, rows)
		}
	}
}

func TestPermissionSets(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		sc, other := newScope(t, st, "acme"), newScope(t, st, "other")
		ops := newPermissionSet(sc.org, "ops", "role-b", "role-a", "role-a")
		ops.InlinePolicy = `{"defaultServiceStrategy":"deny","services":{}}`
		dev := newPermissionSet(sc.org, "dev", "role-b")
		tx(t, st, func(q *store.Q) error { return q.CreatePermissionSet(ctx, ops) })
		tx(t, st, func(q *store.Q) error { return q.CreatePermissionSet(ctx, dev) })

		got, err := st.Read().GetPermissionSet(ctx, sc.org, ops.ID)
		must(t, err)
		equal(t, "roles", got.RoleIDs, []string{"role-a", "role-b"})
		equal(t, "inline policy", got.InlinePolicy, ops.InlinePolicy)
		if got.Version != 1 || got.SessionDuration != 3600 || got.AssignmentCount != 0 || got.Name != "ops" {
			t.Errorf("read back %+v", got)
		}
		_, err = st.Read().GetPermissionSet(ctx, other.org, ops.ID)
		wantErr(t, "permission set of another organization", err, store.ErrNotFound)
		err = st.Tx(ctx, func(q *store.Q) error { return q.CreatePermissionSet(ctx, newPermissionSet(sc.org, "ops")) })
		wantErr(t, "a second ops", err, store.ErrConflict)
		tx(t, st, func(q *store.Q) error { return q.CreatePermissionSet(ctx, newPermissionSet(other.org, "ops")) })

		// The inline policy is read at its version only.
		text, err := st.Read().PermissionSetInlinePolicy(ctx, sc.org, ops.ID, 1)
		must(t, err)
		equal(t, "inline policy at version 1", text, ops.InlinePolicy)
		_, err = st.Read().PermissionSetInlinePolicy(ctx, sc.org, ops.ID, 2)
		wantErr(t, "inline policy at a version it does not have", err, store.ErrNotFound)

		// Which sets hold a role.
		names, err := st.Read().PermissionSetsWithRole(ctx, sc.org, "role-b")
		must(t, err)
		equal(t, "sets holding role-b", names, []string{"dev", "ops"})
		setIDs, err := st.Read().PermissionSetsWithRoles(ctx, sc.org, []string{"role-a", "nothing"})
		must(t, err)
		equal(t, "sets holding role-a", setIDs, []string{ops.ID})

		// An assignment counts, renames follow, and the set cannot go.
		a := assignment(sc.org, store.PrincipalUser, sc.user, "acme-fixture", ops, sc.project, "acme-fixture")
		tx(t, st, func(q *store.Q) error { return q.InsertAccountAssignments(ctx, []*store.AccountAssignment{a}) })
		renamed := *ops
		renamed.Name, renamed.RoleIDs, renamed.Version, renamed.ModifiedAt, renamed.ModifiedBy = "operators", []string{"role-c"}, 2, t0.Add(time.Hour), "editor"
		tx(t, st, func(q *store.Q) error { return q.UpdatePermissionSet(ctx, &renamed) })
		got, err = st.Read().GetPermissionSet(ctx, sc.org, ops.ID)
		must(t, err)
		if got.Name != "operators" || got.Version != 2 || got.AssignmentCount != 1 || !slices.Equal(got.RoleIDs, []string{"role-c"}) {
			t.Errorf("after the update: %+v", got)
		}
		stored, err := st.Read().GetAccountAssignment(ctx, sc.org, a.ID)
		must(t, err)
		equal(t, "the assignment's copy of the set's name", stored.PermissionSetName, "operators")
		err = st.Tx(ctx, func(q *store.Q) error { return q.DeletePermissionSet(ctx, sc.org, ops.ID) })
		wantErr(t, "delete an assigned permission set", err, store.ErrReference)
		tx(t, st, func(q *store.Q) error { return q.DeletePermissionSet(ctx, sc.org, dev.ID) })
		if n := count(t, st, "permission_set_roles", "permission_set_id = $1", dev.ID); n != 0 {
			t.Errorf("%d role links of a deleted permission set", n)
		}

		// Pages sorted by name, both ways, with the total.
		for i := range 5 {
			tx(t, st, func(q *store.Q) error {
				return q.CreatePermissionSet(ctx, newPermissionSet(sc.org, fmt.Sprintf("set-%d", i)))
			})
		}
		for _, desc := range []bool{false, true} {
			var all []string
			for page := 0; ; page++ {
				ps, total, err := st.Read().ListPermissionSets(ctx, sc.org, store.OffsetPage{Number: page, Size: 2, Sort: []store.SortKey{{Column: "name", Desc: desc}}})
				must(t, err)
				if total != 6 {
					t.Errorf("total %d, want 6", total)
				}
				if len(ps) == 0 {
					break
				}
				for _, p := range ps {
					all = append(all, p.Name)
				}
			}
			want := []string{"operators", "set-0", "set-1", "set-2", "set-3", "set-4"}
			if desc {
				slices.Reverse(want)
			}
			equal(t, fmt.Sprintf("names by name (desc %v)", desc), all, want)
		}
		_, _, err = st.Read().ListPermissionSets(ctx, sc.org, store.OffsetPage{Size: 2, Sort: []store.SortKey{{Column: "inline_policy"}}})
		if err == nil {
			t.Error("sorting by a column that is not sortable was accepted")
		}
	})
}

func TestAccountAssignments(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		sc, other := newScope(t, st, "acme"), newScope(t, st, "other")
		ps := newPermissionSet(sc.org, "ops", "role-a")
		ps.InlinePolicy = `{"defaultServiceStrategy":"allow","services":{}}`
		ro := newPermissionSet(sc.org, "readers")
		otherPS := newPermissionSet(other.org, "ops")
		p2 := &store.Project{Meta: newMeta(sc.org, "second")}
		tx(t, st, func(q *store.Q) error {
			return errors.Join(q.CreatePermissionSet(ctx, ps), q.CreatePermissionSet(ctx, ro), q.CreatePermissionSet(ctx, otherPS), q.CreateProject(ctx, p2))
		})

		// The user directly on both projects, its group on the first (with
		// the same set: decisions see it once), the service account with
		// another set; and one row in the other organization.
		as := []*store.AccountAssignment{
			assignment(sc.org, store.PrincipalUser, sc.user, "acme-fixture", ps, sc.project, "acme-fixture"),
			assignment(sc.org, store.PrincipalUser, sc.user, "acme-fixture", ps, p2.ID, "second"),
			assignment(sc.org, store.PrincipalGroup, sc.group, "acme-fixture", ps, sc.project, "acme-fixture"),
			assignment(sc.org, store.PrincipalServiceAccount, sc.serviceAccount, "acme-fixture", ro, sc.project, "acme-fixture"),
		}
		tx(t, st, func(q *store.Q) error { return q.InsertAccountAssignments(ctx, as) })
		tx(t, st, func(q *store.Q) error {
			return q.InsertAccountAssignments(ctx, []*store.AccountAssignment{assignment(other.org, store.PrincipalUser, other.user, "other-fixture", otherPS, other.project, "other-fixture")})
		})
		wantTotal(t, st, sc.org, 4)
		wantTotal(t, st, other.org, 1)

		got, err := st.Read().GetAccountAssignment(ctx, sc.org, as[0].ID)
		must(t, err)
		equal(t, "read back", got, as[0])
		_, err = st.Read().GetAccountAssignment(ctx, other.org, as[0].ID)
		wantErr(t, "assignment of another organization", err, store.ErrNotFound)

		// A duplicate triple fails the whole insert: nothing of it stays,
		// and the total does not move.
		fresh := assignment(sc.org, store.PrincipalServiceAccount, sc.serviceAccount, "acme-fixture", ps, p2.ID, "second")
		dup := assignment(sc.org, store.PrincipalUser, sc.user, "acme-fixture", ps, sc.project, "acme-fixture")
		err = st.Tx(ctx, func(q *store.Q) error { return q.InsertAccountAssignments(ctx, []*store.AccountAssignment{fresh, dup}) })
		wantErr(t, "duplicate triple", err, store.ErrConflict)
		wantTotal(t, st, sc.org, 4)
		err = st.Tx(ctx, func(q *store.Q) error {
			return q.InsertAccountAssignments(ctx, []*store.AccountAssignment{assignment(sc.org, store.PrincipalUser, sc.user, "x", &store.PermissionSet{Meta: store.Meta{ID: "no-such-set"}}, sc.project, "x")})
		})
		wantErr(t, "unknown permission set", err, store.ErrReference)

		existing, err := st.Read().ExistingAssignments(ctx, sc.org, []string{sc.user, sc.serviceAccount}, []string{ps.ID}, []string{sc.project, p2.ID})
		must(t, err)
		equal(t, "existing among the product", sortedCopy(assignmentIDs(existing)), sortedCopy([]string{as[0].ID, as[1].ID}))

		// What decisions read: the user's own sets and its group's, once
		// per target and set; the service account's through the group too.
		sets, err := st.Read().AssignedPermissionSets(ctx, sc.org, store.Member{Type: store.PrincipalUser, ID: sc.user, GroupIDs: []string{sc.group}})
		must(t, err)
		wantSets := []store.AssignedSet{
			{TargetType: store.TargetProject, TargetID: sc.project, PermissionSetID: ps.ID, Name: "ops", Version: 1, HasInlinePolicy: true, RoleIDs: []string{"role-a"}},
			{TargetType: store.TargetProject, TargetID: p2.ID, PermissionSetID: ps.ID, Name: "ops", Version: 1, HasInlinePolicy: true, RoleIDs: []string{"role-a"}},
		}
		slices.SortFunc(wantSets, func(a, b store.AssignedSet) int { return cmp.Compare(a.TargetID, b.TargetID) })
		equal(t, "the user's sets", sets, wantSets)
		sets, err = st.Read().AssignedPermissionSets(ctx, sc.org, store.Member{Type: store.PrincipalServiceAccount, ID: sc.serviceAccount, GroupIDs: []string{sc.group}})
		must(t, err)
		wantSA := []store.AssignedSet{
			{TargetType: store.TargetProject, TargetID: sc.project, PermissionSetID: ps.ID, Name: "ops", Version: 1, HasInlinePolicy: true, RoleIDs: []string{"role-a"}},
			{TargetType: store.TargetProject, TargetID: sc.project, PermissionSetID: ro.ID, Name: "readers", Version: 1},
		}
		equal(t, "the service account's sets (its own and its group's)", sets, wantSA)

		// The effective list of the user: its two and its group's one.
		effective, total, err := st.Read().ListAccountAssignments(ctx, sc.org, store.AssignmentFilter{Member: &store.Member{Type: store.PrincipalUser, ID: sc.user, GroupIDs: []string{sc.group}}},
			store.OffsetPage{Size: 10})
		must(t, err)
		if total != 3 || !sameSet(assignmentIDs(effective), []string{as[0].ID, as[1].ID, as[2].ID}) {
			t.Errorf("effective assignments of the user: %d %v", total, assignmentIDs(effective))
		}

		// Renames reach the copies.
		u, err := st.Read().GetUser(ctx, sc.org, sc.user)
		must(t, err)
		u.Name = "jo"
		g, err := st.Read().GetGroup(ctx, sc.org, sc.group)
		must(t, err)
		g.Name = "admins"
		sa, err := st.Read().GetServiceAccount(ctx, sc.org, sc.serviceAccount)
		must(t, err)
		sa.Name = "robot"
		p, err := st.Read().GetProject(ctx, sc.org, sc.project)
		must(t, err)
		p.Name = "first"
		tx(t, st, func(q *store.Q) error {
			return errors.Join(q.UpdateUser(ctx, u), q.UpdateGroup(ctx, g), q.UpdateServiceAccount(ctx, sa), q.UpdateProject(ctx, p))
		})
		for _, c := range []struct {
			a                 *store.AccountAssignment
			principal, target string
		}{{as[0], "jo", "first"}, {as[1], "jo", "second"}, {as[2], "admins", "first"}, {as[3], "robot", "first"}} {
			got, err := st.Read().GetAccountAssignment(ctx, sc.org, c.a.ID)
			must(t, err)
			if got.PrincipalName != c.principal || got.TargetName != c.target {
				t.Errorf("after renames: %s names %q/%q, want %q/%q", got.ID, got.PrincipalName, got.TargetName, c.principal, c.target)
			}
		}
		o, err := st.Read().GetAccountAssignment(ctx, other.org, as[0].ID)
		if err == nil {
			t.Errorf("other organization sees %v", o)
		}

		// Delete one; deleting it again is not found.
		tx(t, st, func(q *store.Q) error { return q.DeleteAccountAssignment(ctx, sc.org, as[1].ID) })
		err = st.Tx(ctx, func(q *store.Q) error { return q.DeleteAccountAssignment(ctx, sc.org, as[1].ID) })
		wantErr(t, "delete twice", err, store.ErrNotFound)
		err = st.Tx(ctx, func(q *store.Q) error { return q.DeleteAccountAssignment(ctx, other.org, as[0].ID) })
		wantErr(t, "delete through another organization", err, store.ErrNotFound)
		wantTotal(t, st, sc.org, 3)

		// Deleting a principal or a project takes its assignments along.
		tx(t, st, func(q *store.Q) error { return q.DeleteUser(ctx, sc.org, sc.user) })
		wantTotal(t, st, sc.org, 2)
		tx(t, st, func(q *store.Q) error { return q.DeleteGroup(ctx, sc.org, sc.group) })
		wantTotal(t, st, sc.org, 1)
		tx(t, st, func(q *store.Q) error {
			return q.InsertAccountAssignments(ctx, []*store.AccountAssignment{assignment(sc.org, store.PrincipalServiceAccount, sc.serviceAccount, "robot", ps, p2.ID, "second")})
		})
		tx(t, st, func(q *store.Q) error { return q.DeleteProject(ctx, sc.org, p2.ID) })
		wantTotal(t, st, sc.org, 1)
		tx(t, st, func(q *store.Q) error { return q.DeleteServiceAccount(ctx, sc.org, sc.serviceAccount) })
		wantTotal(t, st, sc.org, 0)
		tx(t, st, func(q *store.Q) error { return q.DeletePermissionSet(ctx, sc.org, ps.ID) })

		// Deleting an organization takes its sets, assignments and total.
		wantTotal(t, st, other.org, 1)
		tx(t, st, func(q *store.Q) error { return q.DeleteOrganization(ctx, other.org) })
		for _, table := range []string{"account_assignments", "permission_sets", "account_assignment_counts"} {
			if n := count(t, st, table, "organization_id = $1", other.org); n != 0 {
				t.Errorf("%d rows of a deleted organization in %s", n, table)
			}
		}
	})
}

// TestOffsetPaging: every page of every order agrees with the same order
// computed in Go (keys, then creation time and id in the direction of the
// last key), on rows with many ties, for pages read from either end.
func TestOffsetPaging(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		sc := newScope(t, st, "acme")
		r := rand.New(rand.NewPCG(6, 6))
		sets := []*store.PermissionSet{newPermissionSet(sc.org, "b-set"), newPermissionSet(sc.org, "a-set"), newPermissionSet(sc.org, "c-set")}
		tx(t, st, func(q *store.Q) error {
			return errors.Join(q.CreatePermissionSet(ctx, sets[0]), q.CreatePermissionSet(ctx, sets[1]), q.CreatePermissionSet(ctx, sets[2]))
		})
		var all []*store.AccountAssignment
		for i := range 57 {
			typ := []string{store.PrincipalUser, store.PrincipalGroup, store.PrincipalServiceAccount}[r.IntN(3)]
			a := assignment(sc.org, typ, fmt.Sprintf("principal-%02d", i), fmt.Sprintf("name-%d", r.IntN(6)), sets[r.IntN(3)],
				fmt.Sprintf("project-%d", r.IntN(4)), fmt.Sprintf("target-%d", r.IntN(4)))
			a.CreatedAt = t0.Add(time.Duration(r.IntN(5)) * time.Millisecond) // many equal times
			all = append(all, a)
		}
		tx(t, st, func(q *store.Q) error { return q.InsertAccountAssignments(ctx, all) })

		field := func(a *store.AccountAssignment, column string) string {
			switch column {
			case "principal_name":
				return a.PrincipalName
			case "principal_type":
				return a.PrincipalType
			case "permission_set_name":
				return a.PermissionSetName
			case "target_name":
				return a.TargetName
			case "created_at":
				return fmt.Sprintf("%020d", a.CreatedAt.UnixMilli())
			}
			return a.ID
		}
		reference := func(rows []*store.AccountAssignment, keys []store.SortKey) []string {
			full := slices.Clone(keys)
			desc := len(keys) > 0 && keys[len(keys)-1].Desc
			for _, tb := range []string{"created_at", "id"} {
				if slices.ContainsFunc(full, func(k store.SortKey) bool { return k.Column == "id" }) {
					break
				}
				if !slices.ContainsFunc(full, func(k store.SortKey) bool { return k.Column == tb }) {
					full = append(full, store.SortKey{Column: tb, Desc: desc})
				}
			}
			sorted := slices.Clone(rows)
			slices.SortFunc(sorted, func(a, b *store.AccountAssignment) int {
				for _, k := range full {
					if c := strings.Compare(field(a, k.Column), field(b, k.Column)); c != 0 {
						if k.Desc {
							return -c
						}
						return c
					}
				}
				return 0
			})
			return assignmentIDs(sorted)
		}
		orders := [][]store.SortKey{
			nil,
			{{Column: "created_at", Desc: true}},
			{{Column: "principal_name"}},
			{{Column: "principal_name", Desc: true}},
			{{Column: "principal_name"}, {Column: "created_at", Desc: true}},
			{{Column: "target_name"}, {Column: "principal_name", Desc: true}},
			{{Column: "permission_set_name", Desc: true}, {Column: "principal_type"}, {Column: "id", Desc: true}},
			{{Column: "id"}},
		}
		filters := []struct {
			f    store.AssignmentFilter
			keep func(*store.AccountAssignment) bool
		}{
			{store.AssignmentFilter{}, func(*store.AccountAssignment) bool { return true }},
			{store.AssignmentFilter{TargetType: store.TargetProject, TargetID: "project-1"}, func(a *store.AccountAssignment) bool { return a.TargetID == "project-1" }},
			{store.AssignmentFilter{PrincipalType: store.PrincipalGroup, PrincipalName: "name-2"}, func(a *store.AccountAssignment) bool {
				return a.PrincipalType == store.PrincipalGroup && a.PrincipalName == "name-2"
			}},
			{store.AssignmentFilter{PermissionSetIDs: []string{sets[0].ID, sets[2].ID}}, func(a *store.AccountAssignment) bool { return a.PermissionSetID != sets[1].ID }},
			{store.AssignmentFilter{PermissionSetIDs: []string{}}, func(*store.AccountAssignment) bool { return false }},
			{store.AssignmentFilter{PrincipalType: store.PrincipalServiceAccount}, func(a *store.AccountAssignment) bool {
				return a.PrincipalType == store.PrincipalServiceAccount
			}},
		}
		for fi, f := range filters {
			var rows []*store.AccountAssignment
			for _, a := range all {
				if f.keep(a) {
					rows = append(rows, a)
				}
			}
			for _, keys := range orders {
				want := reference(rows, keys)
				for _, size := range []int{1, 7, 20, 100} {
					var got []string
					for page := 0; page <= len(rows)/size+1; page++ {
						as, total, err := st.Read().ListAccountAssignments(ctx, sc.org, f.f, store.OffsetPage{Number: page, Size: size, Sort: keys})
						must(t, err)
						if total != len(rows) {
							t.Fatalf("filter %d: total %d, want %d", fi, total, len(rows))
						}
						if len(as) > size {
							t.Errorf("filter %d, order %v: page %d of size %d has %d rows", fi, keys, page, size, len(as))
						}
						got = append(got, assignmentIDs(as)...)
					}
					if !slices.Equal(got, want) {
						t.Errorf("filter %d, order %v, size %d:\n got %v\nwant %v", fi, keys, size, got, want)
					}
				}
			}
		}
		// Far past the end, even where page × size overflows: nothing.
		for _, p := range []store.OffsetPage{{Number: 1000, Size: 100}, {Number: 1 << 62, Size: 100}} {
			as, total, err := st.Read().ListAccountAssignments(ctx, sc.org, store.AssignmentFilter{}, p)
			must(t, err)
			if len(as) != 0 || total != len(all) {
				t.Errorf("page %d: %d rows, total %d", p.Number, len(as), total)
			}
		}
	})
}

// TestSnapshot: reads in a snapshot do not see a write committed after the
// snapshot's first read.
func TestSnapshot(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		sc := newScope(t, st, "acme")
		must(t, st.Snapshot(ctx, func(q *store.Q) error {
			before, err := q.ListProjects(ctx, sc.org, store.Page{})
			must(t, err)
			tx(t, st, func(w *store.Q) error { return w.CreateProject(ctx, &store.Project{Meta: newMeta(sc.org, "late")}) })
			after, err := q.ListProjects(ctx, sc.org, store.Page{})
			must(t, err)
			if len(after) != len(before) {
				t.Errorf("a snapshot saw a later write: %d projects, then %d", len(before), len(after))
			}
			return nil
		}))
		if n := count(t, st, "projects", "organization_id = $1", sc.org); n != 2 {
			t.Errorf("%d projects after the snapshot, want 2", n)
		}
	})
}
