package tenancy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Organization types.
const (
	OrganizationAdhoc  = "adhoc"
	OrganizationDomain = "domain"
)

// Provider scopes of an organization's login provider.
const (
	ProviderScopeGlobal       = "global"
	ProviderScopeOrganization = "organization"
)

// ListOrganizations returns the organizations the caller may see: all of them
// for platform readers; otherwise those it is a member of (a machine
// principal, its own; a user vouched for by an organization's identity
// provider, that organization at most). With email set it
// answers "which organizations is this email a member of?", which only
// platform readers may ask.
func (s *Service) ListOrganizations(ctx context.Context, actor *authn.Principal, g *authz.Grants, email string, page store.Page) ([]*store.Organization, error) {
	q := s.Store.Read()
	platform := g.Global(authz.EndpointOrganizations, authz.Read)
	switch {
	case email != "":
		if !platform {
			return nil, apierror.ForbiddenError("querying another user's organizations requires platform read access to organizations")
		}
		return q.ListOrganizationsOfSubject(ctx, email, page)
	case platform:
		return q.ListOrganizations(ctx, page)
	case actor.Kind != authn.KindUser && actor.OrganizationID != "":
		// A service account, an API key or a role session: its own.
		if page.After != "" {
			return nil, nil
		}
		o, err := q.GetOrganization(ctx, actor.OrganizationID)
		if err != nil {
			return nil, storeError(err, "organization", actor.OrganizationID)
		}
		return []*store.Organization{o}, nil
	case actor.VouchingOrganization() != "":
		return vouchedOrganizations(ctx, q, actor, page)
	case actor.Kind == authn.KindUser:
		return q.ListOrganizationsOfSubject(ctx, actor.Subject, page)
	}
	return nil, nil
}

// vouchedOrganizations is what a user vouched for by an organization's own
// identity provider sees: that organization, if it has a user with the
// subject, and nothing else (records of the email in other organizations
// belong to whoever else uses it).
func vouchedOrganizations(ctx context.Context, q *store.Q, actor *authn.Principal, page store.Page) ([]*store.Organization, error) {
	org := actor.VouchingOrganization()
	if page.After != "" {
		return nil, nil
	}
	if _, err := q.GetUserBySubject(ctx, org, actor.Subject); errors.Is(err, store.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	o, err := q.GetOrganization(ctx, org)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	return []*store.Organization{o}, nil
}

// validateOrganization checks the spec rules the schema cannot express.
func validateOrganization(ctx context.Context, q *store.Q, o *store.Organization) error {
	switch o.Type {
	case OrganizationAdhoc:
	case OrganizationDomain:
		if o.Domain == "" {
			return apierror.BadRequest("organizationType domain requires spec.domain")
		}
	default:
		return apierror.BadRequest("unknown organizationType %q", o.Type)
	}
	if o.Domain != "" {
		// Domains route logins by email, so compare them case-insensitively.
		o.Domain = strings.ToLower(o.Domain)
		if !IsHostname(o.Domain) {
			return apierror.BadRequest("spec.domain %q is not a DNS hostname", o.Domain)
		}
	}
	if (o.ProviderScope == "") != (o.ProviderID == "") {
		return apierror.BadRequest("spec.providerScope and spec.providerID must be given together")
	}
	switch o.ProviderScope {
	case "":
	case ProviderScopeGlobal, ProviderScopeOrganization:
		owner := ""
		if o.ProviderScope == ProviderScopeOrganization {
			owner = o.ID
		}
		if _, err := q.GetOAuth2Provider(ctx, owner, o.ProviderID); errors.Is(err, store.ErrNotFound) {
			return apierror.BadRequest("spec.providerID %q is not a %s provider", o.ProviderID, o.ProviderScope)
		} else if err != nil {
			return err
		}
	default:
		return apierror.BadRequest("unknown providerScope %q", o.ProviderScope)
	}
	return nil
}

// CreateOrganization creates an organization.
func (s *Service) CreateOrganization(ctx context.Context, actor *authn.Principal, o *store.Organization) error {
	s.newMeta(&o.Meta, actor, "")
	o.OrganizationID = o.ID
	return s.Store.Tx(ctx, func(q *store.Q) error {
		if err := validateOrganization(ctx, q, o); err != nil {
			return err
		}
		if err := s.claimDomain(o, nil); err != nil {
			return err
		}
		if err := q.CreateOrganization(ctx, o); err != nil {
			return organizationError(err, o)
		}
		audit.Describe(ctx, "organizations", o.ID, nil, o)
		return nil
	})
}

func organizationError(err error, o *store.Organization) error {
	// Only verified domains are unique, and a write never verifies one: a
	// conflict with a verified domain is the name's (or, keeping a verified
	// domain, a concurrent verification's).
	if errors.Is(err, store.ErrConflict) && o.DomainVerified() {
		return apierror.ConflictError("an organization named %q or with verified domain %q already exists", o.Name, o.Domain)
	}
	return storeError(err, "organization", o.Name)
}

// GetOrganization reads one organization.
func (s *Service) GetOrganization(ctx context.Context, id string) (*store.Organization, error) {
	o, err := s.Store.Read().GetOrganization(ctx, id)
	return o, storeError(err, "organization", id)
}

// UpdateOrganization replaces an organization's metadata and spec.
func (s *Service) UpdateOrganization(ctx context.Context, actor *authn.Principal, id string, o *store.Organization) error {
	return s.Store.Tx(ctx, func(q *store.Q) error {
		// The domain's verification is carried from the row read here: a
		// verification committing in between must not be lost, nor write
		// back a domain this update replaced (VerifyDomain locks too).
		if err := q.LockOrganization(ctx, id); err != nil {
			return storeError(err, "organization", id)
		}
		old, err := q.GetOrganization(ctx, id)
		if err != nil {
			return storeError(err, "organization", id)
		}
		s.carryMeta(&o.Meta, old.Meta, actor)
		if err := validateOrganization(ctx, q, o); err != nil {
			return err
		}
		// A changed domain is a new claim: pending, with a new challenge.
		if err := s.claimDomain(o, old); err != nil {
			return err
		}
		if err := q.UpdateOrganization(ctx, o); err != nil {
			return organizationError(err, o)
		}
		if vouchingChanged(old, o) {
			// What the organization's own provider vouched for was
			// vouched under the old provider and domain: it ends now.
			if _, err := q.EndSessionsVouchedBy(ctx, id, "", s.Now().UTC()); err != nil {
				return err
			}
		}
		audit.Describe(ctx, "organizations", o.ID, old, o)
		return nil
	})
}

// vouchingChanged reports whether an update of organization old to o
// changes what its own identity provider may vouch for: another provider or
// provider scope, another domain, or a domain no longer verified. The logins
// that provider vouched for were trusted under the old terms only.
func vouchingChanged(old, o *store.Organization) bool {
	return o.ProviderID != old.ProviderID || o.ProviderScope != old.ProviderScope ||
		!strings.EqualFold(o.Domain, old.Domain) || old.DomainVerified() && !o.DomainVerified()
}

// DeleteOrganization deletes an organization and everything in it, in one
// transaction, with the sessions its own providers vouched for.
func (s *Service) DeleteOrganization(ctx context.Context, id string) error {
	return s.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetOrganization(ctx, id)
		if err != nil {
			return storeError(err, "organization", id)
		}
		if err := q.DeleteOrganization(ctx, id); err != nil {
			return storeError(err, "organization", id)
		}
		if _, err := q.EndSessionsVouchedBy(ctx, id, "", s.Now().UTC()); err != nil {
			return err
		}
		audit.Describe(ctx, "organizations", id, old, nil)
		return nil
	})
}

// IsHostname reports whether s is a DNS name of at least two labels, each
// 1-63 letters, digits or inner hyphens (RFC 1123), 253 characters at most.
func IsHostname(s string) bool {
	if len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
