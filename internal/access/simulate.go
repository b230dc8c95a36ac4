package access

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/policy"
	"github.com/gatehouse/gatehouse/internal/store"
)

// NamedDocument is a role policy under a name, for a what-if simulation.
type NamedDocument struct {
	Name   string
	Policy policy.Policy
}

// Simulation is a request to the policy simulator.
type Simulation struct {
	// Request is the request to decide; a zero Now means the present.
	Request policy.Request
	// WhatIf decides Request against exactly Guardrail (nil: none) and
	// Roles. Otherwise Request.Principal's Type and ID name a real user,
	// service account or API key of the organization, decided as the guard
	// would decide it.
	WhatIf    bool
	Guardrail *policy.Policy
	Roles     []NamedDocument
}

// Simulate is the policy simulator of organization orgID. A what-if
// simulation compiles the given policies (a bad one is a 400 naming it) and
// calls policy.Evaluate, the function Decide calls for policies; a real
// principal's is Decide itself, on the principal loaded as the guard loads
// it, with the organization's guardrail, and the target's attributes read
// like the guard's when Request.Resources is nil (from Request.Project and
// the path parameters among Request.Parameters). Parameters default to the
// path parameters (organizationID, and projectID with a project).
func (e *Engine) Simulate(ctx context.Context, q *store.Q, orgID string, now time.Time, sim Simulation) (Decision, error) {
	req := sim.Request
	if req.Now.IsZero() {
		req.Now = now
	}
	if sim.WhatIf {
		return e.whatIf(ctx, sim.Guardrail, sim.Roles, req)
	}
	if sim.Guardrail != nil {
		return Decision{}, apierror.BadRequest("guardrail: only with roles (a what-if simulation); a real principal is decided with the organization's guardrail")
	}
	ent, ok := authz.ByName(req.Service, req.Operation)
	if !ok {
		return Decision{}, apierror.BadRequest("no operation %q of service %q in the operation catalogue (GET /api/v1/operations lists them)", req.Operation, req.Service)
	}
	p, err := resolvePrincipal(ctx, q, orgID, req.Principal)
	if err != nil {
		return Decision{}, err
	}
	c, err := e.Load(ctx, q, p, orgID)
	if err != nil {
		return Decision{}, err
	}
	ar := Request{Entry: ent, Organization: orgID, Project: req.Project, Now: req.Now, SourceIP: req.SourceIP,
		Parameters: req.Parameters, Resources: req.Resources}
	if ar.Parameters == nil {
		ar.Parameters = map[string]any{"organizationID": orgID}
		if req.Project != "" {
			ar.Parameters["projectID"] = req.Project
		}
	}
	if ar.Resources == nil && c.HasPoliciesIn(req.Project) {
		path := map[string]string{}
		for _, k := range ResourceParams() {
			if v, ok := ar.Parameters[k].(string); ok {
				path[k] = v
			}
		}
		if req.Project != "" {
			path["projectID"] = req.Project
		}
		if ar.Resources, err = Resources(ctx, q, orgID, path); err != nil {
			return Decision{}, err
		}
	}
	return e.Decide(ctx, c, ar), nil
}

func (e *Engine) whatIf(ctx context.Context, guardrail *policy.Policy, roles []NamedDocument, req policy.Request) (Decision, error) {
	compile := func(what string, p policy.Policy) (*policy.Compiled, error) {
		c, err := policy.Compile(p, e.env)
		var ce *policy.CompileError
		if errors.As(err, &ce) {
			return nil, apierror.BadRequest("%s: %s", what, ce.Error())
		}
		return c, err
	}
	var guard *policy.Compiled
	if guardrail != nil {
		var err error
		if guard, err = compile("guardrail", *guardrail); err != nil {
			return Decision{}, err
		}
	}
	named := make([]policy.NamedPolicy, len(roles))
	for i, r := range roles {
		c, err := compile(fmt.Sprintf("roles[%d] (%s)", i, r.Name), r.Policy)
		if err != nil {
			return Decision{}, err
		}
		named[i] = policy.NamedPolicy{Name: r.Name, Policy: c}
	}
	return Decision{Decision: policy.Evaluate(ctx, guard, named, req)}, nil
}

// resolvePrincipal loads the principal a simulation names, as its
// authenticator would have made it.
func resolvePrincipal(ctx context.Context, q *store.Q, orgID string, pp policy.Principal) (*authn.Principal, error) {
	notFound := func(err error) error {
		if errors.Is(err, store.ErrNotFound) {
			return apierror.NotFoundError("principal %s %q not found in this organization", pp.Type, pp.ID)
		}
		return err
	}
	if pp.ID == "" {
		return nil, apierror.BadRequest("principal.id: required without roles (name a real principal, or give roles for a what-if)")
	}
	switch pp.Type {
	case "user":
		u, err := q.GetUser(ctx, orgID, pp.ID)
		if err != nil {
			return nil, notFound(err)
		}
		return &authn.Principal{Kind: authn.KindUser, ID: u.Subject, Subject: u.Subject}, nil
	case "serviceAccount":
		sa, err := q.GetServiceAccount(ctx, orgID, pp.ID)
		if err != nil {
			return nil, notFound(err)
		}
		return &authn.Principal{Kind: authn.KindServiceAccount, ID: sa.ID, OrganizationID: sa.OrganizationID,
			Subject: "serviceaccount:" + sa.Name}, nil
	case "apiKey":
		k, err := q.GetAPIKey(ctx, orgID, pp.ID)
		if err != nil {
			return nil, notFound(err)
		}
		return &authn.Principal{Kind: authn.KindAPIKey, ID: k.ID, OrganizationID: k.OrganizationID, RoleID: k.RoleID,
			Subject: "apikey:" + k.Name}, nil
	}
	return nil, apierror.BadRequest("principal.type: %q cannot be resolved (user, serviceAccount or apiKey; role sessions are not stored: simulate their role with roles)", pp.Type)
}
