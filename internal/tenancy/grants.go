package tenancy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/internal/access"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Writes that change who reaches what need the right to grant access
// (access.GrantOperation) beside the right to the write itself: a project's
// groups decide who reads it and obtains its cloud credentials, a group's
// roles and members decide who holds which rights, a principal's groups are
// the same membership seen from the other side. The functions here say which
// change a write makes; the services ask the request's access.GrantCheck
// about it before writing anything, in the write's transaction.

// Changed returns the IDs that after adds to before and those it removes,
// each sorted and without repeats: the order of a list of IDs and its
// repeats change nothing.
func Changed(before, after []string) (added, removed []string) {
	b, a := dedupe(before), dedupe(after)
	for id := range a {
		if !b[id] {
			added = append(added, id)
		}
	}
	for id := range b {
		if !a[id] {
			removed = append(removed, id)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	return added, removed
}

// membershipChange describes, for an error message, how a write changes the
// list field of a resource kind, or returns "" when it leaves it as it is.
func membershipChange(kind, field string, before, after []string) string {
	added, removed := Changed(before, after)
	var parts []string
	if len(added) > 0 {
		parts = append(parts, fmt.Sprintf("adding %s", strings.Join(added, ", ")))
	}
	if len(removed) > 0 {
		parts = append(parts, fmt.Sprintf("removing %s", strings.Join(removed, ", ")))
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("changing a %s's %s (%s)", kind, field, strings.Join(parts, "; "))
}

// ProjectGrantChange is the change of access that writing a project with
// groups after over one with groups before makes ("" for none): any group
// added or removed.
func ProjectGrantChange(before, after []string) string {
	return membershipChange("project", "spec.groupIDs", before, after)
}

// GroupGrantChange is the change of access that replacing group before with
// after makes ("" for none): its roles or its members. A new group (before
// nil) needs nothing more than the right to create it, which is the right to
// grant.
func GroupGrantChange(before, after *store.Group) string {
	if before == nil {
		return ""
	}
	var changes []string
	for _, c := range []struct {
		field         string
		before, after []string
	}{
		{"spec.roleIDs", before.RoleIDs, after.RoleIDs},
		{"spec.userIDs", before.UserIDs, after.UserIDs},
		{"spec.serviceAccountIDs", before.ServiceAccountIDs, after.ServiceAccountIDs},
	} {
		if s := membershipChange("group", c.field, c.before, c.after); s != "" {
			changes = append(changes, s)
		}
	}
	return strings.Join(changes, " and ")
}

// MemberGrantChange is the change of access that writing a user or service
// account (kind) with groups after over one with groups before makes ("" for
// none): joining a group gives its roles, projects and account assignments.
func MemberGrantChange(kind string, before, after []string) string {
	return membershipChange(kind, "spec.groupIDs", before, after)
}

// UserGrantChange is the change of access that replacing user before with
// after (both validated: subject normalized, state defaulted) makes (""
// for none): its groups, and, while it has groups, who it is and whether it
// holds them. A user record's groups are rights handed to a person: giving
// the record another subject hands them to someone else, and making a
// suspended or pending record active hands them back, each as surely as
// adding the record to the groups would.
func UserGrantChange(before, after *store.User) string {
	changes := []string{MemberGrantChange("user", before.GroupIDs, after.GroupIDs)}
	if len(after.GroupIDs) > 0 {
		if after.Subject != before.Subject {
			changes = append(changes, fmt.Sprintf("changing the spec.subject of a user with groups (from %s to %s)", before.Subject, after.Subject))
		}
		if after.State == authz.ActiveUserState && before.State != authz.ActiveUserState {
			changes = append(changes, fmt.Sprintf("making a %s user with groups active", before.State))
		}
	}
	return strings.Join(slices.DeleteFunc(changes, func(c string) bool { return c == "" }), " and ")
}

// RotationGrantChange is the change of access that rotating the token of
// sa makes ("" for none): the new token is handed to the caller, with the
// rights of every group the account is in.
func RotationGrantChange(sa *store.ServiceAccount) string {
	if len(sa.GroupIDs) == 0 {
		return ""
	}
	return "rotating the token of a service account with groups (which hands its rights to the caller)"
}

// checkGrant asks may about change in orgID, when there is one.
func checkGrant(ctx context.Context, may access.GrantCheck, orgID, change string) error {
	if change == "" {
		return nil
	}
	return may.Check(ctx, orgID, change)
}
