package assignment

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/iam"
	"github.com/gatehouse/gatehouse/internal/objectlimit"
	"github.com/gatehouse/gatehouse/internal/pagination"
	"github.com/gatehouse/gatehouse/internal/store"
)

// MaxPerRequest bounds the assignments one create makes (the product of
// its principals, permission sets and targets).
const MaxPerRequest = 1000

// ProvisioningSucceeded is the provisioning state of every assignment: it
// takes effect in the transaction that creates it (the next request to a
// project, or for a cloud account's credentials, is decided with it), so
// there is nothing left to provision in Gatehouse.
const ProvisioningSucceeded = "succeeded"

// AssignmentFields are the fields an assignment list sorts by.
var AssignmentFields = []pagination.Field{
	{Name: "createdAt", Alias: "created_at", Column: "created_at"},
	{Name: "principalName", Alias: "principal_name", Column: "principal_name"},
	{Name: "principalType", Alias: "principal_type", Column: "principal_type"},
	{Name: "permissionSetName", Alias: "permission_set_name", Column: "permission_set_name"},
	{Name: "targetName", Alias: "target_name", Column: "target_name"},
	{Name: "id", Column: "id"},
}

// principalTables are where each principal type lives.
var principalTables = map[string]string{
	store.PrincipalUser: store.RefUsers, store.PrincipalGroup: store.RefGroups, store.PrincipalServiceAccount: store.RefServiceAccounts,
}

// targetTables are where each target type lives: projects, and the AWS
// accounts that the organization's cloud connections discovered.
var targetTables = map[string]string{store.TargetProject: store.RefProjects, store.TargetCloudAccount: store.RefCloudAccounts}

// Ref names a principal or a target: its type and ID.
type Ref struct{ Type, ID string }

// CreateRequest creates the assignments of every principal to every
// permission set on every target (the cartesian product), all or none.
type CreateRequest struct {
	Principals       []Ref
	PermissionSetIDs []string
	Targets          []Ref
}

// RoleURN names what an assignment makes of its permission set on its
// target: urn:gatehouse:iam::<organization>:<target type>/<target
// ID>/permissionset/<permission set name>.
func RoleURN(a *store.AccountAssignment) string {
	return fmt.Sprintf("urn:gatehouse:iam::%s:%s/%s/permissionset/%s", a.OrganizationID, a.TargetType, a.TargetID, a.PermissionSetName)
}

// parseRoleURN reads a RoleURN back into the filter it selects; ok false
// when it names another organization (nothing matches).
func parseRoleURN(orgID, urn string) (store.AssignmentFilter, bool, error) {
	bad := apierror.BadRequest("query parameter \"roleURN\": %q is not urn:gatehouse:iam::<organization>:<target type>/<target ID>/permissionset/<name>", urn)
	rest, ok := strings.CutPrefix(urn, "urn:gatehouse:iam::")
	if !ok {
		return store.AssignmentFilter{}, false, bad
	}
	org, path, ok := strings.Cut(rest, ":")
	parts := strings.Split(path, "/")
	if !ok || org == "" || len(parts) != 4 || parts[0] == "" || parts[1] == "" || parts[2] != "permissionset" || parts[3] == "" {
		return store.AssignmentFilter{}, false, bad
	}
	return store.AssignmentFilter{TargetType: parts[0], TargetID: parts[1], PermissionSetName: parts[3]}, org == orgID, nil
}

// refError says which reference of a create does not exist, by its place
// in the request (not by its ID, which the caller has and which another
// organization's resource may have).
func refError(field string, i int, kind string) error {
	return apierror.BadRequest("%s[%d]: no %s with that ID in this organization", field, i, kind)
}

// names reads the names of the refs (by type), failing on the first that
// does not exist in orgID.
func names(ctx context.Context, q *store.Q, orgID, field string, refs []Ref, tables map[string]string) (map[Ref]string, error) {
	byType := map[string][]string{}
	for i, r := range refs {
		if _, ok := tables[r.Type]; !ok {
			return nil, apierror.BadRequest("%s[%d].type: %q is not one of %s", field, i, r.Type, strings.Join(keys(tables), ", "))
		}
		byType[r.Type] = append(byType[r.Type], r.ID)
	}
	found := map[Ref]string{}
	for typ, ids := range byType {
		m, err := q.NamesOf(ctx, tables[typ], orgID, ids)
		if err != nil {
			return nil, err
		}
		for id, name := range m {
			found[Ref{typ, id}] = name
		}
	}
	for i, r := range refs {
		if _, ok := found[r]; !ok {
			return nil, refError(field, i, r.Type)
		}
	}
	return found, nil
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// unique is xs without repeats, in their first order.
func unique[T comparable](xs []T) []T {
	var out []T
	for _, x := range xs {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// CreateAssignments creates the assignments of req in orgID in one
// transaction: every principal × permission set × target, in that order. A
// reference that does not exist in the organization (400) or a triple that
// is assigned already (409, naming it) fails the whole request: nothing is
// created. Repeats inside the request count once.
//
// Who may assign: an assignment grants its permission set's roles, so
// making one must not widen what the caller can hand out. As for API keys,
// the caller must also hold the right to grant in the organization
// (access.GrantOperation: creating groups, which can already grant any role).
func (s *Service) CreateAssignments(ctx context.Context, o iam.Origin, orgID string, req CreateRequest) ([]*store.AccountAssignment, error) {
	if err := s.Access.GrantCheck(o.Caller, o.Now, o.SourceIP).Check(ctx, orgID, "creating account assignments"); err != nil {
		return nil, err
	}
	principals, targets, setIDs := unique(req.Principals), unique(req.Targets), unique(req.PermissionSetIDs)
	if len(principals) == 0 || len(setIDs) == 0 || len(targets) == 0 {
		return nil, apierror.BadRequest("principals, permissionSetIDs and targets: each needs at least one item")
	}
	if n := len(principals) * len(setIDs) * len(targets); n > MaxPerRequest {
		return nil, apierror.BadRequest("%d principals × %d permission sets × %d targets make %d assignments, more than %d per request",
			len(principals), len(setIDs), len(targets), n, MaxPerRequest)
	}
	var out []*store.AccountAssignment
	err := s.Store.Tx(ctx, func(q *store.Q) error {
		pNames, err := names(ctx, q, orgID, "principals", principals, principalTables)
		if err != nil {
			return err
		}
		tNames, err := names(ctx, q, orgID, "targets", targets, targetTables)
		if err != nil {
			return err
		}
		tEmails, err := targetEmails(ctx, q, orgID, targets)
		if err != nil {
			return err
		}
		sNames, err := q.NamesOf(ctx, store.RefPermissionSets, orgID, setIDs)
		if err != nil {
			return err
		}
		for i, id := range setIDs {
			if _, ok := sNames[id]; !ok {
				return refError("permissionSetIDs", i, "permission set")
			}
		}
		if err := s.refuseExisting(ctx, q, orgID, principals, setIDs, targets, pNames, sNames, tNames); err != nil {
			return err
		}
		now := s.now()
		for _, p := range principals {
			for _, set := range setIDs {
				for _, t := range targets {
					out = append(out, &store.AccountAssignment{ID: s.NewID(), OrganizationID: orgID,
						PrincipalType: p.Type, PrincipalID: p.ID, PrincipalName: pNames[p],
						PermissionSetID: set, PermissionSetName: sNames[set],
						TargetType: t.Type, TargetID: t.ID, TargetName: tNames[t], TargetEmail: tEmails[t],
						CreatedAt: now, CreatedBy: o.Caller.Principal.Subject})
				}
			}
		}
		if err := s.ObjectLimits.Reserve(ctx, q, orgID, objectlimit.AccountAssignments, len(out)); err != nil {
			return err
		}
		err = q.InsertAccountAssignments(ctx, out)
		switch {
		case errors.Is(err, store.ErrConflict): // made by a concurrent request since the check
			return apierror.ConflictError("an assignment of this request was created concurrently: nothing was created, read the assignments and retry")
		case errors.Is(err, store.ErrReference): // a permission set deleted since it was read
			return apierror.BadRequest("permissionSetIDs: a permission set was deleted concurrently: nothing was created")
		case err != nil:
			return err
		}
		audit.Describe(ctx, auditAssignments, out[0].ID, nil, map[string]any{"items": out})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// refuseExisting fails with a 409 naming the first triple of the request
// that is assigned already.
func (s *Service) refuseExisting(ctx context.Context, q *store.Q, orgID string, principals []Ref, setIDs []string, targets []Ref,
	pNames map[Ref]string, sNames map[string]string, tNames map[Ref]string) error {
	ids := func(refs []Ref) []string {
		out := make([]string, len(refs))
		for i, r := range refs {
			out[i] = r.ID
		}
		return out
	}
	existing, err := q.ExistingAssignments(ctx, orgID, ids(principals), setIDs, ids(targets))
	if err != nil {
		return err
	}
	for _, p := range principals {
		for _, set := range setIDs {
			for _, t := range targets {
				for _, a := range existing {
					if a.PrincipalType == p.Type && a.PrincipalID == p.ID && a.PermissionSetID == set && a.TargetType == t.Type && a.TargetID == t.ID {
						return apierror.ConflictError("%s %q already has permission set %q on %s %q (account assignment %s): nothing was created",
							p.Type, pNames[p], sNames[set], t.Type, tNames[t], a.ID)
					}
				}
			}
		}
	}
	return nil
}

func assignmentError(err error, id string) error {
	if errors.Is(err, store.ErrNotFound) {
		return apierror.NotFoundError("account assignment %q not found", id)
	}
	return err
}

// GetAssignment reads an assignment of orgID.
func (s *Service) GetAssignment(ctx context.Context, orgID, id string) (*store.AccountAssignment, error) {
	a, err := s.Store.Read().GetAccountAssignment(ctx, orgID, id)
	if err != nil {
		return nil, assignmentError(err, id)
	}
	return a, nil
}

// DeleteAssignment deletes an assignment: the rights it granted are gone
// from the next request on.
func (s *Service) DeleteAssignment(ctx context.Context, orgID, id string) error {
	return s.Store.Tx(ctx, func(q *store.Q) error {
		a, err := q.GetAccountAssignment(ctx, orgID, id)
		if err != nil {
			return assignmentError(err, id)
		}
		if err := q.DeleteAccountAssignment(ctx, orgID, id); err != nil {
			return assignmentError(err, id)
		}
		audit.Describe(ctx, auditAssignments, id, a, nil)
		return nil
	})
}

// targetEmails are the emails of the cloud account targets among targets
// (what the store reads with an assignment as its TargetEmail), so that a
// create answers the assignments as a read would.
func targetEmails(ctx context.Context, q *store.Q, orgID string, targets []Ref) (map[Ref]string, error) {
	out := map[Ref]string{}
	for _, t := range targets {
		if t.Type != store.TargetCloudAccount {
			continue
		}
		a, err := q.GetCloudAccount(ctx, orgID, t.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue // names() refused it already
		}
		if err != nil {
			return nil, err
		}
		out[t] = a.Email
	}
	return out, nil
}

// Filter narrows an assignment list; zero fields do not filter, every
// field is an exact match.
type Filter struct {
	TargetType, TargetID, TargetName string
	// TargetEmail keeps the assignments to cloud accounts of that email.
	TargetEmail string
	// InstanceID is the seed's instance_id: Gatehouse's instance is the
	// organization, so another ID keeps nothing.
	InstanceID                                string
	PermissionSetID, PermissionSetName        string
	PrincipalType, PrincipalID, PrincipalName string
	// RoleName keeps the assignments whose permission set holds the role
	// of that name (an assignable system role or a custom role).
	RoleName string
	// RoleURN keeps the assignments of that RoleURN.
	RoleURN string
}

// storeFilter resolves f in orgID; ok false when nothing can match.
func (f Filter) storeFilter(ctx context.Context, q *store.Q, orgID string) (store.AssignmentFilter, bool, error) {
	out := store.AssignmentFilter{TargetType: f.TargetType, TargetID: f.TargetID, TargetName: f.TargetName, TargetEmail: f.TargetEmail,
		PermissionSetID: f.PermissionSetID, PermissionSetName: f.PermissionSetName,
		PrincipalType: f.PrincipalType, PrincipalID: f.PrincipalID, PrincipalName: f.PrincipalName}
	if f.InstanceID != "" && f.InstanceID != orgID {
		return out, false, nil
	}
	if f.RoleURN != "" {
		u, ours, err := parseRoleURN(orgID, f.RoleURN)
		if err != nil || !ours {
			return out, false, err
		}
		for _, c := range []struct {
			have *string
			want string
		}{
			{&out.TargetType, u.TargetType}, {&out.TargetID, u.TargetID}, {&out.PermissionSetName, u.PermissionSetName},
		} {
			if *c.have != "" && *c.have != c.want {
				return out, false, nil // two filters that no assignment meets at once
			}
			*c.have = c.want
		}
	}
	if f.RoleName != "" {
		var roleIDs []string
		if r, ok := authz.RoleByName(f.RoleName); ok && r.Assignable {
			roleIDs = append(roleIDs, r.ID)
		} else {
			id, err := q.CustomRoleNamed(ctx, orgID, f.RoleName)
			if err != nil {
				return out, false, err
			}
			if id != "" {
				roleIDs = append(roleIDs, id)
			}
		}
		sets, err := q.PermissionSetsWithRoles(ctx, orgID, roleIDs)
		if err != nil {
			return out, false, err
		}
		if len(sets) == 0 {
			return out, false, nil
		}
		out.PermissionSetIDs = sets
	}
	return out, true, nil
}

// ListAssignments reads one page of orgID's assignments meeting f.
func (s *Service) ListAssignments(ctx context.Context, orgID string, f Filter, r pagination.Request) (pagination.Page[*store.AccountAssignment], error) {
	return s.list(ctx, orgID, f, r, nil)
}

// ListEffective reads one page of the assignments that reach a user or a
// service account of orgID (member.Type store.PrincipalUser or
// store.PrincipalServiceAccount): its own and those of its groups, what it
// can reach. 404 when the principal does not exist.
func (s *Service) ListEffective(ctx context.Context, orgID string, member Ref, f Filter, r pagination.Request) (pagination.Page[*store.AccountAssignment], error) {
	return s.list(ctx, orgID, f, r, func(q *store.Q) (*store.Member, error) {
		m, err := q.MemberOf(ctx, orgID, member.Type, member.ID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierror.NotFoundError("%s %q not found", member.Type, member.ID)
		}
		return m, err
	})
}

// list reads one page of assignments in one snapshot: the member (when
// member is not nil), the filter's references, the total and the page.
func (s *Service) list(ctx context.Context, orgID string, f Filter, r pagination.Request,
	member func(q *store.Q) (*store.Member, error)) (pagination.Page[*store.AccountAssignment], error) {
	page, order, err := pagination.Parse(r, AssignmentFields, byCreation)
	if err != nil {
		return pagination.Page[*store.AccountAssignment]{}, err
	}
	var items []*store.AccountAssignment
	var total int
	err = s.Store.Snapshot(ctx, func(q *store.Q) error {
		sf, ok, err := f.storeFilter(ctx, q, orgID)
		if err != nil {
			return err
		}
		if member != nil {
			if sf.Member, err = member(q); err != nil {
				return err
			}
		}
		if !ok {
			return nil
		}
		items, total, err = q.ListAccountAssignments(ctx, orgID, sf, page)
		return err
	})
	if err != nil {
		return pagination.Page[*store.AccountAssignment]{}, err
	}
	return pagination.Of(items, total, page, order), nil
}
