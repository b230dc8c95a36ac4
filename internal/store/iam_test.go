package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

func newRole(orgID, name string) *store.IAMRole {
	return &store.IAMRole{Meta: newMeta(orgID, name), Policy: `{"defaultServiceStrategy":"allow","services":{}}`,
		MaxSessionTTL: 3600, Permissions: []string{"resetOrganizationPolicy"}, Labels: map[string]string{"team": name},
		Editable: true, Version: 1}
}

func TestIAMRoles(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st := open(t)
		ctx := t.Context()
		org, other := newOrg(t, st, "acme"), newOrg(t, st, "other")
		r := newRole(org.ID, "dev-reader")
		r.AssumeRolePolicy = `{"defaultServiceStrategy":"deny","services":{}}`
		tx(t, st, func(q *store.Q) error { return q.CreateIAMRole(ctx, r) })

		got, err := st.Read().GetIAMRole(ctx, org.ID, r.ID)
		must(t, err)
		equal(t, "role read back", got, r)
		_, err = st.Read().GetIAMRole(ctx, other.ID, r.ID)
		wantErr(t, "role read through another organization", err, store.ErrNotFound)

		// Names are unique per organization only.
		wantErr(t, "duplicate name", st.Tx(ctx, func(q *store.Q) error { return q.CreateIAMRole(ctx, newRole(org.ID, "dev-reader")) }), store.ErrConflict)
		tx(t, st, func(q *store.Q) error { return q.CreateIAMRole(ctx, newRole(other.ID, "dev-reader")) })

		// A role without permissions or labels reads back empty, not nil-vs-empty noise.
		bare := &store.IAMRole{Meta: newMeta(org.ID, "bare"), Policy: "{}", MaxSessionTTL: 60, Version: 1}
		tx(t, st, func(q *store.Q) error { return q.CreateIAMRole(ctx, bare) })
		got, err = st.Read().GetIAMRole(ctx, org.ID, bare.ID)
		must(t, err)
		if got.Permissions == nil || len(got.Permissions) != 0 || got.Labels == nil || len(got.Labels) != 0 || got.Editable {
			t.Errorf("bare role = %+v, want empty permissions and labels, not editable", got)
		}

		// Headers: only this organization's custom roles, without the policy.
		hs, err := st.Read().IAMRoleHeaders(ctx, org.ID, []string{r.ID, bare.ID, "66f4be77-3d62-54ac-bcfd-5a5f55a38808", "nope"})
		must(t, err)
		if len(hs) != 2 {
			t.Fatalf("headers = %+v, want 2", hs)
		}
		for _, h := range hs {
			if h.ID == r.ID && (h.Name != "dev-reader" || h.Version != 1 || len(h.Permissions) != 1) {
				t.Errorf("header of %s = %+v", r.ID, h)
			}
		}
		if hs, _ := st.Read().IAMRoleHeaders(ctx, other.ID, []string{r.ID}); len(hs) != 0 {
			t.Errorf("another organization's role header was read: %+v", hs)
		}

		// Updates bump the version; the policy is read at one version only.
		r.Policy, r.Version, r.ModifiedAt, r.ModifiedBy = `{"defaultServiceStrategy":"deny","services":{}}`, 2, t0.Add(time.Hour), "editor"
		tx(t, st, func(q *store.Q) error { return q.UpdateIAMRole(ctx, r) })
		p, err := st.Read().IAMRolePolicy(ctx, org.ID, r.ID, 2)
		must(t, err)
		equal(t, "policy at version 2", p, r.Policy)
		_, err = st.Read().IAMRolePolicy(ctx, org.ID, r.ID, 1)
		wantErr(t, "policy at a stale version", err, store.ErrNotFound)

		roles, err := st.Read().ListIAMRoles(ctx, org.ID, store.Page{Limit: store.NoLimit})
		must(t, err)
		if len(roles) != 2 {
			t.Errorf("ListIAMRoles = %d roles, want 2", len(roles))
		}
		n, err := st.Read().CountExisting(ctx, store.RefRoles, org.ID, []string{r.ID, bare.ID, "nope"})
		must(t, err)
		equal(t, "existing roles", n, 2)

		// References: groups granting the role and API keys bound to it.
		g := &store.Group{Meta: newMeta(org.ID, "devs"), RoleIDs: []string{r.ID}}
		k := &store.APIKey{Meta: newMeta(org.ID, "ci"), RoleID: r.ID, SecretHash: "h1"}
		tx(t, st, func(q *store.Q) error {
			if err := q.CreateGroup(ctx, g); err != nil {
				return err
			}
			return q.CreateAPIKey(ctx, k)
		})
		groups, keys, err := st.Read().RoleReferences(ctx, org.ID, r.ID)
		must(t, err)
		equal(t, "groups granting the role", groups, []string{"devs"})
		equal(t, "keys bound to the role", keys, []string{"ci"})

		tx(t, st, func(q *store.Q) error { return q.DeleteIAMRole(ctx, org.ID, bare.ID) })
		wantErr(t, "second delete", st.Tx(ctx, func(q *store.Q) error { return q.DeleteIAMRole(ctx, org.ID, bare.ID) }), store.ErrNotFound)
	})
}

func TestOrganizationPolicyVersions(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st := open(t)
		ctx := t.Context()
		org := newOrg(t, st, "acme")
		version := func() int64 {
			t.Helper()
			exists, v, err := st.Read().OrganizationPolicyVersion(ctx, org.ID)
			must(t, err)
			if !exists && v != 0 {
				t.Errorf("a missing organization has guardrail version %d", v)
			}
			return v
		}
		if v := version(); v != 0 {
			t.Fatalf("version without a guardrail = %d, want 0", v)
		}
		_, err := st.Read().GetOrganizationPolicy(ctx, org.ID)
		wantErr(t, "guardrail before any", err, store.ErrNotFound)
		reset := func() bool {
			t.Helper()
			var had bool
			tx(t, st, func(q *store.Q) error {
				var err error
				had, err = q.ResetOrganizationPolicy(ctx, org.ID, t0, "admin")
				return err
			})
			return had
		}
		if reset() {
			t.Error("reset without a guardrail reported one")
		}
		var last int64
		for i, doc := range []string{`{"a":1}`, `{"a":2}`, "reset", `{"a":3}`} {
			if doc == "reset" {
				if !reset() {
					t.Error("reset of a guardrail reported none")
				}
				if v := version(); v != 0 {
					t.Errorf("version after a reset = %d, want 0 (no guardrail)", v)
				}
				_, err := st.Read().GetOrganizationPolicy(ctx, org.ID)
				wantErr(t, "guardrail after a reset", err, store.ErrNotFound)
				continue
			}
			p := &store.OrganizationPolicy{OrganizationID: org.ID, Policy: doc, ModifiedAt: t0.Add(time.Duration(i) * time.Minute), ModifiedBy: "admin"}
			tx(t, st, func(q *store.Q) error { return q.PutOrganizationPolicy(ctx, p) })
			if p.Version <= last {
				t.Errorf("version %d after %d: versions must only grow, resets included", p.Version, last)
			}
			last = p.Version
			got, err := st.Read().GetOrganizationPolicy(ctx, org.ID)
			must(t, err)
			equal(t, "guardrail read back", got, p)
			if v := version(); v != p.Version {
				t.Errorf("OrganizationPolicyVersion = %d, want %d", v, p.Version)
			}
		}
		if exists, _, _ := st.Read().OrganizationPolicyVersion(ctx, org.ID); !exists {
			t.Error("the organization does not exist")
		}
		// Deleting the organization deletes its guardrail.
		tx(t, st, func(q *store.Q) error { return q.DeleteOrganization(ctx, org.ID) })
		if exists, v, err := st.Read().OrganizationPolicyVersion(ctx, org.ID); exists || v != 0 || err != nil {
			t.Errorf("after deleting the organization: exists %v, version %d, err %v", exists, v, err)
		}
	})
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st := open(t)
		ctx := t.Context()
		org, other := newOrg(t, st, "acme"), newOrg(t, st, "other")
		k := &store.APIKey{Meta: newMeta(org.ID, "ci"), RoleID: "role-1", SecretHash: "hash", ExpiresAt: t0.Add(24 * time.Hour)}
		forever := &store.APIKey{Meta: newMeta(org.ID, "forever"), RoleID: "role-1", SecretHash: "hash2"}
		tx(t, st, func(q *store.Q) error {
			if err := q.CreateAPIKey(ctx, k); err != nil {
				return err
			}
			return q.CreateAPIKey(ctx, forever)
		})
		got, err := st.Read().APIKeyByID(ctx, k.ID)
		must(t, err)
		equal(t, "key by ID", got, k)
		got, err = st.Read().GetAPIKey(ctx, org.ID, forever.ID)
		must(t, err)
		if !got.ExpiresAt.IsZero() {
			t.Errorf("a key without expiry reads back expiring at %v", got.ExpiresAt)
		}
		_, err = st.Read().GetAPIKey(ctx, other.ID, k.ID)
		wantErr(t, "key read through another organization", err, store.ErrNotFound)
		wantErr(t, "duplicate key name", st.Tx(ctx, func(q *store.Q) error {
			return q.CreateAPIKey(ctx, &store.APIKey{Meta: newMeta(org.ID, "ci"), RoleID: "r", SecretHash: "h3"})
		}), store.ErrConflict)
		keys, err := st.Read().ListAPIKeys(ctx, org.ID, store.Page{Limit: store.NoLimit})
		must(t, err)
		equal(t, "keys listed", len(keys), 2)
		tx(t, st, func(q *store.Q) error { return q.DeleteAPIKey(ctx, org.ID, k.ID) })
		_, err = st.Read().APIKeyByID(ctx, k.ID)
		wantErr(t, "revoked key", err, store.ErrNotFound)

		name, tags, err := st.Read().ResourceAttributes(ctx, store.AttrAPIKeys, org.ID, forever.ID)
		must(t, err)
		equal(t, "attributes", []any{name, tags}, []any{"forever", forever.Tags})
		_, _, err = st.Read().ResourceAttributes(ctx, store.AttrAPIKeys, other.ID, forever.ID)
		wantErr(t, "attributes through another organization", err, store.ErrNotFound)
		if _, _, err := st.Read().ResourceAttributes(ctx, "platform_state", org.ID, "x"); err == nil {
			t.Error("ResourceAttributes read a table outside its list")
		}
	})
}

func TestAuditEvents(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st := open(t)
		ctx := t.Context()
		ev := func(id, org, typ, res, actor string, at time.Time) *store.AuditEvent {
			return &store.AuditEvent{ID: id, OrganizationID: org, Time: at, ActorKind: "serviceaccount", ActorID: actor,
				ActorSubject: "serviceaccount:" + actor, Actor: `{"kind":"serviceaccount"}`, OperationID: "updateGroup",
				ResourceType: typ, ResourceID: res, Before: `{"name":"a"}`, After: "", RequestID: "req-" + id}
		}
		events := []*store.AuditEvent{
			ev("e1", "org-a", "groups", "g1", "sa-1", t0),
			ev("e2", "org-a", "groups", "g2", "sa-2", t0.Add(time.Minute)),
			ev("e3", "org-a", "projects", "p1", "sa-1", t0.Add(2*time.Minute)),
			ev("e4", "", "organizations", "org-b", "admin", t0.Add(3*time.Minute)),
			ev("e5", "org-b", "groups", "g1", "sa-1", t0.Add(4*time.Minute)),
		}
		tx(t, st, func(q *store.Q) error {
			for _, e := range events {
				if err := q.InsertAuditEvent(ctx, e); err != nil {
					return err
				}
			}
			return nil
		})
		idsOf := func(f store.AuditFilter, page store.Page) []string {
			t.Helper()
			es, err := st.Read().ListAuditEvents(ctx, f, page)
			must(t, err)
			var out []string
			for _, e := range es {
				out = append(out, e.ID)
			}
			return out
		}
		all := store.Page{Limit: store.NoLimit}
		cases := []struct {
			name string
			f    store.AuditFilter
			page store.Page
			want []string
		}{
			{"organization", store.AuditFilter{OrganizationID: "org-a"}, all, []string{"e1", "e2", "e3"}},
			{"platform", store.AuditFilter{}, all, []string{"e4"}},
			{"resource type", store.AuditFilter{OrganizationID: "org-a", ResourceType: "groups"}, all, []string{"e1", "e2"}},
			{"resource", store.AuditFilter{OrganizationID: "org-a", ResourceType: "groups", ResourceID: "g2"}, all, []string{"e2"}},
			{"actor", store.AuditFilter{OrganizationID: "org-a", ActorID: "sa-1"}, all, []string{"e1", "e3"}},
			{"since (inclusive)", store.AuditFilter{OrganizationID: "org-a", Since: t0.Add(time.Minute)}, all, []string{"e2", "e3"}},
			{"until (exclusive)", store.AuditFilter{OrganizationID: "org-a", Until: t0.Add(2 * time.Minute)}, all, []string{"e1", "e2"}},
			{"page", store.AuditFilter{OrganizationID: "org-a"}, store.Page{Limit: 2, After: "e1"}, []string{"e2", "e3"}},
			{"page limit", store.AuditFilter{OrganizationID: "org-a"}, store.Page{Limit: 1}, []string{"e1"}},
		}
		for _, c := range cases {
			equal(t, c.name, idsOf(c.f, c.page), c.want)
		}
		es, err := st.Read().ListAuditEvents(ctx, store.AuditFilter{OrganizationID: "org-a", ResourceID: "g1"}, all)
		must(t, err)
		want := *events[0]
		want.After = "null"
		equal(t, "event read back", *es[0], want)
		wantErr(t, "duplicate event ID", st.Tx(ctx, func(q *store.Q) error { return q.InsertAuditEvent(ctx, ev("e1", "", "x", "y", "z", t0)) }), store.ErrConflict)
	})
}

// TestCommitHook: the hook runs inside the transaction, after the work and
// before the commit; its error rolls everything back, and a failed
// transaction never reaches it.
func TestCommitHook(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st := open(t)
		calls := 0
		hook := func(fail bool) store.CommitHook {
			return func(ctx context.Context, q *store.Q) error {
				calls++
				if err := q.InsertAuditEvent(ctx, &store.AuditEvent{ID: newID(), Time: t0, RequestID: "hooked"}); err != nil {
					return err
				}
				if fail {
					return errors.New("hook failed")
				}
				return nil
			}
		}
		count := func() int {
			t.Helper()
			es, err := st.Read().ListAuditEvents(t.Context(), store.AuditFilter{}, store.Page{Limit: store.NoLimit})
			must(t, err)
			return len(es)
		}
		org := &store.Organization{Meta: newMeta("", "hooked"), Type: "adhoc"}
		ctx := store.WithCommitHook(t.Context(), hook(false))
		must(t, st.Tx(ctx, func(q *store.Q) error { return q.CreateOrganization(ctx, org) }))
		if calls != 1 || count() != 1 {
			t.Errorf("after a committed transaction: %d hook calls, %d events; want 1, 1", calls, count())
		}
		// The work fails: no hook call, nothing written.
		err := st.Tx(ctx, func(q *store.Q) error { return errors.New("work failed") })
		if err == nil || calls != 1 || count() != 1 {
			t.Errorf("after failed work: err %v, %d hook calls, %d events; want an error, 1, 1", err, calls, count())
		}
		// The hook fails: the work is rolled back with it.
		other := &store.Organization{Meta: newMeta("", "rolled-back"), Type: "adhoc"}
		ctx = store.WithCommitHook(t.Context(), hook(true))
		if err := st.Tx(ctx, func(q *store.Q) error { return q.CreateOrganization(ctx, other) }); err == nil {
			t.Error("a failing hook did not fail the transaction")
		}
		_, err = st.Read().GetOrganization(t.Context(), other.ID)
		wantErr(t, "organization written before a failing hook", err, store.ErrNotFound)
		if count() != 1 {
			t.Errorf("%d events after a failing hook, want 1", count())
		}
	})
}
