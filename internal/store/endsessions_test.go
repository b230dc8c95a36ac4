package store_test

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestEndSessionsOfSubject: every session of the subject goes (at every
// client), their latest access tokens are revoked, its browser sessions go;
// another subject's stay.
func TestEndSessionsOfSubject(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		now := t0
		sess := func(id, subject, client, jti string) *store.OIDCSession {
			return &store.OIDCSession{ID: id, Subject: subject, ClientID: client, Scopes: "openid", AuthTime: now, RefreshHash: "h-" + id,
				RefreshExpiresAt: now.Add(time.Hour), AccessJTI: jti, AccessExpiresAt: now.Add(time.Hour), CreatedAt: now}
		}
		tx(t, st, func(q *store.Q) error {
			for _, s := range []*store.OIDCSession{sess("s1", "jo@x", "a", "j1"), sess("s2", "jo@x", "b", "j2"), sess("s3", "sam@x", "a", "j3")} {
				if err := q.ReplaceSession(ctx, s, now); err != nil {
					return err
				}
			}
			for _, b := range []*store.BrowserSession{{IDHash: "b1", Subject: "jo@x"}, {IDHash: "b2", Subject: "sam@x"}} {
				b.AuthTime, b.CreatedAt, b.ExpiresAt = now, now, now.Add(time.Hour)
				if err := q.ReplaceBrowserSession(ctx, "", b); err != nil {
					return err
				}
			}
			return nil
		})
		var ended []*store.OIDCSession
		tx(t, st, func(q *store.Q) error {
			var err error
			ended, err = q.EndSessionsOfSubject(ctx, "jo@x", now)
			return err
		})
		if len(ended) != 2 {
			t.Fatalf("ended %d sessions, want 2", len(ended))
		}
		for _, jti := range []string{"j1", "j2"} {
			revoked, err := st.Read().IsRevoked(ctx, jti)
			must(t, err)
			if !revoked {
				t.Errorf("access token %s of an ended session is not revoked", jti)
			}
		}
		if revoked, err := st.Read().IsRevoked(ctx, "j3"); err != nil || revoked {
			t.Errorf("another subject's access token: revoked %v, %v", revoked, err)
		}
		if n := count(t, st, "oidc_sessions", "subject = $1", "jo@x"); n != 0 {
			t.Errorf("%d sessions left", n)
		}
		if n := count(t, st, "oidc_sessions", "subject = $1", "sam@x"); n != 1 {
			t.Errorf("another subject's sessions: %d, want 1", n)
		}
		if _, err := st.Read().GetBrowserSession(ctx, "b1", now); err == nil {
			t.Error("the subject's browser session is still there")
		}
		if _, err := st.Read().GetBrowserSession(ctx, "b2", now); err != nil {
			t.Errorf("another subject's browser session: %v", err)
		}
	})
}
