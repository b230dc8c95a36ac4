package access

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/authz"
)

// GrantOperation is the operation whose permission is the right to grant
// access in an organization: creating a group, which can give any
// assignable role to any user or service account of the organization. Every
// write that changes who reaches what (a project's groups, a group's roles
// or members, a principal's groups, an account assignment, what an assigned
// permission set grants, an API key bound to a role) needs it, beside the
// right to the write itself: granting access indirectly must never need less
// than granting it directly.
const GrantOperation = "createGroup"

// GrantCheck answers, for one request, whether its caller may make change
// in organization orgID: nil when it holds the right to grant there, else a
// 403 in the API error shape naming the change and the missing right. It is
// decided by Decide, so custom roles (an explicit deny included) and the
// organization's guardrail apply as to any request.
type GrantCheck func(ctx context.Context, orgID, change string) error

// MayGrant decides whether c holds the right to grant access in orgID (see
// GrantOperation).
func (e *Engine) MayGrant(ctx context.Context, c *Caller, orgID string, now time.Time, sourceIP string) Decision {
	return e.Decide(ctx, c, Request{Entry: authz.Catalogue[GrantOperation], Organization: orgID, Now: now, SourceIP: sourceIP})
}

// GrantCheck is the GrantCheck of a request of c made at now from sourceIP.
func (e *Engine) GrantCheck(c *Caller, now time.Time, sourceIP string) GrantCheck {
	return func(ctx context.Context, orgID, change string) error {
		if c == nil {
			return apierror.ForbiddenError("%s needs the right to grant access, and the caller is unknown", change)
		}
		if d := e.MayGrant(ctx, c, orgID, now, sourceIP); !d.Allowed {
			return GrantRefused(change, d)
		}
		return nil
	}
}

// GrantRefused is the 403 of a change refused for want of the right to
// grant: it names the change, the missing permission and why it is missing.
func GrantRefused(change string, d Decision) error {
	ent := authz.Catalogue[GrantOperation]
	return apierror.ForbiddenError("%s needs the right to grant access in the organization, the permission to %s (%s %s), which the caller lacks: %s",
		change, ent.OperationID, ent.Endpoint, ent.Operation, d.Reason)
}

// Check runs g for change in orgID; a nil g refuses (a write that changes
// access must say who asks), so a forgotten check fails closed.
func (g GrantCheck) Check(ctx context.Context, orgID, change string) error {
	if g == nil {
		return apierror.ForbiddenError("%s needs the right to grant access, and no caller was given", change)
	}
	return g(ctx, orgID, change)
}

// TrustedGrant is the GrantCheck of writers that are not API callers (the
// platform operator's command line, bootstrap, onboarding): they may grant.
func TrustedGrant(context.Context, string, string) error { return nil }
