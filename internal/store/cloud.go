package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The tables of cloud credential federation (migration 00010). The store
// keeps each resource's provider configuration as opaque JSON text: its
// shape and rules belong to internal/cloud.
const (
	tCloudIdentities  = "cloud_identities"
	tCloudCredentials = "cloud_credentials"
	tCloudConnections = "cloud_connections"
)

// CloudIdentity is how a project's principals federate into a cloud: an AWS
// role to assume with a web identity, or a GCP workload identity provider.
type CloudIdentity struct {
	Meta
	ProjectID string
	Provider  string // aws | gcp
	Spec      string // JSON, internal/cloud's IdentitySpec
}

func (c *CloudIdentity) meta() *Meta       { return &c.Meta }
func (c *CloudIdentity) columns() []string { return []string{"project_id", "provider", "spec"} }
func (c *CloudIdentity) values() []any     { return []any{c.ProjectID, c.Provider, c.Spec} }
func (c *CloudIdentity) targets() []any    { return []any{&c.ProjectID, &c.Provider, &c.Spec} }

// CreateCloudIdentity inserts c. ErrConflict for a duplicate name in the
// project, ErrReference when the project does not exist.
func (q *Q) CreateCloudIdentity(ctx context.Context, c *CloudIdentity) error {
	return insert(ctx, q, tCloudIdentities, c)
}

// UpdateCloudIdentity rewrites c's mutable fields; its project does not change.
func (q *Q) UpdateCloudIdentity(ctx context.Context, c *CloudIdentity) error {
	return update(ctx, q, tCloudIdentities, c)
}

// GetCloudIdentity reads one cloud identity of a project.
func (q *Q) GetCloudIdentity(ctx context.Context, orgID, projectID, id string) (*CloudIdentity, error) {
	c, err := get[CloudIdentity](ctx, q, tCloudIdentities, orgID, id)
	if err != nil {
		return nil, err
	}
	if c.ProjectID != projectID {
		return nil, fmt.Errorf("cloud identity %s in project %s: %w", id, projectID, ErrNotFound)
	}
	return c, nil
}

// ListCloudIdentities pages through a project's cloud identities.
func (q *Q) ListCloudIdentities(ctx context.Context, orgID, projectID string, page Page) ([]*CloudIdentity, error) {
	return list[CloudIdentity](ctx, q, tCloudIdentities, "project_id = $1 AND organization_id = $2", page, projectID, orgID)
}

// DeleteCloudIdentity removes a cloud identity of a project.
func (q *Q) DeleteCloudIdentity(ctx context.Context, orgID, projectID, id string) error {
	res, err := q.q.ExecContext(ctx, "DELETE FROM "+tCloudIdentities+" WHERE organization_id = $1 AND project_id = $2 AND id = $3", orgID, projectID, id)
	if err != nil {
		return fmt.Errorf("delete cloud identity: %w", classify(err))
	}
	return expectOne(res, tCloudIdentities, id)
}

// CloudCredential is an entry of an organization's credential store. Secret
// is the sealed secret (” for types without one); nothing outside
// internal/cloud opens it, and the API never returns it.
type CloudCredential struct {
	Meta
	Type   string // awsAccessKey | awsAssumeRole
	Spec   string // JSON, the parts that may be shown
	Secret string // sealed, AAD bound to the row
}

func (c *CloudCredential) meta() *Meta       { return &c.Meta }
func (c *CloudCredential) columns() []string { return []string{"type", "spec", "secret"} }
func (c *CloudCredential) values() []any     { return []any{c.Type, c.Spec, c.Secret} }
func (c *CloudCredential) targets() []any    { return []any{&c.Type, &c.Spec, &c.Secret} }

// CreateCloudCredential inserts c; ErrConflict for a duplicate name.
func (q *Q) CreateCloudCredential(ctx context.Context, c *CloudCredential) error {
	return insert(ctx, q, tCloudCredentials, c)
}

// UpdateCloudCredential rewrites c's mutable fields, the secret included.
func (q *Q) UpdateCloudCredential(ctx context.Context, c *CloudCredential) error {
	return update(ctx, q, tCloudCredentials, c)
}

// GetCloudCredential reads one stored credential.
func (q *Q) GetCloudCredential(ctx context.Context, orgID, id string) (*CloudCredential, error) {
	return get[CloudCredential](ctx, q, tCloudCredentials, orgID, id)
}

// ListCloudCredentials pages through an organization's stored credentials.
func (q *Q) ListCloudCredentials(ctx context.Context, orgID string, page Page) ([]*CloudCredential, error) {
	return list[CloudCredential](ctx, q, tCloudCredentials, "organization_id = $1", page, orgID)
}

// DeleteCloudCredential removes a stored credential.
func (q *Q) DeleteCloudCredential(ctx context.Context, orgID, id string) error {
	return remove(ctx, q, tCloudCredentials, orgID, id)
}

// CloudExternalID reads the external ID generated for an organization;
// ErrNotFound if it has none yet.
func (q *Q) CloudExternalID(ctx context.Context, orgID string) (string, error) {
	var id string
	err := q.q.QueryRowContext(ctx, "SELECT external_id FROM cloud_external_ids WHERE organization_id = $1", orgID).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("external ID of organization %s: %w", orgID, classify(err))
	}
	return id, nil
}

// EnsureCloudExternalID stores candidate as the organization's external ID
// unless it already has one, and returns the one it has. Concurrent callers
// all get the same value: the insert does nothing when a row exists.
func (q *Q) EnsureCloudExternalID(ctx context.Context, orgID, candidate string, now time.Time) (string, error) {
	_, err := q.q.ExecContext(ctx, "INSERT INTO cloud_external_ids (organization_id, external_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (organization_id) DO NOTHING",
		orgID, candidate, toMillis(now))
	if err != nil {
		return "", fmt.Errorf("store external ID of organization %s: %w", orgID, classify(err))
	}
	return q.CloudExternalID(ctx, orgID)
}

// CloudConnection is a cloud organization (an AWS organization) linked to a
// Gatehouse organization, as last validated.
type CloudConnection struct {
	Meta
	Provider               string // aws
	CredentialID           string // stored credential it uses, or ''
	CloudIdentityID        string // cloud identity it federates with, or ''
	ExternalOrganizationID string // the AWS organization ID (o-...)
	Spec                   string // JSON, internal/cloud's ConnectionSpec
	Status                 string // JSON, internal/cloud's ConnectionStatus
}

func (c *CloudConnection) meta() *Meta { return &c.Meta }
func (c *CloudConnection) columns() []string {
	return []string{"provider", "credential_id", "cloud_identity_id", "external_organization_id", "spec", "status"}
}
func (c *CloudConnection) values() []any {
	return []any{c.Provider, c.CredentialID, c.CloudIdentityID, c.ExternalOrganizationID, c.Spec, c.Status}
}
func (c *CloudConnection) targets() []any {
	return []any{&c.Provider, &c.CredentialID, &c.CloudIdentityID, &c.ExternalOrganizationID, &c.Spec, &c.Status}
}

// CreateCloudConnection inserts c. ErrConflict for a duplicate name, or for
// a second connection to the same external organization.
func (q *Q) CreateCloudConnection(ctx context.Context, c *CloudConnection) error {
	return insert(ctx, q, tCloudConnections, c)
}

// UpdateCloudConnection rewrites c's mutable fields.
func (q *Q) UpdateCloudConnection(ctx context.Context, c *CloudConnection) error {
	return update(ctx, q, tCloudConnections, c)
}

// GetCloudConnection reads one cloud connection.
func (q *Q) GetCloudConnection(ctx context.Context, orgID, id string) (*CloudConnection, error) {
	return get[CloudConnection](ctx, q, tCloudConnections, orgID, id)
}

// ListCloudConnections pages through an organization's cloud connections.
func (q *Q) ListCloudConnections(ctx context.Context, orgID string, page Page) ([]*CloudConnection, error) {
	return list[CloudConnection](ctx, q, tCloudConnections, "organization_id = $1", page, orgID)
}

// DeleteCloudConnection removes a cloud connection, and the accounts it
// discovered with their account assignments.
func (q *Q) DeleteCloudConnection(ctx context.Context, orgID, id string) error {
	if err := q.SyncCloudAccounts(ctx, orgID, id, nil); err != nil {
		return err
	}
	return remove(ctx, q, tCloudConnections, orgID, id)
}

// CloudConnectionsUsing lists the names of the organization's connections
// that use the stored credential credentialID (when not ”) or the cloud
// identity cloudIdentityID (when not ”), so that deleting what they use can
// be refused.
func (q *Q) CloudConnectionsUsing(ctx context.Context, orgID, credentialID, cloudIdentityID string) ([]string, error) {
	column, id := "credential_id", credentialID
	if credentialID == "" {
		column, id = "cloud_identity_id", cloudIdentityID
	}
	if id == "" {
		return nil, errors.New("cloud connections using: neither a credential nor a cloud identity was named")
	}
	rows, err := q.q.QueryContext(ctx, "SELECT name FROM "+tCloudConnections+" WHERE organization_id = $1 AND "+column+" = $2 ORDER BY name", orgID, id)
	if err != nil {
		return nil, fmt.Errorf("cloud connections using %s: %w", id, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("scan cloud connection name: %w", err)
		}
		names = append(names, n)
	}
	return names, rows.Err()
}
