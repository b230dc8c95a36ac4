package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// IAMRole is an organization's custom role: a CEL policy document, an
// optional assume-role policy, and the seed's other fields. Policies are
// stored as the JSON text they were compiled from.
type IAMRole struct {
	Meta
	Policy           string // JSON policy document
	AssumeRolePolicy string // JSON policy document, "" when nobody may assume the role
	MaxSessionTTL    int64  // seconds
	Permissions      []string
	Labels           map[string]string
	Editable         bool
	Version          int64
	// TrustVersion moves on only when what the assume-role decision reads
	// of the role changes (assume-role policy, name, tags, labels): role
	// sessions carry the one they began under and end when it moves on.
	TrustVersion int64
}

func (r *IAMRole) meta() *Meta { return &r.Meta }
func (r *IAMRole) columns() []string {
	return []string{"policy", "assume_role_policy", "max_session_ttl", "permissions", "labels", "editable", "version", "trust_version"}
}
func (r *IAMRole) values() []any {
	return []any{r.Policy, r.AssumeRolePolicy, r.MaxSessionTTL, jsonValue{r.Permissions, "[]"}, jsonValue{r.Labels, "{}"}, r.Editable, r.Version, r.TrustVersion}
}
func (r *IAMRole) targets() []any {
	return []any{&r.Policy, &r.AssumeRolePolicy, &r.MaxSessionTTL, jsonTarget{&r.Permissions}, jsonTarget{&r.Labels}, &r.Editable, &r.Version, &r.TrustVersion}
}

// jsonValue writes a value as JSON text; nil slices and maps as empty.
type jsonValue struct {
	v     any
	empty string
}

// Value implements driver.Valuer.
func (j jsonValue) Value() (driver.Value, error) {
	b, err := json.Marshal(j.v)
	if err != nil {
		return nil, fmt.Errorf("encode JSON column: %w", err)
	}
	if string(b) == "null" {
		return j.empty, nil
	}
	return string(b), nil
}

// jsonTarget scans JSON text into the value it points to.
type jsonTarget struct{ p any }

// Scan implements sql.Scanner.
func (j jsonTarget) Scan(v any) error {
	var b []byte
	switch x := v.(type) {
	case string:
		b = []byte(x)
	case []byte:
		b = x
	default:
		return fmt.Errorf("scan %T into a JSON column", v)
	}
	if err := json.Unmarshal(b, j.p); err != nil {
		return fmt.Errorf("decode JSON column: %w", err)
	}
	return nil
}

// Table names of this file.
const (
	tIAMRoles = "iam_roles"
	tAPIKeys  = "api_keys"
)

// RefRoles is the CountExisting kind of custom roles.
const RefRoles = tIAMRoles

// CreateIAMRole inserts r.
func (q *Q) CreateIAMRole(ctx context.Context, r *IAMRole) error {
	return insert(ctx, q, tIAMRoles, r)
}

// GetIAMRole reads one custom role of orgID.
func (q *Q) GetIAMRole(ctx context.Context, orgID, id string) (*IAMRole, error) {
	return get[IAMRole](ctx, q, tIAMRoles, orgID, id)
}

// UpdateIAMRole rewrites r's mutable fields, r.Version included.
func (q *Q) UpdateIAMRole(ctx context.Context, r *IAMRole) error {
	return update(ctx, q, tIAMRoles, r)
}

// ListIAMRoles pages through an organization's custom roles.
func (q *Q) ListIAMRoles(ctx context.Context, orgID string, page Page) ([]*IAMRole, error) {
	return list[IAMRole](ctx, q, tIAMRoles, "organization_id = $1", page, orgID)
}

// DeleteIAMRole removes a custom role.
func (q *Q) DeleteIAMRole(ctx context.Context, orgID, id string) error {
	return remove(ctx, q, tIAMRoles, orgID, id)
}

// RoleHeader is what authorization needs of a custom role on every request:
// enough to find its compiled policy in a cache keyed by (ID, Version)
// without reading the policy text itself.
type RoleHeader struct {
	ID          string
	Name        string
	Version     int64
	Permissions []string
}

// IAMRoleHeaders reads the headers of the custom roles among ids that belong
// to orgID (other IDs, e.g. system roles, are ignored), in ID order. One
// indexed query per 500 IDs.
func (q *Q) IAMRoleHeaders(ctx context.Context, orgID string, ids []string) ([]RoleHeader, error) {
	var out []RoleHeader
	err := inChunks(dedupe(ids), func(chunk []string) error {
		args := []any{orgID}
		for _, id := range chunk {
			args = append(args, id)
		}
		rows, err := q.q.QueryContext(ctx, "SELECT id, name, version, permissions FROM iam_roles WHERE organization_id = $1 AND id IN ("+
			placeholders(2, len(chunk))+") ORDER BY id", args...)
		if err != nil {
			return fmt.Errorf("load role headers: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var h RoleHeader
			if err := rows.Scan(&h.ID, &h.Name, &h.Version, jsonTarget{&h.Permissions}); err != nil {
				return fmt.Errorf("scan role header: %w", err)
			}
			out = append(out, h)
		}
		return rows.Err()
	})
	return out, err
}

// IAMRolePolicy reads one custom role's policy text at the given version;
// ErrNotFound when the role is gone or has moved on to another version (the
// caller's header is stale and the request is decided on what it read).
func (q *Q) IAMRolePolicy(ctx context.Context, orgID, id string, version int64) (string, error) {
	var p string
	err := q.q.QueryRowContext(ctx, "SELECT policy FROM iam_roles WHERE organization_id = $1 AND id = $2 AND version = $3",
		orgID, id, version).Scan(&p)
	if err != nil {
		return "", fmt.Errorf("role %s version %d: %w", id, version, classify(err))
	}
	return p, nil
}

// RoleReferences names what still uses a custom role: the groups that grant
// it and the API keys bound to it, by name, sorted.
func (q *Q) RoleReferences(ctx context.Context, orgID, roleID string) (groups, apiKeys []string, err error) {
	if groups, err = q.names(ctx, `SELECT g.name FROM group_roles r JOIN groups g ON g.id = r.group_id
		WHERE r.role_id = $1 AND g.organization_id = $2 ORDER BY g.name`, roleID, orgID); err != nil {
		return nil, nil, fmt.Errorf("groups granting role %s: %w", roleID, err)
	}
	// Keys minted by the role's own sessions are not references: they are
	// deleted with the role (DeleteAPIKeysFromRoleSessions).
	if apiKeys, err = q.names(ctx, "SELECT name FROM api_keys WHERE role_id = $1 AND organization_id = $2 AND NOT from_role_session ORDER BY name", roleID, orgID); err != nil {
		return nil, nil, fmt.Errorf("API keys bound to role %s: %w", roleID, err)
	}
	return groups, apiKeys, nil
}

func (q *Q) names(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// --- the organization guardrail ---

// OrganizationPolicy is an organization's guardrail policy.
type OrganizationPolicy struct {
	OrganizationID string
	Policy         string // JSON policy document
	Version        int64
	ModifiedAt     time.Time
	ModifiedBy     string
}

// GetOrganizationPolicy reads orgID's guardrail; ErrNotFound when it has none.
func (q *Q) GetOrganizationPolicy(ctx context.Context, orgID string) (*OrganizationPolicy, error) {
	p := &OrganizationPolicy{OrganizationID: orgID}
	var modified int64
	err := q.q.QueryRowContext(ctx, "SELECT policy, version, modified_at, modified_by FROM organization_policies WHERE organization_id = $1",
		orgID).Scan(&p.Policy, &p.Version, &modified, &p.ModifiedBy)
	if err != nil {
		return nil, fmt.Errorf("guardrail of %s: %w", orgID, classify(err))
	}
	if p.Policy == "" {
		return nil, fmt.Errorf("guardrail of %s: %w", orgID, ErrNotFound)
	}
	p.ModifiedAt = fromMillis(modified)
	return p, nil
}

// OrganizationPolicyVersion reads whether orgID exists and the version of
// its guardrail (0 when it has none): enough to find the compiled policy in
// a cache. One indexed query answers both, because every request about an
// organization needs both (the API refuses requests about a missing one).
func (q *Q) OrganizationPolicyVersion(ctx context.Context, orgID string) (exists bool, version int64, err error) {
	var v sql.NullInt64
	var none sql.NullBool
	err = q.q.QueryRowContext(ctx, `SELECT p.version, p.policy = '' FROM organizations o
		LEFT JOIN organization_policies p ON p.organization_id = o.id WHERE o.id = $1`, orgID).Scan(&v, &none)
	if errors.Is(err, sql.ErrNoRows) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("guardrail version of %s: %w", orgID, err)
	}
	if !v.Valid || none.Bool {
		return true, 0, nil
	}
	return true, v.Int64, nil
}

// PutOrganizationPolicy stores p as orgID's guardrail and sets p.Version to
// its new version. A reset keeps the row with an empty policy, so versions
// only grow: a compiled policy cached under an older version is never taken
// for a newer one.
func (q *Q) PutOrganizationPolicy(ctx context.Context, p *OrganizationPolicy) error {
	err := q.q.QueryRowContext(ctx, `INSERT INTO organization_policies (organization_id, policy, version, modified_at, modified_by)
		VALUES ($1, $2, 1, $3, $4)
		ON CONFLICT (organization_id) DO UPDATE SET policy = excluded.policy, version = organization_policies.version + 1,
			modified_at = excluded.modified_at, modified_by = excluded.modified_by
		RETURNING version`,
		p.OrganizationID, p.Policy, toMillis(p.ModifiedAt), p.ModifiedBy).Scan(&p.Version)
	if err != nil {
		return fmt.Errorf("store guardrail of %s: %w", p.OrganizationID, classify(err))
	}
	return nil
}

// ResetOrganizationPolicy removes orgID's guardrail (the row stays with an
// empty policy and a new version); it reports whether there was one.
func (q *Q) ResetOrganizationPolicy(ctx context.Context, orgID string, at time.Time, by string) (bool, error) {
	res, err := q.q.ExecContext(ctx, `UPDATE organization_policies SET policy = '', version = version + 1, modified_at = $2, modified_by = $3
		WHERE organization_id = $1 AND policy <> ''`, orgID, toMillis(at), by)
	if err != nil {
		return false, fmt.Errorf("reset guardrail of %s: %w", orgID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("reset guardrail of %s: %w", orgID, err)
	}
	return n > 0, nil
}

// --- API keys ---

// APIKey is a credential bound to one role of its organization. Its ID is
// the public part of the token; only the SHA-256 of the secret is stored.
type APIKey struct {
	Meta
	RoleID     string
	SecretHash string
	ExpiresAt  time.Time // zero: never
	// ParentKind and ParentID name the machine credential that created the
	// key (a role session, an API key, a service account); both "" for a
	// key a person created, which is an organization object.
	ParentKind string
	ParentID   string
	// Lineage are the links the key depends on (its parent's, then its
	// parent): checked on every use, so that the key dies with its source.
	Lineage []LineageLink
	// FromRoleSession: a session of the key's own role is in its lineage,
	// so deleting the role deletes the key rather than refusing.
	FromRoleSession bool
}

func (k *APIKey) meta() *Meta { return &k.Meta }
func (k *APIKey) columns() []string {
	return []string{"role_id", "secret_hash", "expires_at", "parent_kind", "parent_id", "lineage", "from_role_session"}
}
func (k *APIKey) values() []any {
	return []any{k.RoleID, k.SecretHash, toMillis(k.ExpiresAt), k.ParentKind, k.ParentID, jsonValue{k.Lineage, "[]"}, k.FromRoleSession}
}
func (k *APIKey) targets() []any {
	return []any{&k.RoleID, &k.SecretHash, (*millis)(&k.ExpiresAt), &k.ParentKind, &k.ParentID, lineageTarget{&k.Lineage}, &k.FromRoleSession}
}

// lineageTarget scans a lineage column: an empty list reads as nil, as a
// key without lineage is written.
type lineageTarget struct{ p *[]LineageLink }

// Scan implements sql.Scanner.
func (l lineageTarget) Scan(v any) error {
	if err := (jsonTarget{l.p}).Scan(v); err != nil {
		return err
	}
	if len(*l.p) == 0 {
		*l.p = nil
	}
	return nil
}

// CreateAPIKey inserts k.
func (q *Q) CreateAPIKey(ctx context.Context, k *APIKey) error { return insert(ctx, q, tAPIKeys, k) }

// GetAPIKey reads one API key of orgID.
func (q *Q) GetAPIKey(ctx context.Context, orgID, id string) (*APIKey, error) {
	return get[APIKey](ctx, q, tAPIKeys, orgID, id)
}

// APIKeyByID reads an API key by its ID alone, in whatever organization
// (authentication, where the token names the key).
func (q *Q) APIKeyByID(ctx context.Context, id string) (*APIKey, error) {
	ks, err := list[APIKey](ctx, q, tAPIKeys, "id = $1", Page{Limit: 1}, id)
	if err != nil {
		return nil, err
	}
	if len(ks) == 0 {
		return nil, fmt.Errorf("API key %s: %w", id, ErrNotFound)
	}
	return ks[0], nil
}

// ListAPIKeys pages through an organization's API keys.
func (q *Q) ListAPIKeys(ctx context.Context, orgID string, page Page) ([]*APIKey, error) {
	return list[APIKey](ctx, q, tAPIKeys, "organization_id = $1", page, orgID)
}

// DeleteAPIKey removes (revokes) an API key.
func (q *Q) DeleteAPIKey(ctx context.Context, orgID, id string) error {
	return remove(ctx, q, tAPIKeys, orgID, id)
}

// --- resource attributes for policies ---

// attributeTables are the tables ResourceAttributes may read.
var attributeTables = map[string]bool{
	tProjects: true, tGroups: true, tUsers: true, tServiceAccounts: true, tProviders: true,
	tAllocations: true, tIAMRoles: true, tAPIKeys: true, tPermissionSets: true,
}

// Attribute tables for ResourceAttributes.
const (
	AttrProjects        = tProjects
	AttrGroups          = tGroups
	AttrUsers           = tUsers
	AttrServiceAccounts = tServiceAccounts
	AttrProviders       = tProviders
	AttrAllocations     = tAllocations
	AttrRoles           = tIAMRoles
	AttrAPIKeys         = tAPIKeys
	AttrPermissionSets  = tPermissionSets
)

// ResourceAttributes reads the name and tags of row (orgID, id) of table:
// what a policy sees of a request's target. One indexed query, no fills.
func (q *Q) ResourceAttributes(ctx context.Context, table, orgID, id string) (name string, tags []Tag, err error) {
	if !attributeTables[table] {
		return "", nil, fmt.Errorf("resource attributes: table %q not allowed", table)
	}
	var raw string
	err = q.q.QueryRowContext(ctx, "SELECT name, tags FROM "+table+" WHERE organization_id = $1 AND id = $2", orgID, id).Scan(&name, &raw)
	if err != nil {
		return "", nil, fmt.Errorf("attributes of %s %s: %w", table, id, classify(err))
	}
	if err := json.Unmarshal([]byte(raw), &tags); err != nil {
		return "", nil, fmt.Errorf("decode tags of %s: %w", id, err)
	}
	return name, tags, nil
}

// ProjectIDs lists every project ID of orgID, in ID order (the ACL of a
// principal whose rights reach every project).
func (q *Q) ProjectIDs(ctx context.Context, orgID string) ([]string, error) {
	ids, err := q.names(ctx, "SELECT id FROM projects WHERE organization_id = $1 ORDER BY id", orgID)
	if err != nil {
		return nil, fmt.Errorf("project IDs of %s: %w", orgID, err)
	}
	return ids, nil
}

// --- audit events ---

// AuditEvent is one audited write.
type AuditEvent struct {
	ID             string
	OrganizationID string // "" for platform-level writes
	Time           time.Time
	ActorKind      string
	ActorID        string
	ActorSubject   string
	Actor          string // JSON
	OperationID    string
	ResourceType   string
	ResourceID     string
	Before, After  string // JSON, "null" when absent
	RequestID      string
}

const auditColumns = "id, organization_id, created_at, actor_kind, actor_id, actor_subject, actor, operation_id, resource_type, resource_id, before_state, after_state, request_id"

// InsertAuditEvent appends e. There is no update or delete: the log is
// append-only (events leave it only by age, PurgeAuditEvents).
func (q *Q) InsertAuditEvent(ctx context.Context, e *AuditEvent) error {
	nullJSON := func(s string) string {
		if s == "" {
			return "null"
		}
		return s
	}
	_, err := q.q.ExecContext(ctx, "INSERT INTO audit_events ("+auditColumns+") VALUES ("+placeholders(1, 13)+")",
		e.ID, e.OrganizationID, toMillis(e.Time), e.ActorKind, e.ActorID, e.ActorSubject, nullJSON(e.Actor), e.OperationID,
		e.ResourceType, e.ResourceID, nullJSON(e.Before), nullJSON(e.After), e.RequestID)
	if err != nil {
		return fmt.Errorf("insert audit event: %w", classify(err))
	}
	return nil
}

// PurgeAuditEvents deletes at most limit of the oldest events recorded
// before cutoff, and says how many it deleted. It is the one way events
// leave the log (the retention, --audit-retention): no event can be changed,
// or deleted by anything but its age.
func (q *Q) PurgeAuditEvents(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	res, err := q.q.ExecContext(ctx, "DELETE FROM audit_events WHERE id IN "+
		"(SELECT id FROM audit_events WHERE created_at < $1 ORDER BY created_at LIMIT $2)", toMillis(cutoff), limit)
	if err != nil {
		return 0, fmt.Errorf("purge audit events: %w", classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("purge audit events: %w", err)
	}
	return int(n), nil
}

// AuditFilter narrows a list of audit events; zero fields do not filter.
type AuditFilter struct {
	OrganizationID string // always applied: "" lists platform-level events
	ResourceType   string
	ResourceID     string
	ActorID        string
	Since, Until   time.Time // Since inclusive, Until exclusive
}

// ListAuditEvents pages through the events matching f, oldest first.
func (q *Q) ListAuditEvents(ctx context.Context, f AuditFilter, page Page) ([]*AuditEvent, error) {
	conds := []string{"organization_id = $1"}
	args := []any{f.OrganizationID}
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.ResourceType != "" {
		add("resource_type = ?", f.ResourceType)
	}
	if f.ResourceID != "" {
		add("resource_id = ?", f.ResourceID)
	}
	if f.ActorID != "" {
		add("actor_id = ?", f.ActorID)
	}
	if !f.Since.IsZero() {
		add("created_at >= ?", toMillis(f.Since))
	}
	if !f.Until.IsZero() {
		add("created_at < ?", toMillis(f.Until))
	}
	if page.After != "" {
		add("id > ?", page.After)
	}
	query := "SELECT " + auditColumns + " FROM audit_events WHERE " + strings.Join(conds, " AND ") + " ORDER BY id"
	if page.Limit != NoLimit {
		args = append(args, page.limit())
		query += " LIMIT $" + strconv.Itoa(len(args))
	}
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	defer rows.Close()
	var out []*AuditEvent
	for rows.Next() {
		var e AuditEvent
		var at int64
		if err := rows.Scan(&e.ID, &e.OrganizationID, &at, &e.ActorKind, &e.ActorID, &e.ActorSubject, &e.Actor, &e.OperationID,
			&e.ResourceType, &e.ResourceID, &e.Before, &e.After, &e.RequestID); err != nil {
			return nil, fmt.Errorf("scan audit event: %w", err)
		}
		e.Time = fromMillis(at)
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return out, nil
}

// --- commit hooks ---

// CommitHook runs inside a transaction after its work succeeded and just
// before it commits; an error rolls the transaction back. The audit log uses
// it to write an event in the same transaction as the change it records.
type CommitHook func(ctx context.Context, q *Q) error

type commitHookKey struct{}

// WithCommitHook returns ctx carrying h: every Store.Tx run with that context
// (or one derived from it) calls h before committing.
func WithCommitHook(ctx context.Context, h CommitHook) context.Context {
	return context.WithValue(ctx, commitHookKey{}, h)
}

func commitHook(ctx context.Context) CommitHook {
	h, _ := ctx.Value(commitHookKey{}).(CommitHook)
	return h
}
