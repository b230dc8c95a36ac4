package store_test

import (
	"context"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestVouchMigrationEndsOldSessions: migration 00018 (who vouched for a
// login, issue 12 finding 1) ends the browser sessions, refresh token
// families and authenticated auth requests begun before it (an open request,
// whose login has not happened, stays). They cannot say which provider vouched for the
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
		`INSERT INTO oidc_auth_requests (id, client_id, redirect_uri, scopes, response_type, csrf_hash, subject, auth_time, amr, done, created_at, expires_at)
			VALUES ('authenticated', 'web', 'https://rp/cb', 'openid', 'code', 'h', 'admin@b.example', 1, 'fed', TRUE, 1, 9999999999999)`,
		`INSERT INTO oidc_auth_requests (id, client_id, redirect_uri, scopes, response_type, csrf_hash, created_at, expires_at)
			VALUES ('open', 'web', 'https://rp/cb', 'openid', 'code', 'h', 1, 9999999999999)`,
	} {
		if err := st.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		table, where string
		want         int
	}{
		{"oidc_sessions", "", 0},
		{"oidc_browser_sessions", "", 0},
		{"oidc_auth_requests", " WHERE id = 'authenticated'", 0},
		{"oidc_auth_requests", " WHERE id = 'open'", 1},
	} {
		var n int
		if err := st.Read().ScanOne(ctx, "SELECT COUNT(*) FROM "+c.table+c.where, &n); err != nil {
			t.Fatal(err)
		}
		if n != c.want {
			t.Errorf("%s%s: %d rows from before migration 00018 after it, want %d", c.table, c.where, n, c.want)
		}
	}
}
