package iam

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/internal/access"
	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/policy"
	"github.com/gatehouse/gatehouse/internal/store"
)

// The policy service and operation an assume-role policy is evaluated for:
// the assumeRole operation's own names in the catalogue.
const (
	assumeService   = "roles"
	assumeOperation = "assume-role"
)

// Origin is who makes an IAM request, when and from where: what decisions
// about the request need.
type Origin struct {
	// Caller is who asks (its principal, grants, roles and organization).
	Caller   *access.Caller
	Now      time.Time
	SourceIP string
}

// AssumeRequest is a request to assume a role.
type AssumeRequest struct {
	Origin
	OrganizationID string
	RoleID         string
	// TTL is the session length asked for, in seconds.
	TTL int64
}

// Session is a role session: a bearer token with exactly the role's rights.
type Session struct {
	Token  string
	ID     string
	RoleID string
	// TTL is the session's length in seconds, ExpiresAt its end.
	TTL       int64
	ExpiresAt time.Time
}

// AssumeRole starts a session of a custom role when the role's assume-role
// policy allows the caller. The policy is evaluated with the caller as
// principal, for service "roles" and operation "assume-role", with the role
// as resources.role ({id, name, tags, labels}); a role without one cannot be
// assumed. The session lasts req.TTL, which may not exceed the role's
// maxSessionTTL nor MaxSessionLifetime nor what the caller's credential has
// left. A role session cannot assume a role (no chains of sessions).
//
// The session carries its lineage (see derivedFrom), ending with the role
// at its trust version: every use checks it, so the session ends when its
// source is deleted, rotated or suspended, or when the role's trust changes
// (IAMRole.TrustVersion).
func (s *Service) AssumeRole(ctx context.Context, req AssumeRequest) (*Session, error) {
	if s.Sessions == nil {
		return nil, &apierror.Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
			Description: "role sessions need the token signing keys, which this server does not have"}
	}
	caller := req.Caller.Principal
	if caller.Kind == authn.KindAssumedRole {
		return nil, apierror.ForbiddenError("a role session cannot assume a role")
	}
	if r, ok := authz.RoleByID(req.RoleID); ok {
		return nil, apierror.ForbiddenError("%s is a system role: it has no assume-role policy and cannot be assumed", r.Name)
	}
	c, err := s.Store.Read().GetIAMRole(ctx, req.OrganizationID, req.RoleID)
	if err != nil {
		return nil, roleError(err, req.RoleID)
	}
	if c.AssumeRolePolicy == "" {
		return nil, apierror.ForbiddenError("role %q has no assume-role policy: nobody may assume it", c.Name)
	}
	switch limit := int64(s.MaxSessionLifetime / time.Second); {
	case req.TTL <= 0:
		return nil, apierror.BadRequest("ttl: must be at least 1 second")
	case req.TTL > c.MaxSessionTTL:
		return nil, apierror.BadRequest("ttl: %d seconds is more than the role's maxSessionTTL (%d)", req.TTL, c.MaxSessionTTL)
	case req.TTL > limit:
		return nil, apierror.BadRequest("ttl: %d seconds is more than the server's maximum token lifetime (%d)", req.TTL, limit)
	}
	trust, err := s.Access.Compiled(access.AssumeRoleCacheKey(c.ID, c.Version), func() (policy.Policy, error) {
		return policy.Parse([]byte(c.AssumeRolePolicy), s.Access.Env().Limits())
	})
	if err != nil {
		return nil, fmt.Errorf("role %s: assume-role policy: %w", c.ID, err)
	}
	role := access.Attributes(c.ID, c.Name, c.Tags)
	labels := map[string]any{}
	for k, v := range c.Labels {
		labels[k] = v
	}
	role["labels"] = labels
	name := fmt.Sprintf("assume-role policy of %s", c.Name)
	d := policy.Evaluate(ctx, nil, []policy.NamedPolicy{{Name: name, Policy: trust}}, policy.Request{
		Service: assumeService, Operation: assumeOperation, Now: req.Now, SourceIP: req.SourceIP,
		Principal: req.Caller.PolicyPrincipal(), Organization: req.OrganizationID,
		Parameters: map[string]any{"organizationID": req.OrganizationID, "roleID": c.ID, "ttl": float64(req.TTL)},
		Resources:  map[string]any{"role": role},
	})
	if !d.Allowed {
		return nil, apierror.ForbiddenError("%s is not allowed to assume role %q: %s", caller.Subject, c.Name, d.Reason)
	}

	// The session's lineage: its source's, then the role at the trust
	// version just evaluated. It may not outlive its source.
	from, err := derivedFrom(ctx, s.Store.Read(), caller, req.OrganizationID, req.Caller.Grants.Member)
	if err != nil {
		return nil, err
	}
	ttl := time.Duration(req.TTL) * time.Second
	if left, ends := from.remaining(req.Now); ends && ttl > left {
		return nil, apierror.BadRequest("ttl: %d seconds is more than the %d seconds the credential assuming the role has left",
			req.TTL, int64(left/time.Second))
	}
	lineage := append(from.lineage, store.LineageLink{Kind: store.LinkRole, Org: req.OrganizationID, ID: c.ID, Version: c.TrustVersion})
	sess := authn.Session{ID: s.NewID(), OrganizationID: req.OrganizationID, RoleID: c.ID, RoleName: c.Name,
		Source: authn.Source{Kind: caller.Kind, ID: caller.ID, Subject: caller.Subject},
		TTL:    ttl, Lineage: lineage}
	// Sign first: if the audit write fails the token is never shown.
	token, expires, err := s.Sessions.SignSession(ctx, sess)
	if err != nil {
		return nil, fmt.Errorf("sign role session: %w", err)
	}
	err = s.Store.Tx(ctx, func(q *store.Q) error {
		audit.Describe(ctx, auditRoles, c.ID, nil, map[string]any{
			"session": sess.ID, "roleId": c.ID, "roleName": c.Name, "source": sess.Source,
			"expiresAt": expires, "decidedBy": d.Reason, "lineage": sess.Lineage,
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Session{Token: token, ID: sess.ID, RoleID: c.ID, TTL: req.TTL, ExpiresAt: expires}, nil
}
