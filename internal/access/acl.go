package access

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/store"
)

// aclEntries are the catalogue operations that are permissions, in
// operationId order: those with an endpoint, checked globally, in the
// organization or in a project. Operations open to any caller or to every
// member (the handler narrows their answer, or a policy of their own
// decides) grant nothing and are not in the ACL.
var aclEntries = func() []authz.Entry {
	var out []authz.Entry
	for _, e := range authz.Catalogue {
		switch e.Scope {
		case authz.ScopeGlobal, authz.ScopeOrganization, authz.ScopeProject:
			if e.Endpoint != "" {
				out = append(out, e)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OperationID < out[j].OperationID })
	return out
}()

// endpointOps collects endpoint → operations.
type endpointOps map[string]map[authz.Operation]bool

func (m endpointOps) add(endpoint string, op authz.Operation) {
	if m[endpoint] == nil {
		m[endpoint] = map[authz.Operation]bool{}
	}
	m[endpoint][op] = true
}

func (m endpointOps) union(o endpointOps) endpointOps {
	out := endpointOps{}
	for _, src := range []endpointOps{m, o} {
		for ep, ops := range src {
			for op := range ops {
				out.add(ep, op)
			}
		}
	}
	return out
}

func (m endpointOps) render() []authz.EndpointACL {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]authz.EndpointACL, 0, len(names))
	for _, n := range names {
		var ops []authz.Operation
		for _, op := range []authz.Operation{authz.Create, authz.Read, authz.Update, authz.Delete} {
			if m[n][op] {
				ops = append(ops, op)
			}
		}
		out = append(out, authz.EndpointACL{Name: n, Operations: ops})
	}
	return out
}

// ACL renders what c may do in its organization, for the ACL endpoints. The
// ACL is a projection of Decide: an (endpoint, operation) pair is listed in
// the organization section exactly when Decide allows some catalogue
// operation with that endpoint and operation in the organization (or the
// caller's platform roles grant it), and in a project's section exactly when
// Decide allows it in that project, for a request without parameters or
// resources at time now from sourceIP. The ACL is coarser than policies,
// which can tell apart two operations of one endpoint and CRUD operation
// (getGroup and listGroups are both groups:read): it lists the pair when
// either is allowed.
//
// A caller with only system roles gets its grants' ACL directly (the same
// result, without evaluating anything). For the others, the project sections
// are the projects the caller's groups reach plus every other project of the
// organization where some project operation is allowed (allProjects lists
// them; it is called only then).
func (e *Engine) ACL(ctx context.Context, c *Caller, now time.Time, sourceIP string, allProjects func() ([]string, error)) (authz.ACL, error) {
	base := c.Grants.ACL()
	if c.OrganizationID == "" || (!c.HasPolicies() && !c.Grants.EveryProject()) {
		return base, nil
	}
	acl := authz.ACL{Global: base.Global}
	orgOps, orgProjectOps := endpointOps{}, endpointOps{}
	for _, g := range base.Global {
		for _, op := range g.Operations {
			orgOps.add(g.Name, op)
		}
	}
	var projectEntries []authz.Entry
	for _, ent := range aclEntries {
		if ent.Scope == authz.ScopeProject {
			projectEntries = append(projectEntries, ent)
		}
		d := e.Decide(ctx, c, Request{Entry: ent, Organization: c.OrganizationID, Now: now, SourceIP: sourceIP})
		if !d.Allowed {
			continue
		}
		if ent.Scope == authz.ScopeProject {
			orgProjectOps.add(ent.Endpoint, ent.Operation)
		} else {
			orgOps.add(ent.Endpoint, ent.Operation)
		}
	}
	acl.Organization = &authz.ScopedACL{ID: c.OrganizationID, Endpoints: orgOps.union(orgProjectOps).render()}

	reached := c.Grants.ProjectIDs()
	ids := reached
	if c.HasPolicies() || c.Grants.EveryProject() {
		all, err := allProjects()
		if err != nil {
			return authz.ACL{}, fmt.Errorf("ACL: list projects: %w", err)
		}
		ids = all
		for _, id := range reached {
			if !containsSorted(all, id) {
				ids = append(ids, id)
			}
		}
		sort.Strings(ids)
	}
	for _, p := range ids {
		ops := endpointOps{}
		for _, ent := range projectEntries {
			d := e.Decide(ctx, c, Request{Entry: ent, Organization: c.OrganizationID, Project: p, Now: now, SourceIP: sourceIP})
			if d.Allowed {
				ops.add(ent.Endpoint, ent.Operation)
			}
		}
		if len(ops) == 0 && !containsSorted(reached, p) {
			continue
		}
		acl.Projects = append(acl.Projects, authz.ScopedACL{ID: p, Endpoints: orgOps.union(ops).render()})
	}
	return acl, nil
}

func containsSorted(ids []string, id string) bool {
	i := sort.SearchStrings(ids, id)
	return i < len(ids) && ids[i] == id
}

// ProjectFilter returns the test listProjects applies to each project: may c
// read it, i.e. would getProject on it be allowed, with the project's
// attributes as resources.project? A list then shows exactly the projects a
// get would return.
func (e *Engine) ProjectFilter(ctx context.Context, c *Caller, now time.Time, sourceIP string) func(*store.Project) bool {
	get := authz.Catalogue["getProject"]
	return func(p *store.Project) bool {
		return e.Decide(ctx, c, Request{Entry: get, Organization: c.OrganizationID, Project: p.ID, Now: now, SourceIP: sourceIP,
			Parameters: map[string]any{"organizationID": c.OrganizationID, "projectID": p.ID},
			Resources:  map[string]any{"project": Attributes(p.ID, p.Name, p.Tags)}}).Allowed
	}
}
