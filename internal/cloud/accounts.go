package cloud

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/store"
)

// AccountRolePath is the IAM path of the roles that account assignments
// reach: permission set NAME assigned on account A is the role
// arn:aws:iam::A:role/gatehouse/NAME. Gatehouse does not create these roles
// (the account's administrators deploy them, e.g. with a CloudFormation
// StackSet, trusting the organization's workload issuer as docs/CLOUD.md
// shows); it decides who may assume them.
const AccountRolePath = "/gatehouse/"

// AccountSubject is the sub claim of a token for the caller's assignment of
// permission set setID on AWS account accountID:
//
//	org:{organizationID}:account:{accountID}:pset:{permissionSetID}:user:{userID}
//	org:{organizationID}:account:{accountID}:pset:{permissionSetID}:sa:{serviceAccountID}
//
// A role's trust policy conditions on it with StringLike
// AccountSubjectPrefix(...)+"*", so that the role of one permission set in
// one account admits the holders of that assignment and nobody else, even
// another organization's or another account's.
func AccountSubject(orgID, accountID, setID string, c Caller) string {
	kind := c.Type
	if kind == PrincipalServiceAccount {
		kind = "sa"
	}
	return AccountSubjectPrefix(orgID, accountID, setID) + kind + ":" + c.ID
}

// AccountSubjectPrefix is what every token for an assignment of permission
// set setID on account accountID starts with.
func AccountSubjectPrefix(orgID, accountID, setID string) string {
	return "org:" + orgID + ":account:" + accountID + ":pset:" + setID + ":"
}

// AccountAudience is the audience of account assignment tokens: AWS's
// usual one for web identities.
const AccountAudience = "sts.amazonaws.com"

// accountIDPattern is an AWS account ID.
var accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)

// AccountCredentialsRequest asks for credentials of an account assignment.
type AccountCredentialsRequest struct {
	// PermissionSetID is the permission set assigned to the caller (or to
	// one of its groups) on the account.
	PermissionSetID string
	// RetryPolicy overrides the connection's.
	RetryPolicy *RetryPolicy
}

// accountGrant is what an account credentials request resolves to.
type accountGrant struct {
	account    *store.CloudAccount
	connection *Connection
	set        *store.PermissionSet
	caller     Caller
}

// IssueAccountCredentials obtains AWS credentials of the role that an
// account assignment grants the caller: the caller must be assigned the
// permission set on the cloud account, itself or through one of its
// groups. Gatehouse mints a workload token about that assignment and
// exchanges it with AWS STS AssumeRoleWithWebIdentity for the role
// AccountRolePath+<permission set name> in the account, for the permission
// set's session duration. An assignment deleted is refused from the next
// request on; credentials already issued last until they expire, as in AWS.
func (s *Service) IssueAccountCredentials(ctx context.Context, p *authn.Principal, orgID, accountID string, req AccountCredentialsRequest) (*Credentials, error) {
	if !accountIDPattern.MatchString(accountID) {
		return nil, apierror.NotFoundError("cloud account %q not found: an AWS account ID has 12 digits", accountID)
	}
	if req.PermissionSetID == "" {
		return nil, invalid("permissionSetID is required")
	}
	if req.RetryPolicy != nil {
		if err := req.RetryPolicy.Validate("retryPolicy"); err != nil {
			return nil, err
		}
	}
	g, err := s.accountGrant(ctx, p, orgID, accountID, req.PermissionSetID)
	if err != nil {
		return nil, err
	}
	policy := DefaultRetryPolicy()
	if g.connection.Spec.RetryPolicy != nil {
		policy = *g.connection.Spec.RetryPolicy
	}
	if req.RetryPolicy != nil {
		policy = *req.RetryPolicy
	}
	now := s.now()
	jti, err := s.randomID()
	if err != nil {
		return nil, err
	}
	claims := &WorkloadClaims{
		Issuer: s.IssuerURL(orgID), Subject: AccountSubject(orgID, accountID, g.set.ID, g.caller), Audience: AccountAudience,
		IssuedAt: now.Unix(), NotBefore: now.Unix(), ExpiresAt: now.Add(ExchangeTokenLifetime).Unix(), JTI: jti,
		OrganizationID: orgID, PrincipalType: g.caller.Type, PrincipalID: g.caller.ID, AccountID: accountID, PermissionSetID: g.set.ID,
	}
	raw, err := s.sign(ctx, claims)
	if err != nil {
		return nil, err
	}
	role := &AWSIdentity{
		RoleARN: memberRoleARN(g.account.ARN, accountID, AccountRolePath+g.set.Name), Region: s.stsRegion(), STSEndpoint: s.AWS.STSEndpoint,
		SessionDuration: int(g.set.SessionDuration),
	}
	ctx, cancel := s.outbound(ctx)
	defer cancel()
	creds, err := s.assumeRoleWithWebIdentity(ctx, role, raw, sessionName(g.caller), policy)
	if err != nil {
		return nil, err
	}
	err = audit.Action(ctx, s.Store, "cloudaccountcredentials", accountID, accountIssued{
		Kind: "awsCredentials", AccountID: accountID, ConnectionID: g.connection.Meta.ID, PermissionSetID: g.set.ID,
		Subject: claims.Subject, Expiration: creds.Expiration, As: creds.AssumedRoleARN,
	})
	if err != nil {
		return nil, err
	}
	return &Credentials{Provider: ProviderAWS, AWS: creds}, nil
}

// accountIssued is what the audit log keeps of account credentials handed
// out: never the keys themselves.
type accountIssued struct {
	Kind            string    `json:"kind"`
	AccountID       string    `json:"accountId"`
	ConnectionID    string    `json:"connectionId"`
	PermissionSetID string    `json:"permissionSetId"`
	Subject         string    `json:"subject"`
	Expiration      time.Time `json:"expiration"`
	As              string    `json:"as,omitempty"`
}

// accountGrant reads, in one snapshot, the account, its connection, the
// permission set and whether the caller holds the assignment. Unknown
// account: 404; unknown permission set: 400 (the body names it); no
// assignment: 403.
func (s *Service) accountGrant(ctx context.Context, p *authn.Principal, orgID, accountID, setID string) (*accountGrant, error) {
	caller, err := s.caller(ctx, p, orgID)
	if err != nil {
		return nil, err
	}
	g := &accountGrant{caller: caller}
	err = s.Store.Snapshot(ctx, func(q *store.Q) error {
		if g.account, err = q.GetCloudAccount(ctx, orgID, accountID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return apierror.NotFoundError("cloud account %q not found: no cloud connection of this organization discovered it", accountID)
			}
			return err
		}
		row, err := q.GetCloudConnection(ctx, orgID, g.account.ConnectionID)
		if err != nil {
			return fmt.Errorf("connection of cloud account %s: %w", accountID, err)
		}
		if g.connection, err = connectionFromStore(row); err != nil {
			return err
		}
		if g.set, err = q.GetPermissionSet(ctx, orgID, setID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return invalid("permissionSetID: no permission set with that ID in this organization")
			}
			return err
		}
		// The caller's principal types are the store's (user,
		// serviceAccount).
		member, err := q.MemberOf(ctx, orgID, caller.Type, caller.ID)
		if err != nil {
			return fmt.Errorf("caller's groups: %w", err)
		}
		ok, err := q.MemberHasAssignment(ctx, orgID, *member, setID, store.TargetCloudAccount, accountID)
		if err != nil {
			return err
		}
		if !ok {
			return apierror.ForbiddenError("no account assignment gives you (or a group of yours) permission set %q on cloud account %s",
				g.set.Name, accountID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}
