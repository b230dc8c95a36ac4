// Storage conformance suite: one set of tests that every backend must pass,
// run against SQLite always and PostgreSQL when GATEHOUSE_TEST_DATABASE_URL is
// set (see package testenv).
package store_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// t0 is the creation time of test rows: UTC and whole milliseconds, so that it
// round-trips exactly.
var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// newID returns a random UUID-shaped ID. IDs are random rather than
// sequential so that ordering by id is not the insertion order by accident.
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// tx runs fn in one transaction and fails the test on error.
func tx(t testing.TB, st *store.Store, fn func(q *store.Q) error) {
	t.Helper()
	must(t, st.Tx(t.Context(), fn))
}

// wantErr fails unless err wraps target.
func wantErr(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want %v", what, err, target)
	}
}

func equal(t testing.TB, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func newMeta(orgID, name string) store.Meta {
	return store.Meta{ID: newID(), OrganizationID: orgID, Name: name, Description: "about " + name,
		Tags: []store.Tag{{Name: "env", Value: "test"}, {Name: "team", Value: name}}, CreatedAt: t0, CreatedBy: "tester"}
}

func newOrg(t testing.TB, st *store.Store, name string) *store.Organization {
	t.Helper()
	o := &store.Organization{Meta: newMeta("", name), Type: "adhoc"}
	tx(t, st, func(q *store.Q) error { return q.CreateOrganization(t.Context(), o) })
	return o
}

// sortedCopy returns ids sorted, leaving ids alone.
func sortedCopy(ids []string) []string {
	out := slices.Clone(ids)
	sort.Strings(out)
	return out
}

// metaOf returns the Meta embedded in a resource.
func metaOf(r any) *store.Meta {
	return reflect.ValueOf(r).Elem().FieldByName("Meta").Addr().Interface().(*store.Meta)
}

// scope is where a resource lives: an organization (” for platform rows),
// and for allocations a project of it.
type scope struct {
	org, project string
	// group, user and serviceAccount are rows of org that resources created in
	// this scope refer to ('' for platform scopes).
	group, user, serviceAccount string
}

// newScope creates an organization with one group, and a user, a service
// account and a project in that group.
func newScope(t testing.TB, st *store.Store, name string) scope {
	t.Helper()
	o := newOrg(t, st, name)
	sc := scope{org: o.ID}
	g := &store.Group{Meta: newMeta(o.ID, name+"-fixture")}
	u := &store.User{Meta: newMeta(o.ID, name+"-fixture"), Subject: name + "-fixture@example.com", State: "active", GroupIDs: []string{g.ID}}
	sa := &store.ServiceAccount{Meta: newMeta(o.ID, name+"-fixture"), TokenHash: "hash-" + newID(), ExpiresAt: t0.Add(time.Hour), GroupIDs: []string{g.ID}}
	p := &store.Project{Meta: newMeta(o.ID, name+"-fixture"), GroupIDs: []string{g.ID}}
	tx(t, st, func(q *store.Q) error {
		ctx := t.Context()
		return errors.Join(q.CreateGroup(ctx, g), q.CreateUser(ctx, u), q.CreateServiceAccount(ctx, sa), q.CreateProject(ctx, p))
	})
	sc.group, sc.user, sc.serviceAccount, sc.project = g.ID, u.ID, sa.ID, p.ID
	return sc
}

// kind describes one resource type to the generic CRUD test. Every function
// runs in the given scope; objects are pointers to the store's structs.
type kind struct {
	name string
	// global: names are unique across the installation and there is no
	// "other organization" to hide rows from (organizations themselves).
	global bool
	// scopes picks the two scopes the test uses (default: two organizations).
	scopes func(a, b scope) (scope, scope)
	create func(q *store.Q, sc scope, name string) (any, error)
	get    func(q *store.Q, sc scope, id string) (any, error)
	update func(q *store.Q, sc scope, r any) error
	remove func(q *store.Q, sc scope, id string) error
	list   func(q *store.Q, sc scope, p store.Page) ([]any, error)
	// mutate changes the type-specific fields of r for the update test.
	mutate func(r any, sc scope)
}

func asAny[R any](rs []*R, err error) ([]any, error) {
	out := make([]any, len(rs))
	for i, r := range rs {
		out[i] = r
	}
	return out, err
}

// kinds is every resource type, created with every field set.
func kinds(t testing.TB) []kind {
	ctx := t.Context()
	return []kind{
		{
			name:   "organizations",
			global: true,
			create: func(q *store.Q, _ scope, name string) (any, error) {
				o := &store.Organization{Meta: newMeta("", name), Type: "domain", Domain: name + "-" + newID()[:8] + ".example.com",
					ProviderScope: "global", ProviderID: "provider-1", GoogleCustomerID: "C0123",
					DomainToken: "challenge-" + name, DomainVerifiedAt: time.UnixMilli(1_700_000_000_123).UTC()}
				o.OrganizationID = o.ID
				return o, q.CreateOrganization(ctx, o)
			},
			get: func(q *store.Q, _ scope, id string) (any, error) { return q.GetOrganization(ctx, id) },
			update: func(q *store.Q, _ scope, r any) error {
				return q.UpdateOrganization(ctx, r.(*store.Organization))
			},
			remove: func(q *store.Q, _ scope, id string) error { return q.DeleteOrganization(ctx, id) },
			list: func(q *store.Q, _ scope, p store.Page) ([]any, error) {
				return asAny(q.ListOrganizations(ctx, p))
			},
			mutate: func(r any, _ scope) {
				o := r.(*store.Organization)
				o.Type, o.Domain, o.ProviderScope, o.ProviderID, o.GoogleCustomerID = "adhoc", "", "", "", ""
				o.DomainToken, o.DomainVerifiedAt = "", time.Time{}
			},
		},
		{
			name: "groups",
			create: func(q *store.Q, sc scope, name string) (any, error) {
				g := &store.Group{Meta: newMeta(sc.org, name), UserIDs: []string{sc.user},
					ServiceAccountIDs: []string{sc.serviceAccount}, RoleIDs: sortedCopy([]string{"role-b", "role-a"})}
				return g, q.CreateGroup(ctx, g)
			},
			get:    func(q *store.Q, sc scope, id string) (any, error) { return q.GetGroup(ctx, sc.org, id) },
			update: func(q *store.Q, _ scope, r any) error { return q.UpdateGroup(ctx, r.(*store.Group)) },
			remove: func(q *store.Q, sc scope, id string) error { return q.DeleteGroup(ctx, sc.org, id) },
			list: func(q *store.Q, sc scope, p store.Page) ([]any, error) {
				return asAny(q.ListGroups(ctx, sc.org, p))
			},
			mutate: func(r any, _ scope) {
				g := r.(*store.Group)
				g.UserIDs, g.RoleIDs = nil, []string{"role-c"}
			},
		},
		{
			name: "users",
			create: func(q *store.Q, sc scope, name string) (any, error) {
				u := &store.User{Meta: newMeta(sc.org, name), Subject: name + "@example.com", State: "pending",
					LastActive: t0.Add(time.Minute), GroupIDs: []string{sc.group}}
				return u, q.CreateUser(ctx, u)
			},
			get:    func(q *store.Q, sc scope, id string) (any, error) { return q.GetUser(ctx, sc.org, id) },
			update: func(q *store.Q, _ scope, r any) error { return q.UpdateUser(ctx, r.(*store.User)) },
			remove: func(q *store.Q, sc scope, id string) error { return q.DeleteUser(ctx, sc.org, id) },
			list: func(q *store.Q, sc scope, p store.Page) ([]any, error) {
				return asAny(q.ListUsers(ctx, sc.org, p))
			},
			mutate: func(r any, _ scope) {
				u := r.(*store.User)
				u.Subject, u.State, u.LastActive, u.GroupIDs = "renamed-"+u.Subject, "active", t0.Add(2*time.Minute), nil
			},
		},
		{
			name: "service accounts",
			create: func(q *store.Q, sc scope, name string) (any, error) {
				s := &store.ServiceAccount{Meta: newMeta(sc.org, name), TokenHash: "hash-" + newID(),
					ExpiresAt: t0.Add(24 * time.Hour), GroupIDs: []string{sc.group}}
				return s, q.CreateServiceAccount(ctx, s)
			},
			get: func(q *store.Q, sc scope, id string) (any, error) { return q.GetServiceAccount(ctx, sc.org, id) },
			update: func(q *store.Q, _ scope, r any) error {
				return q.UpdateServiceAccount(ctx, r.(*store.ServiceAccount))
			},
			remove: func(q *store.Q, sc scope, id string) error { return q.DeleteServiceAccount(ctx, sc.org, id) },
			list: func(q *store.Q, sc scope, p store.Page) ([]any, error) {
				return asAny(q.ListServiceAccounts(ctx, sc.org, p))
			},
			mutate: func(r any, _ scope) {
				s := r.(*store.ServiceAccount)
				s.TokenHash, s.ExpiresAt, s.GroupIDs = "rotated-"+newID(), t0.Add(48*time.Hour), nil
			},
		},
		{
			name: "projects",
			create: func(q *store.Q, sc scope, name string) (any, error) {
				p := &store.Project{Meta: newMeta(sc.org, name), GroupIDs: []string{sc.group}}
				return p, q.CreateProject(ctx, p)
			},
			get:    func(q *store.Q, sc scope, id string) (any, error) { return q.GetProject(ctx, sc.org, id) },
			update: func(q *store.Q, _ scope, r any) error { return q.UpdateProject(ctx, r.(*store.Project)) },
			remove: func(q *store.Q, sc scope, id string) error { return q.DeleteProject(ctx, sc.org, id) },
			list: func(q *store.Q, sc scope, p store.Page) ([]any, error) {
				return asAny(q.ListProjects(ctx, sc.org, p))
			},
			mutate: func(r any, _ scope) { r.(*store.Project).GroupIDs = nil },
		},
		providerKind(t, "oauth2 providers", nil),
		// System providers live in organization ''; the "other
		// organization" they must not be visible from is a real one.
		providerKind(t, "system oauth2 providers", func(a, _ scope) (scope, scope) { return scope{}, a }),
		{
			name: "allocations",
			create: func(q *store.Q, sc scope, name string) (any, error) {
				a := &store.Allocation{Meta: newMeta(sc.org, name), ProjectID: sc.project, ResourceKind: "cluster",
					ResourceID: "c-" + name, Items: []store.AllocationItem{{Kind: "gpus", Committed: 2, Reserved: 1}, {Kind: "servers", Committed: 3}}}
				return a, q.CreateAllocation(ctx, a)
			},
			get: func(q *store.Q, sc scope, id string) (any, error) {
				return q.GetAllocation(ctx, sc.org, sc.project, id)
			},
			update: func(q *store.Q, _ scope, r any) error { return q.UpdateAllocation(ctx, r.(*store.Allocation)) },
			remove: func(q *store.Q, sc scope, id string) error {
				return q.DeleteAllocation(ctx, sc.org, sc.project, id)
			},
			list: func(q *store.Q, sc scope, p store.Page) ([]any, error) {
				return asAny(q.ListAllocations(ctx, sc.org, p))
			},
			mutate: func(r any, _ scope) {
				a := r.(*store.Allocation)
				a.ResourceKind, a.ResourceID, a.Items = "server", "s-1", []store.AllocationItem{{Kind: "clusters", Committed: 1, Reserved: 4}}
			},
		},
	}
}

func providerKind(t testing.TB, name string, scopes func(a, b scope) (scope, scope)) kind {
	ctx := t.Context()
	return kind{
		name:   name,
		scopes: scopes,
		create: func(q *store.Q, sc scope, name string) (any, error) {
			p := &store.OAuth2Provider{Meta: newMeta(sc.org, name), Type: "oidc", Issuer: "https://" + name + ".example.com",
				ClientID: "client-" + name, ClientSecretEnc: "sealed-" + name}
			return p, q.CreateOAuth2Provider(ctx, p)
		},
		get: func(q *store.Q, sc scope, id string) (any, error) { return q.GetOAuth2Provider(ctx, sc.org, id) },
		update: func(q *store.Q, _ scope, r any) error {
			return q.UpdateOAuth2Provider(ctx, r.(*store.OAuth2Provider))
		},
		remove: func(q *store.Q, sc scope, id string) error { return q.DeleteOAuth2Provider(ctx, sc.org, id) },
		list: func(q *store.Q, sc scope, p store.Page) ([]any, error) {
			return asAny(q.ListOAuth2Providers(ctx, sc.org, p))
		},
		mutate: func(r any, _ scope) {
			p := r.(*store.OAuth2Provider)
			p.Type, p.Issuer, p.ClientID, p.ClientSecretEnc = "google", "https://accounts.google.com", "other", "resealed"
		},
	}
}

// walk lists every row of a kind in sc, pageSize at a time, checking that
// pages are full but the last, in id order, and never repeat a row.
func walk(t testing.TB, q *store.Q, k kind, sc scope, pageSize int) []any {
	t.Helper()
	var all []any
	after := ""
	for range 10000 {
		page, err := k.list(q, sc, store.Page{Limit: pageSize, After: after})
		must(t, err)
		for _, r := range page {
			id := metaOf(r).ID
			if id <= after {
				t.Fatalf("%s: id %s listed after %s: not in id order or repeated", k.name, id, after)
			}
			after = id
		}
		all = append(all, page...)
		if len(page) < pageSize {
			return all
		}
	}
	t.Fatalf("%s: pagination does not end", k.name)
	return nil
}

func ids(rs []any) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = metaOf(r).ID
	}
	return out
}

// TestCRUD runs create / get / update / list / delete, not-found, conflict and
// isolation checks on every resource type.
func TestCRUD(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		for _, k := range kinds(t) {
			t.Run(k.name, func(t *testing.T) {
				t.Parallel()
				testKind(t, open(t), k)
			})
		}
	})
}

func testKind(t *testing.T, st *store.Store, k kind) {
	a, b := newScope(t, st, "a-"+newID()[:6]), newScope(t, st, "b-"+newID()[:6])
	if k.scopes != nil {
		a, b = k.scopes(a, b)
	}
	r := st.Read()
	create := func(sc scope, name string) (any, error) {
		var obj any
		err := st.Tx(t.Context(), func(q *store.Q) (err error) {
			obj, err = k.create(q, sc, name)
			return err
		})
		return obj, err
	}

	// Create, then read back every field.
	const n = 7
	var created []any
	for i := range n {
		obj, err := create(a, fmt.Sprintf("%s-%d", strings.ReplaceAll(k.name, " ", "-"), i))
		must(t, err)
		created = append(created, obj)
	}
	for _, want := range created {
		got, err := k.get(r, a, metaOf(want).ID)
		must(t, err)
		equal(t, "get after create", got, want)
	}

	// Unknown IDs and IDs of another organization are not found.
	first := created[0]
	firstID := metaOf(first).ID
	_, err := k.get(r, a, newID())
	wantErr(t, "get unknown id", err, store.ErrNotFound)
	if !k.global {
		_, err = k.get(r, b, firstID)
		wantErr(t, "get from another organization", err, store.ErrNotFound)
	}

	// Names are unique per scope, not across organizations.
	_, err = create(a, metaOf(first).Name)
	wantErr(t, "create duplicate name", err, store.ErrConflict)
	if !k.global {
		_, err = create(b, metaOf(first).Name)
		must(t, err)
	}

	// Update rewrites every mutable field and nothing else.
	upd := reflect.New(reflect.TypeOf(first).Elem()).Interface()
	reflect.ValueOf(upd).Elem().Set(reflect.ValueOf(first).Elem())
	m := metaOf(upd)
	m.Name, m.Description, m.Tags = m.Name+"-renamed", "changed", []store.Tag{{Name: "k", Value: "v"}}
	m.ModifiedAt, m.ModifiedBy = t0.Add(time.Hour), "updater"
	k.mutate(upd, a)
	tx(t, st, func(q *store.Q) error { return k.update(q, a, upd) })
	got, err := k.get(r, a, firstID)
	must(t, err)
	equal(t, "get after update", got, upd)
	created[0] = upd

	// Renaming onto another row's name conflicts and changes nothing.
	clash := reflect.New(reflect.TypeOf(upd).Elem()).Interface()
	reflect.ValueOf(clash).Elem().Set(reflect.ValueOf(upd).Elem())
	metaOf(clash).Name = metaOf(created[1]).Name
	wantErr(t, "rename onto an existing name", st.Tx(t.Context(), func(q *store.Q) error { return k.update(q, a, clash) }), store.ErrConflict)
	got, err = k.get(r, a, firstID)
	must(t, err)
	equal(t, "get after failed rename", got, upd)

	// Updating an unknown row, or a row through another organization, fails.
	ghost := reflect.New(reflect.TypeOf(upd).Elem()).Interface()
	reflect.ValueOf(ghost).Elem().Set(reflect.ValueOf(upd).Elem())
	metaOf(ghost).ID, metaOf(ghost).Name = newID(), "ghost"
	wantErr(t, "update unknown id", st.Tx(t.Context(), func(q *store.Q) error { return k.update(q, a, ghost) }), store.ErrNotFound)
	if !k.global {
		foreign := reflect.New(reflect.TypeOf(upd).Elem()).Interface()
		reflect.ValueOf(foreign).Elem().Set(reflect.ValueOf(upd).Elem())
		metaOf(foreign).OrganizationID, metaOf(foreign).Name = b.org, "hijacked"
		wantErr(t, "update through another organization", st.Tx(t.Context(), func(q *store.Q) error { return k.update(q, b, foreign) }), store.ErrNotFound)
		got, err = k.get(r, a, firstID)
		must(t, err)
		equal(t, "get after foreign update", got, upd)
	}

	// Lists walk every row of the scope exactly once, in id order.
	for _, size := range []int{1, 3, n, 1000} {
		listed := walk(t, r, k, a, size)
		for _, l := range listed {
			if !k.global && metaOf(l).OrganizationID != a.org {
				t.Errorf("list of %q returned %s of organization %q", a.org, metaOf(l).ID, metaOf(l).OrganizationID)
			}
		}
		byID := map[string]any{}
		for _, l := range listed {
			byID[metaOf(l).ID] = l
		}
		for _, c := range created {
			if l, ok := byID[metaOf(c).ID]; !ok {
				t.Errorf("page size %d: %s missing from the list", size, metaOf(c).ID)
			} else {
				equal(t, "listed row", l, c)
			}
		}
	}

	// Delete: not through another organization, then for real, then never again.
	if !k.global {
		wantErr(t, "delete through another organization", st.Tx(t.Context(), func(q *store.Q) error { return k.remove(q, b, firstID) }), store.ErrNotFound)
		_, err = k.get(r, a, firstID)
		must(t, err)
	}
	tx(t, st, func(q *store.Q) error { return k.remove(q, a, firstID) })
	_, err = k.get(r, a, firstID)
	wantErr(t, "get after delete", err, store.ErrNotFound)
	wantErr(t, "delete twice", st.Tx(t.Context(), func(q *store.Q) error { return k.remove(q, a, firstID) }), store.ErrNotFound)
	wantErr(t, "delete unknown id", st.Tx(t.Context(), func(q *store.Q) error { return k.remove(q, a, newID()) }), store.ErrNotFound)
	if slices.Contains(ids(walk(t, r, k, a, 1000)), firstID) {
		t.Errorf("deleted %s still listed", firstID)
	}
	// A deleted name can be reused.
	_, err = create(a, metaOf(first).Name)
	must(t, err)
}

// TestEdges: group members and roles, member groups and project groups are
// two views of the same rows, kept in step by every writer.
func TestEdges(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		r := st.Read()
		sc := newScope(t, st, "edges")
		u2 := &store.User{Meta: newMeta(sc.org, "u2"), Subject: "u2@example.com", State: "active"}
		sa2 := &store.ServiceAccount{Meta: newMeta(sc.org, "sa2"), TokenHash: "hash-" + newID(), ExpiresAt: t0.Add(time.Hour)}
		tx(t, st, func(q *store.Q) error { return errors.Join(q.CreateUser(ctx, u2), q.CreateServiceAccount(ctx, sa2)) })

		// A group with members and roles (duplicates collapse, lists come back sorted).
		g := &store.Group{Meta: newMeta(sc.org, "g"), UserIDs: []string{u2.ID, sc.user, u2.ID},
			ServiceAccountIDs: []string{sa2.ID}, RoleIDs: []string{"r2", "r1", "r2"}}
		tx(t, st, func(q *store.Q) error { return q.CreateGroup(ctx, g) })
		got, err := r.GetGroup(ctx, sc.org, g.ID)
		must(t, err)
		equal(t, "group users", got.UserIDs, sortedCopy([]string{u2.ID, sc.user}))
		equal(t, "group service accounts", got.ServiceAccountIDs, []string{sa2.ID})
		equal(t, "group roles", got.RoleIDs, []string{"r1", "r2"})
		gotU, err := r.GetUser(ctx, sc.org, u2.ID)
		must(t, err)
		equal(t, "user groups", gotU.GroupIDs, []string{g.ID})
		gotSA, err := r.GetServiceAccount(ctx, sc.org, sa2.ID)
		must(t, err)
		equal(t, "service account groups", gotSA.GroupIDs, []string{g.ID})
		bySubject, err := r.GetUserBySubject(ctx, sc.org, "u2@example.com")
		must(t, err)
		equal(t, "user by subject", bySubject, gotU)
		_, err = r.GetUserBySubject(ctx, sc.org, "nobody@example.com")
		wantErr(t, "unknown subject", err, store.ErrNotFound)

		// Setting a member's groups shows in the group, and the other way round.
		gotU.GroupIDs = []string{sc.group, g.ID}
		tx(t, st, func(q *store.Q) error { return q.UpdateUser(ctx, gotU) })
		groups, err := r.GroupsOfMembers(ctx, sc.org, store.MemberUser, []string{u2.ID, sc.user})
		must(t, err)
		equal(t, "groups of members", groups, map[string][]string{u2.ID: sortedCopy([]string{sc.group, g.ID}), sc.user: sortedCopy([]string{sc.group, g.ID})})
		members, err := r.MembersOfGroups(ctx, store.MemberUser, []string{sc.group, g.ID})
		must(t, err)
		equal(t, "members of groups", members, map[string][]string{sc.group: sortedCopy([]string{u2.ID, sc.user}), g.ID: sortedCopy([]string{u2.ID, sc.user})})
		// Memberships are per organization: another organization's view is empty.
		other := newScope(t, st, "edges-other")
		groups, err = r.GroupsOfMembers(ctx, other.org, store.MemberUser, []string{u2.ID})
		must(t, err)
		equal(t, "groups of a member seen from another organization", groups, map[string][]string{})

		// Roles and projects of groups.
		roles, err := r.RolesOfGroups(ctx, []string{g.ID, sc.group, newID()})
		must(t, err)
		equal(t, "roles of groups", roles, map[string][]string{g.ID: {"r1", "r2"}})
		p := &store.Project{Meta: newMeta(sc.org, "p"), GroupIDs: []string{g.ID, sc.group}}
		tx(t, st, func(q *store.Q) error { return q.CreateProject(ctx, p) })
		projects, err := r.ProjectsOfGroups(ctx, []string{g.ID, sc.group})
		must(t, err)
		equal(t, "projects of groups", projects, map[string][]string{g.ID: {p.ID}, sc.group: sortedCopy([]string{sc.project, p.ID})})
		pgroups, err := r.GroupsOfProjects(ctx, []string{p.ID})
		must(t, err)
		equal(t, "groups of projects", pgroups, map[string][]string{p.ID: sortedCopy([]string{g.ID, sc.group})})
		byID, err := r.ListProjectsByID(ctx, sc.org, []string{p.ID, other.project, newID()}, store.Page{})
		must(t, err)
		if len(byID) != 1 || byID[0].ID != p.ID || !reflect.DeepEqual(byID[0].GroupIDs, pgroups[p.ID]) {
			t.Errorf("ListProjectsByID = %+v, want only %s (not another organization's project)", byID, p.ID)
		}
		n, err := r.CountExisting(ctx, store.RefProjects, sc.org, []string{p.ID, p.ID, sc.project, other.project, newID()})
		must(t, err)
		if n != 2 {
			t.Errorf("CountExisting = %d, want 2 (duplicates once, other organizations' rows not counted)", n)
		}

		// Deleting members removes their memberships everywhere.
		tx(t, st, func(q *store.Q) error {
			return errors.Join(q.DeleteUser(ctx, sc.org, u2.ID), q.DeleteServiceAccount(ctx, sc.org, sa2.ID))
		})
		got, err = r.GetGroup(ctx, sc.org, g.ID)
		must(t, err)
		equal(t, "group users after user deleted", got.UserIDs, []string{sc.user})
		if len(got.ServiceAccountIDs) != 0 {
			t.Errorf("group service accounts after delete = %v", got.ServiceAccountIDs)
		}
	})
}

// TestServiceAccountByTokenHash: authentication finds a service account of
// any organization, platform ones included, and nothing else.
func TestServiceAccountByTokenHash(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		sc := newScope(t, st, "tokens")
		org := &store.ServiceAccount{Meta: newMeta(sc.org, "org-sa"), TokenHash: "hash-org", ExpiresAt: t0.Add(time.Hour), GroupIDs: []string{sc.group}}
		platform := &store.ServiceAccount{Meta: newMeta("", "platform-sa"), TokenHash: "hash-platform", ExpiresAt: t0.Add(2 * time.Hour)}
		tx(t, st, func(q *store.Q) error {
			return errors.Join(q.CreateServiceAccount(ctx, org), q.CreateServiceAccount(ctx, platform))
		})
		for _, want := range []*store.ServiceAccount{org, platform} {
			got, err := st.Read().GetServiceAccountByTokenHash(ctx, want.TokenHash)
			must(t, err)
			if got.ID != want.ID || got.OrganizationID != want.OrganizationID || !got.ExpiresAt.Equal(want.ExpiresAt) {
				t.Errorf("by token hash %s: got %+v, want %+v", want.TokenHash, got, want)
			}
		}
		_, err := st.Read().GetServiceAccountByTokenHash(ctx, "hash-unknown")
		wantErr(t, "unknown token hash", err, store.ErrNotFound)
		dup := &store.ServiceAccount{Meta: newMeta(sc.org, "dup"), TokenHash: "hash-platform", ExpiresAt: t0}
		wantErr(t, "duplicate token hash", st.Tx(ctx, func(q *store.Q) error { return q.CreateServiceAccount(ctx, dup) }), store.ErrConflict)
		// Rotation: the old hash stops working with the commit.
		org.TokenHash = "hash-rotated"
		tx(t, st, func(q *store.Q) error { return q.UpdateServiceAccount(ctx, org) })
		_, err = st.Read().GetServiceAccountByTokenHash(ctx, "hash-org")
		wantErr(t, "rotated-out token hash", err, store.ErrNotFound)
		_, err = st.Read().GetServiceAccountByTokenHash(ctx, "hash-rotated")
		must(t, err)
	})
}

// TestProviderScopes: system providers (organization ”) and an
// organization's own are separate namespaces.
func TestProviderScopes(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		sc := newScope(t, st, "providers")
		sys := &store.OAuth2Provider{Meta: newMeta("", "google"), Issuer: "https://accounts.google.com", ClientID: "sys"}
		own := &store.OAuth2Provider{Meta: newMeta(sc.org, "google"), Issuer: "https://accounts.google.com", ClientID: "own"}
		tx(t, st, func(q *store.Q) error {
			return errors.Join(q.CreateOAuth2Provider(ctx, sys), q.CreateOAuth2Provider(ctx, own))
		})
		r := st.Read()
		for _, c := range []struct {
			org  string
			want string
		}{{"", sys.ID}, {sc.org, own.ID}} {
			ps, err := r.ListOAuth2Providers(ctx, c.org, store.Page{})
			must(t, err)
			if len(ps) != 1 || ps[0].ID != c.want {
				t.Errorf("providers of %q = %v, want only %s", c.org, ps, c.want)
			}
		}
		_, err := r.GetOAuth2Provider(ctx, sc.org, sys.ID)
		wantErr(t, "system provider read as the organization's", err, store.ErrNotFound)
		_, err = r.GetOAuth2Provider(ctx, "", own.ID)
		wantErr(t, "organization provider read as a system one", err, store.ErrNotFound)
		wantErr(t, "delete a system provider through an organization",
			st.Tx(ctx, func(q *store.Q) error { return q.DeleteOAuth2Provider(ctx, sc.org, sys.ID) }), store.ErrNotFound)
	})
}

// TestQuotasAndUsage: SetQuota upserts, Usage sums items per kind and leaves
// out the allocation being replaced, and both are per organization.
func TestQuotasAndUsage(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		r := st.Read()
		a, b := newScope(t, st, "quota-a"), newScope(t, st, "quota-b")
		got, err := r.Quotas(ctx, a.org)
		must(t, err)
		equal(t, "quotas before any are set", got, map[string]int64{})
		tx(t, st, func(q *store.Q) error {
			return errors.Join(q.SetQuota(ctx, a.org, "gpus", 8), q.SetQuota(ctx, a.org, "servers", 20), q.SetQuota(ctx, b.org, "gpus", 1))
		})
		tx(t, st, func(q *store.Q) error { return q.SetQuota(ctx, a.org, "gpus", 16) })
		got, err = r.Quotas(ctx, a.org)
		must(t, err)
		equal(t, "quotas after upsert", got, map[string]int64{"gpus": 16, "servers": 20})
		got, err = r.Quotas(ctx, b.org)
		must(t, err)
		equal(t, "other organization's quotas", got, map[string]int64{"gpus": 1})
		wantErr(t, "quota of an unknown organization",
			st.Tx(ctx, func(q *store.Q) error { return q.SetQuota(ctx, newID(), "gpus", 1) }), store.ErrReference)

		alloc := func(sc scope, name string, items ...store.AllocationItem) *store.Allocation {
			al := &store.Allocation{Meta: newMeta(sc.org, name), ProjectID: sc.project, ResourceKind: "cluster", ResourceID: name, Items: items}
			tx(t, st, func(q *store.Q) error { return q.CreateAllocation(ctx, al) })
			return al
		}
		a1 := alloc(a, "a1", store.AllocationItem{Kind: "gpus", Committed: 2, Reserved: 1}, store.AllocationItem{Kind: "servers", Committed: 5})
		a2 := alloc(a, "a2", store.AllocationItem{Kind: "gpus", Committed: 3})
		alloc(b, "b1", store.AllocationItem{Kind: "gpus", Committed: 100, Reserved: 100})
		alloc(a, "empty")
		usage, err := r.Usage(ctx, a.org, "")
		must(t, err)
		equal(t, "usage", usage, map[string]store.Usage{"gpus": {Committed: 5, Reserved: 1}, "servers": {Committed: 5}})
		usage, err = r.Usage(ctx, a.org, a1.ID)
		must(t, err)
		equal(t, "usage without a1", usage, map[string]store.Usage{"gpus": {Committed: 3}})
		usage, err = r.Usage(ctx, newID(), "")
		must(t, err)
		equal(t, "usage of an unknown organization", usage, map[string]store.Usage{})

		// Allocations are read through their project only.
		_, err = r.GetAllocation(ctx, a.org, b.project, a1.ID)
		wantErr(t, "allocation through another project", err, store.ErrNotFound)
		wantErr(t, "delete allocation through another project",
			st.Tx(ctx, func(q *store.Q) error { return q.DeleteAllocation(ctx, a.org, b.project, a1.ID) }), store.ErrNotFound)
		wantErr(t, "allocation in an unknown project", st.Tx(ctx, func(q *store.Q) error {
			return q.CreateAllocation(ctx, &store.Allocation{Meta: newMeta(a.org, "orphan"), ProjectID: newID(), ResourceKind: "x", ResourceID: "y"})
		}), store.ErrReference)

		// Replacing items and deleting allocations changes the sums.
		a2.Items = []store.AllocationItem{{Kind: "gpus", Reserved: 7}}
		tx(t, st, func(q *store.Q) error { return q.UpdateAllocation(ctx, a2) })
		tx(t, st, func(q *store.Q) error { return q.DeleteAllocation(ctx, a.org, a.project, a1.ID) })
		usage, err = r.Usage(ctx, a.org, "")
		must(t, err)
		equal(t, "usage after update and delete", usage, map[string]store.Usage{"gpus": {Reserved: 7}})
	})
}

// TestPlatform: platform state is claimed once; platform role bindings are
// idempotent and removed with their service account.
func TestPlatform(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		r := st.Read()
		v, err := r.PlatformState(ctx, "bootstrap")
		must(t, err)
		equal(t, "unset platform state", v, "")
		var won1, won2 bool
		tx(t, st, func(q *store.Q) (err error) { won1, err = q.ClaimPlatformState(ctx, "bootstrap", "first"); return err })
		tx(t, st, func(q *store.Q) (err error) { won2, err = q.ClaimPlatformState(ctx, "bootstrap", "second"); return err })
		if !won1 || won2 {
			t.Errorf("claims won %v then %v, want true then false", won1, won2)
		}
		v, err = r.PlatformState(ctx, "bootstrap")
		must(t, err)
		equal(t, "claimed platform state", v, "first")

		sa := &store.ServiceAccount{Meta: newMeta("", "admin"), TokenHash: "hash-admin", ExpiresAt: t0.Add(time.Hour)}
		tx(t, st, func(q *store.Q) error { return q.CreateServiceAccount(ctx, sa) })
		roles, err := r.PlatformRoles(ctx, store.MemberServiceAccount, sa.ID)
		must(t, err)
		if len(roles) != 0 {
			t.Errorf("roles before binding = %v", roles)
		}
		for range 3 {
			tx(t, st, func(q *store.Q) error {
				return errors.Join(q.BindPlatformRole(ctx, store.MemberServiceAccount, sa.ID, "role-b"),
					q.BindPlatformRole(ctx, store.MemberServiceAccount, sa.ID, "role-a"))
			})
		}
		roles, err = r.PlatformRoles(ctx, store.MemberServiceAccount, sa.ID)
		must(t, err)
		equal(t, "platform roles after binding thrice", roles, []string{"role-a", "role-b"})
		roles, err = r.PlatformRoles(ctx, store.MemberUser, sa.ID)
		must(t, err)
		if len(roles) != 0 {
			t.Errorf("roles of a user with the service account's id = %v", roles)
		}

		// Deleting the account through an organization fails and keeps its bindings.
		other := newScope(t, st, "platform-other")
		wantErr(t, "delete a platform account through an organization",
			st.Tx(ctx, func(q *store.Q) error { return q.DeleteServiceAccount(ctx, other.org, sa.ID) }), store.ErrNotFound)
		roles, err = r.PlatformRoles(ctx, store.MemberServiceAccount, sa.ID)
		must(t, err)
		equal(t, "platform roles after a failed delete", roles, []string{"role-a", "role-b"})
		tx(t, st, func(q *store.Q) error { return q.DeleteServiceAccount(ctx, "", sa.ID) })
		roles, err = r.PlatformRoles(ctx, store.MemberServiceAccount, sa.ID)
		must(t, err)
		if len(roles) != 0 {
			t.Errorf("platform roles of a deleted account = %v", roles)
		}
	})
}

// TestUniqueness: the uniqueness rules beyond names per scope.
func TestUniqueness(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		a, b := newScope(t, st, "uniq-a"), newScope(t, st, "uniq-b")
		user := func(sc scope, name, subject string) error {
			return st.Tx(ctx, func(q *store.Q) error {
				return q.CreateUser(ctx, &store.User{Meta: newMeta(sc.org, name), Subject: subject, State: "active"})
			})
		}
		must(t, user(a, "jo", "jo@example.com"))
		wantErr(t, "duplicate subject in one organization", user(a, "jo2", "jo@example.com"), store.ErrConflict)
		must(t, user(b, "jo-elsewhere", "jo@example.com"))
		orgs, err := st.Read().ListOrganizationsOfSubject(ctx, "jo@example.com", store.Page{})
		must(t, err)
		if got := len(orgs); got != 2 {
			t.Errorf("organizations of jo@example.com: %d, want 2", got)
		}

		org := func(name, domain string, verifiedAt time.Time) error {
			return st.Tx(ctx, func(q *store.Q) error {
				return q.CreateOrganization(ctx, &store.Organization{Meta: newMeta("", name), Type: "domain", Domain: domain,
					DomainVerifiedAt: verifiedAt})
			})
		}
		// Only verified domains are unique (issue 12): pending claims of one
		// domain coexist, so claiming first blocks nobody.
		verified := time.UnixMilli(1_700_000_000_000)
		must(t, org("acme", "acme.example.com", time.Time{}))
		must(t, org("acme-2", "acme.example.com", time.Time{}))
		must(t, org("acme-3", "acme.example.com", verified))
		wantErr(t, "duplicate verified domain", org("acme-4", "acme.example.com", verified), store.ErrConflict)
		if o, err := st.Read().OrganizationByDomain(ctx, "ACME.example.com"); err != nil || o.Name != "acme-3" {
			t.Errorf("acme.example.com is owned by %+v (%v), want the verified acme-3", o, err)
		}
		must(t, org("no-domain-1", "", time.Time{}))
		must(t, org("no-domain-2", "", time.Time{})) // '' means none, and any number of organizations have none

		wantErr(t, "group in an unknown organization", st.Tx(ctx, func(q *store.Q) error {
			return q.CreateGroup(ctx, &store.Group{Meta: newMeta(newID(), "g")})
		}), store.ErrReference)
		wantErr(t, "project with an unknown group", st.Tx(ctx, func(q *store.Q) error {
			return q.CreateProject(ctx, &store.Project{Meta: newMeta(a.org, "p"), GroupIDs: []string{newID()}})
		}), store.ErrReference)
	})
}

// count returns the number of rows of table matching where.
func count(t testing.TB, st *store.Store, table, where string, args ...any) int {
	t.Helper()
	var n int
	must(t, st.DB().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+table+" WHERE "+where, args...).Scan(&n))
	return n
}

// TestCascades: deleting an organization, group or project leaves nothing
// of it behind, and touches nothing of anyone else.
func TestCascades(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		r := st.Read()
		// populate gives sc a bit of everything.
		populate := func(sc scope) (groupID, projectID, allocID string) {
			g := &store.Group{Meta: newMeta(sc.org, "cascade"), UserIDs: []string{sc.user}, ServiceAccountIDs: []string{sc.serviceAccount}, RoleIDs: []string{"r"}}
			p := &store.Project{Meta: newMeta(sc.org, "cascade"), GroupIDs: []string{g.ID, sc.group}}
			al := &store.Allocation{Meta: newMeta(sc.org, "cascade"), ProjectID: p.ID, ResourceKind: "k", ResourceID: "i",
				Items: []store.AllocationItem{{Kind: "gpus", Committed: 1}}}
			al0 := &store.Allocation{Meta: newMeta(sc.org, "fixture"), ProjectID: sc.project, ResourceKind: "k", ResourceID: "i",
				Items: []store.AllocationItem{{Kind: "gpus", Committed: 10}}}
			tx(t, st, func(q *store.Q) error {
				return errors.Join(q.CreateGroup(ctx, g), q.CreateProject(ctx, p), q.CreateAllocation(ctx, al), q.CreateAllocation(ctx, al0),
					q.SetQuota(ctx, sc.org, "gpus", 100),
					q.CreateOAuth2Provider(ctx, &store.OAuth2Provider{Meta: newMeta(sc.org, "idp"), Issuer: "https://idp", ClientID: "c"}))
			})
			return g.ID, p.ID, al.ID
		}
		a, b := newScope(t, st, "cascade-a"), newScope(t, st, "cascade-b")
		aGroup, aProject, aAlloc := populate(a)
		populate(b)
		sys := &store.OAuth2Provider{Meta: newMeta("", "system"), Issuer: "https://idp", ClientID: "c"}
		tx(t, st, func(q *store.Q) error { return q.CreateOAuth2Provider(ctx, sys) })

		// DeleteGroup: memberships, roles and project links go with it.
		tx(t, st, func(q *store.Q) error { return q.DeleteGroup(ctx, a.org, aGroup) })
		for table, col := range map[string]string{"group_members": "group_id", "group_roles": "group_id", "project_groups": "group_id"} {
			if n := count(t, st, table, col+" = $1", aGroup); n != 0 {
				t.Errorf("%d %s rows of a deleted group", n, table)
			}
		}
		u, err := r.GetUser(ctx, a.org, a.user)
		must(t, err)
		equal(t, "user's groups after a group is deleted", u.GroupIDs, []string{a.group})
		p, err := r.GetProject(ctx, a.org, aProject)
		must(t, err)
		equal(t, "project's groups after a group is deleted", p.GroupIDs, []string{a.group})

		// DeleteProject: its allocations and their items leave Usage.
		usage, err := r.Usage(ctx, a.org, "")
		must(t, err)
		equal(t, "usage before deleting the project", usage["gpus"], store.Usage{Committed: 11})
		tx(t, st, func(q *store.Q) error { return q.DeleteProject(ctx, a.org, aProject) })
		usage, err = r.Usage(ctx, a.org, "")
		must(t, err)
		equal(t, "usage after deleting the project", usage["gpus"], store.Usage{Committed: 10})
		_, err = r.GetAllocation(ctx, a.org, aProject, aAlloc)
		wantErr(t, "allocation of a deleted project", err, store.ErrNotFound)
		if n := count(t, st, "allocation_items", "allocation_id = $1", aAlloc); n != 0 {
			t.Errorf("%d items of an allocation of a deleted project", n)
		}
		if n := count(t, st, "project_groups", "project_id = $1", aProject); n != 0 {
			t.Errorf("%d group links of a deleted project", n)
		}

		// DeleteOrganization: nothing of it is left in any table.
		before := map[string]int{}
		tables := []string{"groups", "users", "service_accounts", "projects", "oauth2_providers", "quotas", "allocations",
			"group_members", "allocation_items"}
		for _, table := range tables {
			before[table] = count(t, st, table, "organization_id = $1", b.org)
		}
		tx(t, st, func(q *store.Q) error { return q.DeleteOrganization(ctx, a.org) })
		_, err = r.GetOrganization(ctx, a.org)
		wantErr(t, "deleted organization", err, store.ErrNotFound)
		for _, table := range tables {
			if n := count(t, st, table, "organization_id = $1", a.org); n != 0 {
				t.Errorf("%d %s rows of a deleted organization", n, table)
			}
			if n := count(t, st, table, "organization_id = $1", b.org); n != before[table] || n == 0 {
				t.Errorf("%s rows of another organization: %d, were %d", table, n, before[table])
			}
		}
		for _, c := range []struct{ table, col, id string }{
			{"group_roles", "group_id", a.group}, {"project_groups", "project_id", a.project},
		} {
			if n := count(t, st, c.table, c.col+" = $1", c.id); n != 0 {
				t.Errorf("%d %s rows of a deleted organization", n, c.table)
			}
		}
		if _, err := r.GetServiceAccountByTokenHash(ctx, "x"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("token lookup: %v", err)
		}
		if _, err := r.GetOAuth2Provider(ctx, "", sys.ID); err != nil {
			t.Errorf("system provider after deleting an organization: %v", err)
		}
	})
}

// TestTxRollback: an error returned inside Tx, or a panic, leaves nothing
// behind, including rows written before the failure.
func TestTxRollback(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		sc := newScope(t, st, "rollback")
		boom := errors.New("boom")
		o := &store.Organization{Meta: newMeta("", "rolled-back"), Type: "adhoc"}
		g := &store.Group{Meta: newMeta(sc.org, "rolled-back"), UserIDs: []string{sc.user}, RoleIDs: []string{"r"}}
		err := st.Tx(ctx, func(q *store.Q) error {
			if err := errors.Join(q.CreateOrganization(ctx, o), q.CreateGroup(ctx, g), q.SetQuota(ctx, sc.org, "gpus", 3),
				q.DeleteProject(ctx, sc.org, sc.project)); err != nil {
				return err
			}
			if _, err := q.ClaimPlatformState(ctx, "k", "v"); err != nil {
				return err
			}
			return fmt.Errorf("wrapped: %w", boom)
		})
		wantErr(t, "Tx", err, boom)
		func() {
			defer func() {
				if recover() == nil {
					t.Error("panic inside Tx was swallowed")
				}
			}()
			_ = st.Tx(ctx, func(q *store.Q) error {
				must(t, q.SetQuota(ctx, sc.org, "servers", 1))
				panic("boom")
			})
		}()
		r := st.Read()
		_, err = r.GetOrganization(ctx, o.ID)
		wantErr(t, "organization created in a failed Tx", err, store.ErrNotFound)
		_, err = r.GetGroup(ctx, sc.org, g.ID)
		wantErr(t, "group created in a failed Tx", err, store.ErrNotFound)
		if n := count(t, st, "group_members", "group_id = $1", g.ID); n != 0 {
			t.Errorf("%d memberships written in a failed Tx", n)
		}
		_, err = r.GetProject(ctx, sc.org, sc.project)
		must(t, err)
		quotas, err := r.Quotas(ctx, sc.org)
		must(t, err)
		equal(t, "quotas set in failed Txs", quotas, map[string]int64{})
		v, err := r.PlatformState(ctx, "k")
		must(t, err)
		equal(t, "platform state claimed in a failed Tx", v, "")
		// The store is still usable and the rolled-back names are free.
		tx(t, st, func(q *store.Q) error { return q.CreateOrganization(ctx, o) })
	})
}

// TestPagination: pages of N walk 250 users exactly once, in id order, for
// several N, with each user's groups filled in.
func TestPagination(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		a, b := newScope(t, st, "page-a"), newScope(t, st, "page-b")
		var want []string
		tx(t, st, func(q *store.Q) error {
			for i := range 250 {
				for _, sc := range []scope{a, b} {
					u := &store.User{Meta: newMeta(sc.org, fmt.Sprintf("u%03d", i)), Subject: fmt.Sprintf("u%03d@example.com", i), State: "active", GroupIDs: []string{sc.group}}
					if err := q.CreateUser(ctx, u); err != nil {
						return err
					}
					if sc == a {
						want = append(want, u.ID)
					}
				}
			}
			return nil
		})
		want = append(want, a.user)
		sort.Strings(want)
		for _, size := range []int{1, 7, 100, 250, 251, 1000, 0, 5000} {
			var got []string
			after, pages := "", 0
			for {
				us, err := st.Read().ListUsers(ctx, a.org, store.Page{Limit: size, After: after})
				must(t, err)
				pages++
				limit := size
				if size <= 0 {
					limit = store.DefaultPageSize
				}
				if len(us) > limit {
					t.Fatalf("page size %d: page of %d", size, len(us))
				}
				for _, u := range us {
					got = append(got, u.ID)
					if want := []string{a.group}; !reflect.DeepEqual(u.GroupIDs, want) {
						t.Fatalf("user %s groups %v, want %v", u.ID, u.GroupIDs, want)
					}
				}
				if len(us) < limit {
					break
				}
				after = us[len(us)-1].ID
				if pages > 1000 {
					t.Fatal("pagination does not end")
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("page size %d: walked %d users, want %d in id order (equal: %v)", size, len(got), len(want), slices.Equal(sortedCopy(got), want))
			}
		}
	})
}

// TestRoundTrip: times are kept to the millisecond and read back in UTC; tags
// keep order, duplicates and odd characters; zero times stay zero.
func TestRoundTrip(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		sc := newScope(t, st, "roundtrip")
		zone := time.FixedZone("UTC+5:30", 5*3600+1800)
		created := time.Date(2026, 11, 23, 15, 4, 5, 123456789, zone)
		active := time.Date(2031, 2, 3, 4, 5, 6, 999999999, zone)
		tags := []store.Tag{{Name: "b", Value: "2"}, {Name: "a", Value: "1"}, {Name: "a", Value: "1"},
			{Name: "quote\"back\\slash", Value: "ünïcødé ✓ \n newline"}, {Name: "", Value: ""}}
		u := &store.User{Meta: store.Meta{ID: newID(), OrganizationID: sc.org, Name: "times", Tags: tags, CreatedAt: created,
			CreatedBy: "c"}, Subject: "times@example.com", State: "active", LastActive: active}
		tx(t, st, func(q *store.Q) error { return q.CreateUser(ctx, u) })
		got, err := st.Read().GetUser(ctx, sc.org, u.ID)
		must(t, err)
		for _, c := range []struct {
			what      string
			got, want time.Time
		}{
			{"created", got.CreatedAt, created.Truncate(time.Millisecond)},
			{"last active", got.LastActive, active.Truncate(time.Millisecond)},
		} {
			if !c.got.Equal(c.want) || c.got.Location() != time.UTC || c.got.Nanosecond()%int(time.Millisecond) != 0 {
				t.Errorf("%s: got %s (%s), want %s in UTC", c.what, c.got, c.got.Location(), c.want)
			}
		}
		if !got.ModifiedAt.IsZero() {
			t.Errorf("modified at of a never-modified row: %s, want zero", got.ModifiedAt)
		}
		equal(t, "tags", got.Tags, tags)
		// No tags read back as an empty list.
		u.Tags = nil
		tx(t, st, func(q *store.Q) error { return q.UpdateUser(ctx, u) })
		got, err = st.Read().GetUser(ctx, sc.org, u.ID)
		must(t, err)
		if len(got.Tags) != 0 {
			t.Errorf("tags after clearing: %v", got.Tags)
		}
		sa := &store.ServiceAccount{Meta: newMeta(sc.org, "expiring"), TokenHash: "h", ExpiresAt: time.Date(2027, 1, 1, 0, 0, 0, 1_500_000, zone)}
		tx(t, st, func(q *store.Q) error { return q.CreateServiceAccount(ctx, sa) })
		gotSA, err := st.Read().GetServiceAccount(ctx, sc.org, sa.ID)
		must(t, err)
		if want := sa.ExpiresAt.Truncate(time.Millisecond); !gotSA.ExpiresAt.Equal(want) || gotSA.ExpiresAt.Location() != time.UTC {
			t.Errorf("expires at: got %s, want %s UTC", gotSA.ExpiresAt, want)
		}
	})
}

var errOverQuota = errors.New("over quota")

// TestConcurrentWriters: writers that check an organization-wide invariant
// inside their transaction (the quota check) never overshoot it, concurrent
// upserts never leave a mix of two transactions, and exactly one of many
// concurrent claims wins.
func TestConcurrentWriters(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		sc := newScope(t, st, "concurrent")
		const writers, quota = 8, 5
		tx(t, st, func(q *store.Q) error { return q.SetQuota(ctx, sc.org, "servers", quota) })

		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				errs[i] = st.Tx(ctx, func(q *store.Q) error {
					if err := q.LockOrganization(ctx, sc.org); err != nil {
						return err
					}
					quotas, err := q.Quotas(ctx, sc.org)
					if err != nil {
						return err
					}
					usage, err := q.Usage(ctx, sc.org, "")
					if err != nil {
						return err
					}
					if usage["servers"].Committed+1 > quotas["servers"] {
						return errOverQuota
					}
					return q.CreateAllocation(ctx, &store.Allocation{Meta: newMeta(sc.org, fmt.Sprintf("alloc-%d", i)), ProjectID: sc.project,
						ResourceKind: "server", ResourceID: fmt.Sprint(i), Items: []store.AllocationItem{{Kind: "servers", Committed: 1}}})
				})
			})
		}
		wg.Wait()
		ok, over := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, errOverQuota):
				over++
			default:
				t.Errorf("writer failed: %v", err)
			}
		}
		usage, err := st.Read().Usage(ctx, sc.org, "")
		must(t, err)
		allocs, err := st.Read().ListAllocations(ctx, sc.org, store.Page{})
		must(t, err)
		if ok != quota || over != writers-quota || usage["servers"].Committed != quota || len(allocs) != quota {
			t.Errorf("%d allocations succeeded, %d refused, usage %d, %d listed; want %d, %d, %d, %d",
				ok, over, usage["servers"].Committed, len(allocs), quota, writers-quota, quota, quota)
		}

		// Each writer sets every kind to its own number in one transaction:
		// afterwards all kinds hold the number of the same (last) writer.
		kinds := []string{"clusters", "gpus", "servers", "storage"}
		for i := range writers {
			wg.Go(func() {
				errs[i] = st.Tx(ctx, func(q *store.Q) error {
					for _, k := range kinds {
						if err := q.SetQuota(ctx, sc.org, k, int64(100+i)); err != nil {
							return err
						}
					}
					return nil
				})
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Errorf("SetQuota writer: %v", err)
			}
		}
		quotas, err := st.Read().Quotas(ctx, sc.org)
		must(t, err)
		if len(quotas) != len(kinds) {
			t.Errorf("quotas %v, want %d kinds", quotas, len(kinds))
		}
		for _, k := range kinds {
			if quotas[k] != quotas[kinds[0]] || quotas[k] < 100 {
				t.Errorf("quotas %v mix several transactions", quotas)
				break
			}
		}

		// Concurrent first starts: exactly one claim wins, and its value stays.
		won := make([]bool, writers)
		for i := range writers {
			wg.Go(func() {
				errs[i] = st.Tx(ctx, func(q *store.Q) (err error) {
					won[i], err = q.ClaimPlatformState(ctx, "bootstrap", fmt.Sprint(i))
					return err
				})
			})
		}
		wg.Wait()
		winner := -1
		for i := range writers {
			if errs[i] != nil {
				t.Errorf("claim %d: %v", i, errs[i])
			}
			if won[i] {
				if winner >= 0 {
					t.Errorf("claims %d and %d both won", winner, i)
				}
				winner = i
			}
		}
		v, err := st.Read().PlatformState(ctx, "bootstrap")
		must(t, err)
		if winner < 0 || v != fmt.Sprint(winner) {
			t.Errorf("winner %d, state %q", winner, v)
		}
	})
}

// bigTables are the tables that grow with tenants; no query may read one of
// them end to end.
var bigTables = []string{"users", "service_accounts", "groups", "group_members", "group_roles", "projects",
	"project_groups", "allocations", "allocation_items", "oauth2_providers", "quotas",
	"iam_roles", "api_keys", "audit_events", "organization_policies",
	"permission_sets", "permission_set_roles", "account_assignments", "account_assignment_counts"}

// seedPlans fills the database with enough rows, spread over enough
// organizations, that the planners prefer indexes where they exist.
func seedPlans(t testing.TB, st *store.Store, orgs int) []scope {
	t.Helper()
	ctx := t.Context()
	var scs []scope
	for o := range orgs {
		sc := newScope(t, st, fmt.Sprintf("plan-%03d", o))
		scs = append(scs, sc)
		tx(t, st, func(q *store.Q) error {
			var groups []string
			for g := range 10 {
				gr := &store.Group{Meta: newMeta(sc.org, fmt.Sprintf("g%d", g)), RoleIDs: []string{"role-1", "role-2"}}
				if err := q.CreateGroup(ctx, gr); err != nil {
					return err
				}
				groups = append(groups, gr.ID)
			}
			for u := range 100 {
				if err := q.CreateUser(ctx, &store.User{Meta: newMeta(sc.org, fmt.Sprintf("u%d", u)), Subject: fmt.Sprintf("u%d@plan.example", u),
					State: "active", GroupIDs: []string{groups[u%10], groups[(u+1)%10]}}); err != nil {
					return err
				}
			}
			for s := range 20 {
				if err := q.CreateServiceAccount(ctx, &store.ServiceAccount{Meta: newMeta(sc.org, fmt.Sprintf("sa%d", s)), TokenHash: newID(),
					ExpiresAt: t0, GroupIDs: []string{groups[s%10]}}); err != nil {
					return err
				}
			}
			var sets []*store.PermissionSet
			for i := range 5 {
				ps := &store.PermissionSet{Meta: newMeta(sc.org, fmt.Sprintf("ps%d", i)), RoleIDs: []string{"role-1", fmt.Sprintf("role-%d", i+2)},
					SessionDuration: 3600, Version: 1}
				if err := q.CreatePermissionSet(ctx, ps); err != nil {
					return err
				}
				sets = append(sets, ps)
			}
			var assignments []*store.AccountAssignment
			for p := range 30 {
				pr := &store.Project{Meta: newMeta(sc.org, fmt.Sprintf("p%d", p)), GroupIDs: []string{groups[p%10], groups[(p+3)%10]}}
				if err := q.CreateProject(ctx, pr); err != nil {
					return err
				}
				for i := range 8 {
					typ, id := store.PrincipalGroup, groups[(p+i)%10]
					if i%2 == 1 {
						typ, id = store.PrincipalUser, newID()
					}
					ps := sets[(p+i)%5]
					assignments = append(assignments, &store.AccountAssignment{ID: newID(), OrganizationID: sc.org, PrincipalType: typ,
						PrincipalID: id, PrincipalName: fmt.Sprintf("n%d", i), PermissionSetID: ps.ID, PermissionSetName: ps.Name,
						TargetType: store.TargetProject, TargetID: pr.ID, TargetName: pr.Name, CreatedAt: t0, CreatedBy: "tester"})
				}
				if err := q.CreateAllocation(ctx, &store.Allocation{Meta: newMeta(sc.org, "a"), ProjectID: pr.ID, ResourceKind: "k", ResourceID: "i",
					Items: []store.AllocationItem{{Kind: "gpus", Committed: 1}, {Kind: "servers", Reserved: 1}}}); err != nil {
					return err
				}
			}
			for i := range 5 {
				if err := q.CreateOAuth2Provider(ctx, &store.OAuth2Provider{Meta: newMeta(sc.org, fmt.Sprintf("idp%d", i)), Issuer: "i", ClientID: "c"}); err != nil {
					return err
				}
			}
			// Cloud credential federation: identities of the projects,
			// stored credentials, connections, the external ID, the
			// workload issuer's keys.
			projects, err := q.ListProjects(ctx, sc.org, store.Page{})
			if err != nil {
				return err
			}
			for i, pr := range projects[:10] {
				if err := q.CreateCloudIdentity(ctx, &store.CloudIdentity{Meta: newMeta(sc.org, fmt.Sprintf("ci%d", i)), ProjectID: pr.ID,
					Provider: "aws", Spec: "{}"}); err != nil {
					return err
				}
			}
			var creds []string
			for i := range 5 {
				c := &store.CloudCredential{Meta: newMeta(sc.org, fmt.Sprintf("cred%d", i)), Type: "awsAccessKey", Spec: "{}", Secret: "v1:x:y"}
				if err := q.CreateCloudCredential(ctx, c); err != nil {
					return err
				}
				creds = append(creds, c.ID)
			}
			for i := range 3 {
				if err := q.CreateCloudConnection(ctx, &store.CloudConnection{Meta: newMeta(sc.org, fmt.Sprintf("conn%d", i)), Provider: "aws",
					CredentialID: creds[i], ExternalOrganizationID: fmt.Sprintf("o-%d", i), Spec: "{}", Status: "{}"}); err != nil {
					return err
				}
			}
			if _, err := q.EnsureCloudExternalID(ctx, sc.org, "gatehouse-"+newID(), t0); err != nil {
				return err
			}
			for _, state := range []store.SigningKeyState{store.SigningKeyActive, store.SigningKeyNext, store.SigningKeyRetired} {
				k := signingKey(newID(), state)
				k.Scope = sc.org
				if err := q.CreateSigningKey(ctx, k); err != nil {
					return err
				}
			}
			if err := q.InsertAccountAssignments(ctx, assignments); err != nil {
				return err
			}
			return q.SetQuota(ctx, sc.org, "gpus", 100)
		})
	}
	_, err := st.DB().ExecContext(ctx, "ANALYZE")
	must(t, err)
	return scs
}

// TestQueryPlans: the queries behind every list and lookup (and the deletes
// of DeleteOrganization) use an index on each big table they touch. The SQL is
// captured from the store as it runs, then explained with the same
// arguments: EXPLAIN on PostgreSQL (no "Seq Scan on <table>"), EXPLAIN QUERY
// PLAN on SQLite (no "SCAN <table>").
func TestQueryPlans(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		scs := seedPlans(t, st, 40)
		sc := scs[len(scs)/2]

		// Every statement the store runs for each operation.
		type op struct {
			name string
			run  func(q *store.Q) error
		}
		users, err := st.Read().ListUsers(ctx, sc.org, store.Page{Limit: 20})
		must(t, err)
		groups, err := st.Read().ListGroups(ctx, sc.org, store.Page{})
		must(t, err)
		groupIDs := make([]string, len(groups))
		for i, g := range groups {
			groupIDs[i] = g.ID
		}
		sas, err := st.Read().ListServiceAccounts(ctx, sc.org, store.Page{Limit: 1})
		must(t, err)
		allocs, err := st.Read().ListAllocations(ctx, sc.org, store.Page{Limit: 1})
		must(t, err)
		projects, err := st.Read().ListProjects(ctx, sc.org, store.Page{Limit: 1})
		must(t, err)
		identities, err := st.Read().ListCloudIdentities(ctx, sc.org, projects[0].ID, store.Page{})
		must(t, err)
		if len(identities) == 0 {
			t.Fatal("no cloud identity seeded in the first project")
		}
		ops := []op{
			{"list users, first page", func(q *store.Q) error { _, err := q.ListUsers(ctx, sc.org, store.Page{Limit: 20}); return err }},
			{"list users, next page", func(q *store.Q) error {
				_, err := q.ListUsers(ctx, sc.org, store.Page{Limit: 20, After: users[len(users)-1].ID})
				return err
			}},
			{"user by subject", func(q *store.Q) error { _, err := q.GetUserBySubject(ctx, sc.org, users[3].Subject); return err }},
			{"get user", func(q *store.Q) error { _, err := q.GetUser(ctx, sc.org, users[3].ID); return err }},
			{"service account by token hash", func(q *store.Q) error {
				_, err := q.GetServiceAccountByTokenHash(ctx, sas[0].TokenHash)
				return err
			}},
			{"list service accounts", func(q *store.Q) error {
				_, err := q.ListServiceAccounts(ctx, sc.org, store.Page{Limit: 10})
				return err
			}},
			{"groups of a member", func(q *store.Q) error {
				_, err := q.GroupsOfMembers(ctx, sc.org, store.MemberUser, []string{users[0].ID})
				return err
			}},
			{"roles of groups", func(q *store.Q) error { _, err := q.RolesOfGroups(ctx, groupIDs[:3]); return err }},
			{"projects of groups", func(q *store.Q) error { _, err := q.ProjectsOfGroups(ctx, groupIDs[:3]); return err }},
			{"list groups (members, roles)", func(q *store.Q) error { _, err := q.ListGroups(ctx, sc.org, store.Page{Limit: 5}); return err }},
			{"list projects (groups)", func(q *store.Q) error { _, err := q.ListProjects(ctx, sc.org, store.Page{Limit: 5}); return err }},
			{"list allocations (items)", func(q *store.Q) error {
				_, err := q.ListAllocations(ctx, sc.org, store.Page{Limit: 5})
				return err
			}},
			{"get allocation", func(q *store.Q) error {
				_, err := q.GetAllocation(ctx, sc.org, allocs[0].ProjectID, allocs[0].ID)
				return err
			}},
			{"usage sum", func(q *store.Q) error { _, err := q.Usage(ctx, sc.org, ""); return err }},
			{"usage sum without one allocation", func(q *store.Q) error { _, err := q.Usage(ctx, sc.org, allocs[0].ID); return err }},
			{"quotas", func(q *store.Q) error { _, err := q.Quotas(ctx, sc.org); return err }},
			{"list providers", func(q *store.Q) error {
				_, err := q.ListOAuth2Providers(ctx, sc.org, store.Page{Limit: 5})
				return err
			}},
			{"organizations of a subject", func(q *store.Q) error {
				_, err := q.ListOrganizationsOfSubject(ctx, users[3].Subject, store.Page{})
				return err
			}},
			{"count existing", func(q *store.Q) error {
				_, err := q.CountExisting(ctx, store.RefGroups, sc.org, groupIDs[:4])
				return err
			}},
			{"platform roles", func(q *store.Q) error {
				_, err := q.PlatformRoles(ctx, store.MemberServiceAccount, sas[0].ID)
				return err
			}},
			// IAM: what every request of a member reads (role headers, the
			// guardrail version), what a miss reads, authentication by API
			// key, resource attributes for policies, role references and the
			// audit log's filters.
			{"custom role headers", func(q *store.Q) error { _, err := q.IAMRoleHeaders(ctx, sc.org, groupIDs[:3]); return err }},
			{"custom role policy", func(q *store.Q) error {
				_, err := q.IAMRolePolicy(ctx, sc.org, groupIDs[0], 1)
				if errors.Is(err, store.ErrNotFound) {
					return nil
				}
				return err
			}},
			{"organization and guardrail version", func(q *store.Q) error { _, _, err := q.OrganizationPolicyVersion(ctx, sc.org); return err }},
			{"API key by ID", func(q *store.Q) error {
				_, err := q.APIKeyByID(ctx, users[0].ID)
				if errors.Is(err, store.ErrNotFound) {
					return nil
				}
				return err
			}},
			{"resource attributes", func(q *store.Q) error {
				_, _, err := q.ResourceAttributes(ctx, store.AttrUsers, sc.org, users[2].ID)
				return err
			}},
			{"role references", func(q *store.Q) error { _, _, err := q.RoleReferences(ctx, sc.org, groupIDs[0]); return err }},
			{"audit events by resource", func(q *store.Q) error {
				_, err := q.ListAuditEvents(ctx, store.AuditFilter{OrganizationID: sc.org, ResourceType: "groups", ResourceID: groupIDs[0]}, store.Page{Limit: 10})
				return err
			}},
			{"audit events by actor", func(q *store.Q) error {
				_, err := q.ListAuditEvents(ctx, store.AuditFilter{OrganizationID: sc.org, ActorID: users[0].ID}, store.Page{Limit: 10})
				return err
			}},
			{"audit events since", func(q *store.Q) error {
				_, err := q.ListAuditEvents(ctx, store.AuditFilter{OrganizationID: sc.org, Since: t0}, store.Page{Limit: 10, After: users[0].ID})
				return err
			}},
			// Cloud credential federation.
			{"list cloud identities of a project", func(q *store.Q) error {
				_, err := q.ListCloudIdentities(ctx, sc.org, identities[0].ProjectID, store.Page{Limit: 5})
				return err
			}},
			{"get cloud identity", func(q *store.Q) error {
				_, err := q.GetCloudIdentity(ctx, sc.org, identities[0].ProjectID, identities[0].ID)
				return err
			}},
			{"list credentials", func(q *store.Q) error {
				_, err := q.ListCloudCredentials(ctx, sc.org, store.Page{Limit: 5})
				return err
			}},
			{"list cloud connections", func(q *store.Q) error {
				_, err := q.ListCloudConnections(ctx, sc.org, store.Page{Limit: 5})
				return err
			}},
			{"connections using a credential", func(q *store.Q) error {
				_, err := q.CloudConnectionsUsing(ctx, sc.org, "some-credential", "")
				return err
			}},
			{"connections using a cloud identity", func(q *store.Q) error {
				_, err := q.CloudConnectionsUsing(ctx, sc.org, "", identities[0].ID)
				return err
			}},
			{"external ID", func(q *store.Q) error { _, err := q.CloudExternalID(ctx, sc.org); return err }},
			{"active key of a scope", func(q *store.Q) error {
				_, err := q.SigningKeyInState(ctx, sc.org, "", store.SigningKeyActive)
				return err
			}},
			{"published keys of a scope", func(q *store.Q) error { _, err := q.PublishedSigningKeys(ctx, sc.org, "", t0); return err }},
			{"scopes with an active key", func(q *store.Q) error { _, err := q.SigningKeyScopes(ctx); return err }},
		}
		// Permission sets and account assignments (issue 6): the lists at
		// both ends and with each filter, the effective list of a user, what
		// every request of a member reads, and the reference checks.
		sets, _, err := st.Read().ListPermissionSets(ctx, sc.org, store.OffsetPage{Size: 5})
		must(t, err)
		projects, err = st.Read().ListProjects(ctx, sc.org, store.Page{Limit: 2})
		must(t, err)
		byName := []store.SortKey{{Column: "principal_name"}, {Column: "created_at"}}
		list := func(f store.AssignmentFilter, page int) func(q *store.Q) error {
			return func(q *store.Q) error {
				_, _, err := q.ListAccountAssignments(ctx, sc.org, f, store.OffsetPage{Number: page, Size: 20, Sort: byName})
				return err
			}
		}
		ops = append(ops, []op{
			{"list assignments, first page", list(store.AssignmentFilter{}, 0)},
			{"list assignments, last page", list(store.AssignmentFilter{}, 11)},
			{"list assignments of a target", list(store.AssignmentFilter{TargetType: store.TargetProject, TargetID: projects[0].ID}, 0)},
			{"list assignments of a permission set", list(store.AssignmentFilter{PermissionSetID: sets[0].ID}, 1)},
			{"list assignments of permission sets", list(store.AssignmentFilter{PermissionSetIDs: []string{sets[0].ID, sets[1].ID}}, 0)},
			{"list assignments by principal name", list(store.AssignmentFilter{PrincipalName: "n3"}, 0)},
			{"list assignments of a principal", list(store.AssignmentFilter{PrincipalType: store.PrincipalGroup, PrincipalID: groupIDs[0]}, 0)},
			{"list assignments of a principal type", list(store.AssignmentFilter{PrincipalType: store.PrincipalGroup}, 3)},
			{"list assignments of a target ID", list(store.AssignmentFilter{TargetID: projects[1].ID}, 0)},
			{"list assignments of a principal ID", list(store.AssignmentFilter{PrincipalID: groupIDs[1]}, 0)},
			{"effective assignments of a user", list(store.AssignmentFilter{Member: &store.Member{Type: store.PrincipalUser, ID: users[0].ID, GroupIDs: users[0].GroupIDs}}, 0)},
			{"assigned permission sets of a user", func(q *store.Q) error {
				_, err := q.AssignedPermissionSets(ctx, sc.org, store.Member{Type: store.PrincipalUser, ID: users[0].ID, GroupIDs: users[0].GroupIDs})
				return err
			}},
			{"assigned permission sets of a service account", func(q *store.Q) error {
				_, err := q.AssignedPermissionSets(ctx, sc.org, store.Member{Type: store.PrincipalServiceAccount, ID: sas[0].ID, GroupIDs: sas[0].GroupIDs})
				return err
			}},
			{"existing assignments", func(q *store.Q) error {
				_, err := q.ExistingAssignments(ctx, sc.org, groupIDs[:2], []string{sets[0].ID}, []string{projects[0].ID, projects[1].ID})
				return err
			}},
			{"names of principals", func(q *store.Q) error { _, err := q.NamesOf(ctx, store.RefGroups, sc.org, groupIDs[:3]); return err }},
			{"get permission set", func(q *store.Q) error { _, err := q.GetPermissionSet(ctx, sc.org, sets[0].ID); return err }},
			{"list permission sets", func(q *store.Q) error {
				_, _, err := q.ListPermissionSets(ctx, sc.org, store.OffsetPage{Number: 1, Size: 2, Sort: []store.SortKey{{Column: "name"}}})
				return err
			}},
			{"permission sets with a role", func(q *store.Q) error { _, err := q.PermissionSetsWithRole(ctx, sc.org, "role-3"); return err }},
			{"permission sets with roles", func(q *store.Q) error {
				_, err := q.PermissionSetsWithRoles(ctx, sc.org, []string{"role-3", "role-4"})
				return err
			}},
			{"inline policy", func(q *store.Q) error { _, err := q.PermissionSetInlinePolicy(ctx, sc.org, sets[0].ID, 1); return err }},
		}...)
		explained := 0
		for _, o := range ops {
			var stmts []store.Statement
			must(t, o.run(st.TracedRead(func(s store.Statement) { stmts = append(stmts, s) })))
			for _, s := range stmts {
				checkPlan(t, st, o.name, s)
				explained++
			}
		}
		// Writes that filter on something else than a primary key, traced in
		// a transaction that is rolled back.
		writes := []op{
			{"delete organization", func(q *store.Q) error { return q.DeleteOrganization(ctx, sc.org) }},
			{"delete user", func(q *store.Q) error { return q.DeleteUser(ctx, sc.org, users[0].ID) }},
			{"delete service account", func(q *store.Q) error { return q.DeleteServiceAccount(ctx, sc.org, sas[0].ID) }},
			{"update user", func(q *store.Q) error { return q.UpdateUser(ctx, users[1]) }},
			{"delete expired keys of a scope", func(q *store.Q) error {
				_, err := q.DeleteExpiredSigningKeys(ctx, sc.org, "", t0.Add(24*time.Hour))
				return err
			}},
			{"delete a project's cloud identity", func(q *store.Q) error {
				return q.DeleteCloudIdentity(ctx, sc.org, identities[0].ProjectID, identities[0].ID)
			}},
			{"delete group", func(q *store.Q) error { return q.DeleteGroup(ctx, sc.org, groupIDs[0]) }},
			{"update group", func(q *store.Q) error { return q.UpdateGroup(ctx, groups[1]) }},
			{"delete project", func(q *store.Q) error { return q.DeleteProject(ctx, sc.org, projects[0].ID) }},
			{"update project", func(q *store.Q) error { return q.UpdateProject(ctx, projects[1]) }},
			{"update permission set", func(q *store.Q) error { return q.UpdatePermissionSet(ctx, sets[1]) }},
			{"delete account assignment", func(q *store.Q) error {
				as, _, err := q.ListAccountAssignments(ctx, sc.org, store.AssignmentFilter{}, store.OffsetPage{Size: 1})
				if err != nil {
					return err
				}
				return q.DeleteAccountAssignment(ctx, sc.org, as[0].ID)
			}},
		}
		for _, o := range writes {
			var stmts []store.Statement
			must(t, st.TracedRollback(ctx, func(s store.Statement) { stmts = append(stmts, s) }, o.run))
			for _, s := range stmts {
				if strings.HasPrefix(s.Query, "INSERT") {
					continue
				}
				checkPlan(t, st, o.name, s)
				explained++
			}
		}
		t.Logf("%d statements explained", explained)
	})
}

// checkPlan explains s and fails if it reads a big table end to end.
//
// PostgreSQL rightly scans a table of a few pages rather than probe an index,
// however many organizations there are (quotas has one row per kind and
// organization). So a "Seq Scan" on PostgreSQL is explained again with
// enable_seqscan off: if the planner then finds an index, the scan was its
// choice for a small table (logged); if it still scans, no index serves the
// query and the test fails.
func checkPlan(t *testing.T, st *store.Store, what string, s store.Statement) {
	t.Helper()
	plan := explain(t, st, s, false)
	scanned := fullScans(st, plan)
	if len(scanned) > 0 && st.Dialect() == store.Postgres {
		forced := explain(t, st, s, true)
		if still := fullScans(st, forced); len(still) > 0 {
			plan, scanned = forced, still
		} else {
			t.Logf("%s: PostgreSQL scans small table(s) %v although an index exists:\n%s", what, scanned, strings.Join(forced, "\n"))
			scanned = nil
		}
	}
	for _, table := range scanned {
		t.Errorf("%s: full scan of %s, no index serves:\n%s\nplan:\n%s", what, table, s.Query, strings.Join(plan, "\n"))
	}
	if testing.Verbose() {
		t.Logf("%s: %s\n%s", what, s.Query, strings.Join(plan, "\n"))
	}
}

// fullScans lists the big tables that plan reads end to end: "Seq Scan on T"
// on PostgreSQL, "SCAN T" on SQLite (also "SCAN T USING INDEX I", which reads
// the whole index).
func fullScans(st *store.Store, plan []string) []string {
	bad := "Seq Scan on %s"
	if st.Dialect() == store.SQLite {
		bad = "SCAN %s"
	}
	var out []string
	for _, table := range bigTables {
		marker := fmt.Sprintf(bad, table)
		for _, line := range plan {
			if i := strings.Index(line, marker); i >= 0 {
				if rest := line[i+len(marker):]; rest == "" || rest[0] == ' ' {
					out = append(out, table)
					break
				}
			}
		}
	}
	return out
}

// explain returns the plan of s, one line per row; noSeqScan disables
// sequential scans (PostgreSQL only) on the connection for this one query.
func explain(t *testing.T, st *store.Store, s store.Statement, noSeqScan bool) []string {
	t.Helper()
	ctx := t.Context()
	conn, err := st.DB().Conn(ctx)
	must(t, err)
	defer conn.Close()
	prefix := "EXPLAIN "
	if st.Dialect() == store.SQLite {
		prefix = "EXPLAIN QUERY PLAN "
	}
	if noSeqScan {
		_, err := conn.ExecContext(ctx, "SET enable_seqscan = off")
		must(t, err)
		defer func() { _, _ = conn.ExecContext(ctx, "RESET enable_seqscan") }()
	}
	rows, err := conn.QueryContext(ctx, prefix+s.Query, s.Args...)
	must(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	must(t, err)
	var plan []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		must(t, rows.Scan(ptrs...))
		plan = append(plan, fmt.Sprint(vals[len(vals)-1])) // the plan text is the last column
	}
	must(t, rows.Err())
	return plan
}

// TestConcurrentMigrations: replicas starting together on an empty
// PostgreSQL database migrate it once between them (goose's session advisory
// lock): every one succeeds, and the schema is the latest.
func TestConcurrentMigrations(t *testing.T) {
	t.Parallel()
	url := testenv.PostgresURL(t)
	ctx := t.Context()
	stores := make([]*store.Store, 4)
	for i := range stores {
		st, err := store.Open(ctx, url, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		stores[i] = st
	}
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i, st := range stores {
		wg.Go(func() { errs[i] = st.Migrate(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	// Every table is there: a write that touches the last migration's.
	if _, err := stores[0].Read().ListAuditEvents(ctx, store.AuditFilter{}, store.Page{Limit: 1}); err != nil {
		t.Fatalf("after concurrent migrations: %v", err)
	}
}
