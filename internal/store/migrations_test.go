package store_test

import (
	"context"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestVouchMigrationEndsOldSessions: migration 00018 (who vouched for a
// login, issue 12 finding 1) ends the browser sessions and refresh token
// families begun before it. They cannot say which provider vouched for the
// person, so left alive a login an organization's own provider made for
// another tenant's email would go on refreshing unconfined.
func TestVouchMigrationEndsOldSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.MigrateTo(ctx, 17); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO oidc_sessions (id, subject, client_id, scopes, auth_time, refresh_hash, refresh_expires_at, created_at)
			VALUES ('s1', 'admin@b.example', 'web', 'openid', 1, 'h', 9999999999999, 1)`,
		`INSERT INTO oidc_browser_sessions (id_hash, subject, auth_time, amr, acr, created_at, expires_at)
			VALUES ('b1', 'admin@b.example', 1, 'fed', '', 1, 9999999999999)`,
	} {
		if err := st.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"oidc_sessions", "oidc_browser_sessions"} {
		var n int
		if err := st.Read().ScanOne(ctx, "SELECT COUNT(*) FROM "+table, &n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s: %d rows from before migration 00018 survived it, want 0", table, n)
		}
	}
}
