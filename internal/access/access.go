// Package access makes every authorization decision of the API: the one
// function, Decide, that the enforcement guard, the policy simulator, the
// ACL endpoints and the filtered project list all call. It combines the two
// kinds of rights a principal has in an organization:
//
//   - system roles (internal/authz): endpoint × CRUD permissions granted
//     through groups (or held by an API key), and platform roles;
//   - custom roles and the organization guardrail (internal/policy): CEL
//     policies evaluated on the request (service, operation, project,
//     parameters, target resources, source address, time, principal).
//
// For a caller in an organization the decision is
//
//	allowed = guardrailAllows AND NOT anyCustomRoleDeniesExplicitly
//	          AND (systemRolesAllow OR anyCustomRoleAllows)
//
// where the custom-role part is exactly policy.Evaluate over the caller's
// custom roles and the guardrail. Account assignments (issue 6) add to both
// parts, in their target project only: a permission set's system roles
// allow there what they allow on that project's operations (authz), its
// custom roles and inline policy are evaluated, after the organization-wide
// custom roles, for requests in that project. Platform administrators (a platform role
// binding) are above organizations: their platform permissions decide, and
// no organization's guardrail or roles apply to them, as an AWS SCP does not
// apply to the management account. Operations any authenticated caller may
// use (the handler narrows the answer) are always allowed. The custom role
// permission resetOrganizationPolicy allows resetting the guardrail even
// where the guardrail refuses it: it is the break-glass right.
//
// Who vouched (issue 12): a user whose login was authenticated by an
// identity provider that an organization registered (the token's gh_idp
// claim, authn.Principal.IdP) is trusted by that organization only. Load
// (through authz.Load) gives it no platform role and no membership
// elsewhere, whatever user records or role bindings its email has there, and
// Decide refuses it every operation outside that organization. Platform
// providers, local passwords and tokens issued before the claim existed
// keep the rules above.
package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/policy"
	"github.com/gatehouse/gatehouse/internal/store"
)

// PermissionResetOrganizationPolicy is the custom role permission that allows
// resetting the organization guardrail, whatever the guardrail says.
const PermissionResetOrganizationPolicy = "resetOrganizationPolicy"

// Permissions are the custom role permissions Gatehouse knows.
var Permissions = []string{PermissionResetOrganizationPolicy}

// resetOperation is the operation that PermissionResetOrganizationPolicy opens.
const resetOperation = "resetOrganizationPolicy"

// ErrSessionEnded is returned by Load for a role session whose role no longer
// exists: deleting a role ends its sessions at once.
var ErrSessionEnded = fmt.Errorf("%w: the role of this session no longer exists", authn.ErrInvalid)

// Engine loads callers and decides their requests. It is safe for concurrent
// use; its cache of compiled policies is shared by all requests.
type Engine struct {
	store *store.Store
	env   *policy.Env
	cache *policy.Cache
}

// DefaultCacheSize is how many compiled policies (role policies, guardrails,
// assume-role policies) an Engine keeps.
const DefaultCacheSize = 4096

// NewEnv is the policy environment of the API: policies may name the
// services of the operation catalogue, and nothing else.
func NewEnv() (*policy.Env, error) { return policy.NewEnv(authz.Services(), policy.Limits{}) }

// NewEngine returns an engine on st compiling in env, caching up to
// cacheSize compiled policies (DefaultCacheSize when 0).
func NewEngine(st *store.Store, env *policy.Env, cacheSize int) *Engine {
	if cacheSize <= 0 {
		cacheSize = DefaultCacheSize
	}
	return &Engine{store: st, env: env, cache: policy.NewCache(env, cacheSize)}
}

// Env is the engine's policy environment.
func (e *Engine) Env() *policy.Env { return e.env }

// Compiled returns the compiled policy cached under key, reading and
// compiling it with source only when it is not cached.
func (e *Engine) Compiled(key policy.CacheKey, source func() (policy.Policy, error)) (*policy.Compiled, error) {
	return e.cache.Load(key, source)
}

// CacheStats reports the compiled-policy cache's counters.
func (e *Engine) CacheStats() policy.CacheStats { return e.cache.Stats() }

// Role is a custom role as decisions use it.
type Role struct {
	ID          string
	Name        string
	Version     int64
	Permissions []string
	Policy      *policy.Compiled
}

// ProjectPolicy is a policy that applies to the requests of one project
// only: a custom role or the inline policy of a permission set assigned to
// the caller on that project.
type ProjectPolicy struct {
	Project string
	// Name is authz.PermissionSetGrant(set, role) or
	// authz.PermissionSetInline(set): what decisions report.
	Name string
	// RoleID is the custom role's ID ("" for an inline policy).
	RoleID          string
	PermissionSetID string
	Policy          *policy.Compiled
}

// owner is what a named policy of a caller belongs to.
type owner struct{ roleID, permissionSetID string }

// Caller is what decisions need to know about a principal in one
// organization (or none): its system grants, its custom roles, the policies
// of the permission sets assigned to it and the organization's guardrail.
// Load builds it once per request.
type Caller struct {
	Principal      *authn.Principal
	Grants         *authz.Grants
	OrganizationID string
	// Roles are the custom roles the principal holds in OrganizationID, in
	// ID order (the order they are given to policy.Evaluate).
	Roles []Role
	// Guardrail is the organization's compiled guardrail, nil for none. It
	// is loaded for members only: a non-member is refused before any
	// policy is evaluated, so a guardrail never tells outsiders anything.
	Guardrail *policy.Compiled
	// OrganizationMissing: OrganizationID names no organization. Load
	// finds it out with the guardrail's version (one query); the guard
	// answers 404 to a request Decide allows (a platform administrator's),
	// and 403 to the others, which learn nothing.
	OrganizationMissing bool
	// ProjectPolicies are the custom roles and inline policies of the
	// permission sets assigned to the principal, by project, then
	// permission set name, then role ID, the inline policy last.
	ProjectPolicies []ProjectPolicy
	named           []policy.NamedPolicy
	// inProject are, per project, the policies evaluated there: named,
	// then the project's ProjectPolicies.
	inProject map[string][]policy.NamedPolicy
	owners    map[string]owner
}

// NewCaller assembles a caller from what Load reads: p's grants in orgID,
// its custom roles (in the order decisions evaluate them), the
// organization's compiled guardrail (nil for none) and the policies of the
// permission sets assigned to it.
func NewCaller(p *authn.Principal, g *authz.Grants, orgID string, roles []Role, guardrail *policy.Compiled, projectPolicies ...ProjectPolicy) *Caller {
	c := &Caller{Principal: p, Grants: g, OrganizationID: orgID, Roles: roles, Guardrail: guardrail, ProjectPolicies: projectPolicies}
	if len(roles) == 0 && len(projectPolicies) == 0 {
		return c // the usual caller: system roles only, nothing to index
	}
	c.owners, c.inProject = map[string]owner{}, map[string][]policy.NamedPolicy{}
	c.named = make([]policy.NamedPolicy, len(roles))
	for i, r := range roles {
		c.named[i] = policy.NamedPolicy{Name: r.Name, Policy: r.Policy}
		c.owners[r.Name] = owner{roleID: r.ID}
	}
	for _, pp := range projectPolicies {
		if c.inProject[pp.Project] == nil {
			c.inProject[pp.Project] = slices.Clone(c.named)
		}
		c.inProject[pp.Project] = append(c.inProject[pp.Project], policy.NamedPolicy{Name: pp.Name, Policy: pp.Policy})
		c.owners[pp.Name] = owner{roleID: pp.RoleID, permissionSetID: pp.PermissionSetID}
	}
	return c
}

// HasPolicies reports whether any policy takes part in the caller's
// decisions (a custom role, a permission set's policy or a guardrail).
// Without one, decisions are the system grants alone, and requests need no
// parameters or resources.
func (c *Caller) HasPolicies() bool {
	return len(c.Roles) > 0 || c.Guardrail != nil || len(c.ProjectPolicies) > 0
}

// HasPoliciesIn is HasPolicies for the requests of one project ("" for
// requests outside projects): a permission set's policies take part only in
// the project it is assigned on.
func (c *Caller) HasPoliciesIn(project string) bool {
	return len(c.Roles) > 0 || c.Guardrail != nil || len(c.inProject[project]) > 0
}

// policiesIn are the policies evaluated for a request in project.
func (c *Caller) policiesIn(project string) []policy.NamedPolicy {
	if ps, ok := c.inProject[project]; ok && project != "" {
		return ps
	}
	return c.named
}

// Permission returns the first custom role (in ID order) holding the named
// permission.
func (c *Caller) Permission(name string) (Role, bool) {
	for _, r := range c.Roles {
		if slices.Contains(r.Permissions, name) {
			return r, true
		}
	}
	return Role{}, false
}

// PolicyPrincipal is the caller as expressions see it (principal.*).
func (c *Caller) PolicyPrincipal() policy.Principal {
	p := c.Principal
	out := policy.Principal{ID: p.ID, OrganizationID: p.OrganizationID, GroupIDs: c.Grants.GroupIDs()}
	switch p.Kind {
	case authn.KindUser:
		out.Type, out.Email = "user", p.Subject
		if c.Grants.Member {
			out.OrganizationID = c.OrganizationID
		}
	case authn.KindServiceAccount:
		out.Type = "serviceAccount"
	case authn.KindAPIKey:
		out.Type = "apiKey"
	case authn.KindAssumedRole:
		out.Type = "assumedRole"
	default:
		out.Type = string(p.Kind)
	}
	if out.GroupIDs == nil {
		out.GroupIDs = []string{}
	}
	return out
}

// Load builds the caller p in organization orgID ("" for none): its grants,
// then, for a member, the custom roles it holds (their compiled policies come
// from the cache, keyed by role ID and version: only a version not seen yet
// is read and compiled) and the organization's guardrail. For a role session
// whose role is gone it returns ErrSessionEnded.
func (e *Engine) Load(ctx context.Context, q *store.Q, p *authn.Principal, orgID string) (*Caller, error) {
	g, err := authz.Load(ctx, q, p, orgID)
	if err != nil {
		return nil, err
	}
	if p.Kind == authn.KindAssumedRole && !g.Member {
		// Outside its organization a session has no rights, but it must
		// still end with its role.
		hs, err := q.IAMRoleHeaders(ctx, p.OrganizationID, []string{p.RoleID})
		if err != nil {
			return nil, err
		}
		if len(hs) == 0 {
			return nil, ErrSessionEnded
		}
	}
	if orgID == "" {
		return NewCaller(p, g, orgID, nil, nil), nil
	}
	exists, guardrailVersion, err := q.OrganizationPolicyVersion(ctx, orgID)
	if err != nil {
		return nil, err
	}
	if !exists || !g.Member {
		c := NewCaller(p, g, orgID, nil, nil)
		c.OrganizationMissing = !exists
		return c, nil
	}
	// The custom roles granted by groups apply organization-wide; those of
	// assigned permission sets in their target only. One query reads the
	// headers of both.
	var custom []string
	for _, id := range g.RoleIDs() {
		if _, system := authz.RoleByID(id); !system {
			custom = append(custom, id)
		}
	}
	orgWide := len(custom)
	for _, a := range g.Assigned() {
		for _, id := range a.RoleIDs {
			if _, system := authz.RoleByID(id); !system {
				custom = append(custom, id)
			}
		}
	}
	var byID map[string]Role
	if len(custom) > 0 {
		if byID, err = e.loadRoles(ctx, q, orgID, custom); err != nil {
			return nil, err
		}
	}
	var roles []Role
	for _, id := range dedupeSorted(custom[:orgWide]) {
		if r, ok := byID[id]; ok {
			roles = append(roles, r)
		}
	}
	if p.Kind == authn.KindAssumedRole && !slices.ContainsFunc(roles, func(r Role) bool { return r.ID == p.RoleID }) {
		return nil, ErrSessionEnded
	}
	projectPolicies, err := e.loadProjectPolicies(ctx, q, orgID, g.Assigned(), byID)
	if err != nil {
		return nil, err
	}
	guardrail, err := e.loadGuardrail(ctx, q, orgID, guardrailVersion)
	if err != nil {
		return nil, err
	}
	return NewCaller(p, g, orgID, roles, guardrail, projectPolicies...), nil
}

func dedupeSorted(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// loadCompiled returns the compiled policy of a versioned source: cached
// under key(v), or read at version v and compiled. When the source moves on
// between the caller's read of its version and the read of its policy
// (read reports ErrNotFound), refresh reads its present version (ok false:
// it is gone, or has no policy any more) and the load is tried again, at
// most three more times: each retry follows a committed change.
func (e *Engine) loadCompiled(v int64, key func(int64) policy.CacheKey, read func(int64) (string, error),
	refresh func() (v int64, ok bool, err error)) (*policy.Compiled, bool, error) {
	for attempt := 0; ; attempt++ {
		compiled, err := e.Compiled(key(v), func() (policy.Policy, error) {
			text, err := read(v)
			if err != nil {
				return policy.Policy{}, err
			}
			return policy.Parse([]byte(text), e.env.Limits())
		})
		if err == nil {
			return compiled, true, nil
		}
		if !errors.Is(err, store.ErrNotFound) || attempt == 3 {
			return nil, false, err
		}
		var ok bool
		if v, ok, err = refresh(); err != nil || !ok {
			return nil, false, err
		}
	}
}

// loadRoles reads the headers of the custom roles ids of orgID and their
// compiled policies, by ID. A role that changes between the header and its
// policy is read again; a role deleted meanwhile is not held.
func (e *Engine) loadRoles(ctx context.Context, q *store.Q, orgID string, ids []string) (map[string]Role, error) {
	headers, err := q.IAMRoleHeaders(ctx, orgID, ids)
	if err != nil {
		return nil, err
	}
	roles := make(map[string]Role, len(headers))
	for _, h := range headers {
		compiled, ok, err := e.loadCompiled(h.Version, func(v int64) policy.CacheKey { return RoleCacheKey(h.ID, v) },
			func(v int64) (string, error) { return q.IAMRolePolicy(ctx, orgID, h.ID, v) },
			func() (int64, bool, error) {
				again, err := q.IAMRoleHeaders(ctx, orgID, []string{h.ID})
				if err != nil || len(again) == 0 {
					return 0, false, err // deleted since the first read
				}
				h = again[0]
				return h.Version, true, nil
			})
		if err != nil {
			return nil, fmt.Errorf("role %s: %w", h.ID, err)
		}
		if ok {
			roles[h.ID] = Role{ID: h.ID, Name: h.Name, Version: h.Version, Permissions: h.Permissions, Policy: compiled}
		}
	}
	return roles, nil
}

// loadProjectPolicies makes the policies of the permission sets assigned to
// the caller: for each assignment (by target, then set name), the set's
// custom roles (among roles, by ID) and its inline policy, compiled once per
// (set, version) through the cache.
func (e *Engine) loadProjectPolicies(ctx context.Context, q *store.Q, orgID string, assigned []store.AssignedSet, roles map[string]Role) ([]ProjectPolicy, error) {
	var out []ProjectPolicy
	for _, a := range assigned {
		if a.TargetType != store.TargetProject {
			continue
		}
		for _, id := range a.RoleIDs {
			if r, ok := roles[id]; ok {
				out = append(out, ProjectPolicy{Project: a.TargetID, Name: authz.PermissionSetGrant(a.Name, r.Name), RoleID: r.ID,
					PermissionSetID: a.PermissionSetID, Policy: r.Policy})
			}
		}
		if !a.HasInlinePolicy {
			continue
		}
		compiled, ok, err := e.loadCompiled(a.Version, func(v int64) policy.CacheKey { return PermissionSetCacheKey(a.PermissionSetID, v) },
			func(v int64) (string, error) {
				text, err := q.PermissionSetInlinePolicy(ctx, orgID, a.PermissionSetID, v)
				if err == nil && text == "" { // the inline policy was removed
					return "", fmt.Errorf("permission set %s has no inline policy: %w", a.PermissionSetID, store.ErrNotFound)
				}
				return text, err
			},
			func() (int64, bool, error) {
				p, err := q.GetPermissionSet(ctx, orgID, a.PermissionSetID)
				if errors.Is(err, store.ErrNotFound) {
					return 0, false, nil // deleted since the first read
				}
				if err != nil || p.InlinePolicy == "" {
					return 0, false, err
				}
				return p.Version, true, nil
			})
		if err != nil {
			return nil, fmt.Errorf("permission set %s: %w", a.PermissionSetID, err)
		}
		if ok {
			out = append(out, ProjectPolicy{Project: a.TargetID, Name: authz.PermissionSetInline(a.Name), PermissionSetID: a.PermissionSetID, Policy: compiled})
		}
	}
	return out, nil
}

// loadGuardrail returns orgID's compiled guardrail at version v, nil when it
// has none (v 0). A guardrail that moves on between the version read and the
// policy read is read again.
func (e *Engine) loadGuardrail(ctx context.Context, q *store.Q, orgID string, v int64) (*policy.Compiled, error) {
	if v == 0 {
		return nil, nil
	}
	compiled, _, err := e.loadCompiled(v, func(v int64) policy.CacheKey { return GuardrailCacheKey(orgID, v) },
		func(v int64) (string, error) {
			p, err := q.GetOrganizationPolicy(ctx, orgID)
			if err != nil {
				return "", err
			}
			if p.Version != v {
				return "", fmt.Errorf("guardrail moved to version %d: %w", p.Version, store.ErrNotFound)
			}
			return p.Policy, nil
		},
		func() (int64, bool, error) {
			_, v, err := q.OrganizationPolicyVersion(ctx, orgID)
			return v, v != 0, err
		})
	if err != nil {
		return nil, fmt.Errorf("guardrail of %s: %w", orgID, err)
	}
	return compiled, nil
}

// RoleCacheKey is the cache key of a custom role's policy at a version.
func RoleCacheKey(id string, version int64) policy.CacheKey {
	return policy.CacheKey{ID: "role:" + id, Version: strconv.FormatInt(version, 10)}
}

// AssumeRoleCacheKey is the cache key of a custom role's assume-role policy.
func AssumeRoleCacheKey(id string, version int64) policy.CacheKey {
	return policy.CacheKey{ID: "assume:" + id, Version: strconv.FormatInt(version, 10)}
}

// PermissionSetCacheKey is the cache key of a permission set's inline
// policy at a version.
func PermissionSetCacheKey(id string, version int64) policy.CacheKey {
	return policy.CacheKey{ID: "permissionset:" + id, Version: strconv.FormatInt(version, 10)}
}

// GuardrailCacheKey is the cache key of an organization's guardrail.
func GuardrailCacheKey(orgID string, version int64) policy.CacheKey {
	return policy.CacheKey{ID: "guardrail:" + orgID, Version: strconv.FormatInt(version, 10)}
}

// Request is one request to decide.
type Request struct {
	// Entry is the operation's catalogue entry.
	Entry authz.Entry
	// Organization and Project are the path's ("" when absent).
	Organization, Project string
	Now                   time.Time
	SourceIP              string
	// Parameters and Resources are what policies see; the guard fills them
	// only for callers with policies (HasPolicies).
	Parameters map[string]any
	Resources  map[string]any
}

// What decided, in Decision.By.
const (
	ByAuthenticated = "authenticated"
	ByPlatform      = "platform"
	ByGuardrail     = "guardrail"
	ByRole          = "role"
	BySystemRole    = "systemRole"
	ByPermission    = "permission"
	// ByPermissionSet: a permission set assigned on the request's project
	// decided, through a system role, a custom role or its inline policy
	// (Policy names which, PermissionSetID which set).
	ByPermissionSet = "permissionSet"
	ByNone          = "none"
)

// Decision is a decision and what made it: the policy decision fields (for a
// system role, Policy is the role's name), By, and the deciding custom
// role's and permission set's IDs.
type Decision struct {
	policy.Decision
	By              string
	RoleID          string
	PermissionSetID string
}

func allow(by, name, reason string) Decision {
	return Decision{Decision: policy.Decision{Allowed: true, Policy: name, RuleIndex: -1, Reason: reason}, By: by}
}

func deny(reason string) Decision {
	return Decision{Decision: policy.Decision{RuleIndex: -1, Reason: reason}, By: ByNone}
}

// byPolicy is the decision pd of a named policy of c: a custom role's, or a
// permission set's.
func (c *Caller) byPolicy(pd policy.Decision) Decision {
	o := c.owners[pd.Policy]
	d := Decision{Decision: pd, By: ByRole, RoleID: o.roleID, PermissionSetID: o.permissionSetID}
	if o.permissionSetID != "" {
		d.By = ByPermissionSet
	}
	return d
}

// Decide decides req for c. It is the one decision function of the API.
func (e *Engine) Decide(ctx context.Context, c *Caller, req Request) Decision {
	ent := req.Entry
	op := ent.Name()
	if ent.Scope == authz.ScopeAuthenticated {
		return allow(ByAuthenticated, "", fmt.Sprintf("any authenticated caller may %s (the answer is narrowed to what it may see)", op))
	}
	if v := c.Principal.VouchingOrganization(); v != "" && req.Organization != v {
		// authz.Load already gives such a caller nothing outside v; this
		// says why, and holds even for grants built another way.
		return deny(fmt.Sprintf("%s: the caller was vouched for by an identity provider of organization %s, trusted there only", op, v))
	}
	if c.Grants.PlatformAllows(ent) {
		name := c.Grants.AllowedBy(ent, req.Organization, req.Project)
		return allow(ByPlatform, name, fmt.Sprintf("platform role %s allows %s", name, op))
	}
	if ent.Scope == authz.ScopeGlobal {
		return deny(fmt.Sprintf("%s needs a platform role", op))
	}
	if req.Organization == "" || req.Organization != c.OrganizationID || !c.Grants.Member {
		return deny(fmt.Sprintf("%s needs membership of the organization", op))
	}
	if ent.OperationID == resetOperation {
		if r, ok := c.Permission(PermissionResetOrganizationPolicy); ok {
			d := allow(ByPermission, r.Name, fmt.Sprintf("role %q holds the permission %s", r.Name, PermissionResetOrganizationPolicy))
			d.RoleID = r.ID
			return d
		}
	}
	system, set := c.Grants.AllowedThrough(ent, req.Organization, req.Project)
	systemAllows := func() Decision {
		if set != "" {
			d := allow(ByPermissionSet, system, fmt.Sprintf("%s (assigned on project %s) allows %s", system, req.Project, op))
			d.PermissionSetID = set
			return d
		}
		return allow(BySystemRole, system, fmt.Sprintf("system role %s allows %s", system, op))
	}
	named := c.policiesIn(req.Project)
	if len(named) == 0 && c.Guardrail == nil {
		if system != "" {
			return systemAllows()
		}
		return deny(fmt.Sprintf("no role allows %s", op))
	}
	pd := policy.Evaluate(ctx, c.Guardrail, named, policy.Request{
		Service: ent.Service(), Operation: op, Now: req.Now, SourceIP: req.SourceIP, Principal: c.PolicyPrincipal(),
		Organization: req.Organization, Project: req.Project, Parameters: req.Parameters, Resources: req.Resources,
	})
	switch {
	case !pd.Allowed && pd.Policy == policy.GuardrailPolicy:
		return Decision{Decision: pd, By: ByGuardrail}
	case !pd.Allowed && pd.Explicit:
		return c.byPolicy(pd)
	case system != "":
		d := systemAllows()
		if c.Guardrail != nil {
			d.Reason += "; the organization guardrail allows it"
		}
		return d
	case pd.Allowed:
		return c.byPolicy(pd)
	}
	return Decision{Decision: policy.Decision{Policy: pd.Policy, Service: pd.Service, RuleIndex: pd.RuleIndex,
		Reason: fmt.Sprintf("no system role allows %s, and %s", op, pd.Reason)}, By: ByNone}
}
