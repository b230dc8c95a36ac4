package tenancy

import (
	"context"

	"github.com/gatehouse/gatehouse/internal/access"
	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/objectlimit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// ListProjects returns the organization's projects the caller may read. With
// keep (a caller whose decisions involve policies), the projects keep
// accepts, walked in batches until the page is full; otherwise all of them
// with an organization-wide grant, else those its project grants cover.
func (s *Service) ListProjects(ctx context.Context, g *authz.Grants, orgID string, page store.Page, keep func(*store.Project) bool) ([]*store.Project, error) {
	q := s.Store.Read()
	if keep != nil {
		return filterProjects(ctx, q, orgID, page, keep)
	}
	if g.OrganizationWide(authz.EndpointProjects, authz.Read) {
		return q.ListProjects(ctx, orgID, page)
	}
	return q.ListProjectsByID(ctx, orgID, g.ProjectsWith(authz.EndpointProjects, authz.Read), page)
}

// projectBatch is how many projects a filtered list reads per query.
const projectBatch = 200

func filterProjects(ctx context.Context, q *store.Q, orgID string, page store.Page, keep func(*store.Project) bool) ([]*store.Project, error) {
	var out []*store.Project
	after := page.After
	for {
		batch, err := q.ListProjects(ctx, orgID, store.Page{Limit: projectBatch, After: after})
		if err != nil {
			return nil, err
		}
		for _, p := range batch {
			if !keep(p) {
				continue
			}
			out = append(out, p)
			if page.Limit != store.NoLimit && len(out) == page.Limit {
				return out, nil
			}
		}
		if len(batch) < projectBatch {
			return out, nil
		}
		after = batch[len(batch)-1].ID
	}
}

// CreateProject creates a project in orgID.
//
// Naming groups grants them access to the project: that needs the right to
// grant (may).
func (s *Service) CreateProject(ctx context.Context, actor *authn.Principal, may access.GrantCheck, orgID string, p *store.Project) error {
	s.newMeta(&p.Meta, actor, orgID)
	if err := checkGrant(ctx, may, orgID, ProjectGrantChange(nil, p.GroupIDs)); err != nil {
		return err
	}
	return s.Store.Tx(ctx, func(q *store.Q) error {
		if err := references(ctx, q, store.RefGroups, orgID, "spec.groupIDs", p.GroupIDs); err != nil {
			return err
		}
		if err := s.ObjectLimits.Reserve(ctx, q, orgID, objectlimit.Projects, 1); err != nil {
			return err
		}
		if err := q.CreateProject(ctx, p); err != nil {
			return storeError(err, "project", p.Name)
		}
		audit.Describe(ctx, "projects", p.ID, nil, p)
		return nil
	})
}

// UpdateProject replaces a project. Adding or removing a group changes who
// reaches the project (who reads it, obtains its cloud credentials, or no
// longer administers it): that needs the right to grant (may), not only the
// right to update the project that its own groups give; an update that keeps
// the groups needs no more than before.
func (s *Service) UpdateProject(ctx context.Context, actor *authn.Principal, may access.GrantCheck, orgID, id string, p *store.Project) error {
	return s.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetProject(ctx, orgID, id)
		if err != nil {
			return storeError(err, "project", id)
		}
		if err := checkGrant(ctx, may, orgID, ProjectGrantChange(old.GroupIDs, p.GroupIDs)); err != nil {
			return err
		}
		s.carryMeta(&p.Meta, old.Meta, actor)
		if err := references(ctx, q, store.RefGroups, orgID, "spec.groupIDs", p.GroupIDs); err != nil {
			return err
		}
		if err := q.UpdateProject(ctx, p); err != nil {
			return storeError(err, "project", p.Name)
		}
		audit.Describe(ctx, "projects", p.ID, old, p)
		return nil
	})
}

// GetProject reads a project.
func (s *Service) GetProject(ctx context.Context, orgID, id string) (*store.Project, error) {
	p, err := s.Store.Read().GetProject(ctx, orgID, id)
	return p, storeError(err, "project", id)
}

// DeleteProject deletes a project, its allocations and the account
// assignments that target it.
func (s *Service) DeleteProject(ctx context.Context, orgID, id string) error {
	return s.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetProject(ctx, orgID, id)
		if err != nil {
			return storeError(err, "project", id)
		}
		before, err := withRemovedAssignments(ctx, q, orgID, store.AssignmentFilter{TargetType: store.TargetProject, TargetID: id}, old)
		if err != nil {
			return err
		}
		if err := q.DeleteProject(ctx, orgID, id); err != nil {
			return storeError(err, "project", id)
		}
		audit.Describe(ctx, "projects", id, before, nil)
		return nil
	})
}

// OAuth2 provider types Gatehouse can federate to.
var providerTypes = map[string]bool{"google": true, "microsoft": true, "github": true, "oidc": true}

// ProviderInput is an OAuth2 provider write: ClientSecret nil keeps the
// stored secret on update.
type ProviderInput struct {
	Provider     store.OAuth2Provider
	ClientSecret *string
}

func (s *Service) sealProvider(in *ProviderInput, oldSealed string) error {
	p := &in.Provider
	if p.Type != "" && !providerTypes[p.Type] {
		return apierror.BadRequest("spec.type: unknown provider type %q", p.Type)
	}
	p.ClientSecretEnc = oldSealed
	if in.ClientSecret != nil {
		p.ClientSecretEnc = ""
		if *in.ClientSecret != "" {
			p.ClientSecretEnc = s.Sealer.Seal(*in.ClientSecret, "oauth2provider:"+p.ID)
		}
	}
	return nil
}

// CreateProvider creates an OAuth2 provider in orgID (” = system).
func (s *Service) CreateProvider(ctx context.Context, actor *authn.Principal, orgID string, in *ProviderInput) (*store.OAuth2Provider, error) {
	p := &in.Provider
	s.newMeta(&p.Meta, actor, orgID)
	if err := s.sealProvider(in, ""); err != nil {
		return nil, err
	}
	err := s.Store.Tx(ctx, func(q *store.Q) error {
		if err := s.ObjectLimits.Reserve(ctx, q, orgID, objectlimit.OAuth2Providers, 1); err != nil {
			return err
		}
		if err := q.CreateOAuth2Provider(ctx, p); err != nil {
			return storeError(err, "oauth2 provider", p.Name)
		}
		audit.Describe(ctx, "oauth2providers", p.ID, nil, p)
		return nil
	})
	return p, err
}

// UpdateProvider replaces an OAuth2 provider.
func (s *Service) UpdateProvider(ctx context.Context, actor *authn.Principal, orgID, id string, in *ProviderInput) (*store.OAuth2Provider, error) {
	p := &in.Provider
	err := s.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetOAuth2Provider(ctx, orgID, id)
		if err != nil {
			return storeError(err, "oauth2 provider", id)
		}
		s.carryMeta(&p.Meta, old.Meta, actor)
		if err := s.sealProvider(in, old.ClientSecretEnc); err != nil {
			return err
		}
		if err := q.UpdateOAuth2Provider(ctx, p); err != nil {
			return storeError(err, "oauth2 provider", p.Name)
		}
		// Another upstream behind the same ID is another voucher: what the
		// old one vouched for ends.
		if p.Type != old.Type || p.Issuer != old.Issuer || p.ClientID != old.ClientID {
			if _, err := q.EndSessionsVouchedBy(ctx, orgID, id, s.Now().UTC()); err != nil {
				return err
			}
		}
		audit.Describe(ctx, "oauth2providers", p.ID, old, p)
		return nil
	})
	return p, err
}

// GetProvider reads an OAuth2 provider.
func (s *Service) GetProvider(ctx context.Context, orgID, id string) (*store.OAuth2Provider, error) {
	p, err := s.Store.Read().GetOAuth2Provider(ctx, orgID, id)
	return p, storeError(err, "oauth2 provider", id)
}

// ProviderSecret decrypts a provider's client secret (” if none). Only the
// login flow uses it; the API never returns it.
func (s *Service) ProviderSecret(p *store.OAuth2Provider) (string, error) {
	if p.ClientSecretEnc == "" {
		return "", nil
	}
	return s.Sealer.Open(p.ClientSecretEnc, "oauth2provider:"+p.ID)
}

// DeleteProvider deletes an OAuth2 provider, and ends the sessions it
// vouched for in the same transaction. Organizations that log in through it
// must be repointed first.
func (s *Service) DeleteProvider(ctx context.Context, orgID, id string) error {
	scope := ProviderScopeOrganization
	if orgID == "" {
		scope = ProviderScopeGlobal
	}
	return s.Store.Tx(ctx, func(q *store.Q) error {
		n, err := q.CountOrganizationsUsingProvider(ctx, scope, id)
		if err != nil {
			return err
		}
		if n > 0 {
			return apierror.BadRequest("oauth2 provider %q is the login provider of %d organization(s): repoint them first", id, n)
		}
		old, err := q.GetOAuth2Provider(ctx, orgID, id)
		if err != nil {
			return storeError(err, "oauth2 provider", id)
		}
		if err := q.DeleteOAuth2Provider(ctx, orgID, id); err != nil {
			return storeError(err, "oauth2 provider", id)
		}
		// A removed provider vouches for nothing any more: the sessions
		// (refresh families, single sign-on) it vouched for end with it.
		if _, err := q.EndSessionsVouchedBy(ctx, orgID, id, s.Now().UTC()); err != nil {
			return err
		}
		audit.Describe(ctx, "oauth2providers", id, old, nil)
		return nil
	})
}
