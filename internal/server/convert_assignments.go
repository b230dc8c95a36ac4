package server

import (
	"github.com/gatehouse/gatehouse/api"
	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/assignment"
	"github.com/gatehouse/gatehouse/internal/pagination"
	"github.com/gatehouse/gatehouse/internal/policy"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Translation between the wire types of permission sets and account
// assignments (issue 6) and the assignment and store types.

func permissionSetInputFromAPI(in api.PermissionSetWrite, limits policy.Limits) (assignment.PermissionSetInput, error) {
	p, err := optPolicyFromAPI("spec.inlinePolicy", in.Spec.InlinePolicy, limits)
	if err != nil {
		return assignment.PermissionSetInput{}, err
	}
	return assignment.PermissionSetInput{Meta: writeMeta(in.Metadata), RoleIDs: idSet(nonNil(in.Spec.RoleIDs)), InlinePolicy: p,
		SessionDuration: in.Spec.SessionDuration}, nil
}

func permissionSetToAPI(p *assignment.PermissionSet) api.PermissionSetRead {
	spec := api.PermissionSetSpec{RoleIDs: nonNil(p.RoleIDs), SessionDuration: ptr(p.SessionDuration)}
	if p.InlinePolicy != nil {
		spec.InlinePolicy = ptr(policyToAPI(*p.InlinePolicy))
	}
	return api.PermissionSetRead{Metadata: orgMeta(p.Meta), Spec: spec,
		Status: api.PermissionSetStatus{AssignmentCount: p.AssignmentCount, Urn: p.URN(), Version: p.Version}}
}

func permissionSetPageToAPI(p pagination.Page[*assignment.PermissionSet]) api.PermissionSetPage {
	out := api.PermissionSetPage{Items: make([]api.PermissionSetRead, len(p.Items)), Count: p.Total, Page: p.Number, Size: p.Size, Sort: p.Sort}
	for i, s := range p.Items {
		out.Items[i] = permissionSetToAPI(s)
	}
	return out
}

func assignmentToAPI(a *store.AccountAssignment) api.AccountAssignmentRead {
	return api.AccountAssignmentRead{
		Metadata: api.AccountAssignmentMetadata{Id: a.ID, OrganizationId: a.OrganizationID, CreationTime: a.CreatedAt, CreatedBy: optString(a.CreatedBy)},
		Spec: api.AccountAssignmentSpec{Principal: api.AccountAssignmentPrincipal{Type: api.AccountAssignmentPrincipalType(a.PrincipalType), Id: a.PrincipalID},
			PermissionSetID: a.PermissionSetID, Target: api.AccountAssignmentTarget{Type: api.AccountAssignmentTargetType(a.TargetType), Id: a.TargetID}},
		Status: api.AccountAssignmentStatus{PrincipalName: a.PrincipalName, PermissionSetName: a.PermissionSetName, TargetName: a.TargetName,
			TargetEmail: optString(a.TargetEmail),
			RoleURN:     assignment.RoleURN(a), Provisioning: api.AccountAssignmentProvisioning{State: api.AccountAssignmentProvisioningState(assignment.ProvisioningSucceeded)}},
	}
}

func assignmentsToAPI(as []*store.AccountAssignment) []api.AccountAssignmentRead {
	out := make([]api.AccountAssignmentRead, len(as))
	for i, a := range as {
		out[i] = assignmentToAPI(a)
	}
	return out
}

func assignmentPageToAPI(p pagination.Page[*store.AccountAssignment]) api.AccountAssignmentPage {
	return api.AccountAssignmentPage{Items: assignmentsToAPI(p.Items), Count: p.Total, Page: p.Number, Size: p.Size, Sort: p.Sort}
}

func createRequestFromAPI(in api.AccountAssignmentsCreate) assignment.CreateRequest {
	out := assignment.CreateRequest{PermissionSetIDs: in.PermissionSetIDs}
	for _, p := range in.Principals {
		out.Principals = append(out.Principals, assignment.Ref{Type: string(p.Type), ID: p.Id})
	}
	for _, t := range in.Targets {
		out.Targets = append(out.Targets, assignment.Ref{Type: string(t.Type), ID: t.Id})
	}
	return out
}

// assignmentQuery is the paging and filters of the three assignment lists
// (their generated parameter types have the same fields).
func assignmentQuery(p api.ListAccountAssignmentsParams) (assignment.Filter, pagination.Request, error) {
	f := assignment.Filter{TargetType: string(deref(p.TargetType)), PermissionSetName: deref(p.PermissionSetName),
		PrincipalType: string(deref(p.PrincipalType)), PrincipalID: deref(p.PrincipalID),
		RoleName: deref(p.RoleName), InstanceID: deref(p.SeedInstanceID)}
	// The seed's snake_case names of a filter beside ours: either, or both
	// if they agree (a client migrating may send both).
	for _, c := range []struct {
		into             *string
		ours, seed       string
		oursVal, seedVal *string
	}{
		{&f.TargetID, "targetID", "target_account_id", p.TargetID, p.SeedTargetAccountID},
		{&f.TargetName, "targetName", "target_account_name", p.TargetName, p.SeedTargetAccountName},
		{&f.TargetEmail, "targetEmail", "target_account_email", p.TargetEmail, p.SeedTargetAccountEmail},
		{&f.PermissionSetID, "permissionSetID", "permission_set_id", p.PermissionSetID, p.SeedPermissionSetID},
		{&f.PrincipalName, "principalName", "principal_name", p.PrincipalName, p.SeedPrincipalName},
		{&f.RoleURN, "roleURN", "role_srn", p.RoleURN, p.SeedRoleSRN},
	} {
		ours, seed := deref(c.oursVal), deref(c.seedVal)
		if c.oursVal != nil && c.seedVal != nil && ours != seed {
			return f, pagination.Request{}, apierror.BadRequest("query parameters %s and %s are one filter: they disagree (%q, %q)", c.ours, c.seed, ours, seed)
		}
		*c.into = ours
		if c.seedVal != nil {
			*c.into = seed
		}
	}
	return f, pagination.Request{Page: p.Page, Size: p.Size, Sort: deref(p.Sort)}, nil
}
