package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// SCIM 2.0 provisioning (issue 18), through the whole server on both
// engines: the directory's API key, the endpoints, the mapping onto users
// and groups, the errors, isolation and the audit log.

const (
	scimUser       = "urn:ietf:params:scim:schemas:core:2.0:User"
	scimGroup      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	scimEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	scimPatchOp    = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	scimError      = "urn:ietf:params:scim:api:messages:2.0:Error"
)

func scimPath(org string, rest ...string) string {
	p := "/scim/v2/organizations/" + org
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// scimFixture is an organization owning acme.example, its administrator,
// and its directory's API key (role scim-provisioner).
type scimFixture struct {
	admin *member
	key   string
}

func newSCIMFixture(t testing.TB, a *apiEnv, name string) *scimFixture {
	t.Helper()
	admin := a.tenant(t, name, "administrator")
	a.OwnDomain(admin.org, name+".example")
	k := a.must(t, http.StatusCreated, "POST", orgPath(admin.org, "apikeys"), admin.token, apiKeyWrite("directory", a.role(t, "scim-provisioner"))).obj(t)
	return &scimFixture{admin: admin, key: str(k, "status", "accessToken")}
}

// scim sends a SCIM request as application/scim+json.
func (a *apiEnv) scim(t testing.TB, want int, method, path, token string, body any, hdrs ...header) *resp {
	t.Helper()
	if body != nil {
		hdrs = append([]header{{"Content-Type", "application/scim+json"}}, hdrs...)
	}
	r := a.call(t, method, path, token, body, hdrs...)
	if r.Status != want {
		t.Fatalf("%s: want %d", r, want)
	}
	if want >= 400 {
		wantSCIMError(t, r, "")
	}
	return r
}

// wantSCIMError checks r is a SCIM error (RFC 7644, section 3.12) of its
// status, with scimType when given.
func wantSCIMError(t testing.TB, r *resp, scimType string) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/scim+json" {
		t.Errorf("%s: Content-Type %q", r, ct)
	}
	m := r.obj(t)
	schemas, _ := m["schemas"].([]any)
	if len(schemas) != 1 || schemas[0] != scimError || m["status"] != fmt.Sprint(r.Status) || str(m, "detail") == "" {
		t.Errorf("%s: not a SCIM error", r)
	}
	if scimType != "" && m["scimType"] != scimType {
		t.Errorf("%s: scimType %v, want %s", r, m["scimType"], scimType)
	}
}

func scimUserBody(userName string, extra map[string]any) map[string]any {
	b := map[string]any{"schemas": []string{scimUser}, "userName": userName}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

func patchBody(ops ...map[string]any) map[string]any {
	return map[string]any{"schemas": []string{scimPatchOp}, "Operations": ops}
}

func listed(t testing.TB, r *resp) (total int, resources []map[string]any) {
	t.Helper()
	m := r.obj(t)
	for _, x := range m["Resources"].([]any) {
		resources = append(resources, x.(map[string]any))
	}
	return int(m["totalResults"].(float64)), resources
}

func apiUser(t testing.TB, a *apiEnv, org, id string) map[string]any {
	t.Helper()
	return a.admin(t, http.StatusOK, "GET", orgPath(org, "users", id), nil).obj(t)
}

// TestSCIMProvisioning walks what Okta's and Entra ID's provisioning
// clients do, in their order: discovery, look a user up by filter, create
// it, change it (PUT and PATCH, with ETags), push a group and its
// membership, deactivate and delete. Every write is audited as the
// directory's.
func TestSCIMProvisioning(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		f := newSCIMFixture(t, a, "acme")
		org, key := f.admin.org, f.key

		// Discovery.
		spc := a.scim(t, http.StatusOK, "GET", scimPath(org, "ServiceProviderConfig"), key, nil).obj(t)
		if get(spc, "patch", "supported") != true || get(spc, "filter", "supported") != true || get(spc, "bulk", "supported") != false {
			t.Errorf("ServiceProviderConfig %v", spc)
		}
		if n, _ := listed(t, a.scim(t, http.StatusOK, "GET", scimPath(org, "ResourceTypes"), key, nil)); n != 2 {
			t.Errorf("%d resource types", n)
		}
		if n, _ := listed(t, a.scim(t, http.StatusOK, "GET", scimPath(org, "Schemas"), key, nil)); n != 3 {
			t.Errorf("%d schemas", n)
		}
		a.scim(t, http.StatusOK, "GET", scimPath(org, "Schemas", scimEnterprise), key, nil)
		a.scim(t, http.StatusOK, "GET", scimPath(org, "ResourceTypes", "User"), key, nil)
		a.scim(t, http.StatusNotFound, "GET", scimPath(org, "ResourceTypes", "Printer"), key, nil)

		// Look up, then create (Okta).
		byName := scimPath(org, "Users") + "?filter=" + url.QueryEscape(`userName eq "Jo@Acme.example"`)
		if n, _ := listed(t, a.scim(t, http.StatusOK, "GET", byName, key, nil)); n != 0 {
			t.Fatalf("%d users before the create", n)
		}
		created := a.scim(t, http.StatusCreated, "POST", scimPath(org, "Users"), key, scimUserBody("Jo@Acme.example", map[string]any{
			"externalId": "00u1", "name": map[string]any{"givenName": "Jo", "familyName": "Doe"}, "displayName": "Jo Doe",
			"emails": []map[string]any{{"value": "jo@acme.example", "type": "work", "primary": true}}, "active": true,
			"title": "Engineer", "groups": []any{}, // accepted, not kept (title) or read-only (groups)
		}))
		u := created.obj(t)
		uid := str(u, "id")
		if created.Header.Get("ETag") != str(u, "meta", "version") || created.Header.Get("ETag") == "" {
			t.Errorf("create's ETag %q, meta %v", created.Header.Get("ETag"), u["meta"])
		}
		if created.Header.Get("Location") != str(u, "meta", "location") || !strings.HasSuffix(str(u, "meta", "location"), scimPath(org, "Users", uid)) {
			t.Errorf("Location %q, meta %v", created.Header.Get("Location"), u["meta"])
		}
		if str(u, "userName") != "jo@acme.example" || u["active"] != true || str(u, "name", "givenName") != "Jo" || str(u, "externalId") != "00u1" || has(u, "title") {
			t.Errorf("created %v", u)
		}
		if au := apiUser(t, a, org, uid); str(au, "spec", "subject") != "jo@acme.example" || str(au, "spec", "state") != "active" {
			t.Errorf("the user as /api/v1 sees it: %v", au)
		}
		if n, found := listed(t, a.scim(t, http.StatusOK, "GET", byName, key, nil)); n != 1 || str(found[0], "id") != uid {
			t.Errorf("lookup after create: %d", n)
		}
		dup := a.scim(t, http.StatusConflict, "POST", scimPath(org, "Users"), key, scimUserBody("jo@acme.example", nil))
		wantSCIMError(t, dup, "uniqueness")

		// Filters, sorting, pagination.
		for _, n := range []string{"al", "bo", "cy"} {
			a.scim(t, http.StatusCreated, "POST", scimPath(org, "Users"), key, scimUserBody(n+"@acme.example", map[string]any{"externalId": "ext-" + n}))
		}
		for _, c := range []struct {
			query string
			total int
			first string
		}{
			{"filter=" + url.QueryEscape(`externalId eq "ext-bo"`), 1, "bo@acme.example"},
			{"filter=" + url.QueryEscape(`externalId eq "EXT-BO"`), 0, ""}, // externalId is caseExact
			{"filter=" + url.QueryEscape(`userName sw "c" or userName sw "a"`) + "&sortBy=userName", 2, "al@acme.example"},
			{"filter=" + url.QueryEscape(`userName co "o" and active eq true`) + "&sortBy=userName&sortOrder=descending", 2, "jo@acme.example"},
			{"filter=" + url.QueryEscape(`name.givenName pr`), 1, "jo@acme.example"},
			{"filter=" + url.QueryEscape(`emails[type eq "work" and value ew "acme.example"]`) + "&sortBy=userName", 4, "al@acme.example"},
			{"filter=" + url.QueryEscape(`not (userName eq "jo@acme.example")`), 3, ""},
			{"sortBy=userName&startIndex=2&count=2", 4, "bo@acme.example"},
		} {
			r := a.scim(t, http.StatusOK, "GET", scimPath(org, "Users")+"?"+c.query, key, nil)
			n, items := listed(t, r)
			if n != c.total || c.first != "" && (len(items) == 0 || str(items[0], "userName") != c.first) {
				t.Errorf("%s: total %d, first %v", c.query, n, items)
			}
		}
		page := a.scim(t, http.StatusOK, "GET", scimPath(org, "Users")+"?sortBy=userName&startIndex=2&count=2", key, nil).obj(t)
		if page["startIndex"] != 2.0 || page["itemsPerPage"] != 2.0 {
			t.Errorf("page %v", page)
		}
		if n, items := listed(t, a.scim(t, http.StatusOK, "GET", scimPath(org, "Users")+"?count=0", key, nil)); n != 4 || len(items) != 0 {
			t.Errorf("count=0: %d, %d", n, len(items))
		}

		// ETags: If-None-Match, If-Match.
		got := a.scim(t, http.StatusOK, "GET", scimPath(org, "Users", uid), key, nil)
		etag := got.Header.Get("ETag")
		if etag == "" || etag != str(got.obj(t), "meta", "version") {
			t.Fatalf("ETag %q, meta %v", etag, got.obj(t)["meta"])
		}
		a.scim(t, http.StatusNotModified, "GET", scimPath(org, "Users", uid), key, nil, header{"If-None-Match", etag})
		a.Clock.Advance(1e9)
		stale := a.scim(t, http.StatusPreconditionFailed, "PUT", scimPath(org, "Users", uid), key,
			scimUserBody("jo@acme.example", map[string]any{"displayName": "Stale"}), header{"If-Match", `W/"1"`})
		wantSCIMError(t, stale, "")

		// PUT replaces the directory's attributes.
		put := a.scim(t, http.StatusOK, "PUT", scimPath(org, "Users", uid), key, scimUserBody("jo@acme.example", map[string]any{
			"schemas": []string{scimUser, scimEnterprise}, "displayName": "Jo D.", "externalId": "00u1",
			scimEnterprise: map[string]any{"department": "R&D", "manager": map[string]any{"value": "boss"}},
		}), header{"If-Match", etag})
		pu := put.obj(t)
		if str(pu, "displayName") != "Jo D." || has(pu, "name") || str(pu, scimEnterprise, "department") != "R&D" || put.Header.Get("ETag") == etag {
			t.Errorf("after PUT %v (ETag %s)", pu, put.Header.Get("ETag"))
		}

		// A group of the directory and its members.
		bo := str(a.scim(t, http.StatusOK, "GET", scimPath(org, "Users")+"?filter="+url.QueryEscape(`userName eq "bo@acme.example"`), key, nil).obj(t)["Resources"].([]any)[0], "id")
		gr := a.scim(t, http.StatusCreated, "POST", scimPath(org, "Groups"), key, map[string]any{
			"schemas": []string{scimGroup}, "displayName": "Engineering Team", "externalId": "g1",
			"members": []map[string]any{{"value": uid}}}).obj(t)
		gid := str(gr, "id")
		if members, _ := gr["members"].([]any); len(members) != 1 || str(members[0], "value") != uid || str(members[0], "display") != "Jo D." {
			t.Errorf("group %v", gr)
		}
		if ag := a.admin(t, http.StatusOK, "GET", orgPath(org, "groups", gid), nil).obj(t); str(ag, "metadata", "name") != "Engineering-Team" ||
			!slices.Equal(strs(ag, "spec", "userIDs"), []string{uid}) {
			t.Errorf("the group as /api/v1 sees it: %v", ag)
		}
		if ug := a.scim(t, http.StatusOK, "GET", scimPath(org, "Users", uid), key, nil).obj(t); str(ug["groups"].([]any)[0], "value") != gid {
			t.Errorf("user's groups %v", ug["groups"])
		}
		members := func() []string {
			g := a.scim(t, http.StatusOK, "GET", scimPath(org, "Groups", gid), key, nil).obj(t)
			var out []string
			for _, m := range asSlice(g["members"]) {
				out = append(out, str(m, "value"))
			}
			slices.Sort(out)
			return out
		}
		for _, c := range []struct {
			name string
			ops  []map[string]any
			want []string
		}{
			{"add (Okta)", []map[string]any{{"op": "add", "path": "members", "value": []map[string]any{{"value": bo}}}}, sorted(uid, bo)},
			{"add again", []map[string]any{{"op": "Add", "path": "members", "value": []map[string]any{{"value": bo}}}}, sorted(uid, bo)},
			{"remove by filter (Okta)", []map[string]any{{"op": "remove", "path": `members[value eq "` + bo + `"]`}}, []string{uid}},
			{"remove by value (Entra ID)", []map[string]any{{"op": "Remove", "path": "members", "value": []map[string]any{{"value": uid}}}}, nil},
			{"remove what is gone", []map[string]any{{"op": "remove", "path": `members[value eq "` + uid + `"]`}}, nil},
			{"replace", []map[string]any{{"op": "replace", "path": "members", "value": []map[string]any{{"value": uid}, {"value": bo}}}}, sorted(uid, bo)},
			// Okta renames with the group's id in the value.
			{"rename and drop all", []map[string]any{{"op": "replace", "value": map[string]any{"id": gid, "displayName": "Eng"}}, {"op": "remove", "path": "members"}}, nil},
		} {
			a.scim(t, http.StatusOK, "PATCH", scimPath(org, "Groups", gid), key, patchBody(c.ops...))
			if got := members(); !slices.Equal(got, c.want) {
				t.Errorf("%s: members %v, want %v", c.name, got, c.want)
			}
		}
		if n, gs := listed(t, a.scim(t, http.StatusOK, "GET", scimPath(org, "Groups")+"?filter="+url.QueryEscape(`displayName eq "eng"`)+"&excludedAttributes=members", key, nil)); n != 1 || has(gs[0], "members") {
			t.Errorf("group lookup: %d %v", n, gs)
		}

		// Deactivation (Okta: no path; Entra ID: a path), reactivation.
		for _, c := range []struct {
			op     map[string]any
			active bool
		}{
			{map[string]any{"op": "replace", "value": map[string]any{"active": false}}, false},
			{map[string]any{"op": "Replace", "path": "active", "value": true}, true},
			{map[string]any{"op": "replace", "path": "active", "value": false}, false},
			// Entra ID without aadOptscim062020 sends the booleans as text.
			{map[string]any{"op": "Replace", "path": "active", "value": "True"}, true},
			{map[string]any{"op": "Replace", "path": "active", "value": "False"}, false},
		} {
			r := a.scim(t, http.StatusOK, "PATCH", scimPath(org, "Users", uid), key, patchBody(c.op)).obj(t)
			wantState := map[bool]string{true: "active", false: "suspended"}[c.active]
			if r["active"] != c.active || str(apiUser(t, a, org, uid), "spec", "state") != wantState {
				t.Errorf("after %v: %v", c.op, r["active"])
			}
		}
		patched := a.scim(t, http.StatusOK, "PATCH", scimPath(org, "Users", uid), key, patchBody(
			map[string]any{"op": "replace", "path": "name.givenName", "value": "Joanna"},
			map[string]any{"op": "replace", "path": scimEnterprise + ":department", "value": "Ops"},
			map[string]any{"op": "add", "path": "phoneNumbers", "value": []map[string]any{{"value": "+41"}}},
			map[string]any{"op": "replace", "path": `emails[type eq "work"].value`, "value": "joanna@acme.example"},
		)).obj(t)
		if str(patched, "name", "givenName") != "Joanna" || str(patched, scimEnterprise, "department") != "Ops" || has(patched, "phoneNumbers") ||
			str(patched["emails"].([]any)[0], "value") != "joanna@acme.example" {
			t.Errorf("patched %v", patched)
		}

		// A PUT without active keeps the state: profile updates never
		// reactivate a leaver.
		if r := a.scim(t, http.StatusOK, "PUT", scimPath(org, "Users", uid), key, scimUserBody("joanna@acme.example", nil)).obj(t); r["active"] != false ||
			str(apiUser(t, a, org, uid), "spec", "state") != "suspended" || str(r, "userName") != "joanna@acme.example" {
			t.Errorf("PUT without active: %v", r)
		}

		// Delete.
		a.scim(t, http.StatusNoContent, "DELETE", scimPath(org, "Groups", gid), key, nil)
		a.scim(t, http.StatusNotFound, "GET", scimPath(org, "Groups", gid), key, nil)
		del := a.scim(t, http.StatusNoContent, "DELETE", scimPath(org, "Users", uid), key, nil)
		a.scim(t, http.StatusNotFound, "GET", scimPath(org, "Users", uid), key, nil)
		a.admin(t, http.StatusNotFound, "GET", orgPath(org, "users", uid), nil)

		// The audit log: each write once, as the directory's key.
		ev := a.eventsOf(t, del)
		if len(ev) != 1 || ev[0]["op"] != "scimDeleteUser" || ev[0]["type"] != "users" || ev[0]["id"] != uid || ev[0]["org"] != org ||
			str(ev[0]["actor"], "kind") != "apikey" || ev[0]["before"] == nil {
			t.Errorf("delete events %v", ev)
		}
		if ev := a.eventsOf(t, created); len(ev) != 1 || ev[0]["op"] != "scimCreateUser" || ev[0]["id"] != uid || str(ev[0]["after"], "subject") != "jo@acme.example" {
			t.Errorf("create events %v", ev)
		}
		if ev := a.eventsOf(t, put); len(ev) != 1 || ev[0]["op"] != "scimReplaceUser" {
			t.Errorf("replace events %v", ev)
		}
		if ev := a.eventsOf(t, stale); len(ev) != 0 {
			t.Errorf("a refused write left events %v", ev)
		}
	})
}

func sorted(s ...string) []string { slices.Sort(s); return s }

func asSlice(v any) []any { s, _ := v.([]any); return s }

// TestSCIMBadInput: every malformed or refused request is a SCIM error with
// the right status and scimType, and changes nothing, on both engines.
func TestSCIMBadInput(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		f := newSCIMFixture(t, a, "acme")
		org, key := f.admin.org, f.key
		uid := str(a.scim(t, http.StatusCreated, "POST", scimPath(org, "Users"), key, scimUserBody("jo@acme.example", nil)).obj(t), "id")
		gid := str(a.scim(t, http.StatusCreated, "POST", scimPath(org, "Groups"), key, map[string]any{"schemas": []string{scimGroup}, "displayName": "G"}).obj(t), "id")
		other := newSCIMFixture(t, a, "other")
		otherUser := str(a.scim(t, http.StatusCreated, "POST", scimPath(other.admin.org, "Users"), other.key, scimUserBody("x@other.example", nil)).obj(t), "id")
		users, groups := scimPath(org, "Users"), scimPath(org, "Groups")
		user, group := scimPath(org, "Users", uid), scimPath(org, "Groups", gid)
		huge := `{"schemas":["` + scimUser + `"],"userName":"big@acme.example","displayName":"` + strings.Repeat("x", 1<<20) + `"}`
		for _, c := range []struct {
			name, method, path string
			body               any
			hdrs               []header
			status             int
			scimType           string
		}{
			{"malformed JSON", "POST", users, `{"schemas":["` + scimUser + `"],"userName":`, nil, 400, "invalidSyntax"},
			{"not an object", "POST", users, `["x"]`, nil, 400, "invalidSyntax"},
			{"unknown attribute", "POST", users, scimUserBody("new@acme.example", map[string]any{"favouriteColour": "blue"}), nil, 400, "invalidSyntax"},
			{"unknown sub-attribute", "POST", users, scimUserBody("new@acme.example", map[string]any{"name": map[string]any{"nick": "x"}}), nil, 400, "invalidValue"},
			{"wrong type", "POST", users, scimUserBody("new@acme.example", map[string]any{"active": "yes"}), nil, 400, "invalidValue"},
			{"userName not a string", "POST", users, map[string]any{"schemas": []string{scimUser}, "userName": 7}, nil, 400, "invalidValue"},
			{"no userName", "POST", users, map[string]any{"schemas": []string{scimUser}}, nil, 400, "invalidValue"},
			{"no schemas", "POST", users, map[string]any{"userName": "new@acme.example"}, nil, 400, "invalidValue"},
			{"group schema on a user", "POST", users, map[string]any{"schemas": []string{scimGroup}, "userName": "new@acme.example"}, nil, 400, "invalidValue"},
			{"NUL", "POST", users, scimUserBody("new\u0000@acme.example", nil), nil, 400, "invalidSyntax"},
			{"invalid UTF-8", "POST", users, []byte("{\"schemas\":[\"" + scimUser + "\"],\"userName\":\"n\xffw@acme.example\"}"), nil, 400, "invalidSyntax"},
			{"oversized body", "POST", users, huge, nil, 413, ""},
			{"not SCIM JSON", "POST", users, "userName=x", []header{{"Content-Type", "text/plain"}}, 415, ""},
			{"outside the verified domain", "POST", users, scimUserBody("eve@evil.example", nil), nil, 400, "invalidValue"},
			{"a subdomain", "POST", users, scimUserBody("eve@x.acme.example", nil), nil, 400, "invalidValue"},
			{"an email outside the domain", "POST", users, scimUserBody("new@acme.example", map[string]any{"emails": []map[string]any{{"value": "new@evil.example"}}}), nil, 400, "invalidValue"},
			{"not an address", "POST", users, scimUserBody("Jo Doe <jo@acme.example>", nil), nil, 400, "invalidValue"},
			{"a password", "POST", users, scimUserBody("new@acme.example", map[string]any{"password": "hunter2"}), nil, 400, "invalidValue"},
			{"PUT moves the user out of the domain", "PUT", user, scimUserBody("jo@evil.example", nil), nil, 400, "invalidValue"},
			{"PATCH unknown op", "PATCH", user, patchBody(map[string]any{"op": "move", "path": "active", "value": false}), nil, 400, "invalidSyntax"},
			{"PATCH unknown attribute", "PATCH", user, patchBody(map[string]any{"op": "replace", "path": "colour", "value": "x"}), nil, 400, "invalidPath"},
			{"PATCH bad path", "PATCH", user, patchBody(map[string]any{"op": "replace", "path": "emails[type eq", "value": "x"}), nil, 400, "invalidPath"},
			{"PATCH read-only", "PATCH", user, patchBody(map[string]any{"op": "replace", "path": "id", "value": "x"}), nil, 400, "mutability"},
			{"PATCH remove without path", "PATCH", user, patchBody(map[string]any{"op": "remove"}), nil, 400, "noTarget"},
			{"PATCH active as other text", "PATCH", user, patchBody(map[string]any{"op": "replace", "path": "active", "value": "no"}), nil, 400, "invalidValue"},
			{"PATCH active as a number", "PATCH", user, patchBody(map[string]any{"op": "replace", "path": "active", "value": 0}), nil, 400, "invalidValue"},
			{"PATCH userName out of the domain", "PATCH", user, patchBody(map[string]any{"op": "replace", "path": "userName", "value": "jo@evil.example"}), nil, 400, "invalidValue"},
			{"PATCH no match", "PATCH", user, patchBody(map[string]any{"op": "replace", "path": `emails[type eq "home"].value`, "value": "x@acme.example"}), nil, 400, "noTarget"},
			{"PATCH not a PatchOp", "PATCH", user, scimUserBody("jo@acme.example", nil), nil, 400, "invalidSyntax"},
			{"PATCH no operations", "PATCH", user, patchBody(), nil, 400, "invalidSyntax"},
			{"malformed filter", "GET", users + "?filter=" + url.QueryEscape(`userName eq`), nil, nil, 400, "invalidFilter"},
			{"co on a boolean", "GET", users + "?filter=" + url.QueryEscape(`active co true`), nil, nil, 400, "invalidFilter"},
			{"count not a number", "GET", users + "?count=ten", nil, nil, 400, "invalidValue"},
			{"sortOrder", "GET", users + "?sortBy=userName&sortOrder=up", nil, nil, 400, "invalidValue"},
			{"NUL in the query", "GET", users + "?filter=" + url.QueryEscape("userName eq \"a\x00\""), nil, nil, 400, "invalidValue"},
			{"group without displayName", "POST", groups, map[string]any{"schemas": []string{scimGroup}}, nil, 400, "invalidValue"},
			{"another organization's user as member", "POST", groups, map[string]any{"schemas": []string{scimGroup}, "displayName": "X", "members": []map[string]any{{"value": otherUser}}}, nil, 400, "invalidValue"},
			{"a nested group", "PATCH", group, patchBody(map[string]any{"op": "add", "path": "members", "value": []map[string]any{{"value": gid, "type": "Group"}}}), nil, 400, "invalidValue"},
			{"a made-up member", "PUT", group, map[string]any{"schemas": []string{scimGroup}, "displayName": "G", "members": []map[string]any{{"value": "00000000-0000-7000-8000-000000000000"}}}, nil, 400, "invalidValue"},
			{"an ID of no shape", "GET", scimPath(org, "Users", "jo"), nil, nil, 404, ""},
			{"an unknown user", "DELETE", scimPath(org, "Users", "00000000-0000-7000-8000-000000000000"), nil, nil, 404, ""},
			{"another organization's user", "PUT", scimPath(org, "Users", otherUser), scimUserBody("jo@acme.example", nil), nil, 404, ""},
			{"no such path", "GET", scimPath(org, "Printers"), nil, nil, 404, ""},
			{"no such method", "DELETE", scimPath(org, "Users"), nil, nil, 404, ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				before := a.snapshot(t, org, other.admin.org)
				hdrs := c.hdrs
				if c.body != nil && len(hdrs) == 0 {
					hdrs = []header{{"Content-Type", "application/scim+json"}}
				}
				r := a.call(t, c.method, c.path, key, c.body, hdrs...)
				if r.Status != c.status {
					t.Fatalf("%s: want %d", r, c.status)
				}
				wantSCIMError(t, r, c.scimType)
				if ev := a.eventsOf(t, r); len(ev) != 0 {
					t.Errorf("events %v", ev)
				}
				a.unchanged(t, before, c.name, org, other.admin.org)
			})
		}
	})
}

// TestSCIMIsolation: the directory's key reaches its own organization's
// SCIM endpoints and nothing else; within its organization it sees only the
// users of the verified domain and the groups it made.
func TestSCIMIsolation(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme, other := newSCIMFixture(t, a, "acme"), newSCIMFixture(t, a, "other")
		org := acme.admin.org
		otherUser := str(a.scim(t, http.StatusCreated, "POST", scimPath(other.admin.org, "Users"), other.key, scimUserBody("x@other.example", nil)).obj(t), "id")
		otherGroup := str(a.scim(t, http.StatusCreated, "POST", scimPath(other.admin.org, "Groups"), other.key, map[string]any{"schemas": []string{scimGroup}, "displayName": "G"}).obj(t), "id")
		// A user of acme outside its domain and acme's own groups are not
		// the directory's.
		outsider := id(a.admin(t, http.StatusCreated, "POST", orgPath(org, "users"), userWrite("", "guest@partner.example", "active", nil)).obj(t))
		reader := a.addMember(t, org, "readers", "reader")

		for _, c := range []struct {
			name, method, path, token string
			body                      any
			status                    int
		}{
			{"acme's key on other's users", "GET", scimPath(other.admin.org, "Users"), acme.key, nil, 403},
			{"acme's key on other's user", "DELETE", scimPath(other.admin.org, "Users", otherUser), acme.key, nil, 403},
			{"acme's key creating in other", "POST", scimPath(other.admin.org, "Users"), acme.key, scimUserBody("x2@other.example", nil), 403},
			{"other's user through acme's path", "GET", scimPath(org, "Users", otherUser), acme.key, nil, 404},
			{"other's user deleted through acme's path", "DELETE", scimPath(org, "Users", otherUser), acme.key, nil, 404},
			{"other's group through acme's path", "PATCH", scimPath(org, "Groups", otherGroup), acme.key, patchBody(map[string]any{"op": "remove", "path": "members"}), 404},
			{"acme's administrators' group", "DELETE", scimPath(org, "Groups", acme.admin.group), acme.key, nil, 404},
			{"a user outside the domain", "GET", scimPath(org, "Users", outsider), acme.key, nil, 404},
			{"deleting a user outside the domain", "DELETE", scimPath(org, "Users", outsider), acme.key, nil, 404},
			{"no token", "GET", scimPath(org, "Users"), "", nil, 401},
			{"a made-up token", "GET", scimPath(org, "Users"), "ghak_nope_nope", nil, 401},
			{"a reader", "GET", scimPath(org, "Users"), reader.token, nil, 403},
			{"an unknown organization", "GET", scimPath("00000000-0000-7000-8000-000000000000", "Users"), acme.key, nil, 403},
		} {
			t.Run(c.name, func(t *testing.T) {
				before := a.snapshot(t, org, other.admin.org)
				r := a.call(t, c.method, c.path, c.token, c.body, header{"Content-Type", "application/scim+json"})
				if r.Status != c.status {
					t.Fatalf("%s: want %d", r, c.status)
				}
				wantSCIMError(t, r, "")
				if c.status == 401 && r.Header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				a.unchanged(t, before, c.name, org, other.admin.org)
			})
		}
		// The list shows the domain's users only, looked up by name or not.
		for _, q := range []string{"", "?filter=" + url.QueryEscape(`userName eq "guest@partner.example"`), "?filter=" + url.QueryEscape(`userName co "guest"`)} {
			if n, _ := listed(t, a.scim(t, http.StatusOK, "GET", scimPath(org, "Users")+q, acme.key, nil)); n != 0 {
				t.Errorf("acme's directory sees %d users (%s)", n, q)
			}
		}
		if n, _ := listed(t, a.scim(t, http.StatusOK, "GET", scimPath(org, "Groups"), acme.key, nil)); n != 0 {
			t.Errorf("acme's directory sees %d groups", n)
		}
		// The key is nothing on /api/v1; an administrator may use SCIM.
		a.must(t, http.StatusForbidden, "GET", orgPath(org, "users"), acme.key, nil)
		a.scim(t, http.StatusOK, "GET", scimPath(org, "Users"), acme.admin.token, nil)
	})
}

// TestSCIMGrants: the directory decides the membership of its own groups,
// whatever rights an administrator gave them, and may hand those back to a
// person (reactivate them); it cannot hand back rights from anywhere else.
func TestSCIMGrants(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		f := newSCIMFixture(t, a, "acme")
		org, key := f.admin.org, f.key
		jo := str(a.scim(t, http.StatusCreated, "POST", scimPath(org, "Users"), key, scimUserBody("jo@acme.example", nil)).obj(t), "id")
		al := str(a.scim(t, http.StatusCreated, "POST", scimPath(org, "Users"), key, scimUserBody("al@acme.example", nil)).obj(t), "id")
		gid := str(a.scim(t, http.StatusCreated, "POST", scimPath(org, "Groups"), key, map[string]any{"schemas": []string{scimGroup}, "displayName": "Readers"}).obj(t), "id")
		// An administrator gives the directory's group a role.
		g := a.admin(t, http.StatusOK, "GET", orgPath(org, "groups", gid), nil).obj(t)
		a.admin(t, http.StatusOK, "PUT", orgPath(org, "groups", gid), groupWrite(str(g, "metadata", "name"), []string{a.role(t, "reader")}, nil, nil))

		// Membership is the directory's: it adds jo.
		a.scim(t, http.StatusOK, "PATCH", scimPath(org, "Groups", gid), key, patchBody(map[string]any{"op": "add", "path": "members", "value": []map[string]any{{"value": jo}}}))
		if ag := a.admin(t, http.StatusOK, "GET", orgPath(org, "groups", gid), nil).obj(t); !slices.Equal(strs(ag, "spec", "roleIDs"), []string{a.role(t, "reader")}) {
			t.Errorf("the role of the directory's group changed: %v", ag)
		}
		// And may suspend and reactivate jo, who holds rights through it only.
		off := patchBody(map[string]any{"op": "replace", "path": "active", "value": false})
		on := patchBody(map[string]any{"op": "replace", "path": "active", "value": true})
		a.scim(t, http.StatusOK, "PATCH", scimPath(org, "Users", jo), key, off)
		a.scim(t, http.StatusOK, "PATCH", scimPath(org, "Users", jo), key, on)

		// al is put in the administrators' group by an administrator: the
		// directory may suspend al, not give the administrator role back.
		// (bo is another administrator, so that al is not the last one.)
		a.admin(t, http.StatusOK, "PUT", orgPath(org, "users", al), userWrite("al-acme.example", "al@acme.example", "active", []string{f.admin.group}))
		a.admin(t, http.StatusCreated, "POST", orgPath(org, "users"), userWrite("", "bo@acme.example", "active", []string{f.admin.group}))
		a.scim(t, http.StatusOK, "PATCH", scimPath(org, "Users", al), key, off)
		before := a.snapshot(t, org)
		r := a.scim(t, http.StatusForbidden, "PATCH", scimPath(org, "Users", al), key, on)
		if !strings.Contains(str(r.obj(t), "detail"), "createGroup") {
			t.Errorf("refusal %s", r)
		}
		a.unchanged(t, before, "reactivating an administrator", org)
		// An administrator's SCIM request may (it holds the right to grant).
		a.scim(t, http.StatusOK, "PATCH", scimPath(org, "Users", al), f.admin.token, on)
	})
}

// TestSCIMLastAdministrator: the directory may act on any user of the
// verified domain, also on administrators whose rights it did not give, but
// it cannot delete or deactivate the organization's last active
// administrator (an active user of a group holding the administrator role):
// that would lock the organization out. Each refusal is a SCIM 409 that
// changes nothing; once another administrator is active, it may.
func TestSCIMLastAdministrator(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		f := newSCIMFixture(t, a, "acme")
		org, key := f.admin.org, f.key
		al := id(a.admin(t, http.StatusCreated, "POST", orgPath(org, "users"), userWrite("", "al@acme.example", "active", []string{f.admin.group})).obj(t))
		bo := id(a.admin(t, http.StatusCreated, "POST", orgPath(org, "users"), userWrite("", "bo@acme.example", "active", []string{f.admin.group})).obj(t))
		// A person who is no administrator goes as before.
		jo := str(a.scim(t, http.StatusCreated, "POST", scimPath(org, "Users"), key, scimUserBody("jo@acme.example", nil)).obj(t), "id")
		a.scim(t, http.StatusNoContent, "DELETE", scimPath(org, "Users", jo), key, nil)

		// With bo active, al may be suspended.
		off := patchBody(map[string]any{"op": "replace", "path": "active", "value": false})
		a.scim(t, http.StatusOK, "PATCH", scimPath(org, "Users", al), key, off)

		// bo is now the last active administrator.
		for _, c := range []struct {
			name, method string
			body         any
		}{
			{"delete", "DELETE", nil},
			{"patch active false", "PATCH", off},
			{"put active false", "PUT", scimUserBody("bo@acme.example", map[string]any{"active": false})},
		} {
			t.Run(c.name, func(t *testing.T) {
				before := a.snapshot(t, org)
				r := a.call(t, c.method, scimPath(org, "Users", bo), key, c.body, header{"Content-Type", "application/scim+json"})
				if r.Status != http.StatusConflict {
					t.Fatalf("%s: want 409", r)
				}
				wantSCIMError(t, r, "mutability")
				if !strings.Contains(str(r.obj(t), "detail"), "last active administrator") {
					t.Errorf("refusal %s", r)
				}
				a.unchanged(t, before, c.name, org)
			})
		}
		// A PUT that keeps bo active is fine.
		a.scim(t, http.StatusOK, "PUT", scimPath(org, "Users", bo), key, scimUserBody("bo@acme.example", map[string]any{"active": true}))

		// Once an administrator reactivates al, the directory may delete bo.
		a.admin(t, http.StatusOK, "PUT", orgPath(org, "users", al), userWrite("al-acme.example", "al@acme.example", "active", []string{f.admin.group}))
		a.scim(t, http.StatusNoContent, "DELETE", scimPath(org, "Users", bo), key, nil)
		a.scim(t, http.StatusConflict, "DELETE", scimPath(org, "Users", al), key, nil)
	})
}
