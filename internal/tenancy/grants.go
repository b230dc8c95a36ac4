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
// for none): its groups, and, while the record holds rights (held, the
// sources authz.HeldBy finds for it after the write), who it is and whether
// it holds them. A user record's rights are handed to a person: giving the
// record another subject hands them to someone else, and making a suspended
// or pending record active hands them back, each as surely as granting them
// directly would. Whatever gives the record rights counts: its groups, the
// permission sets assigned to it or to them.
func UserGrantChange(before, after *store.User, held []string) string {
	changes := []string{MemberGrantChange("user", before.GroupIDs, after.GroupIDs)}
	if len(held) > 0 {
		holding := strings.Join(held, "; ")
		if after.Subject != before.Subject {
			changes = append(changes, fmt.Sprintf("changing the spec.subject of a user holding rights (from %s to %s; it holds %s)", before.Subject, after.Subject, holding))
		}
		if after.State == authz.ActiveUserState && before.State != authz.ActiveUserState {
			changes = append(changes, fmt.Sprintf("making a %s user holding rights active (it holds %s)", before.State, holding))
		}
	}
	return strings.Join(slices.DeleteFunc(changes, func(c string) bool { return c == "" }), " and ")
}

// userHandedOver reports whether replacing user before with after hands
// the record to someone else, or back to its person: another subject, or
// active again. Only then does UserGrantChange need what the record holds.
func userHandedOver(before, after *store.User) bool {
	return after.Subject != before.Subject || after.State == authz.ActiveUserState && before.State != authz.ActiveUserState
}

// RotationGrantChange is the change of access that rotating the token of a
// service account holding rights held (authz.HeldBy) makes ("" for none):
// the new token is handed to the caller, with everything the account holds
// (its groups, the permission sets assigned to it or to them, its platform
// roles).
func RotationGrantChange(held []string) string {
	if len(held) == 0 {
		return ""
	}
	return fmt.Sprintf("rotating the token of a service account holding rights (which hands them to the caller; it holds %s)", strings.Join(held, "; "))
}

// heldBy lists the sources of rights member of orgID holds (authz.HeldBy),
// read in the write's transaction q.
func heldBy(ctx context.Context, q *store.Q, orgID string, member store.Member) ([]string, error) {
	g, err := authz.HeldBy(ctx, q, orgID, member)
	if err != nil {
		return nil, fmt.Errorf("rights held by %s %s: %w", member.Type, member.ID, err)
	}
	return g.Held(), nil
}

// checkGrant asks may about change in orgID, when there is one.
func checkGrant(ctx context.Context, may access.GrantCheck, orgID, change string) error {
	if change == "" {
		return nil
	}
	return may.Check(ctx, orgID, change)
}
