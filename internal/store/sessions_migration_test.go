package store_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestSessionsMigrationKeepsSessions: migration 00023 rebuilds
// oidc_sessions with a device column (sessions per device, issue 17) and
// keeps every session as it was (device ”, the one-per-person rule); the
// new key lets a per-device session sit beside it, while a second session
// without device still replaces the first. Browser sessions keep working
// without the new user agent and address. On both engines.
func TestSessionsMigrationKeepsSessions(t *testing.T) {
	t.Parallel()
	opens := map[string]func(t *testing.T) (string, string){
		"sqlite": func(t *testing.T) (string, string) { return "", t.TempDir() },
	}
	if os.Getenv(testenv.PostgresURLEnv) != "" {
		opens["postgres"] = func(t *testing.T) (string, string) { return testenv.PostgresURL(t), "" }
	}
	for name, open := range opens {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url, dir := open(t)
			st, err := store.Open(ctx, url, dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			if err := st.MigrateTo(ctx, 22); err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{
				`INSERT INTO oidc_sessions (id, subject, client_id, scopes, auth_time, refresh_hash, refresh_expires_at, created_at, sid, idp_id)
					VALUES ('s1', 'jo@x.example', 'web', 'openid', 1, 'h1', 9999999999999, 1, 'sid-1', 'local')`,
				`INSERT INTO oidc_browser_sessions (id_hash, subject, auth_time, amr, acr, created_at, expires_at, idp_id)
					VALUES ('b1', 'jo@x.example', 1, 'pwd', '', 1, 9999999999999, 'local')`,
			} {
				if err := st.Exec(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			q := st.Read()
			s, err := q.SessionOf(ctx, "jo@x.example", "web", "")
			if err != nil || s.ID != "s1" || s.RefreshHash != "h1" || s.SID != "sid-1" || s.Device != "" || !s.LastUsedAt.IsZero() {
				t.Fatalf("the session after the migration: %+v, %v", s, err)
			}
			b, err := q.GetBrowserSession(ctx, "b1", time.UnixMilli(2))
			if err != nil || b.UserAgent != "" || b.ClientAddress != "" || !b.LastUsedAt.IsZero() {
				t.Fatalf("the browser session after the migration: %+v, %v", b, err)
			}
			now := time.UnixMilli(10)
			sess := func(id, device string) *store.OIDCSession {
				return &store.OIDCSession{ID: id, Subject: "jo@x.example", ClientID: "web", Scopes: "openid", AuthTime: now,
					RefreshHash: "h-" + id, RefreshExpiresAt: now.Add(time.Hour), CreatedAt: now, Device: device, IdP: store.IdP{ID: "local"}}
			}
			for _, s := range []*store.OIDCSession{sess("s2", "sid-2"), sess("s3", "")} {
				if err := st.Tx(ctx, func(q *store.Q) error { return q.ReplaceSession(ctx, s, now) }); err != nil {
					t.Fatal(err)
				}
			}
			all, err := q.SessionsOfSubject(ctx, "jo@x.example")
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, s := range all {
				got[s.Device] = s.ID
			}
			if len(all) != 2 || got[""] != "s3" || got["sid-2"] != "s2" {
				t.Errorf("sessions after a per-device and a default login: %v", got)
			}
			if err := st.Tx(ctx, func(q *store.Q) error {
				return q.RotateRefreshToken(ctx, "s2", "h-s2", "h-next", now.Add(time.Hour), now)
			}); err != nil {
				t.Fatal(err)
			}
			if s, err := q.SessionByID(ctx, "jo@x.example", "s2"); err != nil || !s.LastUsedAt.Equal(now) {
				t.Errorf("last use after a refresh: %+v, %v", s, err)
			}
			if _, err := q.SessionByID(ctx, "sam@x.example", "s2"); err == nil {
				t.Error("another subject read jo's session by its ID")
			}
		})
	}
}
