package store

import (
	"context"
	"fmt"
)

// tCloudAccounts holds the member accounts cloud connections discovered.
const tCloudAccounts = "cloud_accounts"

// TargetCloudAccount is the target type of an assignment to a cloud account
// (target ID: the AWS account ID).
const TargetCloudAccount = "cloudAccount"

// RefCloudAccounts names the cloud accounts table for NamesOf.
const RefCloudAccounts = tCloudAccounts

// CloudAccount is a member account of an AWS organization, as the cloud
// connection ConnectionID last discovered it.
type CloudAccount struct {
	OrganizationID string
	// ID is the AWS account ID.
	ID           string
	ConnectionID string
	Name         string
	Email        string
	// ARN is the account's ARN in AWS Organizations.
	ARN string
	// State is AWS's account state (ACTIVE, SUSPENDED, ...).
	State string
}

// SyncCloudAccounts makes the accounts of connection connectionID exactly
// accounts, in the transaction that stores the connection's discovery. An
// account no longer discovered is deleted with its account assignments; a
// renamed one has its new name copied into them; an account another
// connection had discovered (it moved between AWS organizations) now
// belongs to this one.
func (q *Q) SyncCloudAccounts(ctx context.Context, orgID, connectionID string, accounts []CloudAccount) error {
	kept := map[string]bool{}
	for _, a := range accounts {
		kept[a.ID] = true
	}
	old, err := q.cloudAccountsOf(ctx, orgID, connectionID)
	if err != nil {
		return err
	}
	for _, a := range old {
		if !kept[a.ID] {
			if err := q.deleteCloudAccount(ctx, orgID, a.ID); err != nil {
				return err
			}
		}
	}
	for _, a := range accounts {
		_, err := q.q.ExecContext(ctx, `INSERT INTO `+tCloudAccounts+` (organization_id, id, connection_id, name, email, arn, state)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (organization_id, id) DO UPDATE SET connection_id = excluded.connection_id, name = excluded.name,
				email = excluded.email, arn = excluded.arn, state = excluded.state`,
			orgID, a.ID, connectionID, a.Name, a.Email, a.ARN, a.State)
		if err != nil {
			return fmt.Errorf("store cloud account %s: %w", a.ID, classify(err))
		}
		if err := q.renameInAssignments(ctx, orgID, "target", TargetCloudAccount, a.ID, a.Name); err != nil {
			return err
		}
	}
	return nil
}

// deleteCloudAccount deletes an account and its assignments.
func (q *Q) deleteCloudAccount(ctx context.Context, orgID, id string) error {
	if err := q.removeAssignmentsOf(ctx, orgID, "target", TargetCloudAccount, id); err != nil {
		return err
	}
	if _, err := q.q.ExecContext(ctx, "DELETE FROM "+tCloudAccounts+" WHERE organization_id = $1 AND id = $2", orgID, id); err != nil {
		return fmt.Errorf("delete cloud account %s: %w", id, classify(err))
	}
	return nil
}

// cloudAccountsOf lists the accounts of a connection, by account ID.
func (q *Q) cloudAccountsOf(ctx context.Context, orgID, connectionID string) ([]*CloudAccount, error) {
	rows, err := q.q.QueryContext(ctx, "SELECT "+cloudAccountColumns+" FROM "+tCloudAccounts+
		" WHERE organization_id = $1 AND connection_id = $2 ORDER BY id", orgID, connectionID)
	if err != nil {
		return nil, fmt.Errorf("cloud accounts of connection %s: %w", connectionID, err)
	}
	defer rows.Close()
	var out []*CloudAccount
	for rows.Next() {
		a, err := scanCloudAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cloud accounts of connection %s: %w", connectionID, err)
	}
	return out, nil
}

const cloudAccountColumns = "organization_id, id, connection_id, name, email, arn, state"

func scanCloudAccount(r interface{ Scan(...any) error }) (*CloudAccount, error) {
	a := &CloudAccount{}
	if err := r.Scan(&a.OrganizationID, &a.ID, &a.ConnectionID, &a.Name, &a.Email, &a.ARN, &a.State); err != nil {
		return nil, fmt.Errorf("scan cloud account: %w", classify(err))
	}
	return a, nil
}

// GetCloudAccount reads a cloud account of orgID by its AWS account ID;
// ErrNotFound when no connection of the organization discovered it.
func (q *Q) GetCloudAccount(ctx context.Context, orgID, id string) (*CloudAccount, error) {
	a, err := scanCloudAccount(q.q.QueryRowContext(ctx, "SELECT "+cloudAccountColumns+" FROM "+tCloudAccounts+
		" WHERE organization_id = $1 AND id = $2", orgID, id))
	if err != nil {
		return nil, fmt.Errorf("cloud account %s: %w", id, err)
	}
	return a, nil
}

// MemberHasAssignment reports whether member (a user or service account,
// with its groups) is assigned permission set setID on the target, itself
// or through one of its groups.
func (q *Q) MemberHasAssignment(ctx context.Context, orgID string, member Member, setID, targetType, targetID string) (bool, error) {
	if len(member.GroupIDs) > maxInList {
		return false, fmt.Errorf("member has assignment: %d groups, at most %d", len(member.GroupIDs), maxInList)
	}
	args := params{orgID}
	cond := "permission_set_id = " + args.add(setID) + " AND target_type = " + args.add(targetType) +
		" AND target_id = " + args.add(targetID) + " AND " + reachesMember(member, &args)
	var n int
	if err := q.q.QueryRowContext(ctx, "SELECT COUNT(*) FROM account_assignments WHERE organization_id = $1 AND "+cond, args...).Scan(&n); err != nil {
		return false, fmt.Errorf("member has assignment: %w", err)
	}
	return n > 0, nil
}
