package server_test

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
)

// IAM over HTTP (issue 4): the end-to-end stories of the issue, API keys,
// role sessions, the guardrail and the operation catalogue.

// TestDevReaderEndToEnd is the story: a custom role that allows
// only reads of projects tagged env=dev, bound to a service account through
// a group; the account gets exactly those reads, its project list and its
// ACL show exactly those projects, and everything else is refused.
func TestDevReaderEndToEnd(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		devPolicy := rules("deny", "projects",
			"allow", "operation in ['get-project', 'list-projects'] && resources.project.tags.env == 'dev'")
		role := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "roles"), acme.token, roleWrite("dev-reader", devPolicy, nil)).obj(t))
		group := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "groups"), acme.token, groupWrite("dev-readers", []string{role}, nil, nil)).obj(t))
		sa := a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "serviceaccounts"), acme.token, saWrite("ci", []string{group})).obj(t)
		tok := str(sa, "status", "accessToken")
		project := func(name, env string) string {
			b := projectWrite(name, nil)
			if env != "" {
				b["metadata"].(map[string]any)["tags"] = []any{map[string]any{"name": "env", "value": env}}
			}
			return id(a.must(t, http.StatusAccepted, "POST", orgPath(acme.org, "projects"), acme.token, b).obj(t))
		}
		dev1, prod, dev2, untagged := project("web-dev", "dev"), project("web-prod", "prod"), project("api-dev", "dev"), project("misc", "")

		for _, p := range []string{dev1, dev2} {
			got := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "projects", p), tok, nil).obj(t)
			if id(got) != p {
				t.Errorf("read dev project %s: %v", p, got)
			}
		}
		refused := []refusal{
			{"read a prod project", "GET", orgPath(acme.org, "projects", prod), nil, http.StatusForbidden, "forbidden"},
			{"read an untagged project", "GET", orgPath(acme.org, "projects", untagged), nil, http.StatusForbidden, "forbidden"},
			{"update a dev project", "PUT", orgPath(acme.org, "projects", dev1), projectWrite("web-dev", nil), http.StatusForbidden, "forbidden"},
			{"delete a dev project", "DELETE", orgPath(acme.org, "projects", dev1), nil, http.StatusForbidden, "forbidden"},
			{"create a project", "POST", orgPath(acme.org, "projects"), projectWrite("new", nil), http.StatusForbidden, "forbidden"},
			{"list groups", "GET", orgPath(acme.org, "groups"), nil, http.StatusForbidden, "forbidden"},
			{"read the organization", "GET", orgPath(acme.org), nil, http.StatusForbidden, "forbidden"},
			{"read a dev project's allocations", "POST", orgPath(acme.org, "projects", dev1, "allocations"), allocWrite("a", item{"gpus", 1, 0}), http.StatusForbidden, "forbidden"},
		}
		a.refuseAll(t, tok, "calls beyond the dev-reader role", refused, acme.org)
		// The refusal says why.
		r := a.call(t, "GET", orgPath(acme.org, "projects", prod), tok, nil)
		if d := str(r.obj(t), "error_description"); !strings.Contains(d, "no system role allows get-project") || !strings.Contains(d, "dev-reader") {
			t.Errorf("refusal reason %q", d)
		}

		// The list holds exactly the dev projects, page by page too.
		if got := ids(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "projects"), tok, nil).arr(t)); !reflect.DeepEqual(got, []string{dev1, dev2}) {
			t.Errorf("listed %v, want the dev projects %v", got, []string{dev1, dev2})
		}
		page := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "projects")+"?limit=1", tok, nil)
		next := page.Header.Get("X-Next-Page-Token")
		if got := ids(page.arr(t)); !reflect.DeepEqual(got, []string{dev1}) || next == "" {
			t.Fatalf("first page %v, next %q", got, next)
		}
		page = a.must(t, http.StatusOK, "GET", orgPath(acme.org, "projects")+"?limit=1&pageToken="+next, tok, nil)
		if got := ids(page.arr(t)); !reflect.DeepEqual(got, []string{dev2}) {
			t.Errorf("second page %v", got)
		}
		if next := page.Header.Get("X-Next-Page-Token"); next != "" {
			// A last page may carry a token; the page after it is empty.
			if got := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "projects")+"?limit=1&pageToken="+next, tok, nil).arr(t); len(got) != 0 {
				t.Errorf("page after the last dev project: %v", ids(got))
			}
		}

		// Retagging a project moves it in or out at once.
		retag := projectWrite("web-prod", nil)
		retag["metadata"].(map[string]any)["tags"] = []any{map[string]any{"name": "env", "value": "dev"}}
		a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "projects", prod), acme.token, retag)
		a.must(t, http.StatusOK, "GET", orgPath(acme.org, "projects", prod), tok, nil)

		// The simulator says the same for this real principal.
		for p, want := range map[string]bool{dev1: true, untagged: false, prod: true} {
			d := a.must(t, http.StatusOK, "POST", orgPath(acme.org, "policy", "evaluate"), acme.token, map[string]any{
				"service": "projects", "operation": "get-project", "project": p,
				"principal": map[string]any{"type": "serviceAccount", "id": id(sa)}}).obj(t)
			if d["allowed"] != want || (want && (d["decidedBy"] != "role" || d["policy"] != "dev-reader" || d["roleId"] != role)) {
				t.Errorf("simulated get-project on %s: %v, want allowed %v by dev-reader", p, d, want)
			}
		}

		// The ACL is decided like the guard decides a request without
		// resources: a rule on the target's tags cannot match there, so the
		// account holds no right the ACL could promise for every request.
		acl := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "acl"), tok, nil).obj(t)
		if eps := get(acl, "organization", "endpoints").([]any); len(eps) != 0 {
			t.Errorf("organization endpoints %v, want none", eps)
		}
		if has(acl, "projects") {
			t.Errorf("project sections %v, want none", acl["projects"])
		}
	})
}

// TestAPIKeys: an API key is shown once, stored hashed, works as a bearer
// credential with exactly its role's rights, and stops working at once when
// revoked or expired.
func TestAPIKeys(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		other := a.tenant(t, "other", "administrator")
		p1 := id(a.must(t, http.StatusAccepted, "POST", orgPath(acme.org, "projects"), acme.token, projectWrite("p1", nil)).obj(t))
		base := orgPath(acme.org, "apikeys")

		created := a.must(t, http.StatusCreated, "POST", base, acme.token, apiKeyWrite("ci", a.role(t, "user"))).obj(t)
		keyID, token := id(created), str(created, "status", "accessToken")
		if !strings.HasPrefix(token, authn.APIKeyTokenPrefix+keyID+"_") || str(created, "status", "keyID") != keyID {
			t.Fatalf("token %q for key %s", token, keyID)
		}
		wantMeta(t, "API key", created, meta{name: "ci", org: ptrTo(acme.org), created: t0, createdBy: "serviceaccount:acme-administrator"})
		for _, r := range []*resp{a.must(t, http.StatusOK, "GET", orgPath(acme.org, "apikeys", keyID), acme.token, nil),
			a.must(t, http.StatusOK, "GET", base, acme.token, nil)} {
			if strings.Contains(string(r.Body), token) || strings.Contains(string(r.Body), "accessToken") {
				t.Errorf("%s shows the token again", r)
			}
		}
		var stored string
		if err := a.Store.DB().QueryRow("SELECT secret_hash FROM api_keys WHERE id = $1", keyID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored == "" || strings.Contains(token, stored) || len(stored) != 64 {
			t.Errorf("stored secret %q is not a SHA-256 hash", stored)
		}

		// The user role, in every project: project reads and updates,
		// organization reads; nothing else, nowhere else.
		a.must(t, http.StatusOK, "GET", orgPath(acme.org, "projects", p1), token, nil)
		a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "projects", p1), token, projectWrite("p1", nil))
		a.must(t, http.StatusOK, "GET", orgPath(acme.org), token, nil)
		if got := ids(a.must(t, http.StatusOK, "GET", "/api/v1/organizations", token, nil).arr(t)); !reflect.DeepEqual(got, []string{acme.org}) {
			t.Errorf("the key lists organizations %v, want its own", got)
		}
		if got := ids(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "projects"), token, nil).arr(t)); !reflect.DeepEqual(got, []string{p1}) {
			t.Errorf("the key lists projects %v", got)
		}
		acl := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "acl"), token, nil).obj(t)
		if ps, _ := get(acl, "projects").([]any); len(ps) != 1 || str(ps[0], "id") != p1 {
			t.Errorf("the key's ACL projects: %v", get(acl, "projects"))
		}
		a.refuseAll(t, token, "calls beyond the key's role", []refusal{
			{"delete a project", "DELETE", orgPath(acme.org, "projects", p1), nil, http.StatusForbidden, "forbidden"},
			{"list groups", "GET", orgPath(acme.org, "groups"), nil, http.StatusForbidden, "forbidden"},
			{"another organization", "GET", orgPath(other.org), nil, http.StatusForbidden, "forbidden"},
			{"create an organization", "POST", "/api/v1/organizations", orgWrite("x"), http.StatusForbidden, "forbidden"},
			{"create an API key", "POST", base, apiKeyWrite("more", a.role(t, "administrator")), http.StatusForbidden, "forbidden"},
		}, acme.org, other.org)

		// A key may create keys only of its own role (here, with an
		// administrator key).
		adminKey := str(a.must(t, http.StatusCreated, "POST", base, acme.token, apiKeyWrite("admin", a.role(t, "administrator"))).obj(t), "status", "accessToken")
		a.must(t, http.StatusCreated, "POST", base, adminKey, apiKeyWrite("child", a.role(t, "administrator")))
		wantError(t, a.call(t, "POST", base, adminKey, apiKeyWrite("another-role", a.role(t, "reader"))), http.StatusForbidden, "forbidden")
		// A member who cannot create groups cannot create keys, even with
		// apikeys:create from a custom role.
		keyMaker := a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "roles"), acme.token,
			roleWrite("key-maker", map[string]any{"defaultServiceStrategy": "deny", "services": map[string]any{"apikeys": map[string]any{"type": "allow"}}}, nil)).obj(t)
		maker := a.addMemberWithRoles(t, acme.org, "makers", id(keyMaker))
		r := a.call(t, "POST", base, maker.token, apiKeyWrite("sneaky", a.role(t, "administrator")))
		wantError(t, r, http.StatusForbidden, "forbidden")
		if !strings.Contains(str(r.obj(t), "error_description"), "create groups") {
			t.Errorf("refusal %s does not say why", r)
		}

		// Bad requests change nothing.
		before := a.roleState(t, acme.org)
		a.refuseAll(t, acme.token, "bad API keys", []refusal{
			{"unknown role", "POST", base, apiKeyWrite("k", "no-such-role"), http.StatusBadRequest, "invalid_request"},
			{"another organization's role", "POST", base, apiKeyWrite("k", id(a.must(t, http.StatusCreated, "POST", orgPath(other.org, "roles"), other.token, roleWrite("theirs", allowAll(), nil)).obj(t))), http.StatusBadRequest, "invalid_request"},
			{"the platform role", "POST", base, apiKeyWrite("k", a.platformRole(t)), http.StatusBadRequest, "invalid_request"},
			{"duplicate name", "POST", base, apiKeyWrite("ci", a.role(t, "user")), http.StatusConflict, "conflict"},
			{"expiry in the past", "POST", base, map[string]any{"metadata": md("k"), "spec": map[string]any{"roleID": a.role(t, "user"), "expiry": "2020-01-01T00:00:00Z"}}, http.StatusBadRequest, "invalid_request"},
			{"no role", "POST", base, map[string]any{"metadata": md("k"), "spec": map[string]any{}}, http.StatusBadRequest, "invalid_request"},
			{"unknown key", "GET", orgPath(acme.org, "apikeys", "no-such-key"), nil, http.StatusNotFound, "not_found"},
			{"another organization's key", "DELETE", orgPath(other.org, "apikeys", keyID), nil, http.StatusForbidden, "forbidden"},
		}, acme.org, other.org)
		if after := a.roleState(t, acme.org); after != before {
			diffState(t, before, after, "bad API keys")
		}
		wantError(t, a.call(t, "GET", orgPath(other.org, "apikeys", keyID), other.token, nil), http.StatusNotFound, "not_found")

		// Forged, malformed and revoked keys are 401.
		for name, tok := range map[string]string{
			"wrong secret":   authn.APIKeyToken(keyID, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
			"unknown key":    authn.APIKeyToken("00000000-0000-7000-8000-999999999999", strings.Split(token, "_")[2]),
			"no secret":      authn.APIKeyTokenPrefix + keyID,
			"no key":         authn.APIKeyTokenPrefix + "_secret",
			"another prefix": "ghsk_" + strings.TrimPrefix(token, authn.APIKeyTokenPrefix),
		} {
			if r := a.call(t, "GET", orgPath(acme.org), tok, nil); r.Status != http.StatusUnauthorized {
				t.Errorf("%s: %s, want 401", name, r)
			}
		}
		a.must(t, http.StatusOK, "DELETE", orgPath(acme.org, "apikeys", keyID), acme.token, nil)
		wantError(t, a.call(t, "GET", orgPath(acme.org), token, nil), http.StatusUnauthorized, "access_denied")
		wantError(t, a.call(t, "GET", orgPath(acme.org, "apikeys", keyID), acme.token, nil), http.StatusNotFound, "not_found")

		// An expiring key works until its expiry, then is 401.
		exp := a.Clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		expiring := a.must(t, http.StatusCreated, "POST", base, acme.token, map[string]any{"metadata": md("short"),
			"spec": map[string]any{"roleID": a.role(t, "reader"), "expiry": exp}}).obj(t)
		if str(expiring, "spec", "expiry") != exp {
			t.Errorf("expiry %v, want %s", get(expiring, "spec", "expiry"), exp)
		}
		short := str(expiring, "status", "accessToken")
		a.must(t, http.StatusOK, "GET", orgPath(acme.org, "groups"), short, nil)
		a.Clock.Advance(time.Hour)
		wantError(t, a.call(t, "GET", orgPath(acme.org, "groups"), short, nil), http.StatusUnauthorized, "access_denied")
	})
}

// addMemberWithRoles creates group name granting roleIDs in org and a
// service account of the same name in it.
func (a *apiEnv) addMemberWithRoles(t testing.TB, org, name string, roleIDs ...string) *member {
	t.Helper()
	g := a.admin(t, http.StatusCreated, "POST", orgPath(org, "groups"), groupWrite(name, roleIDs, nil, nil)).obj(t)
	sa := a.admin(t, http.StatusCreated, "POST", orgPath(org, "serviceaccounts"), saWrite(name, []string{id(g)})).obj(t)
	return &member{org: org, group: id(g), sa: id(sa), token: str(sa, "status", "accessToken")}
}

// TestAssumeRole: the assume-role policy decides who may assume, with the
// caller as principal; the session's rights are exactly the role's, it
// lasts its ttl (within maxSessionTTL and the server's maximum), it cannot
// assume again, and it ends when the role is deleted.
func TestAssumeRole(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		ops := a.addMember(t, acme.org, "ops", "reader")
		p1 := id(a.must(t, http.StatusAccepted, "POST", orgPath(acme.org, "projects"), acme.token, projectWrite("p1", nil)).obj(t))
		// The role: manage groups only. Who may assume it: members of the
		// ops group, from 10.0.0.0/8.
		groupsOnly := map[string]any{"defaultServiceStrategy": "deny", "services": map[string]any{"groups": map[string]any{"type": "allow"}}}
		trust := rules("deny", "roles", "allow", "'"+ops.group+"' in principal.groupIDs && sourceIP.inIpRange('10.0.0.0/8')")
		body := roleWrite("groups-admin", groupsOnly, trust)
		body["spec"].(map[string]any)["maxSessionTTL"] = 1800
		role := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "roles"), acme.token, body).obj(t))
		assume := orgPath(acme.org, "roles", role, "assume")
		office := header{"X-Forwarded-For", "10.1.2.3"}

		// Refusals, and nothing written for them.
		bare := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "roles"), acme.token, roleWrite("untrusting", allowAll(), nil)).obj(t))
		cases := []struct {
			name, token, path string
			ttl               int
			hdr               header
			status            int
		}{
			{"the policy does not allow an administrator", acme.token, assume, 60, office, http.StatusForbidden},
			{"outside the network", ops.token, assume, 60, header{"X-Forwarded-For", "192.0.2.1"}, http.StatusForbidden},
			{"ttl over maxSessionTTL", ops.token, assume, 1801, office, http.StatusBadRequest},
			{"a role without an assume-role policy", ops.token, orgPath(acme.org, "roles", bare, "assume"), 60, office, http.StatusForbidden},
			{"a system role", ops.token, orgPath(acme.org, "roles", a.role(t, "administrator"), "assume"), 60, office, http.StatusForbidden},
			{"an unknown role", ops.token, orgPath(acme.org, "roles", "no-such-role", "assume"), 60, office, http.StatusNotFound},
		}
		events := func() int {
			return len(a.must(t, http.StatusOK, "GET", orgPath(acme.org, "auditevents")+"?resourceType=roles", a.AdminToken, nil).arr(t))
		}
		before := events()
		for _, c := range cases {
			r := a.call(t, "POST", c.path, c.token, map[string]any{"ttl": c.ttl}, c.hdr)
			if r.Status != c.status {
				t.Errorf("%s: %s, want %d", c.name, r, c.status)
			}
		}
		if events() != before {
			t.Error("refused assumptions were audited as sessions")
		}

		// The session.
		sess := a.must(t, http.StatusOK, "POST", assume, ops.token, map[string]any{"ttl": 900}, office).obj(t)
		tok := str(sess, "accessToken")
		if sess["tokenType"] != "Bearer" || sess["expiresIn"] != 900.0 || sess["roleID"] != role || strings.Count(tok, ".") != 2 {
			t.Fatalf("session %v", sess)
		}
		if exp, _ := time.Parse(time.RFC3339, str(sess, "expiration")); exp.Sub(a.OIDCClock.Now()) > 900*time.Second || exp.Sub(a.OIDCClock.Now()) < 890*time.Second {
			t.Errorf("expiration %v is not 900 s from now (%v)", exp, a.OIDCClock.Now())
		}
		if events() != before+1 {
			t.Error("the session was not audited")
		}
		// Exactly the role's rights: groups yes; what the caller could do
		// as a reader (read projects), no.
		g := a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "groups"), tok, groupWrite("made-in-session", nil, nil, nil)).obj(t)
		if str(g, "metadata", "createdBy") != "assumedrole:groups-admin:serviceaccount:ops" {
			t.Errorf("createdBy %q", str(g, "metadata", "createdBy"))
		}
		a.refuseAll(t, tok, "calls beyond the assumed role", []refusal{
			{"read a project", "GET", orgPath(acme.org, "projects", p1), nil, http.StatusForbidden, "forbidden"},
			{"read the organization", "GET", orgPath(acme.org), nil, http.StatusForbidden, "forbidden"},
			{"assume again", "POST", assume, map[string]any{"ttl": 60}, http.StatusForbidden, "forbidden"},
			{"create an API key of a wider role", "POST", orgPath(acme.org, "apikeys"), apiKeyWrite("k", a.role(t, "administrator")), http.StatusForbidden, "forbidden"},
		}, acme.org)
		// The audit log names the session and who assumed it.
		evs := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "auditevents")+"?resourceId="+id(g), a.AdminToken, nil).arr(t)
		if len(evs) != 1 || str(evs[0], "actor", "kind") != "assumedrole" || str(evs[0], "actor", "roleId") != role ||
			str(evs[0], "actor", "source", "id") != ops.sa {
			t.Errorf("audit of the session's write: %v", evs)
		}

		// A session cannot be exchanged for a longer one.
		// (Token exchange refuses assumed-role subject tokens: tested in
		// internal/oidc.)

		// The server's maximum token lifetime bounds the ttl too.
		long := roleWrite("long", groupsOnly, rules("allow", "roles", "allow", "true"))
		long["spec"].(map[string]any)["maxSessionTTL"] = 43200
		longRole := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "roles"), acme.token, long).obj(t))
		r := a.call(t, "POST", orgPath(acme.org, "roles", longRole, "assume"), acme.token, map[string]any{"ttl": 7200})
		wantError(t, r, http.StatusBadRequest, "invalid_request")
		if !strings.Contains(str(r.obj(t), "error_description"), "maximum token lifetime") {
			t.Errorf("refusal %s", r)
		}

		// The session expires.
		short := str(a.must(t, http.StatusOK, "POST", assume, ops.token, map[string]any{"ttl": 60}, office).obj(t), "accessToken")
		a.must(t, http.StatusOK, "GET", orgPath(acme.org, "groups"), short, nil)
		a.OIDCClock.Advance(61 * time.Second)
		wantError(t, a.call(t, "GET", orgPath(acme.org, "groups"), short, nil), http.StatusUnauthorized, "access_denied")

		// Deleting the role ends its sessions at once, even where the
		// session has nothing to do.
		a.must(t, http.StatusOK, "DELETE", orgPath(acme.org, "roles", role), acme.token, nil)
		for _, p := range []string{orgPath(acme.org, "groups"), "/api/v1/acl", "/api/v1/organizations"} {
			r := a.call(t, "GET", p, tok, nil)
			wantError(t, r, http.StatusUnauthorized, "access_denied")
		}
	})
}

// TestGuardrail: the organization policy, its reset, who it binds and who
// it does not.
func TestGuardrail(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		reader := a.addMember(t, acme.org, "readers", "reader")
		p1 := id(a.must(t, http.StatusAccepted, "POST", orgPath(acme.org, "projects"), acme.token, projectWrite("p1", nil)).obj(t))
		pol := orgPath(acme.org, "policy")
		if got := a.must(t, http.StatusOK, "GET", pol, reader.token, nil).obj(t); !reflect.DeepEqual(got, allowAll()) {
			t.Errorf("no guardrail reads %v, want allow-all", got)
		}
		wantError(t, a.call(t, "PUT", pol, reader.token, allowAll()), http.StatusForbidden, "forbidden")

		// No project may be deleted, and nothing may be done from outside
		// 10.0.0.0/8.
		guard := map[string]any{"defaultServiceStrategy": "deny", "services": map[string]any{
			"projects": map[string]any{"type": "rules", "rules": []any{
				map[string]any{"action": "deny", "expression": "operation == 'delete-project'"},
				map[string]any{"action": "allow", "expression": "sourceIP.inIpRange('10.0.0.0/8')"}}},
			"policies":      map[string]any{"type": "allow"},
			"organizations": map[string]any{"type": "rules", "rules": []any{map[string]any{"action": "allow", "expression": "operation != 'reset-organization-policy'"}}},
		}}
		if got := a.must(t, http.StatusOK, "PUT", pol, acme.token, guard).obj(t); !reflect.DeepEqual(normalize(t, got), normalize(t, guard)) {
			t.Errorf("PUT returned %v", got)
		}
		office := header{"X-Forwarded-For", "10.9.9.9"}
		a.must(t, http.StatusOK, "GET", orgPath(acme.org, "projects", p1), acme.token, nil, office)
		r := a.call(t, "GET", orgPath(acme.org, "projects", p1), acme.token, nil, header{"X-Forwarded-For", "203.0.113.5"})
		wantError(t, r, http.StatusForbidden, "forbidden")
		if !strings.Contains(str(r.obj(t), "error_description"), "organization guardrail denies") {
			t.Errorf("refusal %s does not name the guardrail", r)
		}
		wantError(t, a.call(t, "DELETE", orgPath(acme.org, "projects", p1), acme.token, nil, office), http.StatusForbidden, "forbidden")
		wantError(t, a.call(t, "GET", orgPath(acme.org, "groups"), acme.token, nil), http.StatusForbidden, "forbidden")
		// The platform administrator is not bound by it.
		a.must(t, http.StatusOK, "GET", orgPath(acme.org, "groups"), a.AdminToken, nil)
		// The administrator cannot reset it here (the guardrail refuses
		// reset-organization-policy); a holder of the break-glass
		// permission can, whatever the guardrail says.
		wantError(t, a.call(t, "POST", orgPath(acme.org, "policy", "reset"), acme.token, nil), http.StatusForbidden, "forbidden")
		breakGlass := map[string]any{"metadata": md("break-glass"), "spec": map[string]any{
			"policy": map[string]any{"defaultServiceStrategy": "deny", "services": map[string]any{}}, "permissions": []string{"resetOrganizationPolicy"}}}
		bg := id(a.admin(t, http.StatusCreated, "POST", orgPath(acme.org, "roles"), breakGlass).obj(t))
		holder := a.addMemberWithRoles(t, acme.org, "on-call", bg)
		wantError(t, a.call(t, "GET", pol, holder.token, nil), http.StatusForbidden, "forbidden")
		if got := a.must(t, http.StatusOK, "POST", orgPath(acme.org, "policy", "reset"), holder.token, nil).obj(t); !reflect.DeepEqual(got, allowAll()) {
			t.Errorf("reset returned %v", got)
		}
		a.must(t, http.StatusOK, "GET", orgPath(acme.org, "groups"), acme.token, nil)
		a.must(t, http.StatusAccepted, "DELETE", orgPath(acme.org, "projects", p1), acme.token, nil)
		// Administrators reset through organizations:update; the platform
		// administrator always can.
		a.must(t, http.StatusOK, "PUT", pol, acme.token, guard)
		a.must(t, http.StatusOK, "POST", orgPath(acme.org, "policy", "reset"), a.AdminToken, nil)
		a.must(t, http.StatusOK, "PUT", pol, acme.token, rules("allow", "projects", "allow", "true"))
		a.must(t, http.StatusOK, "POST", orgPath(acme.org, "policy", "reset"), acme.token, nil)
		wantError(t, a.call(t, "POST", orgPath(acme.org, "policy", "reset"), reader.token, nil), http.StatusForbidden, "forbidden")
	})
}

// TestOperationsCatalogue: GET /api/v1/operations lists every operation
// under its policy names, sorted, to any authenticated caller, page by page.
func TestOperationsCatalogue(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "reader")
		all := a.must(t, http.StatusOK, "GET", "/api/v1/operations", acme.token, nil).arr(t)
		// The spec's operations and the SCIM ones (issue 18), served at
		// /scim/v2 outside the spec.
		if len(all) != len(specOperations(t))+len(authz.SCIMRoutes) {
			t.Errorf("%d operations listed, the spec has %d and SCIM %d", len(all), len(specOperations(t)), len(authz.SCIMRoutes))
		}
		byID := map[string]map[string]any{}
		for _, o := range all {
			byID[str(o, "operationId")] = o
		}
		for id, want := range map[string]map[string]any{
			"getProject": {"service": "projects", "operation": "get-project", "endpoint": "identity:projects", "crudOperation": "read"},
			"listOrganizationOauth2Providers": {"service": "oauth2providers", "operation": "list-organization-oauth2-providers",
				"endpoint": "identity:oauth2providers", "crudOperation": "read"},
			"getGlobalAcl": {"service": "acl", "operation": "get-global-acl", "endpoint": "", "crudOperation": ""},
			"assumeRole":   {"service": "roles", "operation": "assume-role", "endpoint": "identity:roles", "crudOperation": "create"},
		} {
			want["operationId"] = id
			if !reflect.DeepEqual(byID[id], want) {
				t.Errorf("%s = %v, want %v", id, byID[id], want)
			}
		}
		var paged []map[string]any
		for token := ""; ; {
			q := "?limit=25"
			if token != "" {
				q += "&pageToken=" + token
			}
			r := a.must(t, http.StatusOK, "GET", "/api/v1/operations"+q, acme.token, nil)
			paged = append(paged, r.arr(t)...)
			if token = r.Header.Get("X-Next-Page-Token"); token == "" {
				break
			}
		}
		if !reflect.DeepEqual(paged, all) {
			t.Error("the pages do not add up to the list")
		}
		wantError(t, a.call(t, "GET", "/api/v1/operations?pageToken=bm9wZQ", acme.token, nil), http.StatusBadRequest, "invalid_request")
		wantError(t, a.call(t, "GET", "/api/v1/operations", "", nil), http.StatusUnauthorized, "access_denied")
	})
}
