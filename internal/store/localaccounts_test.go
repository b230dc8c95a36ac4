package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestLocalAccountOwnership: an address has one local account; another
// owner can neither overwrite nor delete it; the organization's deletion
// takes its accounts and links with it. Both engines.
func TestLocalAccountOwnership(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		acme, other := newOrg(t, st, "acme"), newOrg(t, st, "other")
		tx(t, st, func(q *store.Q) error { return q.SetOwnedLocalPassword(ctx, "Jo@Corp.example", acme.ID, "h1", t0) })
		for _, owner := range []string{"", other.ID} {
			err := st.Tx(ctx, func(q *store.Q) error { return q.SetOwnedLocalPassword(ctx, "jo@corp.example", owner, "h2", t0) })
			if !errors.Is(err, store.ErrConflict) {
				t.Errorf("owner %q over acme's account: %v, want ErrConflict", owner, err)
			}
			err = st.Tx(ctx, func(q *store.Q) error { return q.DeleteOwnedLocalPassword(ctx, "jo@corp.example", owner) })
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("owner %q deleting acme's account: %v, want ErrNotFound", owner, err)
			}
		}
		got, err := st.Read().GetLocalPassword(ctx, "jo@corp.example")
		must(t, err)
		if got.Hash != "h1" || got.OrganizationID != acme.ID {
			t.Errorf("account %+v", got)
		}
		tx(t, st, func(q *store.Q) error { return q.SetOwnedLocalPassword(ctx, "jo@corp.example", acme.ID, "h3", t0) })
		tx(t, st, func(q *store.Q) error { return q.SetLocalPassword(ctx, "root@corp.example", "h", t0) })
		if ps, err := st.Read().ListLocalPasswords(ctx, "", store.Page{Limit: store.NoLimit}); err != nil || len(ps) != 1 || ps[0].Email != "root@corp.example" {
			t.Errorf("platform accounts %v, %v", ps, err)
		}
		tx(t, st, func(q *store.Q) error {
			return q.ReplaceLocalAccountLink(ctx, &store.LocalAccountLink{TokenHash: "link", Purpose: store.LinkReset, Email: "jo@corp.example",
				OrganizationID: acme.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
		})
		tx(t, st, func(q *store.Q) error { return q.DeleteOrganization(ctx, acme.ID) })
		if _, err := st.Read().GetLocalPassword(ctx, "jo@corp.example"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("account after its organization was deleted: %v", err)
		}
		if _, err := st.Read().GetLocalAccountLink(ctx, "link", t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("link after its organization was deleted: %v", err)
		}
	})
}

// TestLocalAccountLinks: a link is spent once, not after it expires, and a
// newer link of the same account (or setup link) revokes the older ones.
func TestLocalAccountLinks(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		link := func(hash, purpose, email string) {
			tx(t, st, func(q *store.Q) error {
				return q.ReplaceLocalAccountLink(ctx, &store.LocalAccountLink{TokenHash: hash, Purpose: purpose, Email: email,
					CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
			})
		}
		take := func(hash string, at time.Time) error {
			return st.Tx(ctx, func(q *store.Q) error { _, err := q.TakeLocalAccountLink(ctx, hash, at); return err })
		}
		link("a1", store.LinkInvite, "a@corp.example")
		link("a2", store.LinkReset, "a@corp.example")
		link("b1", store.LinkInvite, "b@corp.example")
		link("s1", store.LinkSetup, "")
		link("s2", store.LinkSetup, "")
		for _, c := range []struct {
			hash string
			at   time.Time
			ok   bool
		}{
			{"a1", t0, false}, // revoked by a2
			{"s1", t0, false}, // revoked by s2
			{"b1", t0.Add(time.Hour), false},
			{"b1", t0, true},
			{"b1", t0, false}, // spent
			{"a2", t0, true},
			{"s2", t0, true},
		} {
			if err := take(c.hash, c.at); (err == nil) != c.ok || err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Errorf("take %s at %v: %v, want ok=%v", c.hash, c.at, err, c.ok)
			}
		}
	})
}
