package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/store"
)

// The credential types of a cloud connection (the seed's
// AWSOrganizationCredentialType, in this API's camelCase).
const (
	// ConnectionStoredCredential: a credential of the credential store
	// (CREDENTIALS_MANAGER_CREDENTIAL).
	ConnectionStoredCredential = "storedCredential"
	// ConnectionAssumeRole: a role ARN, assumed by the built-in access
	// node's AWS identity with the organization's external ID
	// (AWS_STS_ASSUME_ROLE).
	ConnectionAssumeRole = "assumeRole"
	// ConnectionFederated: an AWS cloud identity of a project: the caller's
	// workload token, exchanged with AssumeRoleWithWebIdentity. No secret
	// exists anywhere.
	ConnectionFederated = "federated"
	// ConnectionAmbientRole: the built-in access node's own ambient AWS
	// identity (web identity, container or EC2 instance role), no stored
	// secret (AWS_IAM_ROLE). Only with AWSPlatform.AmbientCredentials.
	ConnectionAmbientRole = "ambientRole"
)

// The built-in access node: the Gatehouse process itself. No other node
// exists.
const (
	BuiltinAccessNodeID   = 1
	BuiltinAccessNodeName = "local"
	AccessNodeServer      = "SERVER"
)

// ConnectionCredential says how to reach the organization's management
// account.
type ConnectionCredential struct {
	Type            string `json:"type"`
	CredentialID    string `json:"credentialID,omitempty"`
	RoleARN         string `json:"roleARN,omitempty"`
	ProjectID       string `json:"projectID,omitempty"`
	CloudIdentityID string `json:"cloudIdentityID,omitempty"`
}

// AccessNode is the seed's access node reference.
type AccessNode struct {
	ID             *int   `json:"id,omitempty"`
	Name           string `json:"name,omitempty"`
	DisplayName    string `json:"displayName,omitempty"`
	AccessNodeType string `json:"accessNodeType,omitempty"`
}

// AccountDiscovery names the role assumed in each member account.
type AccountDiscovery struct {
	// RoleNameWithPath is the role's name with its path, e.g.
	// "OrganizationAccountAccessRole" or "/gatehouse/discovery".
	RoleNameWithPath string `json:"roleNameWithPath"`
}

// ValidateRequest is the seed's validate request.
type ValidateRequest struct {
	Provider    string
	Credential  ConnectionCredential
	AccessNodes []AccessNode
	RetryPolicy *RetryPolicy
}

// Organization is an AWS organization as DescribeOrganization reports it.
type Organization struct {
	OrganizationID         string `json:"organizationID"`
	OrganizationARN        string `json:"organizationARN"`
	ManagementAccountID    string `json:"managementAccountID"`
	ManagementAccountARN   string `json:"managementAccountARN"`
	ManagementAccountEmail string `json:"managementAccountEmail"`
}

// The results of discovering one account.
const (
	DiscoverySucceeded    = "succeeded"
	DiscoveryFailed       = "failed"
	DiscoveryNotAttempted = "notAttempted"
)

// Account is a member account of a connected organization.
type Account struct {
	AccountID string `json:"accountID"`
	ARN       string `json:"arn"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	// State is AWS's account state (ACTIVE, SUSPENDED, ...).
	State string `json:"state"`
	// Discovery is whether the discovery role could be assumed in it.
	Discovery string `json:"discovery"`
	// Error says why discovery failed (the AWS error code and message).
	Error string `json:"error,omitempty"`
}

// ConnectionSpec is a persisted connection's configuration.
type ConnectionSpec struct {
	Provider         string               `json:"provider"`
	Credential       ConnectionCredential `json:"credential"`
	AccessNodes      []AccessNode         `json:"accessNodes,omitempty"`
	AccountDiscovery *AccountDiscovery    `json:"accountDiscovery,omitempty"`
	TagFilter        *TagFilter           `json:"tagFilter,omitempty"`
	RetryPolicy      *RetryPolicy         `json:"retryPolicy,omitempty"`
}

// ConnectionStatus is the outcome of a connection's last validation.
type ConnectionStatus struct {
	Organization Organization `json:"organization"`
	// Accounts are the accounts kept: all of them without a tag filter.
	Accounts []Account `json:"accounts"`
	// FilteredOut is how many accounts the tag filter left out.
	FilteredOut int       `json:"filteredOut,omitempty"`
	ValidatedAt time.Time `json:"validatedAt"`
}

// Connection is a persisted cloud connection.
type Connection struct {
	Meta   store.Meta
	Spec   ConnectionSpec
	Status ConnectionStatus
}

var roleNameWithPathPattern = regexp.MustCompile(`^(/([\x21-\x2e\x30-\x7e]{1,64}/)*)?[\w+=,.@-]{1,64}$`)

// checkAccessNodes accepts nothing but the built-in node (an empty list
// means it), and fails when that node is disabled.
func (s *Service) checkAccessNodes(nodes []AccessNode) error {
	for i, n := range nodes {
		ok := (n.ID == nil || *n.ID == BuiltinAccessNodeID) && (n.Name == "" || n.Name == BuiltinAccessNodeName) &&
			(n.AccessNodeType == "" || n.AccessNodeType == AccessNodeServer) && (n.ID != nil || n.Name != "")
		if !ok {
			return invalid("accessNodes[%d]: unknown access node; the only one is the built-in node {\"id\": %d, \"name\": %q, \"accessNodeType\": %q}",
				i, BuiltinAccessNodeID, BuiltinAccessNodeName, AccessNodeServer)
		}
	}
	return nil
}

func (s *Service) checkConnection(provider string, c ConnectionCredential, nodes []AccessNode, p *RetryPolicy) error {
	if provider != "" && provider != ProviderAWS {
		return invalid("provider must be aws")
	}
	if p != nil {
		if err := p.Validate("retryPolicy"); err != nil {
			return err
		}
	}
	if err := s.checkAccessNodes(nodes); err != nil {
		return err
	}
	need := func(field, v string) error {
		if v == "" {
			return invalid("credential.%s is required for credential type %s", field, c.Type)
		}
		return nil
	}
	unused := func(fields map[string]string) error {
		for f, v := range fields {
			if v != "" {
				return invalid("credential.%s does not apply to credential type %s", f, c.Type)
			}
		}
		return nil
	}
	switch c.Type {
	case ConnectionStoredCredential:
		return errors.Join(need("credentialID", c.CredentialID),
			unused(map[string]string{"roleARN": c.RoleARN, "projectID": c.ProjectID, "cloudIdentityID": c.CloudIdentityID}))
	case ConnectionAssumeRole:
		if err := unused(map[string]string{"credentialID": c.CredentialID, "projectID": c.ProjectID, "cloudIdentityID": c.CloudIdentityID}); err != nil {
			return err
		}
		return CheckRoleARN("credential.roleARN", c.RoleARN)
	case ConnectionFederated:
		return errors.Join(need("projectID", c.ProjectID), need("cloudIdentityID", c.CloudIdentityID),
			unused(map[string]string{"credentialID": c.CredentialID, "roleARN": c.RoleARN}))
	case ConnectionAmbientRole:
		if err := unused(map[string]string{"credentialID": c.CredentialID, "roleARN": c.RoleARN, "projectID": c.ProjectID, "cloudIdentityID": c.CloudIdentityID}); err != nil {
			return err
		}
		if !s.AWS.AmbientCredentials {
			return ambientDisabled()
		}
		return nil
	}
	return invalid("credential.type must be storedCredential, assumeRole, federated or ambientRole")
}

// firstInvalid turns errors.Join's result into its first *Error.
func firstInvalid(err error) error {
	if err == nil {
		return nil
	}
	if e, ok := AsError(err); ok {
		return e
	}
	return err
}

// platformIdentity is the built-in access node's own AWS identity, which
// assumes roles with the organization's external ID: the configured access
// key, or else, where the operator enabled it, the ambient identity (the
// instance, container or IRSA role Gatehouse runs as). The external ID, not
// the flag, is what keeps tenants from each other's roles here.
func (s *Service) platformIdentity(ctx context.Context, policy RetryPolicy) (aws.CredentialsProvider, error) {
	if s.AWS.AccessKeyID != "" && s.AWS.SecretAccessKey != "" {
		return staticCredentials(&AWSCredentials{AccessKeyID: s.AWS.AccessKeyID, SecretAccessKey: s.AWS.SecretAccessKey}), nil
	}
	if s.AWS.AmbientCredentials {
		return s.ambientCredentials(ctx, policy)
	}
	return nil, newError(ErrCredentialInvalid, nil,
		"the built-in access node has no AWS identity of its own to assume the role with (--cloud-aws-access-key-id, or --cloud-aws-ambient-credentials); use a stored access key or a federated credential")
}

func (s *Service) stsRegion() string {
	if s.AWS.Region != "" {
		return s.AWS.Region
	}
	return DefaultAWSRegion
}

// connect obtains credentials of the organization's management account as
// c says. The caller is who federated credentials are minted for.
func (s *Service) connect(ctx context.Context, p *authn.Principal, orgID string, c ConnectionCredential, policy RetryPolicy) (aws.CredentialsProvider, error) {
	switch c.Type {
	case ConnectionStoredCredential:
		spec, secret, err := s.openCredential(ctx, orgID, c.CredentialID)
		if err != nil {
			return nil, err
		}
		switch spec.Type {
		case CredentialAWSAccessKey:
			creds := staticCredentials(&AWSCredentials{AccessKeyID: spec.AWSAccessKey.AccessKeyID, SecretAccessKey: secret})
			// Prove the key first: a bad key is CREDENTIAL_INVALID, not a
			// permission problem of the Organizations call after it.
			if _, err := s.callerIdentity(ctx, creds, policy); err != nil {
				return nil, err
			}
			return creds, nil
		case CredentialAWSAssumeRole:
			return s.assumeWithExternalID(ctx, orgID, spec.AWSAssumeRole.RoleARN, policy)
		}
		return nil, fmt.Errorf("credential %s of unknown type %q", c.CredentialID, spec.Type)
	case ConnectionAssumeRole:
		return s.assumeWithExternalID(ctx, orgID, c.RoleARN, policy)
	case ConnectionFederated:
		ident, caller, err := s.identityForCaller(ctx, p, orgID, c.ProjectID, c.CloudIdentityID)
		if e, ok := apierror.As(err); ok {
			// No such project or identity, or a caller who is no member:
			// the request cannot be carried out as written. The message
			// names no ID: they are the caller's own input.
			if e.Status == http.StatusNotFound {
				return nil, invalid("credential: no such cloud identity in credential.projectID")
			}
			return nil, invalid("credential: a federated credential needs a caller who is a member of this organization")
		}
		if err != nil {
			return nil, err
		}
		if ident.Spec.Provider != ProviderAWS {
			return nil, invalid("credential.cloudIdentityID: the cloud identity is not an AWS identity")
		}
		raw, _, err := s.mint(ctx, ident, caller, ident.Spec.audience(), "", ExchangeTokenLifetime)
		if err != nil {
			return nil, err
		}
		creds, err := s.assumeRoleWithWebIdentity(ctx, ident.Spec.AWS, raw, sessionName(caller), policy)
		if err != nil {
			return nil, err
		}
		return staticCredentials(creds), nil
	case ConnectionAmbientRole:
		return s.ambientIdentity(ctx, policy)
	}
	return nil, invalid("credential.type must be storedCredential, assumeRole, federated or ambientRole")
}

func (s *Service) assumeWithExternalID(ctx context.Context, orgID, roleARN string, policy RetryPolicy) (aws.CredentialsProvider, error) {
	base, err := s.platformIdentity(ctx, policy)
	if err != nil {
		return nil, err
	}
	ext, err := s.ExternalID(ctx, orgID)
	if err != nil {
		return nil, err
	}
	creds, err := s.assumeRole(ctx, s.stsRegion(), s.AWS.STSEndpoint, base, roleARN, ext, "gatehouse-"+orgID, policy)
	if err != nil {
		return nil, err
	}
	return staticCredentials(creds), nil
}

// Validate checks that a credential reaches an AWS organization's management
// account with basic organization permissions, and returns the organization
// (the seed's validate). Failures are *Error values.
func (s *Service) Validate(ctx context.Context, p *authn.Principal, orgID string, req ValidateRequest) (*Organization, error) {
	var org *Organization
	err := s.withManagementAccount(ctx, p, orgID, req, func(_ context.Context, _ aws.CredentialsProvider, _ RetryPolicy, o *Organization) error {
		org = o
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A validation uses the organization's stored credentials or its
	// federated identity: who did so, with which, and what it reached is
	// recorded like a write.
	detail := struct {
		Credential   ConnectionCredential `json:"credential"`
		Organization *Organization        `json:"organization"`
	}{req.Credential, org}
	if err := audit.Action(ctx, s.Store, "cloudconnections", "", detail); err != nil {
		return nil, err
	}
	return org, nil
}

func accessNodeDown() *Error {
	return newError(ErrAccessNodeCommunicationFailed, nil,
		"the built-in access node %q is disabled on this Gatehouse (--cloud-access-node-enabled=false)", BuiltinAccessNodeName)
}

// withManagementAccount is what validation and discovery share: check the
// request (nothing is called when it is invalid), check the access node,
// reach the management account and describe its organization, then run
// next with the credentials, within one RequestTimeout.
func (s *Service) withManagementAccount(ctx context.Context, p *authn.Principal, orgID string, req ValidateRequest,
	next func(ctx context.Context, creds aws.CredentialsProvider, policy RetryPolicy, org *Organization) error) error {
	if err := firstInvalid(s.checkConnection(req.Provider, req.Credential, req.AccessNodes, req.RetryPolicy)); err != nil {
		return err
	}
	if s.AccessNodeDisabled {
		return accessNodeDown()
	}
	policy := DefaultRetryPolicy()
	if req.RetryPolicy != nil {
		policy = *req.RetryPolicy
	}
	ctx, cancel := s.outbound(ctx)
	defer cancel()
	creds, err := s.connect(ctx, p, orgID, req.Credential, policy)
	if err != nil {
		return err
	}
	org, err := s.describeOrganization(ctx, creds, policy)
	if err != nil {
		return err
	}
	return next(ctx, creds, policy, org)
}

// discover validates a connection spec and discovers its accounts.
func (s *Service) discover(ctx context.Context, p *authn.Principal, orgID string, spec *ConnectionSpec) (*ConnectionStatus, error) {
	if spec.Provider == "" {
		spec.Provider = ProviderAWS
	}
	if d := spec.AccountDiscovery; d != nil && !roleNameWithPathPattern.MatchString(d.RoleNameWithPath) {
		return nil, invalid("accountDiscovery.roleNameWithPath must be a role name, optionally with its path (/path/name)")
	}
	if err := spec.TagFilter.validate("tagFilter"); err != nil {
		return nil, err
	}
	var status *ConnectionStatus
	req := ValidateRequest{Provider: spec.Provider, Credential: spec.Credential, AccessNodes: spec.AccessNodes, RetryPolicy: spec.RetryPolicy}
	err := s.withManagementAccount(ctx, p, orgID, req, func(ctx context.Context, creds aws.CredentialsProvider, policy RetryPolicy, org *Organization) error {
		all, err := s.listAccounts(ctx, creds, policy)
		if err != nil {
			return err
		}
		accounts, err := s.filterAccounts(ctx, creds, policy, spec.TagFilter, all)
		if err != nil {
			return err
		}
		status = &ConnectionStatus{Organization: *org, Accounts: accounts, FilteredOut: len(all) - len(accounts),
			ValidatedAt: s.now().Truncate(time.Millisecond)}
		return s.discoverAccounts(ctx, creds, policy, spec.AccountDiscovery, status)
	})
	if err != nil {
		return nil, err
	}
	return status, nil
}

// discoverAccounts assumes the discovery role in every active account
// (none without a discovery role), recording each outcome; it fails only
// when every attempt failed, or STS could not be reached at all.
func (s *Service) discoverAccounts(ctx context.Context, creds aws.CredentialsProvider, policy RetryPolicy, d *AccountDiscovery, status *ConnectionStatus) error {
	tried, succeeded := 0, 0
	for i := range status.Accounts {
		a := &status.Accounts[i]
		a.Discovery = DiscoveryNotAttempted
		if d == nil || a.State != "ACTIVE" {
			continue
		}
		tried++
		_, err := s.assumeRole(ctx, s.stsRegion(), s.AWS.STSEndpoint, creds, memberRoleARN(status.Organization.OrganizationARN, a.AccountID, d.RoleNameWithPath),
			"", "gatehouse-discovery", policy)
		if err != nil {
			e, ok := AsError(err)
			if !ok {
				return err
			}
			if e.Type == ErrServiceEndpointNotReachable {
				return e // STS is gone: no account can tell us anything
			}
			a.Discovery, a.Error = DiscoveryFailed, e.Message
			continue
		}
		a.Discovery = DiscoverySucceeded
		succeeded++
	}
	if tried > 0 && succeeded == 0 {
		return newError(ErrAllAccountsFailedDiscovery, nil, "role %q could not be assumed in any of the %d active member accounts (first: %s)",
			d.RoleNameWithPath, tried, firstAccountError(status.Accounts))
	}
	return nil
}

func firstAccountError(accounts []Account) string {
	for _, a := range accounts {
		if a.Error != "" {
			return a.AccountID + ": " + a.Error
		}
	}
	return "no detail"
}

// memberRoleARN is the ARN of the discovery role in an account, in the
// organization's partition.
func memberRoleARN(orgARN, accountID, roleNameWithPath string) string {
	partition := "aws"
	if parts := strings.SplitN(orgARN, ":", 3); len(parts) == 3 && parts[0] == "arn" {
		partition = parts[1]
	}
	if !strings.HasPrefix(roleNameWithPath, "/") {
		roleNameWithPath = "/" + roleNameWithPath
	}
	return "arn:" + partition + ":iam::" + accountID + ":role" + roleNameWithPath
}

// cloudAccounts are the discovered accounts as assignment targets.
func cloudAccounts(orgID, connectionID string, accounts []Account) []store.CloudAccount {
	out := make([]store.CloudAccount, len(accounts))
	for i, a := range accounts {
		out[i] = store.CloudAccount{OrganizationID: orgID, ID: a.AccountID, ConnectionID: connectionID,
			Name: a.Name, Email: a.Email, ARN: a.ARN, State: a.State}
	}
	return out
}

func connectionToStore(c *Connection) (*store.CloudConnection, error) {
	spec, err := json.Marshal(c.Spec)
	if err != nil {
		return nil, fmt.Errorf("encode connection spec: %w", err)
	}
	status, err := json.Marshal(c.Status)
	if err != nil {
		return nil, fmt.Errorf("encode connection status: %w", err)
	}
	row := &store.CloudConnection{Meta: c.Meta, Provider: c.Spec.Provider, ExternalOrganizationID: c.Status.Organization.OrganizationID,
		Spec: string(spec), Status: string(status)}
	switch c.Spec.Credential.Type {
	case ConnectionStoredCredential:
		row.CredentialID = c.Spec.Credential.CredentialID
	case ConnectionFederated:
		row.CloudIdentityID = c.Spec.Credential.CloudIdentityID
	}
	return row, nil
}

func connectionFromStore(row *store.CloudConnection) (*Connection, error) {
	c := &Connection{Meta: row.Meta}
	if err := json.Unmarshal([]byte(row.Spec), &c.Spec); err != nil {
		return nil, fmt.Errorf("connection %s: decode spec: %w", row.ID, err)
	}
	if err := json.Unmarshal([]byte(row.Status), &c.Status); err != nil {
		return nil, fmt.Errorf("connection %s: decode status: %w", row.ID, err)
	}
	return c, nil
}

// CreateConnection validates a connection (network calls, outside any
// transaction), then stores it with the discovered accounts in one
// transaction. Nothing is stored when validation fails.
func (s *Service) CreateConnection(ctx context.Context, p *authn.Principal, orgID string, meta store.Meta, spec ConnectionSpec) (*Connection, error) {
	status, err := s.discover(ctx, p, orgID, &spec)
	if err != nil {
		return nil, err
	}
	c := &Connection{Meta: meta, Spec: spec, Status: *status}
	s.newMeta(&c.Meta, p, orgID)
	row, err := connectionToStore(c)
	if err != nil {
		return nil, err
	}
	err = s.Store.Tx(ctx, func(q *store.Q) error {
		if err := s.referencesExist(ctx, q, orgID, spec.Credential); err != nil {
			return err
		}
		audit.Describe(ctx, "cloudconnections", row.ID, nil, c)
		if err := connectionStoreError(q.CreateCloudConnection(ctx, row), meta.Name, status.Organization.OrganizationID); err != nil {
			return err
		}
		return q.SyncCloudAccounts(ctx, orgID, row.ID, cloudAccounts(orgID, row.ID, status.Accounts))
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// referencesExist re-checks, inside the write's transaction, that what the
// connection uses still exists (it may have been deleted while the
// validation ran).
func (s *Service) referencesExist(ctx context.Context, q *store.Q, orgID string, c ConnectionCredential) error {
	switch c.Type {
	case ConnectionStoredCredential:
		if _, err := q.GetCloudCredential(ctx, orgID, c.CredentialID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return invalid("credential.credentialID: no such credential in this organization")
			}
			return err
		}
	case ConnectionFederated:
		if _, err := q.GetCloudIdentity(ctx, orgID, c.ProjectID, c.CloudIdentityID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return invalid("credential.cloudIdentityID: no such cloud identity in credential.projectID")
			}
			return err
		}
	}
	return nil
}

// connectionStoreError explains a conflict: a name taken, or the AWS
// organization already connected (one connection per AWS organization).
func connectionStoreError(err error, name, external string) error {
	if errors.Is(err, store.ErrConflict) {
		return apierror.ConflictError("a cloud connection named %q, or one to AWS organization %q, already exists", name, external)
	}
	return storeError(err, "cloud connection", name)
}

// GetConnection reads a cloud connection.
func (s *Service) GetConnection(ctx context.Context, orgID, id string) (*Connection, error) {
	row, err := s.Store.Read().GetCloudConnection(ctx, orgID, id)
	if err != nil {
		return nil, storeError(err, "cloud connection", id)
	}
	return connectionFromStore(row)
}

// ListConnections pages through the organization's cloud connections.
func (s *Service) ListConnections(ctx context.Context, orgID string, page store.Page) ([]*Connection, error) {
	rows, err := s.Store.Read().ListCloudConnections(ctx, orgID, page)
	if err != nil {
		return nil, err
	}
	out := make([]*Connection, 0, len(rows))
	for _, r := range rows {
		c, err := connectionFromStore(r)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// UpdateConnection re-validates a connection with its new spec and stores
// it with the fresh discovery, or changes nothing.
func (s *Service) UpdateConnection(ctx context.Context, p *authn.Principal, orgID, id string, meta store.Meta, spec ConnectionSpec) (*Connection, error) {
	if _, err := s.GetConnection(ctx, orgID, id); err != nil {
		return nil, err
	}
	status, err := s.discover(ctx, p, orgID, &spec)
	if err != nil {
		return nil, err
	}
	c := &Connection{Meta: meta, Spec: spec, Status: *status}
	err = s.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetCloudConnection(ctx, orgID, id)
		if err != nil {
			return storeError(err, "cloud connection", id)
		}
		s.carryMeta(&c.Meta, old.Meta, p)
		if err := s.referencesExist(ctx, q, orgID, spec.Credential); err != nil {
			return err
		}
		row, err := connectionToStore(c)
		if err != nil {
			return err
		}
		before, err := connectionFromStore(old)
		if err != nil {
			return err
		}
		audit.Describe(ctx, "cloudconnections", id, before, c)
		if err := connectionStoreError(q.UpdateCloudConnection(ctx, row), meta.Name, status.Organization.OrganizationID); err != nil {
			return err
		}
		// Accounts that left the AWS organization go with their
		// assignments: discovery lists every account or fails.
		return q.SyncCloudAccounts(ctx, orgID, id, cloudAccounts(orgID, id, status.Accounts))
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// DeleteConnection deletes a cloud connection, the accounts it discovered
// and their account assignments.
func (s *Service) DeleteConnection(ctx context.Context, orgID, id string) error {
	return s.Store.Tx(ctx, func(q *store.Q) error {
		old, err := q.GetCloudConnection(ctx, orgID, id)
		if err != nil {
			return storeError(err, "cloud connection", id)
		}
		before, err := connectionFromStore(old)
		if err != nil {
			return err
		}
		audit.Describe(ctx, "cloudconnections", id, before, nil)
		return storeError(q.DeleteCloudConnection(ctx, orgID, id), "cloud connection", id)
	})
}
