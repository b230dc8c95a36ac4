package store_test

import (
	"errors"
	"strings"
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
		jo := store.Authentication{Subject: "jo@x", AMR: "pwd", ACR: "urn:a", AuthTime: now}
		eve := store.Authentication{Subject: "eve@x", AMR: "pwd", AuthTime: now}
		steps := []struct {
			name string
			do   func(q *store.Q) error
			want error
		}{
			{"no code before login", func(q *store.Q) error { return q.SaveAuthCode(ctx, "r1", "h1", now.Add(time.Minute)) }, store.ErrNotFound},
			{"login", func(q *store.Q) error { return q.AuthenticateAuthRequest(ctx, "r1", jo, "", now) }, nil},
			{"second login", func(q *store.Q) error { return q.AuthenticateAuthRequest(ctx, "r1", eve, "", now) }, store.ErrNotFound},
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
		if err := tx(func(q *store.Q) error { return q.RotateRefreshToken(ctx, "s1", "h1", "h2", now.Add(time.Hour), now) }); err != nil {
			t.Fatal(err)
		}
		if err := tx(func(q *store.Q) error { return q.RotateRefreshToken(ctx, "s1", "h1", "h3", now.Add(time.Hour), now) }); !errors.Is(err, store.ErrConflict) {
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

// TestAuthRequestInteractions: the authorization parameters round-trip; a
// request authenticated with an interaction pending gets no code until the
// interaction advances it, step by step and once.
func TestAuthRequestInteractions(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		now := t0
		tx := func(f func(q *store.Q) error) error { return st.Tx(ctx, f) }
		req := &store.OIDCAuthRequest{ID: "r2", ClientID: "c", RedirectURI: "https://app/cb", Scopes: "openid email",
			ResponseType: "code", Prompt: "login consent", MaxAge: 90 * time.Second, UILocale: "de", ACRValues: "urn:a urn:b",
			ACREssential: true, HintSubject: "jo@x", CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
		none := &store.OIDCAuthRequest{ID: "r3", ClientID: "c", RedirectURI: "https://app/cb", Scopes: "openid",
			ResponseType: "code", MaxAge: -1, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
		if err := tx(func(q *store.Q) error {
			if err := q.CreateAuthRequest(ctx, req); err != nil {
				return err
			}
			return q.CreateAuthRequest(ctx, none)
		}); err != nil {
			t.Fatal(err)
		}
		got, err := st.Read().GetAuthRequest(ctx, "r2", now)
		if err != nil || got.Prompt != req.Prompt || got.MaxAge != req.MaxAge || got.UILocale != "de" ||
			got.ACRValues != req.ACRValues || !got.ACREssential || got.HintSubject != "jo@x" {
			t.Fatalf("round trip: %+v %v", got, err)
		}
		if got, err := st.Read().GetAuthRequest(ctx, "r3", now); err != nil || got.MaxAge >= 0 {
			t.Fatalf("a request without max_age reads back max_age %v (%v)", got.MaxAge, err)
		}
		a := store.Authentication{Subject: "jo@x", AMR: "fed", ACR: "urn:b", AuthTime: now.Add(-time.Minute)}
		steps := []struct {
			name string
			do   func(q *store.Q) error
			want error
		}{
			{"authenticated, onboarding pending", func(q *store.Q) error { return q.AuthenticateAuthRequest(ctx, "r2", a, "onboard", now) }, nil},
			{"no code while an interaction is pending", func(q *store.Q) error { return q.SaveAuthCode(ctx, "r2", "x1", now.Add(time.Minute)) }, store.ErrNotFound},
			{"a second login", func(q *store.Q) error { return q.AuthenticateAuthRequest(ctx, "r2", a, "", now) }, store.ErrNotFound},
			{"the wrong step", func(q *store.Q) error { return q.AdvanceAuthRequest(ctx, "r2", "consent", "", now) }, store.ErrNotFound},
			{"onboarded, consent next", func(q *store.Q) error { return q.AdvanceAuthRequest(ctx, "r2", "onboard", "consent", now) }, nil},
			{"onboarding posted again", func(q *store.Q) error { return q.AdvanceAuthRequest(ctx, "r2", "onboard", "consent", now) }, store.ErrNotFound},
			{"after expiry", func(q *store.Q) error { return q.AdvanceAuthRequest(ctx, "r2", "consent", "", now.Add(11*time.Minute)) }, store.ErrNotFound},
			{"consented: done", func(q *store.Q) error { return q.AdvanceAuthRequest(ctx, "r2", "consent", "", now) }, nil},
			{"code", func(q *store.Q) error { return q.SaveAuthCode(ctx, "r2", "x1", now.Add(time.Minute)) }, nil},
			{"an unauthenticated request cannot advance", func(q *store.Q) error { return q.AdvanceAuthRequest(ctx, "r3", "", "", now) }, store.ErrNotFound},
		}
		for _, s := range steps {
			if err := tx(s.do); !errors.Is(err, s.want) && !(s.want == nil && err == nil) {
				t.Fatalf("%s: %v, want %v", s.name, err, s.want)
			}
		}
		got, err = st.Read().GetAuthRequest(ctx, "r2", now)
		if err != nil || !got.Done || got.Subject != "jo@x" || got.ACR != "urn:b" || got.AMR != "fed" || !got.AuthTime.Equal(a.AuthTime) {
			t.Fatalf("after the interactions: %+v %v", got, err)
		}
	})
}

// TestBrowserSessions: a session is found by its hash until it expires; a
// new login in the same browser replaces it; logout and the purge delete it.
func TestBrowserSessions(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		now := t0
		tx := func(f func(q *store.Q) error) error { return st.Tx(ctx, f) }
		bs := func(hash, subject string) *store.BrowserSession {
			return &store.BrowserSession{IDHash: hash, Subject: subject, AuthTime: now, AMR: "pwd", ACR: "urn:a",
				CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		}
		if err := tx(func(q *store.Q) error { return q.ReplaceBrowserSession(ctx, "", bs("b1", "jo@x")) }); err != nil {
			t.Fatal(err)
		}
		got, err := st.Read().GetBrowserSession(ctx, "b1", now.Add(59*time.Minute))
		if err != nil || got.Subject != "jo@x" || got.ACR != "urn:a" || !got.AuthTime.Equal(now) {
			t.Fatalf("session: %+v %v", got, err)
		}
		if _, err := st.Read().GetBrowserSession(ctx, "b1", now.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired session read: %v", err)
		}
		if err := tx(func(q *store.Q) error { return q.ReplaceBrowserSession(ctx, "b1", bs("b2", "eve@x")) }); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Read().GetBrowserSession(ctx, "b1", now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the replaced session survived: %v", err)
		}
		if err := tx(func(q *store.Q) error { return q.ReplaceBrowserSession(ctx, "", bs("b2", "eve@x")) }); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("the same hash twice: %v, want ErrConflict", err)
		}
		if err := tx(func(q *store.Q) error { return q.ReplaceBrowserSession(ctx, "", bs("b3", "sam@x")) }); err != nil {
			t.Fatal(err)
		}
		if err := tx(func(q *store.Q) error { return q.DeleteBrowserSession(ctx, "b2") }); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Read().GetBrowserSession(ctx, "b2", now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("logged out session read: %v", err)
		}
		if err := tx(func(q *store.Q) error { return q.PurgeOIDC(ctx, now.Add(2*time.Hour)) }); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := st.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM oidc_browser_sessions").Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d sessions after the purge (%v)", n, err)
		}
	})
}

// TestConsents: consent accumulates scopes per (subject, client) and goes
// with the client.
func TestConsents(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		tx := func(f func(q *store.Q) error) error { return st.Tx(ctx, f) }
		c := &store.OAuth2Client{ID: "app", Name: "App", Type: "confidential", TokenEndpointAuthMethod: "client_secret_basic",
			AccessTokenLifetime: time.Hour, RefreshTokenLifetime: time.Hour, CreatedAt: t0}
		if err := tx(func(q *store.Q) error { return q.CreateOAuth2Client(ctx, c) }); err != nil {
			t.Fatal(err)
		}
		if got, err := st.Read().ConsentedScopes(ctx, "jo@x", "app"); err != nil || len(got) != 0 {
			t.Fatalf("before consent: %v %v", got, err)
		}
		for _, scopes := range [][]string{{"openid", "email"}, {"openid", "offline_access"}} {
			if err := tx(func(q *store.Q) error { return q.GrantConsent(ctx, "jo@x", "app", scopes, t0) }); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := st.Read().ConsentedScopes(ctx, "jo@x", "app"); err != nil || strings.Join(got, " ") != "openid email offline_access" {
			t.Fatalf("consented %v %v", got, err)
		}
		if got, _ := st.Read().ConsentedScopes(ctx, "eve@x", "app"); len(got) != 0 {
			t.Fatalf("another user's consent: %v", got)
		}
		if err := tx(func(q *store.Q) error { return q.GrantConsent(ctx, "jo@x", "nope", []string{"openid"}, t0) }); !errors.Is(err, store.ErrReference) {
			t.Fatalf("consent to an unknown client: %v, want ErrReference", err)
		}
		if err := tx(func(q *store.Q) error { return q.DeleteOAuth2Client(ctx, "app") }); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.Read().ConsentedScopes(ctx, "jo@x", "app"); len(got) != 0 {
			t.Fatalf("consent outlived its client: %v", got)
		}
	})
}

// TestSessionsOfSID: the sid of a login travels from the auth request to
// the session its code starts, and finds the sessions of one browser
// session only (migration 00014, on both databases).
func TestSessionsOfSID(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		now := t0
		tx := func(f func(q *store.Q) error) error { return st.Tx(ctx, f) }
		req := &store.OIDCAuthRequest{ID: "r1", ClientID: "a", RedirectURI: "https://app/cb", Scopes: "openid",
			ResponseType: "code", CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
		if err := tx(func(q *store.Q) error {
			if err := q.CreateAuthRequest(ctx, req); err != nil {
				return err
			}
			return q.AuthenticateAuthRequest(ctx, "r1", store.Authentication{Subject: "jo@x", AMR: "pwd", AuthTime: now, SID: "sid1"}, "", now)
		}); err != nil {
			t.Fatal(err)
		}
		got, err := st.Read().GetAuthRequest(ctx, "r1", now)
		if err != nil || got.SID != "sid1" {
			t.Fatalf("auth request sid %q, %v", got.SID, err)
		}
		for _, s := range []struct{ id, client, subject, sid string }{
			{"s1", "a", "jo@x", "sid1"}, {"s2", "b", "jo@x", "sid1"}, {"s3", "c", "jo@x", "sid2"}, {"s4", "d", "eve@x", ""},
		} {
			sess := &store.OIDCSession{ID: s.id, Subject: s.subject, ClientID: s.client, Scopes: "openid", AuthTime: now,
				RefreshExpiresAt: now.Add(time.Hour), CreatedAt: now, SID: s.sid}
			if err := tx(func(q *store.Q) error { return q.ReplaceSession(ctx, sess, now) }); err != nil {
				t.Fatal(err)
			}
		}
		for sid, want := range map[string][]string{"sid1": {"a", "b"}, "sid2": {"c"}, "": nil, "nope": nil} {
			sessions, err := st.Read().SessionsOfSID(ctx, sid)
			if err != nil {
				t.Fatal(err)
			}
			var clients []string
			for _, s := range sessions {
				clients = append(clients, s.ClientID)
				if s.SID != sid {
					t.Errorf("session %s has sid %q, want %q", s.ID, s.SID, sid)
				}
			}
			if strings.Join(clients, ",") != strings.Join(want, ",") {
				t.Errorf("sid %q: clients %v, want %v", sid, clients, want)
			}
		}
	})
}
