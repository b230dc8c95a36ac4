package server

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/api"
	"github.com/gatehouse/gatehouse/internal/access"
	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/iam"
	"github.com/gatehouse/gatehouse/internal/policy"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Translation between the IAM wire types and the iam, policy and access
// types.

// policyFromAPI turns a schema-checked policy into a policy document,
// through policy.Parse (size limit, strict fields), so that a document is
// read the same way whichever path it comes in by.
func policyFromAPI(field string, in api.IamPolicy, limits policy.Limits) (policy.Policy, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return policy.Policy{}, err
	}
	p, err := policy.Parse(b, limits)
	var ce *policy.CompileError
	if errors.As(err, &ce) {
		return policy.Policy{}, apierror.BadRequest("%s: %s", field, ce.Error())
	}
	return p, err
}

func optPolicyFromAPI(field string, in *api.IamPolicy, limits policy.Limits) (*policy.Policy, error) {
	if in == nil {
		return nil, nil
	}
	p, err := policyFromAPI(field, *in, limits)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

func policyToAPI(p policy.Policy) api.IamPolicy {
	out := api.IamPolicy{DefaultServiceStrategy: api.IamPolicyDefaultServiceStrategy(p.DefaultServiceStrategy),
		Services: make(map[string]api.IamServicePolicy, len(p.Services))}
	for name, sp := range p.Services {
		asp := api.IamServicePolicy{Type: api.IamServicePolicyType(sp.Type)}
		if len(sp.Rules) > 0 {
			rules := make([]api.IamPolicyRule, len(sp.Rules))
			for i, r := range sp.Rules {
				rules[i] = api.IamPolicyRule{Action: api.IamPolicyRuleAction(r.Action), Expression: r.Expression}
			}
			asp.Rules = &rules
		}
		out.Services[name] = asp
	}
	return out
}

// roleInputFromAPI reads a custom role write.
func roleInputFromAPI(in api.RoleWrite, limits policy.Limits) (iam.RoleInput, error) {
	out := iam.RoleInput{Meta: writeMeta(in.Metadata)}
	var err error
	if out.Policy, err = optPolicyFromAPI("spec.policy", in.Spec.Policy, limits); err != nil {
		return out, err
	}
	if out.AssumeRolePolicy, err = optPolicyFromAPI("spec.assumeRolePolicy", in.Spec.AssumeRolePolicy, limits); err != nil {
		return out, err
	}
	out.MaxSessionTTL, out.Editable = in.Spec.MaxSessionTTL, in.Spec.Editable
	// Absent stays nil (an update keeps the role's value); present, even
	// empty, is non-nil.
	if in.Spec.Permissions != nil {
		out.Permissions = make([]string, 0, len(*in.Spec.Permissions))
		for _, p := range *in.Spec.Permissions {
			out.Permissions = append(out.Permissions, string(p))
		}
	}
	if in.Spec.Labels != nil {
		out.Labels = *in.Spec.Labels
		if out.Labels == nil {
			out.Labels = map[string]string{}
		}
	}
	return out, nil
}

// roleToAPI is a system role: metadata and a status saying it is built
// in and not editable.
func roleToAPI(r *authz.Role) api.RoleRead {
	return api.RoleRead{Metadata: api.ResourceReadMetadata{
		Id: r.ID, Name: r.Name, Description: optString(r.Description), CreationTime: time.Unix(0, 0).UTC(),
		ProvisioningStatus: api.ResourceProvisioningStatusProvisioned, HealthStatus: api.ResourceHealthStatusHealthy,
	}, Status: &api.RoleStatus{Builtin: true, Editable: false, Version: 0}}
}

// iamRoleToAPI is a system or custom role.
func iamRoleToAPI(r *iam.Role) api.RoleRead {
	if r.System != nil {
		return roleToAPI(r.System)
	}
	c := r.Custom
	perms := make([]api.RolePermission, len(c.Permissions))
	for i, p := range c.Permissions {
		perms[i] = api.RolePermission(p)
	}
	labels := c.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	spec := &api.RoleSpec{Policy: ptr(policyToAPI(r.Policy)), MaxSessionTTL: ptr(c.MaxSessionTTL), Permissions: &perms,
		Labels: &labels, Editable: ptr(c.Editable)}
	if r.AssumeRolePolicy != nil {
		spec.AssumeRolePolicy = ptr(policyToAPI(*r.AssumeRolePolicy))
	}
	return api.RoleRead{Metadata: readMeta(c.Meta), Spec: spec,
		Status: &api.RoleStatus{Builtin: false, Editable: c.Editable, Version: c.Version}}
}

func apiKeyToAPI(k *store.APIKey, token string) api.ApiKeyRead {
	out := api.ApiKeyRead{Metadata: orgMeta(k.Meta), Spec: api.ApiKeySpec{RoleID: k.RoleID, Expiry: optTime(k.ExpiresAt)},
		Status: api.ApiKeyStatus{KeyID: k.ID}}
	if token != "" {
		out.Status.AccessToken = &token
	}
	return out
}

func decisionToAPI(d access.Decision) api.PolicyDecision {
	out := api.PolicyDecision{Allowed: d.Allowed, Policy: d.Policy, Service: d.Service, RuleIndex: d.RuleIndex, Reason: d.Reason}
	if d.By != "" {
		out.DecidedBy = ptr(api.PolicyDecisionDecidedBy(d.By))
	}
	if d.RoleID != "" {
		out.RoleId = &d.RoleID
	}
	if d.PermissionSetID != "" {
		out.PermissionSetId = &d.PermissionSetID
	}
	return out
}

// simulationFromAPI reads a simulator request.
func simulationFromAPI(in api.PolicyEvaluation, limits policy.Limits) (access.Simulation, error) {
	sim := access.Simulation{Request: policy.Request{Service: in.Service, Operation: in.Operation, Now: deref(in.Now),
		SourceIP: deref(in.SourceIP), Organization: deref(in.Organization), Project: deref(in.Project),
		Parameters: deref(in.Parameters), Resources: deref(in.Resources)}}
	if p := in.Principal; p != nil {
		sim.Request.Principal = policy.Principal{Type: deref(p.Type), ID: deref(p.Id), Email: deref(p.Email),
			OrganizationID: deref(p.OrganizationId), GroupIDs: deref(p.GroupIDs)}
	}
	var err error
	if sim.Guardrail, err = optPolicyFromAPI("guardrail", in.Guardrail, limits); err != nil {
		return sim, err
	}
	if in.Roles != nil {
		sim.WhatIf = true
		for i, r := range *in.Roles {
			p, err := policyFromAPI("roles["+strconv.Itoa(i)+"].policy", r.Policy, limits)
			if err != nil {
				return sim, err
			}
			sim.Roles = append(sim.Roles, access.NamedDocument{Name: r.Name, Policy: p})
		}
	}
	return sim, nil
}

func auditEventToAPI(e *store.AuditEvent) api.AuditEventRead {
	out := api.AuditEventRead{Id: e.ID, Time: e.Time, OrganizationId: e.OrganizationID, OperationId: e.OperationID,
		Resource: api.AuditResource{Type: e.ResourceType, Id: e.ResourceID}, RequestId: e.RequestID,
		Before: json.RawMessage(e.Before), After: json.RawMessage(e.After)}
	if err := json.Unmarshal([]byte(e.Actor), &out.Actor); err != nil {
		out.Actor = api.AuditPrincipal{Kind: e.ActorKind, Id: e.ActorID, Subject: e.ActorSubject}
	}
	return out
}

func operationToAPI(o authz.OperationInfo) api.OperationRead {
	return api.OperationRead{Service: o.Service, Operation: o.Operation, OperationId: o.OperationID, Endpoint: o.Endpoint,
		CrudOperation: string(o.CRUD)}
}
