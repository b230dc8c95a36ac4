// Package iam is the business logic of Gatehouse's IAM (issue 4): custom
// roles with CEL policies, the organization guardrail policy, API keys bound
// to one role, and role assumption. It validates what the OpenAPI schema
// cannot (policies compile, references exist, editability, who may create
// which key), runs every write as one store transaction and describes it to
// the audit log, and returns apierror values for caller mistakes. It knows
// nothing of HTTP; decisions are internal/access's.
package iam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/access"
	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/objectlimit"
	"github.com/gatehouse/gatehouse/internal/policy"
	"github.com/gatehouse/gatehouse/internal/store"
)

// SessionSigner signs role sessions (the OIDC provider does, as access
// tokens verified like every other).
type SessionSigner interface {
	// SignSession returns the session's bearer token and its expiry.
	SignSession(ctx context.Context, s authn.Session) (token string, expiresAt time.Time, err error)
}

// Service implements the IAM operations.
type Service struct {
	Store  *store.Store
	Access *access.Engine
	// Sessions signs role sessions; nil makes assumption unavailable.
	Sessions SessionSigner
	// MaxSessionLifetime caps every role session (--max-token-lifetime).
	MaxSessionLifetime time.Duration
	// Now, NewID and Rand are injected so tests are deterministic.
	Now   func() time.Time
	NewID func() string
	Rand  io.Reader
	// ObjectLimits bound the custom roles and API keys of an organization
	// (nil: the defaults).
	ObjectLimits objectlimit.Limits
}

// Role session lengths, in seconds.
const (
	DefaultMaxSessionTTL = 3600
	MaxMaxSessionTTL     = 43200
)

// Resource types in the audit log (services of the operation catalogue).
const (
	auditRoles    = "roles"
	auditPolicies = "policies"
	auditAPIKeys  = "apikeys"
)

// Role is a system role or a custom role, as the API shows it.
type Role struct {
	// System is set for a system role, whose other fields are then empty.
	System *authz.Role
	Custom *store.IAMRole
	// Policy and AssumeRolePolicy are the custom role's documents, decoded
	// (AssumeRolePolicy nil when nobody may assume the role).
	Policy           policy.Policy
	AssumeRolePolicy *policy.Policy
}

// ID is the role's ID.
func (r *Role) ID() string {
	if r.System != nil {
		return r.System.ID
	}
	return r.Custom.ID
}

// auditView is a custom role as the audit log records it: policies as JSON
// documents rather than strings.
func (r *Role) auditView() any {
	if r == nil || r.Custom == nil {
		return nil
	}
	c := r.Custom
	return map[string]any{
		"id": c.ID, "organizationId": c.OrganizationID, "name": c.Name, "description": c.Description, "tags": c.Tags,
		"policy": r.Policy, "assumeRolePolicy": r.AssumeRolePolicy, "maxSessionTTL": c.MaxSessionTTL,
		"permissions": c.Permissions, "labels": c.Labels, "editable": c.Editable, "version": c.Version,
		"createdAt": c.CreatedAt, "createdBy": c.CreatedBy, "modifiedAt": c.ModifiedAt, "modifiedBy": c.ModifiedBy,
	}
}

func decodeRole(c *store.IAMRole, limits policy.Limits) (*Role, error) {
	r := &Role{Custom: c}
	p, err := policy.Parse([]byte(c.Policy), limits)
	if err != nil {
		return nil, fmt.Errorf("role %s: stored policy: %w", c.ID, err)
	}
	r.Policy = p
	if c.AssumeRolePolicy != "" {
		a, err := policy.Parse([]byte(c.AssumeRolePolicy), limits)
		if err != nil {
			return nil, fmt.Errorf("role %s: stored assume-role policy: %w", c.ID, err)
		}
		r.AssumeRolePolicy = &a
	}
	return r, nil
}

// RoleInput is a custom role write. Nil fields are absent from the request:
// on create they take their defaults; on update they keep the role's value
// (the policies, maxSessionTTL, permissions and labels: the seed's update
// implies it, and an update that reset a role's labels silently changed
// what the assume-role policies reading them decide, issue 17). An empty,
// non-nil Permissions or Labels clears them.
type RoleInput struct {
	Meta             store.Meta
	Policy           *policy.Policy
	AssumeRolePolicy *policy.Policy
	MaxSessionTTL    *int64
	Permissions      []string
	Labels           map[string]string
	Editable         *bool
}

// compile checks p in the API's policy environment; a refusal is a 400
// naming the field, the service, the rule and the CEL position or limit.
func (s *Service) compile(field string, p policy.Policy) (string, error) {
	return CompilePolicy(s.Access.Env(), field, p)
}

// CompilePolicy checks a policy document written to field in env and
// returns the JSON text to store; a refusal is a 400 naming the field, the
// service, the rule and the CEL position or limit. Every policy the API
// stores (role policies, the guardrail, permission sets' inline policies)
// goes through it.
func CompilePolicy(env *policy.Env, field string, p policy.Policy) (string, error) {
	if _, err := policy.Compile(p, env); err != nil {
		var ce *policy.CompileError
		if errors.As(err, &ce) {
			return "", apierror.BadRequest("%s: %s", field, ce.Error())
		}
		return "", err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", field, err)
	}
	return string(b), nil
}

// validatePermissions keeps the known permissions, once each, sorted.
func validatePermissions(perms []string) ([]string, error) {
	out := []string{}
	for _, p := range perms {
		if !slices.Contains(access.Permissions, p) {
			return nil, apierror.BadRequest("spec.permissions: unknown permission %q (known: %s)", p, strings.Join(access.Permissions, ", "))
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}

func validateTTL(ttl *int64) (int64, error) {
	if ttl == nil {
		return DefaultMaxSessionTTL, nil
	}
	if *ttl < 1 || *ttl > MaxMaxSessionTTL {
		return 0, apierror.BadRequest("spec.maxSessionTTL: %d seconds is outside 1..%d", *ttl, MaxMaxSessionTTL)
	}
	return *ttl, nil
}

// checkName refuses the names of system roles: a custom role called
// "administrator" would read as the system one in ACLs and decisions.
func checkName(name string) error {
	if _, ok := authz.RoleByName(name); ok {
		return apierror.ConflictError("%q is the name of a system role", name)
	}
	return nil
}

// storeError maps the store's conflict and not-found errors about a kind of
// resource (named, or with that ID) to API errors; others pass through.
func storeError(err error, kind, name string) error {
	if errors.Is(err, store.ErrConflict) {
		return apierror.ConflictError("%s name %q is taken in this organization", kind, name)
	}
	if errors.Is(err, store.ErrNotFound) {
		return apierror.NotFoundError("%s %q not found", kind, name)
	}
	return err
}

func roleError(err error, name string) error { return storeError(err, "role", name) }

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Millisecond) }

// CreateRole creates a custom role in orgID.
func (s *Service) CreateRole(ctx context.Context, actor *authn.Principal, orgID string, in RoleInput) (*Role, error) {
	if err := checkName(in.Meta.Name); err != nil {
		return nil, err
	}
	r := &store.IAMRole{Meta: in.Meta, Editable: true, Version: 1, TrustVersion: 1}
	r.ID, r.OrganizationID, r.CreatedAt, r.CreatedBy = s.NewID(), orgID, s.now(), actor.Subject
	r.ModifiedAt, r.ModifiedBy = time.Time{}, ""
	out := &Role{Custom: r, Policy: policy.AllowAll()}
	if in.Policy != nil {
		out.Policy = *in.Policy
	}
	var err error
	if r.Policy, err = s.compile("spec.policy", out.Policy); err != nil {
		return nil, err
	}
	if in.AssumeRolePolicy != nil {
		if r.AssumeRolePolicy, err = s.compile("spec.assumeRolePolicy", *in.AssumeRolePolicy); err != nil {
			return nil, err
		}
		out.AssumeRolePolicy = in.AssumeRolePolicy
	}
	if r.MaxSessionTTL, err = validateTTL(in.MaxSessionTTL); err != nil {
		return nil, err
	}
	if r.Permissions, err = validatePermissions(in.Permissions); err != nil {
		return nil, err
	}
	r.Labels = in.Labels
	if r.Labels == nil {
		r.Labels = map[string]string{}
	}
	if in.Editable != nil {
		r.Editable = *in.Editable
	}
	err = s.Store.Tx(ctx, func(q *store.Q) error {
		if err := s.ObjectLimits.Reserve(ctx, q, orgID, objectlimit.Roles, 1); err != nil {
			return err
		}
		if err := q.CreateIAMRole(ctx, r); err != nil {
			return roleError(err, r.Name)
		}
		audit.Describe(ctx, auditRoles, r.ID, nil, out.auditView())
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetRole reads a system role or a custom role of orgID.
func (s *Service) GetRole(ctx context.Context, orgID, id string) (*Role, error) {
	if sys, ok := authz.RoleByID(id); ok {
		if !sys.Assignable {
			return nil, apierror.NotFoundError("role %q not found", id)
		}
		return &Role{System: sys}, nil
	}
	c, err := s.Store.Read().GetIAMRole(ctx, orgID, id)
	if err != nil {
		return nil, roleError(err, id)
	}
	return decodeRole(c, s.Access.Env().Limits())
}

// ListRoles lists the assignable system roles (in name order) and then the
// custom roles of orgID (in creation order), one page of them. The page
// token is the last role's ID: a system role's continues with the system
// roles after it, any other continues with the custom roles after it.
func (s *Service) ListRoles(ctx context.Context, orgID string, page store.Page) ([]*Role, error) {
	var out []*Role
	system := authz.AssignableRoles()
	customAfter := page.After
	if page.After != "" {
		if i := slices.IndexFunc(system, func(r *authz.Role) bool { return r.ID == page.After }); i >= 0 {
			system, customAfter = system[i+1:], ""
		} else {
			system = nil
		}
	}
	for _, r := range system {
		if page.Limit != store.NoLimit && len(out) == page.Limit {
			return out, nil
		}
		out = append(out, &Role{System: r})
	}
	rest := store.Page{Limit: store.NoLimit, After: customAfter}
	if page.Limit != store.NoLimit {
		if rest.Limit = page.Limit - len(out); rest.Limit == 0 {
			return out, nil
		}
	}
	custom, err := s.Store.Read().ListIAMRoles(ctx, orgID, rest)
	if err != nil {
		return nil, err
	}
	for _, c := range custom {
		r, err := decodeRole(c, s.Access.Env().Limits())
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// systemRoleConflict refuses changes to a system role.
func systemRoleConflict(id string) error {
	if r, ok := authz.RoleByID(id); ok {
		return apierror.ConflictError("%s is a system role: it is built in and cannot be changed or deleted", r.Name)
	}
	return nil
}

// changeRole runs change on custom role id of orgID in one transaction: it
// reads the role, lets change modify a copy, bumps the version, stamps the
// modification, stores it and describes it to the audit log.
func (s *Service) changeRole(ctx context.Context, o Origin, orgID, id string, change func(old *Role, r *store.IAMRole, out *Role) error) (*Role, error) {
	if err := systemRoleConflict(id); err != nil {
		return nil, err
	}
	var out *Role
	err := s.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetIAMRole(ctx, orgID, id)
		if err != nil {
			return roleError(err, id)
		}
		before, err := decodeRole(old, s.Access.Env().Limits())
		if err != nil {
			return err
		}
		r := *old
		out = &Role{Custom: &r, Policy: before.Policy, AssumeRolePolicy: before.AssumeRolePolicy}
		if err := change(before, &r, out); err != nil {
			return err
		}
		if c := RoleGrantChange(old, &r); c != "" {
			if err := s.Access.GrantCheck(o.Caller, o.Now, o.SourceIP).Check(ctx, orgID, c); err != nil {
				return err
			}
		}
		r.ID, r.OrganizationID, r.CreatedAt, r.CreatedBy = old.ID, old.OrganizationID, old.CreatedAt, old.CreatedBy
		r.ModifiedAt, r.ModifiedBy = s.now(), o.Caller.Principal.Subject
		r.Version = old.Version + 1
		if trustChanged(old, &r) {
			// The sessions begun under the old trust end at their next
			// use (the trust version is in their lineage).
			r.TrustVersion = old.TrustVersion + 1
		}
		if err := q.UpdateIAMRole(ctx, &r); err != nil {
			return roleError(err, r.Name)
		}
		audit.Describe(ctx, auditRoles, r.ID, before.auditView(), out.auditView())
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RoleGrantChange is the change of access that replacing custom role before
// with after makes ("" for none): its policy (what every holder may do,
// through groups, API keys, sessions and permission sets), its
// permissions, or its assume-role policy (who may take its rights). Each
// needs the right to grant (access.GrantOperation): a holder of a role that
// may only edit roles must not widen its own.
func RoleGrantChange(before, after *store.IAMRole) string {
	var changes []string
	if before.Policy != after.Policy {
		changes = append(changes, "spec.policy")
	}
	if !sameSet(before.Permissions, after.Permissions) {
		changes = append(changes, "spec.permissions")
	}
	if before.AssumeRolePolicy != after.AssumeRolePolicy {
		changes = append(changes, "spec.assumeRolePolicy")
	}
	if len(changes) == 0 {
		return ""
	}
	return fmt.Sprintf("changing the %s of role %q", strings.Join(changes, " and "), before.Name)
}

// sameSet reports whether a and b hold the same strings, whatever their
// order and repeats.
func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

// trustChanged reports whether the change from old to r touches what an
// assume-role decision reads of the role: the assume-role policy itself,
// and the role attributes it sees (resources.role: name, tags, labels).
// Only such a change ends the role's sessions; a new description, TTL or
// role policy does not (the sessions' rights follow the role policy anyway,
// since it is read on every request).
func trustChanged(old, r *store.IAMRole) bool {
	return old.AssumeRolePolicy != r.AssumeRolePolicy || old.Name != r.Name ||
		!slices.Equal(old.Tags, r.Tags) || !maps.Equal(old.Labels, r.Labels)
}

// setPolicy replaces the policy of r (its document in out), refusing a
// change to a role that is not editable. Writing back the same policy is not
// a change.
func (s *Service) setPolicy(old *Role, r *store.IAMRole, out *Role, p policy.Policy) error {
	text, err := s.compile("spec.policy", p)
	if err != nil {
		return err
	}
	if !old.Custom.Editable && text != old.Custom.Policy {
		return apierror.ConflictError("role %q is not editable: its policy cannot change", old.Custom.Name)
	}
	r.Policy, out.Policy = text, p
	return nil
}

func (s *Service) setAssumeRolePolicy(r *store.IAMRole, out *Role, p policy.Policy) error {
	text, err := s.compile("spec.assumeRolePolicy", p)
	if err != nil {
		return err
	}
	r.AssumeRolePolicy, out.AssumeRolePolicy = text, &p
	return nil
}

// UpdateRole replaces a custom role's metadata, maxSessionTTL, permissions
// and labels, and its policies when given. editable cannot change; the
// policy of a role that is not editable cannot either (its other fields
// can: they do not widen what the role allows). Changing what the role
// allows or who may assume it needs the right to grant (RoleGrantChange).
func (s *Service) UpdateRole(ctx context.Context, o Origin, orgID, id string, in RoleInput) (*Role, error) {
	if err := checkName(in.Meta.Name); err != nil {
		return nil, err
	}
	ttl, err := validateTTL(in.MaxSessionTTL)
	if err != nil {
		return nil, err
	}
	perms, err := validatePermissions(in.Permissions)
	if err != nil {
		return nil, err
	}
	return s.changeRole(ctx, o, orgID, id, func(old *Role, r *store.IAMRole, out *Role) error {
		if in.Editable != nil && *in.Editable != old.Custom.Editable {
			return apierror.BadRequest("spec.editable: fixed when the role was created (it is %v)", old.Custom.Editable)
		}
		r.Name, r.Description, r.Tags = in.Meta.Name, in.Meta.Description, in.Meta.Tags
		if in.MaxSessionTTL != nil {
			r.MaxSessionTTL = ttl
		}
		if in.Permissions != nil {
			r.Permissions = perms
		}
		if in.Labels != nil {
			r.Labels = in.Labels
		}
		if r.Labels == nil {
			r.Labels = map[string]string{}
		}
		if in.Policy != nil {
			if err := s.setPolicy(old, r, out, *in.Policy); err != nil {
				return err
			}
		}
		if in.AssumeRolePolicy != nil {
			return s.setAssumeRolePolicy(r, out, *in.AssumeRolePolicy)
		}
		return nil
	})
}

// UpdateRolePolicy replaces a custom role's policy.
func (s *Service) UpdateRolePolicy(ctx context.Context, o Origin, orgID, id string, p policy.Policy) (*Role, error) {
	return s.changeRole(ctx, o, orgID, id, func(old *Role, r *store.IAMRole, out *Role) error {
		return s.setPolicy(old, r, out, p)
	})
}

// UpdateRoleAssumeRolePolicy replaces a custom role's assume-role policy
// (allowed on roles that are not editable: it decides who may take the
// role's rights, not what they are).
func (s *Service) UpdateRoleAssumeRolePolicy(ctx context.Context, o Origin, orgID, id string, p policy.Policy) (*Role, error) {
	return s.changeRole(ctx, o, orgID, id, func(_ *Role, r *store.IAMRole, out *Role) error {
		return s.setAssumeRolePolicy(r, out, p)
	})
}

// DeleteRole deletes a custom role that nothing references any more (no
// group grants it, no API key an administrator bound to it, no permission
// set holds it). Its sessions end at once: each request of a session checks
// that its role exists. The API keys its sessions minted (and the keys those
// keys minted) are deleted with it, in the same transaction: they are the
// sessions' offspring, not references that keep the role alive.
func (s *Service) DeleteRole(ctx context.Context, orgID, id string) error {
	if err := systemRoleConflict(id); err != nil {
		return err
	}
	return s.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetIAMRole(ctx, orgID, id)
		if err != nil {
			return roleError(err, id)
		}
		groups, keys, err := q.RoleReferences(ctx, orgID, id)
		if err != nil {
			return err
		}
		sets, err := q.PermissionSetsWithRole(ctx, orgID, id)
		if err != nil {
			return err
		}
		var uses []string
		if len(groups) > 0 {
			uses = append(uses, fmt.Sprintf("granted by groups %s", strings.Join(groups, ", ")))
		}
		if len(keys) > 0 {
			uses = append(uses, fmt.Sprintf("bound to API keys %s", strings.Join(keys, ", ")))
		}
		if len(sets) > 0 {
			uses = append(uses, fmt.Sprintf("held by permission sets %s", strings.Join(sets, ", ")))
		}
		if len(uses) > 0 {
			return apierror.ConflictError("role %q is still %s: remove it from them first", old.Name, strings.Join(uses, " and "))
		}
		before, err := decodeRole(old, s.Access.Env().Limits())
		if err != nil {
			return err
		}
		minted, err := q.DeleteAPIKeysFromRoleSessions(ctx, orgID, id)
		if err != nil {
			return err
		}
		if err := q.DeleteIAMRole(ctx, orgID, id); err != nil {
			return roleError(err, id)
		}
		view := before.auditView()
		if m, ok := view.(map[string]any); ok && len(minted) > 0 {
			m["deletedSessionAPIKeys"] = minted // one event per write: the keys that went with the role
		}
		audit.Describe(ctx, auditRoles, id, view, nil)
		return nil
	})
}
