package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SCIMKind names what a SCIM record describes: a user or a group.
type SCIMKind string

// The SCIM record kinds, each a table of migration 00029.
const (
	SCIMUsers  SCIMKind = "scim_users"
	SCIMGroups SCIMKind = "scim_groups"
)

// SCIMRecord is what a directory said of one of an organization's users or
// groups through SCIM (issue 18) beyond what Gatehouse models: its own
// identifier (externalId) and the attributes kept for it alone (JSON). A
// user or group with a record is the directory's.
type SCIMRecord struct {
	ResourceID     string
	OrganizationID string
	ExternalID     string
	Attributes     string
}

func (k SCIMKind) valid() error {
	if k != SCIMUsers && k != SCIMGroups {
		return fmt.Errorf("scim record: unknown kind %q", k)
	}
	return nil
}

// PutSCIMRecord writes r, replacing the record of the same resource.
func (q *Q) PutSCIMRecord(ctx context.Context, kind SCIMKind, r SCIMRecord) error {
	if err := kind.valid(); err != nil {
		return err
	}
	if r.Attributes == "" {
		r.Attributes = "{}"
	}
	// The table name is one of two constants (valid above), never input.
	_, err := q.q.ExecContext(ctx, `INSERT INTO `+string(kind)+` (resource_id, organization_id, external_id, attributes)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (resource_id) DO UPDATE SET external_id = excluded.external_id, attributes = excluded.attributes`,
		r.ResourceID, r.OrganizationID, r.ExternalID, r.Attributes)
	if err != nil {
		return fmt.Errorf("put %s record %s: %w", kind, r.ResourceID, classify(err))
	}
	return nil
}

// GetSCIMRecord reads the record of resource id in orgID; ErrNotFound
// when the directory has none (the resource is not the directory's).
func (q *Q) GetSCIMRecord(ctx context.Context, kind SCIMKind, orgID, id string) (*SCIMRecord, error) {
	if err := kind.valid(); err != nil {
		return nil, err
	}
	r := SCIMRecord{ResourceID: id, OrganizationID: orgID}
	err := q.q.QueryRowContext(ctx, `SELECT external_id, attributes FROM `+string(kind)+`
		WHERE resource_id = $1 AND organization_id = $2`, id, orgID).Scan(&r.ExternalID, &r.Attributes)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s record %s: %w", kind, id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s record %s: %w", kind, id, classify(err))
	}
	return &r, nil
}

// SCIMRecords reads every record of kind in orgID, by resource ID.
func (q *Q) SCIMRecords(ctx context.Context, kind SCIMKind, orgID string) (map[string]*SCIMRecord, error) {
	if err := kind.valid(); err != nil {
		return nil, err
	}
	rows, err := q.q.QueryContext(ctx, `SELECT resource_id, external_id, attributes FROM `+string(kind)+`
		WHERE organization_id = $1`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list %s records: %w", kind, classify(err))
	}
	defer rows.Close()
	out := map[string]*SCIMRecord{}
	for rows.Next() {
		r := SCIMRecord{OrganizationID: orgID}
		if err := rows.Scan(&r.ResourceID, &r.ExternalID, &r.Attributes); err != nil {
			return nil, fmt.Errorf("list %s records: %w", kind, classify(err))
		}
		out[r.ResourceID] = &r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s records: %w", kind, classify(err))
	}
	return out, nil
}
