package store_test

import (
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

func signingKey(id string, state store.SigningKeyState) *store.SigningKey {
	k := &store.SigningKey{ID: id, Algorithm: "ES256", State: state, SealedPrivateKey: "v1:k:sealed-" + id,
		PublicJWK: `{"kid":"` + id + `"}`, CreatedAt: t0}
	switch state {
	case store.SigningKeyActive:
		k.ActivatedAt = t0.Add(time.Minute)
	case store.SigningKeyRetired:
		k.ActivatedAt, k.RetiredAt, k.ExpiresAt = t0.Add(time.Minute), t0.Add(time.Hour), t0.Add(2*time.Hour)
	}
	return k
}

func keyIDs(ks []*store.SigningKey) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k.ID)
	}
	return out
}

// TestSigningKeys: the signing key table keeps at most one next and one
// active key whatever the caller does, state changes are conditional on the
// current state, and the published set and the deletes honour expires_at.
func TestSigningKeys(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		q := st.Read()

		a := signingKey("a", store.SigningKeyActive)
		must(t, q.CreateSigningKey(ctx, a))
		must(t, q.CreateSigningKey(ctx, signingKey("b", store.SigningKeyNext)))
		got, err := q.SigningKeyInState(ctx, store.PlatformScope, "", store.SigningKeyActive)
		must(t, err)
		equal(t, "active key read back", got, a)

		wantErr(t, "second active key", q.CreateSigningKey(ctx, signingKey("a2", store.SigningKeyActive)), store.ErrConflict)
		wantErr(t, "second next key", q.CreateSigningKey(ctx, signingKey("b2", store.SigningKeyNext)), store.ErrConflict)
		wantErr(t, "duplicate kid", q.CreateSigningKey(ctx, signingKey("a", store.SigningKeyRetired)), store.ErrConflict)
		if err := q.CreateSigningKey(ctx, signingKey("x", "revoked")); err == nil {
			t.Error("a key in an unknown state was stored")
		}

		// Conditional transitions.
		wantErr(t, "activate the active key", q.ActivateSigningKey(ctx, "a", t0), store.ErrNotFound)
		wantErr(t, "retire the next key", q.RetireSigningKey(ctx, "b", t0, t0), store.ErrNotFound)
		wantErr(t, "activate a missing key", q.ActivateSigningKey(ctx, "nope", t0), store.ErrNotFound)
		wantErr(t, "activate next while another is active", q.ActivateSigningKey(ctx, "b", t0), store.ErrConflict)
		rotatedAt := t0.Add(time.Hour)
		tx(t, st, func(q *store.Q) error {
			must(t, q.LockSigningKeys(ctx))
			must(t, q.RetireSigningKey(ctx, "a", rotatedAt, rotatedAt.Add(time.Hour)))
			must(t, q.ActivateSigningKey(ctx, "b", rotatedAt))
			return q.CreateSigningKey(ctx, signingKey("c", store.SigningKeyNext))
		})
		got, err = q.SigningKeyInState(ctx, store.PlatformScope, "", store.SigningKeyActive)
		must(t, err)
		equal(t, "activated at", got.ActivatedAt, rotatedAt)
		must(t, q.CreateSigningKey(ctx, signingKey("old", store.SigningKeyRetired))) // expires t0+2h

		for _, tc := range []struct {
			now  time.Time
			want []string
		}{
			{t0, []string{"a", "b", "old", "c"}},
			{t0.Add(2*time.Hour - time.Millisecond), []string{"a", "b", "old", "c"}},
			{t0.Add(2 * time.Hour), []string{"b", "c"}}, // "a" expires at rotatedAt+1h = t0+2h too
		} {
			ks, err := q.PublishedSigningKeys(ctx, store.PlatformScope, "", tc.now)
			must(t, err)
			if got := keyIDs(ks); !sameSet(got, tc.want) {
				t.Errorf("published at %v: %v, want %v", tc.now.Sub(t0), got, tc.want)
			}
		}
		n, err := q.DeleteExpiredSigningKeys(ctx, store.PlatformScope, "", t0.Add(2*time.Hour-time.Millisecond))
		must(t, err)
		equal(t, "deleted before expiry", n, int64(0))
		n, err = q.DeleteExpiredSigningKeys(ctx, store.PlatformScope, "", t0.Add(2*time.Hour))
		must(t, err)
		equal(t, "deleted at expiry", n, int64(2))
		must(t, q.CreateSigningKey(ctx, signingKey("young", store.SigningKeyRetired)))
		n, err = q.DeleteRetiredSigningKeys(ctx, store.PlatformScope, "")
		must(t, err)
		equal(t, "retired keys dropped", n, int64(1))
		all, err := q.ListSigningKeys(ctx)
		must(t, err)
		if got := keyIDs(all); !sameSet(got, []string{"b", "c"}) {
			t.Errorf("left %v, want [b c]", got)
		}
	})
}

func sameSet(a, b []string) bool {
	return slices.Equal(sortedCopy(a), sortedCopy(b))
}

// TestSigningKeyScopes: each scope (the platform, each organization) has its
// own next and active key, lists, deletes and publications see one scope
// only, and deleting an organization deletes its key set and nothing else.
func TestSigningKeyScopes(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		q := st.Read()
		org := newOrg(t, st, "acme")
		scoped := func(id, scope string, state store.SigningKeyState) *store.SigningKey {
			k := signingKey(id, state)
			k.Scope = scope
			return k
		}
		for _, k := range []*store.SigningKey{
			scoped("p-active", store.PlatformScope, store.SigningKeyActive), scoped("p-next", store.PlatformScope, store.SigningKeyNext),
			scoped("o-active", org.ID, store.SigningKeyActive), scoped("o-next", org.ID, store.SigningKeyNext),
			scoped("o-retired", org.ID, store.SigningKeyRetired), scoped("x-next", "other-org", store.SigningKeyNext),
		} {
			must(t, q.CreateSigningKey(ctx, k))
		}
		wantErr(t, "second active key in a scope", q.CreateSigningKey(ctx, scoped("o-active2", org.ID, store.SigningKeyActive)), store.ErrConflict)

		for _, tc := range []struct {
			scope string
			state store.SigningKeyState
			want  string
		}{
			{store.PlatformScope, store.SigningKeyActive, "p-active"},
			{org.ID, store.SigningKeyActive, "o-active"},
			{org.ID, store.SigningKeyNext, "o-next"},
		} {
			k, err := q.SigningKeyInState(ctx, tc.scope, "", tc.state)
			must(t, err)
			equal(t, "key of scope "+tc.scope, k.ID, tc.want)
			equal(t, "scope read back", k.Scope, tc.scope)
		}
		_, err := q.SigningKeyInState(ctx, "other-org", "", store.SigningKeyActive)
		wantErr(t, "active key of a scope without one", err, store.ErrNotFound)

		pub, err := q.PublishedSigningKeys(ctx, org.ID, "", t0)
		must(t, err)
		if got := keyIDs(pub); !sameSet(got, []string{"o-active", "o-next", "o-retired"}) {
			t.Errorf("published keys of the organization: %v", got)
		}
		scopes, err := q.SigningKeyScopes(ctx)
		must(t, err)
		equal(t, "scopes with an active key", scopes, []string{store.PlatformScope, org.ID})

		n, err := q.DeleteRetiredSigningKeys(ctx, store.PlatformScope, "")
		must(t, err)
		equal(t, "platform retired keys dropped", n, int64(0))

		tx(t, st, func(q *store.Q) error { return q.DeleteOrganization(ctx, org.ID) })
		all, err := q.ListSigningKeys(ctx)
		must(t, err)
		if got := keyIDs(all); !sameSet(got, []string{"p-active", "p-next", "x-next"}) {
			t.Errorf("after deleting the organization the keys are %v", got)
		}
	})
}

// TestSigningKeyAlgorithmSets: the platform has one key set per algorithm
// (migration 00022): an active and a next key of each, the algorithm filter
// of the reads, publications and deletes sees one set only, and a second
// active or next key of the same algorithm is still refused. An
// organization keeps one set whatever the algorithms of its keys.
func TestSigningKeyAlgorithmSets(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		st, ctx := open(t), t.Context()
		q := st.Read()
		org := newOrg(t, st, "acme")
		key := func(id, scope, alg string, state store.SigningKeyState) *store.SigningKey {
			k := signingKey(id, state)
			k.Scope, k.Algorithm = scope, alg
			return k
		}
		for _, k := range []*store.SigningKey{
			key("es-active", store.PlatformScope, "ES256", store.SigningKeyActive),
			key("es-next", store.PlatformScope, "ES256", store.SigningKeyNext),
			key("rs-active", store.PlatformScope, "RS256", store.SigningKeyActive),
			key("rs-next", store.PlatformScope, "RS256", store.SigningKeyNext),
			key("rs-retired", store.PlatformScope, "RS256", store.SigningKeyRetired),
			key("es512-active", store.PlatformScope, "ES512", store.SigningKeyActive),
			key("o-active", org.ID, "ES256", store.SigningKeyActive),
		} {
			must(t, q.CreateSigningKey(ctx, k))
		}
		wantErr(t, "a second active RS256 key", q.CreateSigningKey(ctx, key("rs-2", store.PlatformScope, "RS256", store.SigningKeyActive)), store.ErrConflict)
		wantErr(t, "a second next ES256 key", q.CreateSigningKey(ctx, key("es-2", store.PlatformScope, "ES256", store.SigningKeyNext)), store.ErrConflict)
		wantErr(t, "an organization's second active key, of another algorithm",
			q.CreateSigningKey(ctx, key("o-2", org.ID, "RS256", store.SigningKeyActive)), store.ErrConflict)

		for _, tc := range []struct{ alg, want string }{{"ES256", "es-active"}, {"RS256", "rs-active"}, {"ES512", "es512-active"}} {
			k, err := q.SigningKeyInState(ctx, store.PlatformScope, tc.alg, store.SigningKeyActive)
			must(t, err)
			equal(t, "active "+tc.alg+" key", k.ID, tc.want)
		}
		_, err := q.SigningKeyInState(ctx, store.PlatformScope, "ES512", store.SigningKeyNext)
		wantErr(t, "next ES512 key (none)", err, store.ErrNotFound)
		pub, err := q.PublishedSigningKeys(ctx, store.PlatformScope, "RS256", t0)
		must(t, err)
		if got := keyIDs(pub); !sameSet(got, []string{"rs-active", "rs-next", "rs-retired"}) {
			t.Errorf("published RS256 keys: %v", got)
		}
		pub, err = q.PublishedSigningKeys(ctx, store.PlatformScope, "", t0)
		must(t, err)
		equal(t, "published platform keys of every algorithm", len(pub), 6)
		scopes, err := q.SigningKeyScopes(ctx)
		must(t, err)
		equal(t, "scopes with an active key, each once", scopes, []string{store.PlatformScope, org.ID})

		n, err := q.DeleteRetiredSigningKeys(ctx, store.PlatformScope, "ES256")
		must(t, err)
		equal(t, "retired ES256 keys dropped", n, int64(0))
		n, err = q.DeleteExpiredSigningKeys(ctx, store.PlatformScope, "RS256", t0.Add(2*time.Hour))
		must(t, err)
		equal(t, "expired RS256 keys deleted", n, int64(1))
	})
}
