package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Grants need the right to grant (issue 12, finding 5): a write that changes
// who reaches what (a project's groups, a group's roles or members, a user's
// or service account's groups, what an assigned permission set grants) needs
// the right to create groups (access.GrantOperation) in the organization,
// beside the right to the write itself. The same write that leaves access as
// it is needs nothing more than before.

// editorPolicy allows managing projects, users, service accounts, custom
// roles, permission sets and the organization guardrail, and updating (not
// creating) groups: no right to grant.
func editorPolicy() map[string]any {
	svc := func(expr string) map[string]any {
		return map[string]any{"type": "rules", "rules": []any{map[string]any{"action": "allow", "expression": expr}}}
	}
	return map[string]any{"defaultServiceStrategy": "deny", "services": map[string]any{
		"projects": svc("true"), "users": svc("true"), "serviceaccounts": svc("true"), "permissionsets": svc("true"), "roles": svc("true"),
		"policies": svc("true"), "groups": svc("operation != 'create-group'"),
	}}
}

// TestGrantsNeedTheRightToGrant: the user role rewriting its project's
// groups (the finding), and a custom role that may edit everything but not
// create groups widening access through every other path, are refused with
// a 403 naming createGroup and change nothing; the same writes that keep
// access as it is pass; an administrator may make them, unless the
// guardrail denies creating groups.
//
// It also replays the attacker review of main (findings 4 and 6): without
// the right to grant, the editor re-pointed an administrator's user record
// to another person's email, reactivated a suspended administrator,
// rotated the administrators' service account and used its new token, and
// replaced a guardrail that denied deleting users by allow-all; on that
// code each of these was a 200.
func TestGrantsNeedTheRightToGrant(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		tok := acme.token
		user := a.addMember(t, acme.org, "users", "user")
		others := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "groups"), tok, groupWrite("others", []string{a.role(t, "user")}, nil, nil)).obj(t))
		web := id(a.must(t, http.StatusAccepted, "POST", orgPath(acme.org, "projects"), tok, projectWrite("web", []string{user.group, acme.group})).obj(t))
		jo := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "users"), tok, userWrite("jo", "jo@acme.example", "active", []string{others})).obj(t))
		editorRole := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "roles"), tok, roleWrite("editor", editorPolicy(), nil)).obj(t))
		editors := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "groups"), tok, groupWrite("editors", []string{editorRole}, nil, nil)).obj(t))
		editorSA := a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "serviceaccounts"), tok, saWrite("editor", []string{editors})).obj(t)
		editor := str(editorSA, "status", "accessToken")
		assigned := a.setOf(t, acme.org, tok, "ro", []string{a.role(t, "reader")}, nil)
		unassigned := a.setOf(t, acme.org, tok, "spare", []string{a.role(t, "reader")}, nil)
		a.assignOne(t, acme.org, tok, "user", jo, assigned, web)
		admin := a.role(t, "administrator")
		// An administrator's user record, a suspended administrator, and
		// records without groups, which may change person or state freely.
		boss := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "users"), tok, userWrite("boss", "boss@acme.example", "active", []string{acme.group})).obj(t))
		gone := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "users"), tok, userWrite("gone", "gone@acme.example", "suspended", []string{acme.group})).obj(t))
		loner := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "users"), tok, userWrite("loner", "loner@acme.example", "suspended", nil)).obj(t))
		bare := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "serviceaccounts"), tok, saWrite("bare", nil)).obj(t))
		// The guardrail forbids deleting users to everyone (finding 6).
		a.must(t, http.StatusOK, "PUT", orgPath(acme.org, "policy"), tok, rules("allow", "users", "deny", "operation == 'delete-user'", "allow", "true"))

		project := orgPath(acme.org, "projects", web)
		refused := []struct {
			name, token, method, path string
			body                      any
		}{
			{"user adds a group to its project", user.token, "PUT", project, projectWrite("web", []string{user.group, acme.group, others})},
			{"user removes the administrators' group", user.token, "PUT", project, projectWrite("web", []string{user.group})},
			{"editor adds a group to a project", editor, "PUT", project, projectWrite("web", []string{user.group, acme.group, editors})},
			{"editor creates a project with a group", editor, "POST", orgPath(acme.org, "projects"), projectWrite("new", []string{editors})},
			{"editor gives a group a role", editor, "PUT", orgPath(acme.org, "groups", others), groupWrite("others", []string{a.role(t, "user"), admin}, nil, nil)},
			{"editor adds a user to a group", editor, "PUT", orgPath(acme.org, "groups", acme.group), groupWrite("acme-administrator", []string{admin}, []string{jo}, []string{acme.sa})},
			{"editor joins the administrators' group", editor, "PUT", orgPath(acme.org, "serviceaccounts", id(editorSA)), saWrite("editor", []string{editors, acme.group})},
			{"editor creates a service account in a group", editor, "POST", orgPath(acme.org, "serviceaccounts"), saWrite("robot", []string{acme.group})},
			{"editor creates a user in a group", editor, "POST", orgPath(acme.org, "users"), userWrite("al", "al@acme.example", "active", []string{acme.group})},
			{"editor moves a user into a group", editor, "PUT", orgPath(acme.org, "users", jo), userWrite("jo", "jo@acme.example", "active", []string{others, acme.group})},
			{"editor widens an assigned permission set", editor, "PUT", orgPath(acme.org, "permissionsets", assigned), permissionSetWrite("ro", []string{a.role(t, "reader"), admin}, nil)},
			{"editor gives an assigned set an inline policy", editor, "PUT", orgPath(acme.org, "permissionsets", assigned), permissionSetWrite("ro", []string{a.role(t, "reader")}, allowAll())},
			{"editor widens its own role", editor, "PUT", orgPath(acme.org, "roles", editorRole, "policy"), allowAll()},
			{"editor widens its own role by a full update", editor, "PUT", orgPath(acme.org, "roles", editorRole), roleWrite("editor", allowAll(), nil)},
			{"editor lets anyone assume its role", editor, "PUT", orgPath(acme.org, "roles", editorRole, "assumerolepolicy"), rules("allow", "roles", "allow", "true")},
			// Finding 4: the same groups, another person.
			{"editor re-points an administrator's user record to another email", editor, "PUT", orgPath(acme.org, "users", boss), userWrite("boss", "mallory@evil.example", "active", []string{acme.group})},
			// Finding 4: a suspended administrator's rights come back.
			{"editor reactivates a suspended administrator", editor, "PUT", orgPath(acme.org, "users", gone), userWrite("gone", "gone@acme.example", "active", []string{acme.group})},
			// Finding 4: the new token is the administrators' rights in hand.
			{"editor rotates the administrators' service account", editor, "POST", orgPath(acme.org, "serviceaccounts", acme.sa, "rotate"), nil},
			// Finding 6: lifting the guardrail widens everyone's access.
			{"editor replaces the guardrail by allow-all", editor, "PUT", orgPath(acme.org, "policy"), allowAll()},
		}
		before := a.snapshot(t, acme.org)
		setBefore := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "permissionsets", assigned), tok, nil).String()
		roleBefore := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "roles", editorRole), tok, nil).String()
		guardrailBefore := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "policy"), tok, nil).String()
		for _, c := range refused {
			r := a.call(t, c.method, c.path, c.token, c.body)
			wantError(t, r, http.StatusForbidden, "forbidden")
			if d := str(r.obj(t), "error_description"); !strings.Contains(d, "createGroup") {
				t.Errorf("%s: %q does not name the missing permission createGroup", c.name, d)
			}
		}
		a.unchanged(t, before, "writes that change access without the right to grant", acme.org)
		if got := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "permissionsets", assigned), tok, nil).String(); got != setBefore {
			t.Errorf("the refused permission set updates changed it: %s, was %s", got, setBefore)
		}
		if got := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "roles", editorRole), tok, nil).String(); got != roleBefore {
			t.Errorf("the refused role updates changed it: %s, was %s", got, roleBefore)
		}
		if got := a.must(t, http.StatusOK, "GET", orgPath(acme.org, "policy"), tok, nil).String(); got != guardrailBefore {
			t.Errorf("the refused guardrail update changed it: %s, was %s", got, guardrailBefore)
		}
		// The administrators' service account token was not replaced.
		a.must(t, http.StatusOK, "GET", orgPath(acme.org, "groups"), acme.token, nil)
		wantError(t, a.call(t, "DELETE", orgPath(acme.org, "users", jo), editor, nil), http.StatusForbidden, "forbidden")

		// The same writes keeping access as it is need no more than before.
		allowed := []struct {
			name, token, method, path string
			body                      any
			status                    int
		}{
			{"user renames its project, groups reordered", user.token, "PUT", project, projectWrite("website", []string{acme.group, user.group, user.group}), http.StatusOK},
			{"editor renames a project", editor, "PUT", project, projectWrite("web", []string{user.group, acme.group}), http.StatusOK},
			{"editor creates a project without groups", editor, "POST", orgPath(acme.org, "projects"), projectWrite("bare", nil), http.StatusAccepted},
			{"editor renames a group", editor, "PUT", orgPath(acme.org, "groups", others), groupWrite("others-renamed", []string{a.role(t, "user")}, []string{jo}, nil), http.StatusOK},
			{"editor renames a user", editor, "PUT", orgPath(acme.org, "users", jo), userWrite("jo2", "jo@acme.example", "active", []string{others}), http.StatusOK},
			{"editor creates a service account without groups", editor, "POST", orgPath(acme.org, "serviceaccounts"), saWrite("robot", nil), http.StatusCreated},
			{"editor renames an assigned set", editor, "PUT", orgPath(acme.org, "permissionsets", assigned), permissionSetWrite("read-only", []string{a.role(t, "reader")}, nil), http.StatusOK},
			{"editor renames its role, same policy", editor, "PUT", orgPath(acme.org, "roles", editorRole), roleWrite("editor-2", editorPolicy(), nil), http.StatusOK},
			{"editor changes the subject of a user without groups", editor, "PUT", orgPath(acme.org, "users", loner), userWrite("loner", "other@acme.example", "suspended", nil), http.StatusOK},
			{"editor reactivates a user without groups", editor, "PUT", orgPath(acme.org, "users", loner), userWrite("loner", "other@acme.example", "active", nil), http.StatusOK},
			{"editor suspends an administrator", editor, "PUT", orgPath(acme.org, "users", boss), userWrite("boss", "boss@acme.example", "suspended", []string{acme.group}), http.StatusOK},
			{"editor rotates a service account without groups", editor, "POST", orgPath(acme.org, "serviceaccounts", bare, "rotate"), nil, http.StatusOK},
			{"editor widens an unassigned set", editor, "PUT", orgPath(acme.org, "permissionsets", unassigned), permissionSetWrite("spare", []string{admin}, nil), http.StatusOK},
			{"administrator adds a group to a project", tok, "PUT", project, projectWrite("web", []string{user.group, acme.group, others}), http.StatusOK},
		}
		for _, c := range allowed {
			if r := a.call(t, c.method, c.path, c.token, c.body); r.Status != c.status {
				t.Errorf("%s: %s, want %d", c.name, r, c.status)
			}
		}

		// Decided by access.Decide: a guardrail denying group creation
		// takes the right to grant from the administrator too.
		a.admin(t, http.StatusOK, "PUT", orgPath(acme.org, "policy"), rules("allow", "groups", "deny", "operation == 'create-group'", "allow", "true"))
		a.refuseAll(t, tok, "an administrator under a guardrail denying group creation", []refusal{
			{"remove a group", "PUT", project, projectWrite("web", []string{user.group, acme.group}), http.StatusForbidden, "forbidden"},
		}, acme.org)
	})
}

// TestGrantsCountEverySourceOfRights (the second review): handing a user
// record to another person (a new subject), back to its person (active
// again), or a service account's new token to the caller hands over every
// right the record holds, wherever it comes from: its groups, a permission
// set assigned to it directly or to a group of it, and a service account's
// platform roles. Without the right to grant, each is a 403 naming
// createGroup that changes nothing (on the code before the fix, only the
// groups counted, and the editor took the others); a record holding nothing
// changes hands freely, and an administrator may hand over any of them.
func TestGrantsCountEverySourceOfRights(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		acme := a.tenant(t, "acme", "administrator")
		tok := acme.token
		admin := a.role(t, "administrator")
		web := id(a.must(t, http.StatusAccepted, "POST", orgPath(acme.org, "projects"), tok, projectWrite("web", nil)).obj(t))
		ops := a.setOf(t, acme.org, tok, "ops", []string{admin}, nil)
		editorRole := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "roles"), tok, roleWrite("editor", editorPolicy(), nil)).obj(t))
		editors := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "groups"), tok, groupWrite("editors", []string{editorRole}, nil, nil)).obj(t))
		editor := str(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "serviceaccounts"), tok, saWrite("editor", []string{editors})).obj(t), "status", "accessToken")
		// A group without roles or projects whose only right is a
		// permission set assigned to it.
		assignedGroup := id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "groups"), tok, groupWrite("assigned", nil, nil, nil)).obj(t))
		a.assignOne(t, acme.org, tok, "group", assignedGroup, ops, web)

		user := func(name, state string, groups []string) string {
			return id(a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "users"), tok, userWrite(name, name+"@acme.example", state, groups)).obj(t))
		}
		sa := func(name string, groups []string) (string, string) {
			o := a.must(t, http.StatusCreated, "POST", orgPath(acme.org, "serviceaccounts"), tok, saWrite(name, groups)).obj(t)
			return id(o), str(o, "status", "accessToken")
		}
		// The sources of rights, one record each.
		directUser, directSuspended := user("direct", "active", nil), user("direct-gone", "suspended", nil)
		a.assignOne(t, acme.org, tok, "user", directUser, ops, web)
		a.assignOne(t, acme.org, tok, "user", directSuspended, ops, web)
		groupUser, groupSuspended := user("grouped", "active", []string{acme.group}), user("grouped-gone", "suspended", []string{acme.group})
		viaGroupUser := user("via-group", "suspended", []string{assignedGroup})
		directSA, directSAToken := sa("direct", nil)
		a.assignOne(t, acme.org, tok, "serviceAccount", directSA, ops, web)
		platformSA, platformSAToken := sa("platform", nil)
		platformAdmin, _ := authz.RoleByName(authz.RolePlatformAdministrator)
		if err := a.Store.Tx(context.Background(), func(q *store.Q) error {
			return q.BindPlatformRole(context.Background(), string(authn.KindServiceAccount), platformSA, platformAdmin.ID)
		}); err != nil {
			t.Fatal(err)
		}
		viaGroupSA, _ := sa("via-group", []string{assignedGroup})
		// Records holding nothing.
		loner := user("loner", "suspended", nil)
		lonerSA, _ := sa("loner", nil)

		repoint := func(name, state string, groups []string) any {
			return userWrite(name, "mallory@evil.example", state, groups)
		}
		refused := []struct {
			source, method, path string
			body                 any
		}{
			{"groups: re-pointed", "PUT", orgPath(acme.org, "users", groupUser), repoint("grouped", "active", []string{acme.group})},
			{"groups: reactivated", "PUT", orgPath(acme.org, "users", groupSuspended), userWrite("grouped-gone", "grouped-gone@acme.example", "active", []string{acme.group})},
			{"direct account assignment: re-pointed", "PUT", orgPath(acme.org, "users", directUser), repoint("direct", "active", nil)},
			{"direct account assignment: reactivated", "PUT", orgPath(acme.org, "users", directSuspended), userWrite("direct-gone", "direct-gone@acme.example", "active", nil)},
			{"a group's account assignment: reactivated", "PUT", orgPath(acme.org, "users", viaGroupUser), userWrite("via-group", "via-group@acme.example", "active", []string{assignedGroup})},
			{"groups: rotated", "POST", orgPath(acme.org, "serviceaccounts", acme.sa, "rotate"), nil},
			{"direct account assignment: rotated", "POST", orgPath(acme.org, "serviceaccounts", directSA, "rotate"), nil},
			{"a group's account assignment: rotated", "POST", orgPath(acme.org, "serviceaccounts", viaGroupSA, "rotate"), nil},
			{"platform role: rotated", "POST", orgPath(acme.org, "serviceaccounts", platformSA, "rotate"), nil},
		}
		before := a.snapshot(t, acme.org)
		for _, c := range refused {
			r := a.call(t, c.method, c.path, editor, c.body)
			if r.Status != http.StatusForbidden || !strings.Contains(str(r.obj(t), "error_description"), "createGroup") {
				t.Errorf("%s by an editor without the right to grant: %s, want a 403 naming createGroup", c.source, r)
			}
		}
		a.unchanged(t, before, "handing over rights without the right to grant", acme.org)
		// The refused rotations left the tokens as they were.
		for _, token := range []string{directSAToken, platformSAToken} {
			a.must(t, http.StatusOK, "GET", orgPath(acme.org, "projects", web), token, nil)
		}

		allowed := []struct {
			name, token, method, path string
			body                      any
		}{
			{"editor re-points a user holding nothing", editor, "PUT", orgPath(acme.org, "users", loner), userWrite("loner", "other@acme.example", "active", nil)},
			{"editor rotates a service account holding nothing", editor, "POST", orgPath(acme.org, "serviceaccounts", lonerSA, "rotate"), nil},
			{"administrator re-points a user with an account assignment", tok, "PUT", orgPath(acme.org, "users", directUser), repoint("direct", "active", nil)},
			{"administrator rotates a service account with a platform role", tok, "POST", orgPath(acme.org, "serviceaccounts", platformSA, "rotate"), nil},
		}
		for _, c := range allowed {
			if r := a.call(t, c.method, c.path, c.token, c.body); r.Status != http.StatusOK {
				t.Errorf("%s: %s, want 200", c.name, r)
			}
		}
	})
}
