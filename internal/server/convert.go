package server

import (
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/api"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tenancy"
)

// Translation between wire types (package api, generated from the spec) and
// store types. Gatehouse's writes complete synchronously, so every resource
// reads back as provisioned and healthy.

func ptr[T any](v T) *T { return &v }

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// optInt is n, or nil (absent) when it is zero.
func optInt(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func tagsToAPI(tags []store.Tag) *api.TagList {
	if len(tags) == 0 {
		return nil
	}
	out := make(api.TagList, len(tags))
	for i, t := range tags {
		out[i] = api.Tag{Name: t.Name, Value: t.Value}
	}
	return &out
}

func writeMeta(m api.ResourceWriteMetadata) store.Meta {
	var tags []store.Tag
	for _, t := range deref(m.Tags) {
		tags = append(tags, store.Tag{Name: t.Name, Value: t.Value})
	}
	return store.Meta{Name: m.Name, Description: deref(m.Description), Tags: tags}
}

func readMeta(m store.Meta) api.ResourceReadMetadata {
	return api.ResourceReadMetadata{
		Id: m.ID, Name: m.Name, Description: optString(m.Description), Tags: tagsToAPI(m.Tags),
		CreationTime: m.CreatedAt, CreatedBy: optString(m.CreatedBy),
		ModifiedTime: optTime(m.ModifiedAt), ModifiedBy: optString(m.ModifiedBy),
		ProvisioningStatus: api.ResourceProvisioningStatusProvisioned, HealthStatus: api.ResourceHealthStatusHealthy,
	}
}

func orgMeta(m store.Meta) api.OrganizationScopedResourceReadMetadata {
	r := readMeta(m)
	return api.OrganizationScopedResourceReadMetadata{
		Id: r.Id, Name: r.Name, Description: r.Description, Tags: r.Tags,
		CreationTime: r.CreationTime, CreatedBy: r.CreatedBy, ModifiedTime: r.ModifiedTime, ModifiedBy: r.ModifiedBy,
		ProvisioningStatus: r.ProvisioningStatus, HealthStatus: r.HealthStatus, OrganizationId: m.OrganizationID,
	}
}

func projectMeta(m store.Meta, projectID string) api.ProjectScopedResourceReadMetadata {
	r := orgMeta(m)
	return api.ProjectScopedResourceReadMetadata{
		Id: r.Id, Name: r.Name, Description: r.Description, Tags: r.Tags,
		CreationTime: r.CreationTime, CreatedBy: r.CreatedBy, ModifiedTime: r.ModifiedTime, ModifiedBy: r.ModifiedBy,
		ProvisioningStatus: r.ProvisioningStatus, HealthStatus: r.HealthStatus, OrganizationId: r.OrganizationId,
		ProjectId: projectID,
	}
}

// ids reads an optional list of IDs as the store keeps it: a set, in ID
// order, so that a write's response is what later reads return.
func ids(p *[]string) []string { return idSet(deref(p)) }

// idSet sorts s and drops repeats (nil stays nil).
func idSet(s []string) []string {
	if s == nil {
		return nil
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func organizationFromAPI(in api.OrganizationWrite) *store.Organization {
	return &store.Organization{
		Meta: writeMeta(in.Metadata), Type: string(in.Spec.OrganizationType), Domain: deref(in.Spec.Domain),
		ProviderScope: string(deref(in.Spec.ProviderScope)), ProviderID: deref(in.Spec.ProviderID),
		GoogleCustomerID: deref(in.Spec.GoogleCustomerID),
	}
}

func organizationToAPI(o *store.Organization) api.OrganizationRead {
	spec := api.OrganizationSpec{OrganizationType: api.OrganizationType(o.Type), Domain: optString(o.Domain),
		ProviderID: optString(o.ProviderID), GoogleCustomerID: optString(o.GoogleCustomerID)}
	if o.ProviderScope != "" {
		spec.ProviderScope = ptr(api.ProviderScope(o.ProviderScope))
	}
	out := api.OrganizationRead{Metadata: readMeta(o.Meta), Spec: spec}
	if v, ok := tenancy.DomainStatus(o); ok {
		dv := &api.DomainVerification{State: api.DomainVerificationState(v.State), RecordName: v.RecordName, RecordValue: v.RecordValue}
		if !v.VerifiedAt.IsZero() {
			dv.VerifiedAt = ptr(v.VerifiedAt.UTC())
		}
		out.Status = &api.OrganizationStatus{DomainVerification: dv}
	}
	return out
}

func groupFromAPI(in api.GroupWrite) *store.Group {
	return &store.Group{Meta: writeMeta(in.Metadata), UserIDs: idSet(in.Spec.UserIDs), ServiceAccountIDs: idSet(in.Spec.ServiceAccountIDs), RoleIDs: idSet(in.Spec.RoleIDs)}
}

func groupToAPI(g *store.Group) api.GroupRead {
	return api.GroupRead{Metadata: orgMeta(g.Meta), Spec: api.GroupSpec{
		UserIDs: nonNil(g.UserIDs), ServiceAccountIDs: nonNil(g.ServiceAccountIDs), RoleIDs: nonNil(g.RoleIDs)}}
}

func userFromAPI(in api.UserWrite) *store.User {
	u := &store.User{Subject: in.Spec.Subject, State: string(in.Spec.State), GroupIDs: idSet(in.Spec.GroupIDs)}
	if in.Metadata != nil {
		u.Meta = writeMeta(*in.Metadata)
	} else {
		u.Name = tenancy.NameFromSubject(in.Spec.Subject)
	}
	return u
}

func userToAPI(u *store.User) api.UserRead {
	return api.UserRead{Metadata: orgMeta(u.Meta),
		Spec:   api.UserSpec{Subject: u.Subject, State: api.UserState(u.State), GroupIDs: nonNil(u.GroupIDs)},
		Status: api.UserStatus{LastActive: optTime(u.LastActive)}}
}

func serviceAccountToAPI(sa *store.ServiceAccount, token string) api.ServiceAccountRead {
	return api.ServiceAccountRead{Metadata: orgMeta(sa.Meta),
		Spec:   api.ServiceAccountSpec{GroupIDs: ptr(nonNil(sa.GroupIDs))},
		Status: api.ServiceAccountStatus{Expiry: sa.ExpiresAt, AccessToken: optString(token)}}
}

func projectToAPI(p *store.Project) api.ProjectRead {
	return api.ProjectRead{Metadata: orgMeta(p.Meta), Spec: api.ProjectSpec{GroupIDs: nonNil(p.GroupIDs)}}
}

func providerFromAPI(in api.Oauth2ProviderWrite) *tenancy.ProviderInput {
	return &tenancy.ProviderInput{
		Provider: store.OAuth2Provider{Meta: writeMeta(in.Metadata), Type: string(deref(in.Spec.Type)),
			Issuer: in.Spec.Issuer, ClientID: in.Spec.ClientID},
		ClientSecret: in.Spec.ClientSecret,
	}
}

// providerToAPI never includes the client secret.
func providerToAPI(p *store.OAuth2Provider) api.Oauth2ProviderRead {
	spec := api.Oauth2ProviderSpec{Issuer: p.Issuer, ClientID: p.ClientID}
	if p.Type != "" {
		spec.Type = ptr(api.Oauth2ProviderType(p.Type))
	}
	return api.Oauth2ProviderRead{Metadata: orgMeta(p.Meta), Spec: spec}
}

func allocationFromAPI(in api.AllocationWrite) *store.Allocation {
	a := &store.Allocation{Meta: writeMeta(in.Metadata), ResourceKind: in.Spec.Kind, ResourceID: in.Spec.Id}
	for _, it := range in.Spec.Allocations {
		a.Items = append(a.Items, store.AllocationItem{Kind: it.Kind, Committed: int64(it.Committed), Reserved: int64(it.Reserved)})
	}
	return a
}

func allocationToAPI(a *store.Allocation) api.AllocationRead {
	items := make([]api.ResourceAllocation, 0, len(a.Items))
	for _, it := range a.Items {
		items = append(items, api.ResourceAllocation{Kind: it.Kind, Committed: int(it.Committed), Reserved: int(it.Reserved)})
	}
	return api.AllocationRead{Metadata: projectMeta(a.Meta, a.ProjectID),
		Spec: api.AllocationSpec{Kind: a.ResourceKind, Id: a.ResourceID, Allocations: items}}
}

func quotasToAPI(qs []tenancy.Quota) api.QuotasRead {
	out := api.QuotasRead{Quotas: make([]api.QuotaRead, 0, len(qs))}
	for _, q := range qs {
		out.Quotas = append(out.Quotas, api.QuotaRead{
			Kind: q.Kind, DisplayName: q.DisplayName, Description: q.Description, Default: int(q.Default),
			Quantity: int(q.Quantity), Committed: int(q.Committed), Reserved: int(q.Reserved),
			Used: int(q.Used()), Free: int(q.Free()),
		})
	}
	return out
}

// roleToAPI renders a system role; roles are data, not rows, so they carry
// no creation time of their own.
func aclEndpoints(eps []authz.EndpointACL) api.AclEndpoints {
	out := make(api.AclEndpoints, 0, len(eps))
	for _, e := range eps {
		ops := make([]api.AclOperation, len(e.Operations))
		for i, o := range e.Operations {
			ops[i] = api.AclOperation(o)
		}
		out = append(out, api.AclEndpoint{Name: e.Name, Operations: ops})
	}
	return out
}

// aclToAPI renders the ACL of caller p, with who vouched for it.
func aclToAPI(a authz.ACL, p *authn.Principal) api.Acl {
	out := api.Acl{IdentityProvider: identityProviderToAPI(p)}
	if len(a.Global) > 0 {
		out.Global = ptr(aclEndpoints(a.Global))
	}
	if a.Organization != nil {
		out.Organization = &api.AclScopedEndpoints{Id: a.Organization.ID, Endpoints: aclEndpoints(a.Organization.Endpoints)}
	}
	if len(a.Projects) > 0 {
		ps := make([]api.AclScopedEndpoints, 0, len(a.Projects))
		for _, p := range a.Projects {
			ps = append(ps, api.AclScopedEndpoints{Id: p.ID, Endpoints: aclEndpoints(p.Endpoints)})
		}
		out.Projects = &ps
	}
	return out
}

// identityProviderToAPI is who vouched for p (the ACL's identityProvider):
// nil for machine principals and for tokens without the gh_idp claim.
func identityProviderToAPI(p *authn.Principal) *api.AclIdentityProvider {
	if p == nil || p.Kind != authn.KindUser || p.IdP == nil {
		return nil
	}
	nonEmpty := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	return &api.AclIdentityProvider{OrganizationID: nonEmpty(p.IdP.Org), ProviderID: p.IdP.ID,
		Issuer: nonEmpty(p.IdP.Issuer), Subject: nonEmpty(p.IdP.Subject)}
}
