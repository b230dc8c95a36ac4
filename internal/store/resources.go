package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Organization is a tenant.
type Organization struct {
	Meta
	Type             string // adhoc | domain
	Domain           string // email domain, '' if none
	ProviderScope    string // global | organization, '' if none
	ProviderID       string
	GoogleCustomerID string
	// DomainToken is the DNS TXT challenge of the current domain claim
	// (a new one whenever Domain changes); DomainVerifiedAt is when the
	// claim was proven, zero while it is pending. Only a verified domain
	// routes logins (OrganizationByDomain).
	DomainToken      string
	DomainVerifiedAt time.Time
}

func (o *Organization) meta() *Meta { return &o.Meta }
func (o *Organization) columns() []string {
	return []string{"organization_type", "domain", "provider_scope", "provider_id", "google_customer_id",
		"domain_token", "domain_verified_at"}
}
func (o *Organization) values() []any {
	return []any{o.Type, nullable(o.Domain), o.ProviderScope, o.ProviderID, o.GoogleCustomerID,
		o.DomainToken, toMillis(o.DomainVerifiedAt)}
}
func (o *Organization) targets() []any {
	return []any{&o.Type, (*nullString)(&o.Domain), &o.ProviderScope, &o.ProviderID, &o.GoogleCustomerID,
		&o.DomainToken, (*millis)(&o.DomainVerifiedAt)}
}

// DomainVerified reports whether o's domain claim has been proven.
func (o *Organization) DomainVerified() bool { return o.Domain != "" && !o.DomainVerifiedAt.IsZero() }

// VouchesFor reports whether email is an address of o's verified email
// domain: the only addresses o may vouch for, through its own identity
// provider or the local accounts it owns (issues 12 and 13). A domain
// merely claimed proves nothing.
func (o *Organization) VouchesFor(email string) bool {
	return o.DomainVerified() && strings.HasSuffix(strings.ToLower(email), "@"+strings.ToLower(o.Domain))
}

// Group collects users and service accounts and grants them roles. Its member
// and role lists are views of the group_members and group_roles tables.
type Group struct {
	Meta
	UserIDs           []string
	ServiceAccountIDs []string
	RoleIDs           []string
}

func (g *Group) meta() *Meta       { return &g.Meta }
func (g *Group) columns() []string { return nil }
func (g *Group) values() []any     { return nil }
func (g *Group) targets() []any    { return nil }

// User is an organization's record of a person, identified by subject (email).
type User struct {
	Meta
	Subject    string
	State      string // active | pending | suspended
	LastActive time.Time
	GroupIDs   []string
}

func (u *User) meta() *Meta       { return &u.Meta }
func (u *User) columns() []string { return []string{"subject", "state", "last_active"} }
func (u *User) values() []any     { return []any{u.Subject, u.State, toMillis(u.LastActive)} }
func (u *User) targets() []any    { return []any{&u.Subject, &u.State, (*millis)(&u.LastActive)} }

// ServiceAccount is a machine principal with a long-lived bearer token, of
// which only the SHA-256 hash is kept.
type ServiceAccount struct {
	Meta
	TokenHash string
	ExpiresAt time.Time
	GroupIDs  []string
}

func (s *ServiceAccount) meta() *Meta       { return &s.Meta }
func (s *ServiceAccount) columns() []string { return []string{"token_hash", "expires_at"} }
func (s *ServiceAccount) values() []any     { return []any{s.TokenHash, toMillis(s.ExpiresAt)} }
func (s *ServiceAccount) targets() []any    { return []any{&s.TokenHash, (*millis)(&s.ExpiresAt)} }

// Project groups an organization's resources; members are granted access
// through the project's groups.
type Project struct {
	Meta
	GroupIDs []string
}

func (p *Project) meta() *Meta       { return &p.Meta }
func (p *Project) columns() []string { return nil }
func (p *Project) values() []any     { return nil }
func (p *Project) targets() []any    { return nil }

// OAuth2Provider is an upstream identity provider, either system-wide
// (OrganizationID ”) or an organization's own.
type OAuth2Provider struct {
	Meta
	Type            string
	Issuer          string
	ClientID        string
	ClientSecretEnc string // sealed; see package secret
}

func (p *OAuth2Provider) meta() *Meta { return &p.Meta }
func (p *OAuth2Provider) columns() []string {
	return []string{"provider_type", "issuer", "client_id", "client_secret_enc"}
}
func (p *OAuth2Provider) values() []any {
	return []any{p.Type, p.Issuer, p.ClientID, p.ClientSecretEnc}
}
func (p *OAuth2Provider) targets() []any {
	return []any{&p.Type, &p.Issuer, &p.ClientID, &p.ClientSecretEnc}
}

// Allocation records the resources a project uses, counted against the
// organization's quotas.
type Allocation struct {
	Meta
	ProjectID    string
	ResourceKind string // the kind of resource that owns the allocation
	ResourceID   string
	Items        []AllocationItem
}

// AllocationItem is the amount of one quota kind an allocation holds.
type AllocationItem struct {
	Kind      string
	Committed int64
	Reserved  int64
}

func (a *Allocation) meta() *Meta { return &a.Meta }
func (a *Allocation) columns() []string {
	return []string{"project_id", "resource_kind", "resource_id"}
}
func (a *Allocation) values() []any  { return []any{a.ProjectID, a.ResourceKind, a.ResourceID} }
func (a *Allocation) targets() []any { return []any{&a.ProjectID, &a.ResourceKind, &a.ResourceID} }

// nullString scans a NULL as ”.
type nullString string

func (n *nullString) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*n = ""
	case string:
		*n = nullString(x)
	case []byte:
		*n = nullString(x)
	default:
		return fmt.Errorf("scan %T into string", v)
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// millis scans unix milliseconds into a time.Time (0 → zero time).
type millis time.Time

func (m *millis) Scan(v any) error {
	x, ok := v.(int64)
	if !ok {
		return fmt.Errorf("scan %T into time", v)
	}
	*m = millis(fromMillis(x))
	return nil
}

// Table names, one per resource type.
const (
	tOrganizations   = "organizations"
	tGroups          = "groups"
	tUsers           = "users"
	tServiceAccounts = "service_accounts"
	tProjects        = "projects"
	tProviders       = "oauth2_providers"
	tAllocations     = "allocations"
)

// lockOrganization serializes writers that check organization-wide invariants
// (quota sums). PostgreSQL takes a row lock; SQLite transactions already hold
// the database write lock from BEGIN IMMEDIATE.
func (q *Q) lockOrganization(ctx context.Context, orgID string) error {
	if q.dialect != Postgres || !q.inTx {
		return nil
	}
	var id string
	if err := q.q.QueryRowContext(ctx, "SELECT id FROM organizations WHERE id = $1 FOR UPDATE", orgID).Scan(&id); err != nil {
		return fmt.Errorf("lock organization %s: %w", orgID, classify(err))
	}
	return nil
}
