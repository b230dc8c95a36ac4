package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/api"
	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/iam"
	"github.com/gatehouse/gatehouse/internal/policy"
	"github.com/gatehouse/gatehouse/internal/store"
)

// IAM handlers (issue 4): the operation catalogue, roles (system and
// custom), the organization guardrail and its simulator, API keys, role
// assumption and the audit log. Thin: the logic is in internal/iam and
// internal/access.

func (h *handlers) limits() policy.Limits { return h.s.access.Env().Limits() }

// origin is who makes the request, when and from where, as the guard saw it.
func origin(r *http.Request) iam.Origin {
	d := decidedFrom(r.Context())
	return iam.Origin{Caller: d.caller, Now: d.now, SourceIP: d.sourceIP}
}

// --- operation catalogue ---

func (h *handlers) ListOperations(w http.ResponseWriter, r *http.Request, params api.ListOperationsParams) {
	p, err := page(params.Limit, params.PageToken)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	// A fixed list, paged in memory; the token is the last operationId.
	ops := authz.Operations()
	if p.After != "" {
		i := slices.IndexFunc(ops, func(o authz.OperationInfo) bool { return o.OperationID == p.After })
		if i < 0 {
			h.s.writeError(w, r, apierror.BadRequest("query parameter \"pageToken\": not a page token from this API"))
			return
		}
		ops = ops[i+1:]
	}
	if p.Limit != store.NoLimit && len(ops) > p.Limit {
		ops = ops[:p.Limit]
	}
	replyList(h, w, r, p, ops, nil, func(o authz.OperationInfo) string { return o.OperationID }, operationToAPI)
}

// --- roles ---

func (h *handlers) ListRoles(w http.ResponseWriter, r *http.Request, organizationID string, params api.ListRolesParams) {
	p, err := page(params.Limit, params.PageToken)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	roles, err := h.s.iam.ListRoles(r.Context(), organizationID, p)
	replyList(h, w, r, p, roles, err, func(role *iam.Role) string { return role.ID() }, iamRoleToAPI)
}

func (h *handlers) CreateRole(w http.ResponseWriter, r *http.Request, organizationID string) {
	in, ok := h.decodeRole(w, r)
	if !ok {
		return
	}
	ri, err := roleInputFromAPI(in, h.limits())
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	role, err := h.s.iam.CreateRole(r.Context(), principal(r), organizationID, ri)
	h.reply(w, r, http.StatusCreated, later(err, func() any { return iamRoleToAPI(role) }), err)
}

func (h *handlers) GetRole(w http.ResponseWriter, r *http.Request, organizationID, roleID string) {
	role, err := h.s.iam.GetRole(r.Context(), organizationID, roleID)
	h.reply(w, r, http.StatusOK, later(err, func() any { return iamRoleToAPI(role) }), err)
}

func (h *handlers) UpdateRole(w http.ResponseWriter, r *http.Request, organizationID, roleID string) {
	in, ok := h.decodeRole(w, r)
	if !ok {
		return
	}
	ri, err := roleInputFromAPI(in, h.limits())
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	role, err := h.s.iam.UpdateRole(r.Context(), origin(r), organizationID, roleID, ri)
	h.reply(w, r, http.StatusOK, later(err, func() any { return iamRoleToAPI(role) }), err)
}

func (h *handlers) DeleteRole(w http.ResponseWriter, r *http.Request, organizationID, roleID string) {
	h.reply(w, r, http.StatusOK, nil, h.s.iam.DeleteRole(r.Context(), organizationID, roleID))
}

// seedRoleSpellings are the seed's (kebab-case) names of roleSpec fields
// and Gatehouse's for them. A body that uses the seed's is refused rather
// than read as if the field were absent: an update would otherwise keep
// (or, on create, default) a max-session-ttl the caller believes it set.
var seedRoleSpellings = [][2]string{
	{"max-session-ttl", "maxSessionTTL"},
	{"assume-role-policy", "assumeRolePolicy"},
}

// decodeRole reads a role create or update body, refusing the seed's
// spellings of its fields (seedRoleSpellings) with a 400 naming ours.
func (h *handlers) decodeRole(w http.ResponseWriter, r *http.Request) (api.RoleWrite, bool) {
	var in api.RoleWrite
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		apierror.Write(w, apierror.BadRequest("request body: %v", err))
		return in, false
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	if !h.decode(w, r, &in) {
		return in, false
	}
	var keys struct {
		Spec map[string]json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(raw, &keys); err != nil {
		apierror.Write(w, apierror.BadRequest("request body: %v", err))
		return in, false
	}
	for _, sp := range seedRoleSpellings {
		if seed, ours := sp[0], sp[1]; keys.Spec[seed] != nil {
			apierror.Write(w, apierror.BadRequest("spec.%s is the seed's spelling, which Gatehouse does not read: send spec.%s", seed, ours))
			return in, false
		}
	}
	return in, true
}

// decodePolicy reads a policy document body.
func (h *handlers) decodePolicy(w http.ResponseWriter, r *http.Request, field string) (policy.Policy, bool) {
	var in api.IamPolicy
	if !h.decode(w, r, &in) {
		return policy.Policy{}, false
	}
	p, err := policyFromAPI(field, in, h.limits())
	if err != nil {
		h.s.writeError(w, r, err)
		return policy.Policy{}, false
	}
	return p, true
}

// rolePolicy replaces one of a role's policies with the body, by set.
func (h *handlers) rolePolicy(w http.ResponseWriter, r *http.Request, organizationID, roleID, field string,
	set func(ctx context.Context, o iam.Origin, orgID, id string, p policy.Policy) (*iam.Role, error)) {
	p, ok := h.decodePolicy(w, r, field)
	if !ok {
		return
	}
	role, err := set(r.Context(), origin(r), organizationID, roleID, p)
	h.reply(w, r, http.StatusOK, later(err, func() any { return iamRoleToAPI(role) }), err)
}

func (h *handlers) UpdateRolePolicy(w http.ResponseWriter, r *http.Request, organizationID, roleID string) {
	h.rolePolicy(w, r, organizationID, roleID, "policy", h.s.iam.UpdateRolePolicy)
}

func (h *handlers) UpdateRoleAssumeRolePolicy(w http.ResponseWriter, r *http.Request, organizationID, roleID string) {
	h.rolePolicy(w, r, organizationID, roleID, "assumeRolePolicy", h.s.iam.UpdateRoleAssumeRolePolicy)
}

func (h *handlers) AssumeRole(w http.ResponseWriter, r *http.Request, organizationID, roleID string) {
	var in api.RoleAssume
	if !h.decode(w, r, &in) {
		return
	}
	sess, err := h.s.iam.AssumeRole(r.Context(), iam.AssumeRequest{Origin: origin(r), OrganizationID: organizationID, RoleID: roleID, TTL: in.Ttl})
	h.reply(w, r, http.StatusOK, later(err, func() any {
		return api.RoleSession{AccessToken: sess.Token, TokenType: api.RoleSessionTokenTypeBearer, RoleID: sess.RoleID,
			Expiration: sess.ExpiresAt, ExpiresIn: sess.TTL}
	}), err)
}

// --- the organization guardrail and the simulator ---

func (h *handlers) GetOrganizationPolicy(w http.ResponseWriter, r *http.Request, organizationID string) {
	p, err := h.s.iam.GetGuardrail(r.Context(), organizationID)
	h.reply(w, r, http.StatusOK, later(err, func() any { return policyToAPI(p) }), err)
}

func (h *handlers) UpdateOrganizationPolicy(w http.ResponseWriter, r *http.Request, organizationID string) {
	p, ok := h.decodePolicy(w, r, "policy")
	if !ok {
		return
	}
	p, err := h.s.iam.PutGuardrail(r.Context(), origin(r), organizationID, p)
	h.reply(w, r, http.StatusOK, later(err, func() any { return policyToAPI(p) }), err)
}

func (h *handlers) ResetOrganizationPolicy(w http.ResponseWriter, r *http.Request, organizationID string) {
	p, err := h.s.iam.ResetGuardrail(r.Context(), principal(r), organizationID)
	h.reply(w, r, http.StatusOK, later(err, func() any { return policyToAPI(p) }), err)
}

func (h *handlers) EvaluateOrganizationPolicy(w http.ResponseWriter, r *http.Request, organizationID string) {
	var in api.PolicyEvaluation
	if !h.decode(w, r, &in) {
		return
	}
	sim, err := simulationFromAPI(in, h.limits())
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	d, err := h.s.access.Simulate(r.Context(), h.s.store.Read(), organizationID, decidedFrom(r.Context()).now, sim)
	h.reply(w, r, http.StatusOK, later(err, func() any { return decisionToAPI(d) }), err)
}

// --- API keys ---

func (h *handlers) ListApiKeys(w http.ResponseWriter, r *http.Request, organizationID string, params api.ListApiKeysParams) {
	p, err := page(params.Limit, params.PageToken)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	ks, err := h.s.store.Read().ListAPIKeys(r.Context(), organizationID, p)
	replyList(h, w, r, p, ks, err, func(k *store.APIKey) string { return k.ID },
		func(k *store.APIKey) api.ApiKeyRead { return apiKeyToAPI(k, "") })
}

func (h *handlers) CreateApiKey(w http.ResponseWriter, r *http.Request, organizationID string) {
	var in api.ApiKeyWrite
	if !h.decode(w, r, &in) {
		return
	}
	k, token, err := h.s.iam.CreateAPIKey(r.Context(), origin(r), organizationID,
		iam.APIKeyInput{Meta: writeMeta(in.Metadata), RoleID: in.Spec.RoleID, Expiry: in.Spec.Expiry})
	h.reply(w, r, http.StatusCreated, later(err, func() any { return api.ApiKeyCreate(apiKeyToAPI(k, token)) }), err)
}

func (h *handlers) GetApiKey(w http.ResponseWriter, r *http.Request, organizationID, apiKeyID string) {
	k, err := h.s.iam.GetAPIKey(r.Context(), organizationID, apiKeyID)
	h.reply(w, r, http.StatusOK, later(err, func() any { return apiKeyToAPI(k, "") }), err)
}

func (h *handlers) DeleteApiKey(w http.ResponseWriter, r *http.Request, organizationID, apiKeyID string) {
	h.reply(w, r, http.StatusOK, nil, h.s.iam.DeleteAPIKey(r.Context(), organizationID, apiKeyID))
}

// --- audit log ---

func (h *handlers) listAuditEvents(w http.ResponseWriter, r *http.Request, f store.AuditFilter, limit *int, token *string) {
	p, err := page(limit, token)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	es, err := h.s.store.Read().ListAuditEvents(r.Context(), f, p)
	replyList(h, w, r, p, es, err, func(e *store.AuditEvent) string { return e.ID }, auditEventToAPI)
}

func auditFilter(org string, typ, id, actor *string, since, until *time.Time) store.AuditFilter {
	return store.AuditFilter{OrganizationID: org, ResourceType: deref(typ), ResourceID: deref(id), ActorID: deref(actor),
		Since: deref(since), Until: deref(until)}
}

func (h *handlers) ListOrganizationAuditEvents(w http.ResponseWriter, r *http.Request, organizationID string, params api.ListOrganizationAuditEventsParams) {
	h.listAuditEvents(w, r, auditFilter(organizationID, params.ResourceType, params.ResourceId, params.Actor, params.Since, params.Until),
		params.Limit, params.PageToken)
}

func (h *handlers) ListAuditEvents(w http.ResponseWriter, r *http.Request, params api.ListAuditEventsParams) {
	h.listAuditEvents(w, r, auditFilter(deref(params.OrganizationId), params.ResourceType, params.ResourceId, params.Actor, params.Since, params.Until),
		params.Limit, params.PageToken)
}
