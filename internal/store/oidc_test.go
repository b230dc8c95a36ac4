package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestAuthCodeIsSingleUse: a code is claimed once; a second claim reports
// the replay with the request, so that its tokens can be revoked.
func TestAuthCodeIsSingleUse(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		now := t0
		req := &store.OIDCAuthRequest{ID: "r1", ClientID: "c", RedirectURI: "https://app/cb", Scopes: "openid",
			ResponseType: "code", CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
		tx := func(f func(q *store.Q) error) error { return st.Tx(ctx, f) }
		if err := tx(func(q *store.Q) error { return q.CreateAuthRequest(ctx, req) }); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			name string
			do   func(q *store.Q) error
			want error
		}{
			{"no code before login", func(q *store.Q) error { return q.SaveAuthCode(ctx, "r1", "h1", now.Add(time.Minute)) }, store.ErrNotFound},
			{"login", func(q *store.Q) error { return q.CompleteAuthRequest(ctx, "r1", "jo@x", "pwd", now, now) }, nil},
			{"second login", func(q *store.Q) error { return q.CompleteAuthRequest(ctx, "r1", "eve@x", "pwd", now, now) }, store.ErrNotFound},
			{"code", func(q *store.Q) error { return q.SaveAuthCode(ctx, "r1", "h1", now.Add(time.Minute)) }, nil},
			{"second code", func(q *store.Q) error { return q.SaveAuthCode(ctx, "r1", "h2", now.Add(time.Minute)) }, store.ErrNotFound},
			{"unknown code", func(q *store.Q) error { _, err := q.ClaimAuthCode(ctx, "nope"); return err }, store.ErrNotFound},
			{"claim", func(q *store.Q) error {
				r, err := q.ClaimAuthCode(ctx, "h1")
				if err == nil && (r.Subject != "jo@x" || r.ClientID != "c") {
					t.Errorf("claimed %+v", r)
				}
				return err
			}, nil},
			{"issued", func(q *store.Q) error {
				replayed, err := q.SetAuthRequestIssued(ctx, "r1", "jti1", "s1")
				if replayed {
					t.Error("issued reports a replay before any")
				}
				return err
			}, nil},
			{"replay", func(q *store.Q) error {
				r, err := q.ClaimAuthCode(ctx, "h1")
				if r == nil || r.IssuedJTI != "jti1" || r.IssuedSession != "s1" {
					t.Errorf("replay returned %+v", r)
				}
				return err
			}, store.ErrCodeReplayed},
			// As the provider does: the replay's transaction commits (it
			// revokes what was issued), which keeps the replay mark.
			{"replay, committed", func(q *store.Q) error {
				if _, err := q.ClaimAuthCode(ctx, "h1"); !errors.Is(err, store.ErrCodeReplayed) {
					t.Errorf("replay: %v", err)
				}
				return nil
			}, nil},
			{"issued after a replay", func(q *store.Q) error {
				if replayed, err := q.SetAuthRequestIssued(ctx, "r1", "jti2", "s2"); err != nil || !replayed {
					t.Errorf("recording tokens after a replay: replayed=%v err=%v, want replayed", replayed, err)
				}
				return nil
			}, nil},
		}
		for _, s := range steps {
			if err := tx(s.do); !errors.Is(err, s.want) && !(s.want == nil && err == nil) {
				t.Fatalf("%s: %v, want %v", s.name, err, s.want)
			}
		}
		// Expired requests are gone for reads and for the purge.
		if _, err := st.Read().GetAuthRequest(ctx, "r1", now.Add(11*time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired request read: %v", err)
		}
	})
}

// TestRefreshRotation: rotation is conditional on the presented hash, a
// rotated hash is remembered, and revoking the session revokes its access
// token; a new session for the same subject and client replaces the old.
func TestRefreshRotation(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		now := t0
		tx := func(f func(q *store.Q) error) error { return st.Tx(ctx, f) }
		sess := func(id, hash, jti string) *store.OIDCSession {
			return &store.OIDCSession{ID: id, Subject: "jo@x", ClientID: "c", Scopes: "openid", AuthTime: now,
				RefreshHash: hash, RefreshExpiresAt: now.Add(time.Hour), AccessJTI: jti, AccessExpiresAt: now.Add(time.Hour), CreatedAt: now}
		}
		if err := tx(func(q *store.Q) error { return q.ReplaceSession(ctx, sess("s1", "h1", "a1"), now) }); err != nil {
			t.Fatal(err)
		}
		if err := tx(func(q *store.Q) error { return q.RotateRefreshToken(ctx, "s1", "h1", "h2", now.Add(time.Hour)) }); err != nil {
			t.Fatal(err)
		}
		if err := tx(func(q *store.Q) error { return q.RotateRefreshToken(ctx, "s1", "h1", "h3", now.Add(time.Hour)) }); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("second rotation of h1: %v, want ErrConflict", err)
		}
		if id, err := st.Read().UsedRefreshToken(ctx, "h1"); err != nil || id != "s1" {
			t.Fatalf("used h1: %q %v", id, err)
		}
		if s, err := st.Read().SessionByRefreshHash(ctx, "h2"); err != nil || s.ID != "s1" {
			t.Fatalf("session by h2: %+v %v", s, err)
		}
		// A new login replaces the session and revokes its access token.
		if err := tx(func(q *store.Q) error { return q.ReplaceSession(ctx, sess("s2", "h9", "a2"), now) }); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Read().SessionByRefreshHash(ctx, "h2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("old session still there: %v", err)
		}
		if ok, err := st.Read().IsRevoked(ctx, "a1"); err != nil || !ok {
			t.Fatalf("a1 revoked = %v, %v", ok, err)
		}
		if err := tx(func(q *store.Q) error { return q.RevokeSession(ctx, "s2", now) }); err != nil {
			t.Fatal(err)
		}
		if ok, _ := st.Read().IsRevoked(ctx, "a2"); !ok {
			t.Fatal("a2 not revoked with its session")
		}
		// The purge drops what has expired.
		if err := tx(func(q *store.Q) error { return q.PurgeOIDC(ctx, now.Add(2*time.Hour)) }); err != nil {
			t.Fatal(err)
		}
		if ok, _ := st.Read().IsRevoked(ctx, "a2"); ok {
			t.Fatal("expired revocation not purged")
		}
	})
}
