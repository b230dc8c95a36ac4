// Package assignment is the business logic of permission sets and account
// assignments (issue 6, after SCP's IAM Identity Center and AWS's): a
// permission set bundles roles (assignable system roles or custom roles of
// the organization) and an optional inline policy; an account assignment
// grants a permission set to a principal (user, group or service account)
// on a target (a project). It validates what the OpenAPI schema cannot
// (references, policies, the cartesian product of a bulk create, who may
// grant), runs every write as one store transaction described to the audit
// log, and lists both in the seed's page/size/sort convention. What an
// assignment allows is decided by internal/access, with everything else.
package assignment

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/access"
	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/iam"
	"github.com/gatehouse/gatehouse/internal/objectlimit"
	"github.com/gatehouse/gatehouse/internal/pagination"
	"github.com/gatehouse/gatehouse/internal/policy"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tenancy"
)

// Service implements the permission set and account assignment operations.
type Service struct {
	Store  *store.Store
	Access *access.Engine
	// Now and NewID are injected so tests are deterministic.
	Now   func() time.Time
	NewID func() string
	// ObjectLimits bound the permission sets and account assignments of an
	// organization (nil: the defaults).
	ObjectLimits objectlimit.Limits
}

// Session durations of a permission set, in seconds.
const (
	MinSessionDuration     = 3600
	MaxSessionDuration     = 43200
	DefaultSessionDuration = 3600
)

// Resource types in the audit log (services of the operation catalogue).
const (
	auditPermissionSets = "permissionsets"
	auditAssignments    = "accountassignments"
)

// PermissionSetFields are the fields a permission set list sorts by.
var PermissionSetFields = []pagination.Field{
	{Name: "name", Column: "name"},
	{Name: "createdAt", Alias: "created_at", Column: "created_at"},
	{Name: "id", Column: "id"},
}

// byCreation is the order of a list whose request names none.
var byCreation = []store.SortKey{{Column: "created_at"}}

// PermissionSet is a permission set as the API shows it: the stored set
// and its inline policy decoded (nil for none).
type PermissionSet struct {
	*store.PermissionSet
	InlinePolicy *policy.Policy
}

// auditView is a permission set as the audit log records it: the inline
// policy as a document rather than a string.
func (p *PermissionSet) auditView() any {
	if p == nil {
		return nil
	}
	s := p.PermissionSet
	return map[string]any{
		"id": s.ID, "organizationId": s.OrganizationID, "name": s.Name, "description": s.Description, "tags": s.Tags,
		"roleIDs": s.RoleIDs, "inlinePolicy": p.InlinePolicy, "sessionDuration": s.SessionDuration, "version": s.Version,
		"createdAt": s.CreatedAt, "createdBy": s.CreatedBy, "modifiedAt": s.ModifiedAt, "modifiedBy": s.ModifiedBy,
	}
}

// URN is the permission set's name in the URN scheme of roleURN:
// urn:gatehouse:iam::<organization>:permissionset/<name>.
func (p *PermissionSet) URN() string {
	return fmt.Sprintf("urn:gatehouse:iam::%s:permissionset/%s", p.OrganizationID, p.Name)
}

func (s *Service) decode(p *store.PermissionSet) (*PermissionSet, error) {
	out := &PermissionSet{PermissionSet: p}
	if p.InlinePolicy != "" {
		doc, err := policy.Parse([]byte(p.InlinePolicy), s.Access.Env().Limits())
		if err != nil {
			return nil, fmt.Errorf("permission set %s: stored inline policy: %w", p.ID, err)
		}
		out.InlinePolicy = &doc
	}
	return out, nil
}

// PermissionSetInput is a permission set write. A PUT replaces the set: an
// absent inline policy removes it, an absent session duration is the
// default.
type PermissionSetInput struct {
	Meta            store.Meta
	RoleIDs         []string
	InlinePolicy    *policy.Policy
	SessionDuration *int64
}

// validate checks what needs no database, and writes the input's fields
// into p.
func (s *Service) validate(in PermissionSetInput, p *store.PermissionSet) error {
	p.SessionDuration = DefaultSessionDuration
	if in.SessionDuration != nil {
		if d := *in.SessionDuration; d < MinSessionDuration || d > MaxSessionDuration {
			return apierror.BadRequest("spec.sessionDuration: %d seconds is outside %d..%d", d, MinSessionDuration, MaxSessionDuration)
		}
		p.SessionDuration = *in.SessionDuration
	}
	p.InlinePolicy = ""
	if in.InlinePolicy != nil {
		text, err := iam.CompilePolicy(s.Access.Env(), "spec.inlinePolicy", *in.InlinePolicy)
		if err != nil {
			return err
		}
		p.InlinePolicy = text
	}
	p.Name, p.Description, p.Tags = in.Meta.Name, in.Meta.Description, in.Meta.Tags
	p.RoleIDs = in.RoleIDs
	if p.RoleIDs == nil {
		p.RoleIDs = []string{}
	}
	return nil
}

// setError maps the store's errors about a permission set named (or with
// the ID) name to API errors.
func setError(err error, name string) error {
	switch {
	case errors.Is(err, store.ErrConflict):
		return apierror.ConflictError("a permission set named %q already exists in this organization", name)
	case errors.Is(err, store.ErrNotFound):
		return apierror.NotFoundError("permission set %q not found", name)
	}
	return err
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Millisecond) }

// CreatePermissionSet creates a permission set in orgID.
func (s *Service) CreatePermissionSet(ctx context.Context, actor *authn.Principal, orgID string, in PermissionSetInput) (*PermissionSet, error) {
	p := &store.PermissionSet{Version: 1}
	if err := s.validate(in, p); err != nil {
		return nil, err
	}
	p.ID, p.OrganizationID, p.CreatedAt, p.CreatedBy = s.NewID(), orgID, s.now(), actor.Subject
	out := &PermissionSet{PermissionSet: p, InlinePolicy: in.InlinePolicy}
	err := s.Store.Tx(ctx, func(q *store.Q) error {
		if err := tenancy.CheckRoles(ctx, q, orgID, p.RoleIDs); err != nil {
			return err
		}
		if err := s.ObjectLimits.Reserve(ctx, q, orgID, objectlimit.PermissionSets, 1); err != nil {
			return err
		}
		if err := q.CreatePermissionSet(ctx, p); err != nil {
			return setError(err, p.Name)
		}
		audit.Describe(ctx, auditPermissionSets, p.ID, nil, out.auditView())
		return nil
	})
	if err != nil {
		return nil, err
	}
	p.RoleIDs = sortedUnique(p.RoleIDs)
	return out, nil
}

// GetPermissionSet reads a permission set of orgID.
func (s *Service) GetPermissionSet(ctx context.Context, orgID, id string) (*PermissionSet, error) {
	p, err := s.Store.Read().GetPermissionSet(ctx, orgID, id)
	if err != nil {
		return nil, setError(err, id)
	}
	return s.decode(p)
}

// UpdatePermissionSet replaces a permission set. Its version grows, so the
// next request of every principal it is assigned to is decided on the new
// version; a new name reaches its assignments in the same transaction.
// Changing what an assigned set grants (its roles or inline policy) changes
// the rights of every principal it is assigned to: that needs the right to
// grant, as assigning it did (SetGrantChange).
func (s *Service) UpdatePermissionSet(ctx context.Context, o iam.Origin, orgID, id string, in PermissionSetInput) (*PermissionSet, error) {
	actor := o.Caller.Principal
	var out *PermissionSet
	err := s.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetPermissionSet(ctx, orgID, id)
		if err != nil {
			return setError(err, id)
		}
		before, err := s.decode(old)
		if err != nil {
			return err
		}
		p := *old
		if err := s.validate(in, &p); err != nil {
			return err
		}
		if change := SetGrantChange(old, &p); change != "" {
			if err := s.Access.GrantCheck(o.Caller, o.Now, o.SourceIP).Check(ctx, orgID, change); err != nil {
				return err
			}
		}
		if err := tenancy.CheckRoles(ctx, q, orgID, p.RoleIDs); err != nil {
			return err
		}
		p.Version = old.Version + 1
		p.ModifiedAt, p.ModifiedBy = s.now(), actor.Subject
		if err := q.UpdatePermissionSet(ctx, &p); err != nil {
			return setError(err, p.Name)
		}
		p.RoleIDs = sortedUnique(p.RoleIDs)
		out = &PermissionSet{PermissionSet: &p, InlinePolicy: in.InlinePolicy}
		audit.Describe(ctx, auditPermissionSets, id, before.auditView(), out.auditView())
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SetGrantChange is the change of access that replacing permission set
// before with after makes ("" for none): new or removed roles, or another
// inline policy, while the set is assigned (an unassigned set grants
// nothing, and assigning it needs the right to grant).
func SetGrantChange(before, after *store.PermissionSet) string {
	if before.AssignmentCount == 0 {
		return ""
	}
	var changes []string
	added, removed := tenancy.Changed(before.RoleIDs, after.RoleIDs)
	if len(added) > 0 || len(removed) > 0 {
		changes = append(changes, "spec.roleIDs")
	}
	if before.InlinePolicy != after.InlinePolicy {
		changes = append(changes, "spec.inlinePolicy")
	}
	if len(changes) == 0 {
		return ""
	}
	return fmt.Sprintf("changing the %s of permission set %q (assigned %d times)", strings.Join(changes, " and "), before.Name, before.AssignmentCount)
}

// DeletePermissionSet deletes a permission set that no assignment uses.
func (s *Service) DeletePermissionSet(ctx context.Context, orgID, id string) error {
	return s.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetPermissionSet(ctx, orgID, id)
		if err != nil {
			return setError(err, id)
		}
		if old.AssignmentCount > 0 {
			return inUse(old.Name, old.AssignmentCount)
		}
		before, err := s.decode(old)
		if err != nil {
			return err
		}
		err = q.DeletePermissionSet(ctx, orgID, id)
		if errors.Is(err, store.ErrReference) { // assigned since it was read
			return inUse(old.Name, 0)
		}
		if err != nil {
			return setError(err, id)
		}
		audit.Describe(ctx, auditPermissionSets, id, before.auditView(), nil)
		return nil
	})
}

func inUse(name string, n int) error {
	if n == 0 {
		return apierror.ConflictError("permission set %q is assigned: delete its account assignments first", name)
	}
	return apierror.ConflictError("permission set %q is still assigned by %d account assignment(s): delete them first", name, n)
}

// ListPermissionSets reads one page of orgID's permission sets.
func (s *Service) ListPermissionSets(ctx context.Context, orgID string, r pagination.Request) (pagination.Page[*PermissionSet], error) {
	page, order, err := pagination.Parse(r, PermissionSetFields, byCreation)
	if err != nil {
		return pagination.Page[*PermissionSet]{}, err
	}
	var out []*PermissionSet
	var total int
	err = s.Store.Snapshot(ctx, func(q *store.Q) error {
		ps, n, err := q.ListPermissionSets(ctx, orgID, page)
		if err != nil {
			return err
		}
		total = n
		for _, p := range ps {
			d, err := s.decode(p)
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return pagination.Page[*PermissionSet]{}, err
	}
	return pagination.Of(out, total, page, order), nil
}

// sortedUnique is ids sorted, without repeats: how the store reads a set's
// roles back, so a write answers what a read will.
func sortedUnique(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}
