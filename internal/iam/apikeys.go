package iam

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/internal/access"
	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/objectlimit"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// APIKeyInput is an API key to create.
type APIKeyInput struct {
	Meta   store.Meta
	RoleID string
	// Expiry is when the key stops working; nil for never.
	Expiry *time.Time
}

func apiKeyError(err error, name string) error { return storeError(err, "API key", name) }

// CreateAPIKey creates an API key bound to in.RoleID and returns it with its
// token, which exists in clear only in this return value.
//
// Who may bind a key to a role: a key's rights are its role's, so creating
// one must not widen what the creator can hand out. A caller that may create
// groups in the organization (it can already grant any role to a service
// account of its own making) may bind any role; an API key or a role session
// may bind only its own role (the key is then no wider than the caller);
// anyone else is refused.
//
// A key created by a machine credential (a role session, an API key, a
// service account) is that credential's offspring: it records its parent
// and lineage (see derivedFrom), checked on every use, and may not outlive
// it (a later in.Expiry is refused; none means the parent's end). A key a
// person creates has no lineage: it is an organization object, which stays
// when its creator leaves, like a group they created.
func (s *Service) CreateAPIKey(ctx context.Context, o Origin, orgID string, in APIKeyInput) (*store.APIKey, string, error) {
	actor := o.Caller.Principal
	switch {
	case actor.BoundToRole():
		if actor.RoleID != in.RoleID {
			return nil, "", apierror.ForbiddenError("an API key or role session may only create API keys bound to its own role")
		}
	case !s.Access.Decide(ctx, o.Caller, access.Request{Entry: authz.Catalogue["createGroup"], Organization: orgID,
		Now: o.Now, SourceIP: o.SourceIP}).Allowed:
		return nil, "", apierror.ForbiddenError("creating an API key needs the right to create groups, which can grant any role")
	}
	if in.Expiry != nil && !in.Expiry.After(s.Now()) {
		return nil, "", apierror.BadRequest("spec.expiry: %s is not in the future", in.Expiry.UTC().Format(time.RFC3339))
	}
	var from parent
	if actor.Kind != authn.KindUser {
		var err error
		if from, err = derivedFrom(ctx, s.Store.Read(), actor, orgID, o.Caller.Grants.Member); err != nil {
			return nil, "", err
		}
		if !from.end.IsZero() {
			switch {
			case in.Expiry == nil:
				end := from.end
				in.Expiry = &end
			case in.Expiry.After(from.end):
				return nil, "", apierror.BadRequest("spec.expiry: %s is later than the end of the credential creating the key (%s)",
					in.Expiry.UTC().Format(time.RFC3339), from.end.UTC().Format(time.RFC3339))
			}
		}
	}
	if r, ok := authz.RoleByID(in.RoleID); ok && !r.Assignable {
		return nil, "", apierror.BadRequest("spec.roleID: role %q cannot be granted by an organization", r.Name)
	}
	sec, err := secret.NewToken(s.Rand, "")
	if err != nil {
		return nil, "", fmt.Errorf("API key secret: %w", err)
	}
	k := &store.APIKey{Meta: in.Meta, RoleID: in.RoleID, SecretHash: secret.Hash(sec), Lineage: from.lineage}
	if actor.Kind != authn.KindUser {
		k.ParentKind, k.ParentID = string(actor.Kind), actor.ID
		k.FromRoleSession = slices.ContainsFunc(from.lineage, func(l store.LineageLink) bool {
			return l.Kind == store.LinkRole && l.ID == in.RoleID
		})
	}
	k.ID, k.OrganizationID, k.CreatedAt, k.CreatedBy = s.NewID(), orgID, s.now(), actor.Subject
	k.ModifiedAt, k.ModifiedBy = time.Time{}, ""
	if in.Expiry != nil {
		k.ExpiresAt = in.Expiry.UTC().Truncate(time.Millisecond)
	}
	err = s.Store.Tx(ctx, func(q *store.Q) error {
		if _, system := authz.RoleByID(in.RoleID); !system {
			n, err := q.CountExisting(ctx, store.RefRoles, orgID, []string{in.RoleID})
			if err != nil {
				return err
			}
			if n == 0 {
				return apierror.BadRequest("spec.roleID: no role %q in this organization", in.RoleID)
			}
		}
		if err := s.ObjectLimits.Reserve(ctx, q, orgID, objectlimit.APIKeys, 1); err != nil {
			return err
		}
		if err := q.CreateAPIKey(ctx, k); err != nil {
			return apiKeyError(err, k.Name)
		}
		audit.Describe(ctx, auditAPIKeys, k.ID, nil, k)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return k, authn.APIKeyToken(k.ID, sec), nil
}

// GetAPIKey reads an API key of orgID.
func (s *Service) GetAPIKey(ctx context.Context, orgID, id string) (*store.APIKey, error) {
	k, err := s.Store.Read().GetAPIKey(ctx, orgID, id)
	if err != nil {
		return nil, apiKeyError(err, id)
	}
	return k, nil
}

// DeleteAPIKey revokes an API key: its token is refused from the commit on.
func (s *Service) DeleteAPIKey(ctx context.Context, orgID, id string) error {
	return s.Store.Tx(ctx, func(q *store.Q) error {
		k, err := q.GetAPIKey(ctx, orgID, id)
		if err != nil {
			return apiKeyError(err, id)
		}
		if err := q.DeleteAPIKey(ctx, orgID, id); err != nil {
			return apiKeyError(err, id)
		}
		audit.Describe(ctx, auditAPIKeys, id, k, nil)
		return nil
	})
}
