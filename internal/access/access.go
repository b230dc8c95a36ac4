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
// custom roles and the guardrail. Platform administrators (a platform role
// binding) are above organizations: their platform permissions decide, and
// no organization's guardrail or roles apply to them, as an AWS SCP does not
// apply to the management account. Operations any authenticated caller may
// use (the handler narrows the answer) are always allowed. The custom role
// permission resetOrganizationPolicy allows resetting the guardrail even
// where the guardrail refuses it: it is the break-glass right.
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

// Caller is what decisions need to know about a principal in one
// organization (or none): its system grants, its custom roles and the
// organization's guardrail. Load builds it once per request.
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
	named               []policy.NamedPolicy
}

// NewCaller assembles a caller from what Load reads: p's grants in orgID,
// its custom roles (in the order decisions evaluate them) and the
// organization's compiled guardrail (nil for none).
func NewCaller(p *authn.Principal, g *authz.Grants, orgID string, roles []Role, guardrail *policy.Compiled) *Caller {
	c := &Caller{Principal: p, Grants: g, OrganizationID: orgID, Roles: roles, Guardrail: guardrail}
	c.named = make([]policy.NamedPolicy, len(roles))
	for i, r := range roles {
		c.named[i] = policy.NamedPolicy{Name: r.Name, Policy: r.Policy}
	}
	return c
}

// HasPolicies reports whether any policy takes part in the caller's
// decisions (a custom role or a guardrail). Without one, decisions are the
// system grants alone, and requests need no parameters or resources.
func (c *Caller) HasPolicies() bool { return len(c.Roles) > 0 || c.Guardrail != nil }

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

// roleByName finds a custom role by name (names are unique per organization).
func (c *Caller) roleByName(name string) (Role, bool) {
	for _, r := range c.Roles {
		if r.Name == name {
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
	var roles []Role
	var custom []string
	for _, id := range g.RoleIDs() {
		if _, system := authz.RoleByID(id); !system {
			custom = append(custom, id)
		}
	}
	if len(custom) > 0 {
		if roles, err = e.loadRoles(ctx, q, orgID, custom); err != nil {
			return nil, err
		}
	}
	if p.Kind == authn.KindAssumedRole && !slices.ContainsFunc(roles, func(r Role) bool { return r.ID == p.RoleID }) {
		return nil, ErrSessionEnded
	}
	guardrail, err := e.loadGuardrail(ctx, q, orgID, guardrailVersion)
	if err != nil {
		return nil, err
	}
	return NewCaller(p, g, orgID, roles, guardrail), nil
}

// loadRoles reads the headers of the custom roles ids of orgID and their
// compiled policies. A role that changes between the header and its policy
// is read again (at most a few times: each retry follows a committed
// change); a role deleted meanwhile is not held.
func (e *Engine) loadRoles(ctx context.Context, q *store.Q, orgID string, ids []string) ([]Role, error) {
	headers, err := q.IAMRoleHeaders(ctx, orgID, ids)
	if err != nil {
		return nil, err
	}
	roles := make([]Role, 0, len(headers))
	for _, h := range headers {
		for attempt := 0; ; attempt++ {
			compiled, err := e.Compiled(RoleCacheKey(h.ID, h.Version), func() (policy.Policy, error) {
				text, err := q.IAMRolePolicy(ctx, orgID, h.ID, h.Version)
				if err != nil {
					return policy.Policy{}, err
				}
				return policy.Parse([]byte(text), e.env.Limits())
			})
			if err == nil {
				roles = append(roles, Role{ID: h.ID, Name: h.Name, Version: h.Version, Permissions: h.Permissions, Policy: compiled})
				break
			}
			if !errors.Is(err, store.ErrNotFound) || attempt == 3 {
				return nil, fmt.Errorf("role %s: %w", h.ID, err)
			}
			again, err := q.IAMRoleHeaders(ctx, orgID, []string{h.ID})
			if err != nil {
				return nil, err
			}
			if len(again) == 0 {
				break // deleted since the first read
			}
			h = again[0]
		}
	}
	return roles, nil
}

// loadGuardrail returns orgID's compiled guardrail at version v, nil when it
// has none (v 0). A guardrail that moves on between the version read and the
// policy read is read again.
func (e *Engine) loadGuardrail(ctx context.Context, q *store.Q, orgID string, v int64) (*policy.Compiled, error) {
	for attempt := 0; ; attempt++ {
		if v == 0 {
			return nil, nil
		}
		compiled, err := e.Compiled(GuardrailCacheKey(orgID, v), func() (policy.Policy, error) {
			p, err := q.GetOrganizationPolicy(ctx, orgID)
			if err != nil {
				return policy.Policy{}, err
			}
			if p.Version != v {
				return policy.Policy{}, fmt.Errorf("guardrail moved to version %d: %w", p.Version, store.ErrNotFound)
			}
			return policy.Parse([]byte(p.Policy), e.env.Limits())
		})
		if err == nil {
			return compiled, nil
		}
		if !errors.Is(err, store.ErrNotFound) || attempt == 3 {
			return nil, fmt.Errorf("guardrail of %s: %w", orgID, err)
		}
		if _, v, err = q.OrganizationPolicyVersion(ctx, orgID); err != nil {
			return nil, err
		}
	}
}

// RoleCacheKey is the cache key of a custom role's policy at a version.
func RoleCacheKey(id string, version int64) policy.CacheKey {
	return policy.CacheKey{ID: "role:" + id, Version: strconv.FormatInt(version, 10)}
}

// AssumeRoleCacheKey is the cache key of a custom role's assume-role policy.
func AssumeRoleCacheKey(id string, version int64) policy.CacheKey {
	return policy.CacheKey{ID: "assume:" + id, Version: strconv.FormatInt(version, 10)}
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
	ByNone          = "none"
)

// Decision is a decision and what made it: the policy decision fields (for a
// system role, Policy is the role's name), By, and the deciding custom
// role's ID.
type Decision struct {
	policy.Decision
	By     string
	RoleID string
}

func allow(by, name, reason string) Decision {
	return Decision{Decision: policy.Decision{Allowed: true, Policy: name, RuleIndex: -1, Reason: reason}, By: by}
}

func deny(reason string) Decision {
	return Decision{Decision: policy.Decision{RuleIndex: -1, Reason: reason}, By: ByNone}
}

// Decide decides req for c. It is the one decision function of the API.
func (e *Engine) Decide(ctx context.Context, c *Caller, req Request) Decision {
	ent := req.Entry
	op := ent.Name()
	if ent.Scope == authz.ScopeAuthenticated {
		return allow(ByAuthenticated, "", fmt.Sprintf("any authenticated caller may %s (the answer is narrowed to what it may see)", op))
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
	system := c.Grants.AllowedBy(ent, req.Organization, req.Project)
	if !c.HasPolicies() {
		if system != "" {
			return allow(BySystemRole, system, fmt.Sprintf("system role %s allows %s", system, op))
		}
		return deny(fmt.Sprintf("no role allows %s", op))
	}
	pd := policy.Evaluate(ctx, c.Guardrail, c.named, policy.Request{
		Service: ent.Service(), Operation: op, Now: req.Now, SourceIP: req.SourceIP, Principal: c.PolicyPrincipal(),
		Organization: req.Organization, Project: req.Project, Parameters: req.Parameters, Resources: req.Resources,
	})
	switch {
	case !pd.Allowed && pd.Policy == policy.GuardrailPolicy:
		return Decision{Decision: pd, By: ByGuardrail}
	case !pd.Allowed && pd.Explicit:
		r, _ := c.roleByName(pd.Policy)
		return Decision{Decision: pd, By: ByRole, RoleID: r.ID}
	case system != "":
		d := allow(BySystemRole, system, fmt.Sprintf("system role %s allows %s", system, op))
		if c.Guardrail != nil {
			d.Reason += "; the organization guardrail allows it"
		}
		return d
	case pd.Allowed:
		r, _ := c.roleByName(pd.Policy)
		return Decision{Decision: pd, By: ByRole, RoleID: r.ID}
	}
	return Decision{Decision: policy.Decision{Policy: pd.Policy, Service: pd.Service, RuleIndex: pd.RuleIndex,
		Reason: fmt.Sprintf("no system role allows %s, and %s", op, pd.Reason)}, By: ByNone}
}
