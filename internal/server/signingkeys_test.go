package server_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

type apiSigningKey struct {
	Kid            string `json:"kid"`
	Algorithm      string `json:"algorithm"`
	State          string `json:"state"`
	Scope          string `json:"scope"`
	OrganizationID string `json:"organizationId"`
	CreatedAt      string `json:"createdAt"`
	ActivatedAt    string `json:"activatedAt"`
	RetiredAt      string `json:"retiredAt"`
	ExpiresAt      string `json:"expiresAt"`
}

type apiRotation struct {
	Algorithm  string `json:"algorithm"`
	ActiveKid  string `json:"activeKid"`
	RetiredKid string `json:"retiredKid"`
	NextKid    string `json:"nextKid"`
}

// TestSigningKeysAPI (issues 13 and 17): a platform administrator lists the
// signing keys (the platform's of each algorithm, as published in the JWKS,
// and an organization's workload issuer keys), with their dates and no
// private material, and rotates one algorithm or all of them, audited; an
// organization administrator may do neither, and a refused or malformed
// rotation changes nothing.
func TestSigningKeysAPI(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		e := testenv.NewEnv(t, open(t))
		acme := e.NewTenant("acme", "administrator")
		if err := e.Keys.Organization(acme.OrgID).Ensure(t.Context()); err != nil {
			t.Fatal(err)
		}
		list := func() []apiSigningKey {
			t.Helper()
			r := e.Must(http.StatusOK, "GET", "/api/v1/signingkeys", e.AdminToken, nil)
			for _, secret := range []string{`"d"`, `"p"`, `"q"`, "private", "sealed", "v1:"} {
				if strings.Contains(string(r.Body), secret) {
					t.Fatalf("the signing key list carries %s: %s", secret, r.Body)
				}
			}
			var ks []apiSigningKey
			r.JSON(t, &ks)
			return ks
		}
		jwks := func() map[string]string {
			t.Helper()
			var set jose.JSONWebKeySet
			e.Must(http.StatusOK, "GET", "/oauth2/v2/jwks", "", nil).JSON(t, &set)
			out := map[string]string{}
			for _, k := range set.Keys {
				out[k.KeyID] = k.Algorithm
			}
			return out
		}
		activeOf := func(ks []apiSigningKey) map[string]string {
			out := map[string]string{}
			for _, k := range ks {
				if k.Scope == "platform" && k.State == "active" {
					out[k.Algorithm] = k.Kid
				}
			}
			return out
		}

		ks := list()
		published := jwks()
		var platform, org int
		for _, k := range ks {
			switch k.Scope {
			case "platform":
				platform++
				if published[k.Kid] != k.Algorithm {
					t.Errorf("platform key %s (%s) is not published as such in the JWKS %v", k.Kid, k.Algorithm, published)
				}
				if k.OrganizationID != "" {
					t.Errorf("platform key %+v names an organization", k)
				}
			case "organization":
				org++
				if k.OrganizationID != acme.OrgID {
					t.Errorf("organization key %+v: organizationId, want %s", k, acme.OrgID)
				}
			default:
				t.Errorf("key %+v: scope %q", k, k.Scope)
			}
			if k.CreatedAt == "" || (k.State == "active") != (k.ActivatedAt != "") || k.RetiredAt != "" || k.ExpiresAt != "" {
				t.Errorf("key %+v: want a creation date, an activation date exactly when active, no retirement", k)
			}
		}
		if platform != 6 || org != 2 || len(published) != 6 {
			t.Fatalf("listed %d platform and %d organization keys, JWKS %d; want 6, 2 and 6", platform, org, len(published))
		}
		before := activeOf(ks)

		// Refused: an organization administrator, a bad algorithm, an
		// unknown field. Nothing changes and nothing is audited.
		e.Must(http.StatusForbidden, "GET", "/api/v1/signingkeys", acme.Token, nil)
		e.Must(http.StatusForbidden, "POST", "/api/v1/signingkeys/rotate", acme.Token, map[string]any{})
		e.Must(http.StatusBadRequest, "POST", "/api/v1/signingkeys/rotate", e.AdminToken, map[string]any{"algorithm": "HS256"})
		e.Must(http.StatusBadRequest, "POST", "/api/v1/signingkeys/rotate", e.AdminToken, map[string]any{"algorithm": "none"})
		e.Must(http.StatusBadRequest, "POST", "/api/v1/signingkeys/rotate", e.AdminToken, map[string]any{"alg": "RS256"})
		e.Must(http.StatusUnauthorized, "POST", "/api/v1/signingkeys/rotate", "", map[string]any{})
		if got := list(); !slices.Equal(kidsOf(got), kidsOf(ks)) {
			t.Fatalf("refused rotations changed the keys: %v, was %v", kidsOf(got), kidsOf(ks))
		}
		var events []map[string]any
		e.Must(http.StatusOK, "GET", "/api/v1/auditevents?resourceType=signingkeys", e.AdminToken, nil).JSON(t, &events)
		if len(events) != 0 {
			t.Fatalf("refused rotations were audited: %v", events)
		}

		// One algorithm.
		var rots []apiRotation
		e.Must(http.StatusOK, "POST", "/api/v1/signingkeys/rotate", e.AdminToken, map[string]any{"algorithm": "RS256"}).JSON(t, &rots)
		if len(rots) != 1 || rots[0].Algorithm != "RS256" || rots[0].RetiredKid != before["RS256"] || rots[0].ActiveKid == "" || rots[0].NextKid == "" {
			t.Fatalf("rotate RS256: %+v; want the RS256 set rotated, retiring %s", rots, before["RS256"])
		}
		after := list()
		now := activeOf(after)
		if now["RS256"] != rots[0].ActiveKid || now["ES256"] != before["ES256"] || now["ES512"] != before["ES512"] {
			t.Errorf("after rotating RS256 the active keys are %v, were %v", now, before)
		}
		for _, k := range after {
			if k.Kid == before["RS256"] && (k.State != "retired" || k.RetiredAt == "" || k.ExpiresAt == "") {
				t.Errorf("the retired RS256 key is listed as %+v, want retired with its dates", k)
			}
		}
		if pub := jwks(); pub[rots[0].NextKid] != "RS256" || pub[before["RS256"]] != "RS256" {
			t.Errorf("the JWKS lacks the fresh RS256 next key or the retired one: %v", pub)
		}
		e.Must(http.StatusOK, "GET", "/api/v1/auditevents?resourceType=signingkeys", e.AdminToken, nil).JSON(t, &events)
		if len(events) != 1 || events[0]["operationId"] != "rotateSigningKeys" ||
			!strings.Contains(mustJSON(t, events[0]["after"]), rots[0].NextKid) {
			t.Fatalf("audit of the rotation: %v; want one rotateSigningKeys event naming the new keys", events)
		}

		// Every algorithm at once.
		e.Must(http.StatusOK, "POST", "/api/v1/signingkeys/rotate", e.AdminToken, map[string]any{}).JSON(t, &rots)
		var algs []string
		for _, r := range rots {
			algs = append(algs, r.Algorithm)
		}
		if slices.Sort(algs); !slices.Equal(algs, []string{"ES256", "ES512", "RS256"}) {
			t.Errorf("rotate without an algorithm rotated %v, want every algorithm", algs)
		}
		e.Must(http.StatusOK, "GET", "/api/v1/auditevents?resourceType=signingkeys", e.AdminToken, nil).JSON(t, &events)
		if len(events) != 2 {
			t.Errorf("%d audit events after two rotations, want 2", len(events))
		}
	})
}

func kidsOf(ks []apiSigningKey) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k.Kid+"/"+k.State)
	}
	slices.Sort(out)
	return out
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSigningKeysPages: the list pages with limit and pageToken, each key
// once in order, and a token from elsewhere is a 400.
func TestSigningKeysPages(t *testing.T) {
	t.Parallel()
	e := testenv.NewEnv(t, testenv.SQLite(t))
	var all []apiSigningKey
	e.Must(http.StatusOK, "GET", "/api/v1/signingkeys", e.AdminToken, nil).JSON(t, &all)
	var paged []apiSigningKey
	token := ""
	for range 10 {
		q := "/api/v1/signingkeys?limit=4"
		if token != "" {
			q += "&pageToken=" + token
		}
		r := e.Must(http.StatusOK, "GET", q, e.AdminToken, nil)
		var page []apiSigningKey
		r.JSON(t, &page)
		paged = append(paged, page...)
		if token = r.Header.Get("X-Next-Page-Token"); token == "" {
			break
		}
	}
	if len(all) != 6 || !slices.Equal(kidsOf(paged), kidsOf(all)) {
		t.Errorf("pages of 4 gave %v, the whole list %v", kidsOf(paged), kidsOf(all))
	}
	for i := range paged {
		if i < len(all) && paged[i].Kid != all[i].Kid {
			t.Errorf("page order differs from the list at %d", i)
		}
	}
	e.Must(http.StatusBadRequest, "GET", "/api/v1/signingkeys?pageToken=bm90LWEtY3Vyc29y", e.AdminToken, nil)
}
