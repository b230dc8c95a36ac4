package server

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"

	"github.com/gatehouse/gatehouse/api"
	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/branding"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tenancy"
)

// handlers implements api.ServerInterface. By the time a method runs, the
// guard has authenticated, authorized and validated the request.
type handlers struct{ s *Server }

var _ api.ServerInterface = (*handlers)(nil)

func principal(r *http.Request) *authn.Principal { return authn.FromContext(r.Context()) }

// decode reads the (already schema-validated) JSON body into v. The body
// must be that one JSON value: the validator reads only the first one.
func (h *handlers) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		apierror.Write(w, apierror.BadRequest("request body: %v", err))
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		apierror.Write(w, apierror.BadRequest("request body: unexpected data after the JSON value"))
		return false
	}
	return true
}

// reply writes v with status, or err.
func (h *handlers) reply(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	if v == nil {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, v)
}

// page decodes the list parameters. Page tokens are opaque to clients: the
// base64url of the last ID returned. Without a limit the list is complete;
// with one, the store is asked for one row more than the client wants, so
// that replyList knows whether another page exists.
func page(limit *int, token *string) (store.Page, error) {
	p := store.Page{Limit: store.NoLimit}
	if limit != nil {
		p.Limit = *limit + 1
	}
	if t := deref(token); t != "" {
		b, err := base64.RawURLEncoding.DecodeString(t)
		if err != nil || len(b) == 0 {
			return p, apierror.BadRequest("query parameter \"pageToken\": not a page token from this API")
		}
		p.After = string(b)
	}
	return p, nil
}

// replyList writes the items of page p, converted by conv. When p holds the
// extra row page asked for, more remain: the extra row is dropped and the
// token of the next page goes in X-Next-Page-Token.
func replyList[T any, R any](h *handlers, w http.ResponseWriter, r *http.Request, p store.Page, items []T, err error, id func(T) string, conv func(T) R) {
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	if p.Limit != store.NoLimit && len(items) >= p.Limit {
		items = items[:p.Limit-1]
		w.Header().Set("X-Next-Page-Token", base64.RawURLEncoding.EncodeToString([]byte(id(items[len(items)-1]))))
	}
	out := make([]R, 0, len(items))
	for _, it := range items {
		out = append(out, conv(it))
	}
	writeJSON(w, http.StatusOK, out)
}

// --- ACL ---

func (h *handlers) GetGlobalAcl(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, aclToAPI(grantsFrom(r.Context()).ACL(), principal(r)))
}

// GetOrganizationAcl renders what the guard would allow the caller in the
// path's organization (whose existence the guard has checked) and its
// projects: access.ACL, a projection of the same decisions.
func (h *handlers) GetOrganizationAcl(w http.ResponseWriter, r *http.Request, organizationID string) {
	d := decidedFrom(r.Context())
	acl, err := h.s.access.ACL(r.Context(), d.caller, d.now, d.sourceIP, func() ([]string, error) {
		return h.s.store.Read().ProjectIDs(r.Context(), organizationID)
	})
	h.reply(w, r, http.StatusOK, later(err, func() any { return aclToAPI(acl, principal(r)) }), err)
}

// --- organizations ---

func (h *handlers) ListOrganizations(w http.ResponseWriter, r *http.Request, params api.ListOrganizationsParams) {
	p, err := page(params.Limit, params.PageToken)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	orgs, err := h.s.tenancy.ListOrganizations(r.Context(), principal(r), grantsFrom(r.Context()), string(deref(params.Email)), p)
	replyList(h, w, r, p, orgs, err, func(o *store.Organization) string { return o.ID }, organizationToAPI)
}

func (h *handlers) CreateOrganization(w http.ResponseWriter, r *http.Request) {
	var in api.OrganizationWrite
	if !h.decode(w, r, &in) {
		return
	}
	o := organizationFromAPI(in)
	err := h.s.tenancy.CreateOrganization(r.Context(), principal(r), o)
	h.reply(w, r, http.StatusAccepted, later(err, func() any { return organizationToAPI(o) }), err)
}

func (h *handlers) GetOrganization(w http.ResponseWriter, r *http.Request, organizationID string) {
	o, err := h.s.tenancy.GetOrganization(r.Context(), organizationID)
	h.reply(w, r, http.StatusOK, later(err, func() any { return organizationToAPI(o) }), err)
}

func (h *handlers) UpdateOrganization(w http.ResponseWriter, r *http.Request, organizationID string) {
	var in api.OrganizationWrite
	if !h.decode(w, r, &in) {
		return
	}
	h.reply(w, r, http.StatusOK, nil, h.s.tenancy.UpdateOrganization(r.Context(), principal(r), organizationID, organizationFromAPI(in)))
}

// VerifyOrganizationDomain proves the organization's domain claim by DNS,
// or marks it verified when a platform administrator (global update of
// organizations) asks.
func (h *handlers) VerifyOrganizationDomain(w http.ResponseWriter, r *http.Request, organizationID string) {
	var in api.OrganizationDomainVerify
	if !h.decode(w, r, &in) {
		return
	}
	o, err := h.s.tenancy.VerifyDomain(r.Context(), principal(r), tenancy.VerifyDomainInput{OrganizationID: organizationID,
		MarkVerified: deref(in.MarkVerified), Platform: grantsFrom(r.Context()).Global(authz.EndpointOrganizations, authz.Update)})
	h.reply(w, r, http.StatusOK, later(err, func() any { return organizationToAPI(o) }), err)
}

func (h *handlers) DeleteOrganization(w http.ResponseWriter, r *http.Request, organizationID string) {
	h.reply(w, r, http.StatusAccepted, nil, h.s.tenancy.DeleteOrganization(r.Context(), organizationID))
}

// --- branding (issue 14) ---

func (h *handlers) GetOrganizationBranding(w http.ResponseWriter, r *http.Request, organizationID string) {
	b, err := h.s.branding.Get(r.Context(), organizationID)
	h.reply(w, r, http.StatusOK, later(err, func() any { return brandingToAPI(b) }), err)
}

func (h *handlers) UpdateOrganizationBranding(w http.ResponseWriter, r *http.Request, organizationID string) {
	var in api.BrandingWrite
	if !h.decode(w, r, &in) {
		return
	}
	b, err := h.s.branding.Put(r.Context(), organizationID, branding.Input{DisplayName: deref(in.DisplayName),
		PrimaryColor: deref(in.PrimaryColor), BackgroundColor: deref(in.BackgroundColor), Logo: deref(in.Logo)})
	h.reply(w, r, http.StatusOK, later(err, func() any { return brandingToAPI(b) }), err)
}

func (h *handlers) DeleteOrganizationBranding(w http.ResponseWriter, r *http.Request, organizationID string) {
	h.reply(w, r, http.StatusOK, nil, h.s.branding.Delete(r.Context(), organizationID))
}

// brandingToAPI is b as the API answers it, with the URLs the pages load
// (none for an organization without branding).
func brandingToAPI(b *store.Branding) api.BrandingRead {
	out := api.BrandingRead{DisplayName: b.DisplayName, PrimaryColor: b.PrimaryColor, BackgroundColor: b.BackgroundColor}
	if b.Version != "" {
		css, at := branding.StylesheetPath(b), b.UpdatedAt
		out.StylesheetURL, out.UpdatedAt = &css, &at
	}
	if len(b.Logo) > 0 {
		logo, typ, url := b.Logo, b.LogoType, branding.LogoPath(b)
		out.Logo, out.LogoType, out.LogoURL = &logo, &typ, &url
	}
	return out
}

// later defers building a response body until we know there was no error
// (the resource may be nil otherwise).
func later(err error, f func() any) any {
	if err != nil {
		return nil
	}
	return f()
}

// --- groups ---

func (h *handlers) ListGroups(w http.ResponseWriter, r *http.Request, organizationID string, params api.ListGroupsParams) {
	p, err := page(params.Limit, params.PageToken)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	gs, err := h.s.store.Read().ListGroups(r.Context(), organizationID, p)
	replyList(h, w, r, p, gs, err, func(g *store.Group) string { return g.ID }, groupToAPI)
}

func (h *handlers) CreateGroup(w http.ResponseWriter, r *http.Request, organizationID string) {
	var in api.GroupWrite
	if !h.decode(w, r, &in) {
		return
	}
	g := groupFromAPI(in)
	err := h.s.tenancy.CreateGroup(r.Context(), principal(r), organizationID, g)
	h.reply(w, r, http.StatusCreated, later(err, func() any { return groupToAPI(g) }), err)
}

func (h *handlers) GetGroup(w http.ResponseWriter, r *http.Request, organizationID, groupid string) {
	g, err := h.s.tenancy.GetGroup(r.Context(), organizationID, groupid)
	h.reply(w, r, http.StatusOK, later(err, func() any { return groupToAPI(g) }), err)
}

func (h *handlers) UpdateGroup(w http.ResponseWriter, r *http.Request, organizationID, groupid string) {
	var in api.GroupWrite
	if !h.decode(w, r, &in) {
		return
	}
	h.reply(w, r, http.StatusOK, nil, h.s.tenancy.UpdateGroup(r.Context(), principal(r), h.mayGrant(r), organizationID, groupid, groupFromAPI(in)))
}

func (h *handlers) DeleteGroup(w http.ResponseWriter, r *http.Request, organizationID, groupid string) {
	h.reply(w, r, http.StatusOK, nil, h.s.tenancy.DeleteGroup(r.Context(), organizationID, groupid))
}

// --- users ---

func (h *handlers) ListUsers(w http.ResponseWriter, r *http.Request, organizationID string, params api.ListUsersParams) {
	p, err := page(params.Limit, params.PageToken)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	us, err := h.s.store.Read().ListUsers(r.Context(), organizationID, p)
	replyList(h, w, r, p, us, err, func(u *store.User) string { return u.ID }, userToAPI)
}

func (h *handlers) CreateUser(w http.ResponseWriter, r *http.Request, organizationID string) {
	var in api.UserWrite
	if !h.decode(w, r, &in) {
		return
	}
	u := userFromAPI(in)
	err := h.s.tenancy.CreateUser(r.Context(), principal(r), h.mayGrant(r), organizationID, u)
	h.reply(w, r, http.StatusCreated, later(err, func() any { return userToAPI(u) }), err)
}

func (h *handlers) GetUser(w http.ResponseWriter, r *http.Request, organizationID, userID string) {
	u, err := h.s.tenancy.GetUser(r.Context(), organizationID, userID)
	h.reply(w, r, http.StatusOK, later(err, func() any { return userToAPI(u) }), err)
}

func (h *handlers) UpdateUser(w http.ResponseWriter, r *http.Request, organizationID, userID string) {
	var in api.UserWrite
	if !h.decode(w, r, &in) {
		return
	}
	u := userFromAPI(in)
	err := h.s.tenancy.UpdateUser(r.Context(), principal(r), h.mayGrant(r), organizationID, userID, u)
	h.reply(w, r, http.StatusOK, later(err, func() any { return userToAPI(u) }), err)
}

func (h *handlers) DeleteUser(w http.ResponseWriter, r *http.Request, organizationID, userID string) {
	h.reply(w, r, http.StatusOK, nil, h.s.tenancy.DeleteUser(r.Context(), organizationID, userID))
}

// --- service accounts ---

func (h *handlers) ListServiceAccounts(w http.ResponseWriter, r *http.Request, organizationID string, params api.ListServiceAccountsParams) {
	p, err := page(params.Limit, params.PageToken)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	ss, err := h.s.store.Read().ListServiceAccounts(r.Context(), organizationID, p)
	replyList(h, w, r, p, ss, err, func(s *store.ServiceAccount) string { return s.ID },
		func(s *store.ServiceAccount) api.ServiceAccountRead { return serviceAccountToAPI(s, "") })
}

func (h *handlers) CreateServiceAccount(w http.ResponseWriter, r *http.Request, organizationID string) {
	var in api.ServiceAccountWrite
	if !h.decode(w, r, &in) {
		return
	}
	sa := &store.ServiceAccount{Meta: writeMeta(in.Metadata), GroupIDs: ids(in.Spec.GroupIDs)}
	token, err := h.s.tenancy.CreateServiceAccount(r.Context(), principal(r), h.mayGrant(r), organizationID, sa)
	h.reply(w, r, http.StatusCreated, later(err, func() any { return serviceAccountToAPI(sa, token) }), err)
}

func (h *handlers) GetServiceAccount(w http.ResponseWriter, r *http.Request, organizationID, serviceAccountID string) {
	sa, err := h.s.tenancy.GetServiceAccount(r.Context(), organizationID, serviceAccountID)
	h.reply(w, r, http.StatusOK, later(err, func() any { return serviceAccountToAPI(sa, "") }), err)
}

func (h *handlers) UpdateServiceAccount(w http.ResponseWriter, r *http.Request, organizationID, serviceAccountID string) {
	var in api.ServiceAccountWrite
	if !h.decode(w, r, &in) {
		return
	}
	sa := &store.ServiceAccount{Meta: writeMeta(in.Metadata), GroupIDs: ids(in.Spec.GroupIDs)}
	err := h.s.tenancy.UpdateServiceAccount(r.Context(), principal(r), h.mayGrant(r), organizationID, serviceAccountID, sa)
	h.reply(w, r, http.StatusOK, later(err, func() any { return serviceAccountToAPI(sa, "") }), err)
}

func (h *handlers) RotateServiceAccount(w http.ResponseWriter, r *http.Request, organizationID, serviceAccountID string) {
	sa, token, err := h.s.tenancy.RotateServiceAccount(r.Context(), principal(r), h.mayGrant(r), organizationID, serviceAccountID)
	h.reply(w, r, http.StatusOK, later(err, func() any { return serviceAccountToAPI(sa, token) }), err)
}

func (h *handlers) DeleteServiceAccount(w http.ResponseWriter, r *http.Request, organizationID, serviceAccountID string) {
	h.reply(w, r, http.StatusOK, nil, h.s.tenancy.DeleteServiceAccount(r.Context(), organizationID, serviceAccountID))
}

// --- projects ---

func (h *handlers) ListProjects(w http.ResponseWriter, r *http.Request, organizationID string, params api.ListProjectsParams) {
	p, err := page(params.Limit, params.PageToken)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	// A caller whose decisions involve policies sees the projects it may
	// get, each decided with its attributes; the others, what their system
	// grants cover (the same answer, without evaluating anything).
	var keep func(*store.Project) bool
	if d := decidedFrom(r.Context()); d.caller.HasPolicies() {
		keep = h.s.access.ProjectFilter(r.Context(), d.caller, d.now, d.sourceIP)
	}
	ps, err := h.s.tenancy.ListProjects(r.Context(), grantsFrom(r.Context()), organizationID, p, keep)
	replyList(h, w, r, p, ps, err, func(p *store.Project) string { return p.ID }, projectToAPI)
}

func (h *handlers) CreateProject(w http.ResponseWriter, r *http.Request, organizationID string) {
	var in api.ProjectWrite
	if !h.decode(w, r, &in) {
		return
	}
	p := &store.Project{Meta: writeMeta(in.Metadata), GroupIDs: idSet(in.Spec.GroupIDs)}
	err := h.s.tenancy.CreateProject(r.Context(), principal(r), h.mayGrant(r), organizationID, p)
	h.reply(w, r, http.StatusAccepted, later(err, func() any { return projectToAPI(p) }), err)
}

func (h *handlers) GetProject(w http.ResponseWriter, r *http.Request, organizationID, projectID string) {
	p, err := h.s.tenancy.GetProject(r.Context(), organizationID, projectID)
	h.reply(w, r, http.StatusOK, later(err, func() any { return projectToAPI(p) }), err)
}

func (h *handlers) UpdateProject(w http.ResponseWriter, r *http.Request, organizationID, projectID string) {
	var in api.ProjectWrite
	if !h.decode(w, r, &in) {
		return
	}
	p := &store.Project{Meta: writeMeta(in.Metadata), GroupIDs: idSet(in.Spec.GroupIDs)}
	h.reply(w, r, http.StatusOK, nil, h.s.tenancy.UpdateProject(r.Context(), principal(r), h.mayGrant(r), organizationID, projectID, p))
}

func (h *handlers) DeleteProject(w http.ResponseWriter, r *http.Request, organizationID, projectID string) {
	h.reply(w, r, http.StatusAccepted, nil, h.s.tenancy.DeleteProject(r.Context(), organizationID, projectID))
}

// --- OAuth2 providers ---

func (h *handlers) listProviders(w http.ResponseWriter, r *http.Request, orgID string, limit *int, token *string) {
	p, err := page(limit, token)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	ps, err := h.s.store.Read().ListOAuth2Providers(r.Context(), orgID, p)
	replyList(h, w, r, p, ps, err, func(p *store.OAuth2Provider) string { return p.ID }, providerToAPI)
}

func (h *handlers) createProvider(w http.ResponseWriter, r *http.Request, orgID string) {
	var in api.Oauth2ProviderWrite
	if !h.decode(w, r, &in) {
		return
	}
	p, err := h.s.tenancy.CreateProvider(r.Context(), principal(r), orgID, providerFromAPI(in))
	h.reply(w, r, http.StatusCreated, later(err, func() any { return providerToAPI(p) }), err)
}

func (h *handlers) updateProvider(w http.ResponseWriter, r *http.Request, orgID, id string) {
	var in api.Oauth2ProviderWrite
	if !h.decode(w, r, &in) {
		return
	}
	_, err := h.s.tenancy.UpdateProvider(r.Context(), principal(r), orgID, id, providerFromAPI(in))
	h.reply(w, r, http.StatusOK, nil, err)
}

func (h *handlers) ListSystemOauth2Providers(w http.ResponseWriter, r *http.Request, params api.ListSystemOauth2ProvidersParams) {
	h.listProviders(w, r, "", params.Limit, params.PageToken)
}

func (h *handlers) CreateSystemOauth2Provider(w http.ResponseWriter, r *http.Request) {
	h.createProvider(w, r, "")
}

func (h *handlers) UpdateSystemOauth2Provider(w http.ResponseWriter, r *http.Request, providerID string) {
	h.updateProvider(w, r, "", providerID)
}

func (h *handlers) DeleteSystemOauth2Provider(w http.ResponseWriter, r *http.Request, providerID string) {
	h.reply(w, r, http.StatusOK, nil, h.s.tenancy.DeleteProvider(r.Context(), "", providerID))
}

func (h *handlers) ListOrganizationOauth2Providers(w http.ResponseWriter, r *http.Request, organizationID string, params api.ListOrganizationOauth2ProvidersParams) {
	h.listProviders(w, r, organizationID, params.Limit, params.PageToken)
}

func (h *handlers) CreateOrganizationOauth2Provider(w http.ResponseWriter, r *http.Request, organizationID string) {
	h.createProvider(w, r, organizationID)
}

func (h *handlers) GetOrganizationOauth2Provider(w http.ResponseWriter, r *http.Request, organizationID, providerID string) {
	p, err := h.s.tenancy.GetProvider(r.Context(), organizationID, providerID)
	h.reply(w, r, http.StatusOK, later(err, func() any { return providerToAPI(p) }), err)
}

func (h *handlers) UpdateOrganizationOauth2Provider(w http.ResponseWriter, r *http.Request, organizationID, providerID string) {
	h.updateProvider(w, r, organizationID, providerID)
}

func (h *handlers) DeleteOrganizationOauth2Provider(w http.ResponseWriter, r *http.Request, organizationID, providerID string) {
	h.reply(w, r, http.StatusOK, nil, h.s.tenancy.DeleteProvider(r.Context(), organizationID, providerID))
}

// --- quotas and allocations ---

func (h *handlers) GetQuotas(w http.ResponseWriter, r *http.Request, organizationID string) {
	qs, err := h.s.tenancy.GetQuotas(r.Context(), organizationID)
	h.reply(w, r, http.StatusOK, later(err, func() any { return quotasToAPI(qs) }), err)
}

func (h *handlers) UpdateQuotas(w http.ResponseWriter, r *http.Request, organizationID string) {
	var in api.QuotasWrite
	if !h.decode(w, r, &in) {
		return
	}
	set := make(map[string]int64, len(in.Quotas))
	for _, q := range in.Quotas {
		if _, dup := set[q.Kind]; dup {
			h.s.writeError(w, r, apierror.BadRequest("quotas: kind %q given twice", q.Kind))
			return
		}
		set[q.Kind] = int64(q.Quantity)
	}
	qs, err := h.s.tenancy.SetQuotas(r.Context(), principal(r), organizationID, set)
	h.reply(w, r, http.StatusOK, later(err, func() any { return quotasToAPI(qs) }), err)
}

func (h *handlers) ListOrganizationAllocations(w http.ResponseWriter, r *http.Request, organizationID string, params api.ListOrganizationAllocationsParams) {
	p, err := page(params.Limit, params.PageToken)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	as, err := h.s.tenancy.ListAllocations(r.Context(), organizationID, p)
	replyList(h, w, r, p, as, err, func(a *store.Allocation) string { return a.ID }, allocationToAPI)
}

func (h *handlers) CreateAllocation(w http.ResponseWriter, r *http.Request, organizationID, projectID string) {
	var in api.AllocationWrite
	if !h.decode(w, r, &in) {
		return
	}
	a := allocationFromAPI(in)
	err := h.s.tenancy.CreateAllocation(r.Context(), principal(r), organizationID, projectID, a)
	h.reply(w, r, http.StatusCreated, later(err, func() any { return allocationToAPI(a) }), err)
}

func (h *handlers) GetAllocation(w http.ResponseWriter, r *http.Request, organizationID, projectID, allocationID string) {
	a, err := h.s.tenancy.GetAllocation(r.Context(), organizationID, projectID, allocationID)
	h.reply(w, r, http.StatusOK, later(err, func() any { return allocationToAPI(a) }), err)
}

func (h *handlers) UpdateAllocation(w http.ResponseWriter, r *http.Request, organizationID, projectID, allocationID string) {
	var in api.AllocationWrite
	if !h.decode(w, r, &in) {
		return
	}
	a := allocationFromAPI(in)
	err := h.s.tenancy.UpdateAllocation(r.Context(), principal(r), organizationID, projectID, allocationID, a)
	h.reply(w, r, http.StatusOK, later(err, func() any { return allocationToAPI(a) }), err)
}

func (h *handlers) DeleteAllocation(w http.ResponseWriter, r *http.Request, organizationID, projectID, allocationID string) {
	h.reply(w, r, http.StatusAccepted, nil, h.s.tenancy.DeleteAllocation(r.Context(), organizationID, projectID, allocationID))
}
