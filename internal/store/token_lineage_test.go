package store_test

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestTokenLineageState: one read says whether any jti of a chain is
// revoked, whether the family's session exists and what the service
// account's current token hash is; a session's access expiry only grows, so
// the session outlives (and is purged after) every token issued in it.
func TestTokenLineageState(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		now := t0
		tx(t, st, func(q *store.Q) error {
			if err := q.ReplaceSession(ctx, &store.OIDCSession{ID: "fam", Subject: "jo@x", ClientID: "a", Scopes: "openid", AuthTime: now,
				RefreshHash: "h", RefreshExpiresAt: now.Add(time.Minute), AccessJTI: "j0", AccessExpiresAt: now.Add(time.Hour), CreatedAt: now}, now); err != nil {
				return err
			}
			// A later token with a shorter life must not shorten the session's.
			if err := q.SetSessionAccessToken(ctx, "fam", "j1", now.Add(10*time.Minute)); err != nil {
				return err
			}
			return q.RevokeJTI(ctx, "gone", now.Add(time.Hour), now)
		})
		tests := []struct {
			name        string
			l           store.TokenLineage
			wantRevoked bool
			wantFamily  bool
		}{
			{"live token of a live family", store.TokenLineage{JTIs: []string{"j1"}, Family: "fam"}, false, true},
			{"revoked token", store.TokenLineage{JTIs: []string{"gone"}, Family: "fam"}, true, true},
			{"revoked ancestor", store.TokenLineage{JTIs: []string{"gone", "a", "b"}}, true, false},
			{"unknown family", store.TokenLineage{JTIs: []string{"j1"}, Family: "other"}, false, false},
			{"no family", store.TokenLineage{JTIs: []string{"j1"}}, false, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := st.Read().TokenLineageState(ctx, tt.l)
				if err != nil || got.Revoked != tt.wantRevoked || got.FamilyLive != tt.wantFamily || got.ServiceAccountTokenHash != "" {
					t.Errorf("%+v, %v; want revoked %v, family %v", got, err, tt.wantRevoked, tt.wantFamily)
				}
			})
		}
		if _, err := st.Read().TokenLineageState(ctx, store.TokenLineage{}); err == nil {
			t.Error("a lineage without jtis was checked")
		}
		// Purged only when the longest-lived token is expired.
		tx(t, st, func(q *store.Q) error { return q.PurgeOIDC(ctx, now.Add(30*time.Minute)) })
		if got, err := st.Read().TokenLineageState(ctx, store.TokenLineage{JTIs: []string{"j0"}, Family: "fam"}); err != nil || !got.FamilyLive {
			t.Errorf("the family was purged while its first token lives: %+v, %v", got, err)
		}
		tx(t, st, func(q *store.Q) error { return q.PurgeOIDC(ctx, now.Add(time.Hour)) })
		if got, err := st.Read().TokenLineageState(ctx, store.TokenLineage{JTIs: []string{"j0"}, Family: "fam"}); err != nil || got.FamilyLive {
			t.Errorf("the family outlived all its tokens: %+v, %v", got, err)
		}
	})
}
