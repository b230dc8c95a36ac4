package store_test

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestBrokenLink: each kind of lineage link holds exactly while its source
// does, and a lineage reports its first broken link, in one query.
func TestBrokenLink(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st := open(t)
		ctx := t.Context()
		org, other := newOrg(t, st, "acme"), newOrg(t, st, "other")
		sa := &store.ServiceAccount{Meta: newMeta(org.ID, "ops"), TokenHash: "0123456789abcdef0123456789abcdef", ExpiresAt: t0.Add(time.Hour)}
		key := &store.APIKey{Meta: newMeta(org.ID, "ci"), RoleID: "r", SecretHash: "h"}
		role := newRole(org.ID, "deputy")
		role.TrustVersion = 3
		active := &store.User{Meta: newMeta(org.ID, "jo"), Subject: "jo@acme.example", State: "active"}
		suspended := &store.User{Meta: newMeta(org.ID, "al"), Subject: "al@acme.example", State: "suspended"}
		tx(t, st, func(q *store.Q) error {
			for _, f := range []func() error{
				func() error { return q.CreateServiceAccount(ctx, sa) },
				func() error { return q.CreateAPIKey(ctx, key) },
				func() error { return q.CreateIAMRole(ctx, role) },
				func() error { return q.CreateUser(ctx, active) },
				func() error { return q.CreateUser(ctx, suspended) },
				func() error { return q.BindPlatformRole(ctx, "user", "root@platform.example", "platform-admin") },
				func() error { return q.RevokeJTI(ctx, "revoked-jti", t0.Add(time.Hour), t0) },
			} {
				if err := f(); err != nil {
					return err
				}
			}
			return nil
		})
		cases := []struct {
			name  string
			link  store.LineageLink
			holds bool
		}{
			{"service account, same token", store.LineageLink{Kind: store.LinkServiceAccount, Org: org.ID, ID: sa.ID, Hash: "0123456789abcdef"}, true},
			{"service account, rotated token", store.LineageLink{Kind: store.LinkServiceAccount, Org: org.ID, ID: sa.ID, Hash: "fedcba9876543210"}, false},
			{"service account of another organization", store.LineageLink{Kind: store.LinkServiceAccount, Org: other.ID, ID: sa.ID, Hash: "0123456789abcdef"}, false},
			{"API key", store.LineageLink{Kind: store.LinkAPIKey, Org: org.ID, ID: key.ID}, true},
			{"deleted API key", store.LineageLink{Kind: store.LinkAPIKey, Org: org.ID, ID: "gone"}, false},
			{"role at its trust version", store.LineageLink{Kind: store.LinkRole, Org: org.ID, ID: role.ID, Version: 3}, true},
			{"role at an older trust version", store.LineageLink{Kind: store.LinkRole, Org: org.ID, ID: role.ID, Version: 2}, false},
			{"active member", store.LineageLink{Kind: store.LinkUser, Org: org.ID, ID: "jo@acme.example"}, true},
			{"suspended member", store.LineageLink{Kind: store.LinkUser, Org: org.ID, ID: "al@acme.example"}, false},
			{"member of another organization", store.LineageLink{Kind: store.LinkUser, Org: other.ID, ID: "jo@acme.example"}, false},
			{"non-member active somewhere", store.LineageLink{Kind: store.LinkUser, ID: "jo@acme.example"}, true},
			{"non-member with a platform role", store.LineageLink{Kind: store.LinkUser, ID: "root@platform.example"}, true},
			{"non-member suspended everywhere", store.LineageLink{Kind: store.LinkUser, ID: "al@acme.example"}, false},
			{"token not revoked", store.LineageLink{Kind: store.LinkToken, ID: "live-jti"}, true},
			{"revoked token", store.LineageLink{Kind: store.LinkToken, ID: "revoked-jti"}, false},
			{"unknown kind fails closed", store.LineageLink{Kind: "future", ID: "x"}, false},
		}
		for _, c := range cases {
			broken, ok, err := st.Read().BrokenLink(ctx, []store.LineageLink{c.link})
			must(t, err)
			if ok != c.holds || (!ok && broken != c.link) {
				t.Errorf("%s: holds=%v broken=%+v, want holds=%v", c.name, ok, broken, c.holds)
			}
		}
		// A whole lineage in one query: the first broken link is named.
		var all []store.LineageLink
		for _, c := range cases {
			if c.holds {
				all = append(all, c.link)
			}
		}
		if _, ok, err := st.Read().BrokenLink(ctx, all); err != nil || !ok {
			t.Errorf("a lineage of holding links: ok=%v err=%v", ok, err)
		}
		bad := store.LineageLink{Kind: store.LinkRole, Org: org.ID, ID: role.ID, Version: 1}
		if broken, ok, _ := st.Read().BrokenLink(ctx, append(all, bad, cases[1].link)); ok || broken != bad {
			t.Errorf("first broken link %+v (ok=%v), want %+v", broken, ok, bad)
		}
		if _, ok, err := st.Read().BrokenLink(ctx, nil); !ok || err != nil {
			t.Errorf("an empty lineage: ok=%v err=%v", ok, err)
		}
	})
}
