package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Tag is a free-form name/value label on a resource.
type Tag struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Meta is the metadata every tenancy resource carries. OrganizationID is ”
// for platform-level rows (system providers, platform service accounts).
type Meta struct {
	ID             string
	OrganizationID string
	Name           string
	Description    string
	Tags           []Tag
	CreatedAt      time.Time
	CreatedBy      string
	ModifiedAt     time.Time // zero until the first update
	ModifiedBy     string
}

// Stamp fills the server-owned creation fields of a new resource: its ID,
// organization, creation time (truncated to the millisecond the database
// keeps, so that a create's response equals every later read) and creator,
// and clears the modification.
func (m *Meta) Stamp(id, orgID string, now time.Time, by string) {
	m.ID, m.OrganizationID = id, orgID
	m.CreatedAt, m.CreatedBy = now.UTC().Truncate(time.Millisecond), by
	m.ModifiedAt, m.ModifiedBy = time.Time{}, ""
}

// Carry copies the server-owned fields of the stored old into the update m
// and stamps the modification.
func (m *Meta) Carry(old Meta, now time.Time, by string) {
	m.ID, m.OrganizationID, m.CreatedAt, m.CreatedBy = old.ID, old.OrganizationID, old.CreatedAt, old.CreatedBy
	m.ModifiedAt, m.ModifiedBy = now.UTC().Truncate(time.Millisecond), by
}

// Page selects one page of a keyset-paginated list: rows whose id sorts after
// After, at most Limit of them (0 means DefaultPageSize, NoLimit all of them).
type Page struct {
	Limit int
	After string
}

// NoLimit as Page.Limit selects every row after After: the API's lists
// without a limit parameter are complete, as in Identity API 1.4.0.
const NoLimit = -1

// DefaultPageSize is the page size when Page.Limit is 0. Lists are ordered
// by id, which is a UUIDv7 and so also the creation order; the next page
// starts strictly after the last id returned.
const DefaultPageSize = 1000

func (p Page) limit() int {
	if p.Limit <= 0 {
		return DefaultPageSize
	}
	return p.Limit
}

// record is implemented by pointers to resource structs so that the generic
// row helpers below can insert, update and scan any resource table the same
// way: the shared metadata columns first, then the table's own columns.
type record interface {
	meta() *Meta
	// columns names the table-specific columns, in the order of values and targets.
	columns() []string
	values() []any
	targets() []any
}

const metaColumns = "id, organization_id, name, description, tags, created_at, created_by, modified_at, modified_by"

// metaScan holds the raw column values of Meta while a row is scanned.
type metaScan struct {
	tags              string
	created, modified int64
}

func (ms *metaScan) targets(m *Meta) []any {
	return []any{&m.ID, &m.OrganizationID, &m.Name, &m.Description, &ms.tags, &ms.created, &m.CreatedBy, &ms.modified, &m.ModifiedBy}
}

func (ms *metaScan) finish(m *Meta) error {
	m.Tags = nil
	if err := json.Unmarshal([]byte(ms.tags), &m.Tags); err != nil {
		return fmt.Errorf("decode tags of %s: %w", m.ID, err)
	}
	m.CreatedAt = fromMillis(ms.created)
	m.ModifiedAt = fromMillis(ms.modified)
	return nil
}

func toMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func encodeTags(tags []Tag) (string, error) {
	if tags == nil {
		tags = []Tag{}
	}
	b, err := json.Marshal(tags)
	if err != nil {
		return "", fmt.Errorf("encode tags: %w", err)
	}
	return string(b), nil
}

// placeholders returns "$from, $from+1, ..., $from+n-1".
func placeholders(from, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$")
		b.WriteString(strconv.Itoa(from + i))
	}
	return b.String()
}

// insert adds r to table.
func insert(ctx context.Context, q *Q, table string, r record) error {
	m := r.meta()
	tags, err := encodeTags(m.Tags)
	if err != nil {
		return err
	}
	cols := r.columns()
	args := append([]any{m.ID, m.OrganizationID, m.Name, m.Description, tags, toMillis(m.CreatedAt), m.CreatedBy, toMillis(m.ModifiedAt), m.ModifiedBy}, r.values()...)
	colList := metaColumns
	if len(cols) > 0 {
		colList += ", " + strings.Join(cols, ", ")
	}
	query := "INSERT INTO " + table + " (" + colList + ") VALUES (" + placeholders(1, len(args)) + ")"
	if _, err := q.q.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("insert into %s: %w", table, classify(err))
	}
	return nil
}

// update rewrites the mutable columns of r (everything but id, organization
// and creation) in table, matching on organization and id.
func update(ctx context.Context, q *Q, table string, r record) error {
	m := r.meta()
	tags, err := encodeTags(m.Tags)
	if err != nil {
		return err
	}
	set := []string{"name = $1", "description = $2", "tags = $3", "modified_at = $4", "modified_by = $5"}
	args := []any{m.Name, m.Description, tags, toMillis(m.ModifiedAt), m.ModifiedBy}
	for _, c := range r.columns() {
		args = append(args, nil)
		set = append(set, c+" = $"+strconv.Itoa(len(args)))
	}
	copy(args[5:], r.values())
	args = append(args, m.OrganizationID, m.ID)
	query := "UPDATE " + table + " SET " + strings.Join(set, ", ") +
		" WHERE organization_id = $" + strconv.Itoa(len(args)-1) + " AND id = $" + strconv.Itoa(len(args))
	res, err := q.q.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("update %s: %w", table, classify(err))
	}
	return expectOne(res, table, m.ID)
}

// remove deletes the row (orgID, id) from table.
func remove(ctx context.Context, q *Q, table, orgID, id string) error {
	res, err := q.q.ExecContext(ctx, "DELETE FROM "+table+" WHERE organization_id = $1 AND id = $2", orgID, id)
	if err != nil {
		return fmt.Errorf("delete from %s: %w", table, classify(err))
	}
	return expectOne(res, table, id)
}

type rowResult interface{ RowsAffected() (int64, error) }

func expectOne(res rowResult, table, id string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: rows affected: %w", table, err)
	}
	if n == 0 {
		return fmt.Errorf("%s %s: %w", table, id, ErrNotFound)
	}
	return nil
}

// ptr is the constraint that lets the generic readers allocate an R and use it
// as a record.
type ptr[R any] interface {
	*R
	record
}

func selectColumns(r record) string {
	cols := r.columns()
	if len(cols) == 0 {
		return metaColumns
	}
	return metaColumns + ", " + strings.Join(cols, ", ")
}

// get reads the row (orgID, id) of table.
func get[R any, P ptr[R]](ctx context.Context, q *Q, table, orgID, id string) (*R, error) {
	var r R
	p := P(&r)
	var ms metaScan
	query := "SELECT " + selectColumns(p) + " FROM " + table + " WHERE organization_id = $1 AND id = $2"
	if err := q.q.QueryRowContext(ctx, query, orgID, id).Scan(append(ms.targets(p.meta()), p.targets()...)...); err != nil {
		return nil, fmt.Errorf("get %s %s: %w", table, id, classify(err))
	}
	if err := ms.finish(p.meta()); err != nil {
		return nil, err
	}
	return &r, nil
}

// list reads one page of table rows matching where (a condition on $1..$n with
// args), ordered by id.
func list[R any, P ptr[R]](ctx context.Context, q *Q, table, where string, page Page, args ...any) ([]*R, error) {
	var zero R
	cond := where
	if page.After != "" {
		args = append(args, page.After)
		cond += " AND id > $" + strconv.Itoa(len(args))
	}
	query := "SELECT " + selectColumns(P(&zero)) + " FROM " + table + " WHERE " + cond + " ORDER BY id"
	if page.Limit != NoLimit {
		args = append(args, page.limit())
		query += " LIMIT $" + strconv.Itoa(len(args))
	}
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", table, err)
	}
	defer rows.Close()
	var out []*R
	for rows.Next() {
		r, err := scanRecord[R, P](rows)
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", table, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s: %w", table, err)
	}
	return out, nil
}

// scanRecord reads the current row (selected with selectColumns) into a
// new R.
func scanRecord[R any, P ptr[R]](rows *sql.Rows) (*R, error) {
	var r R
	p := P(&r)
	var ms metaScan
	if err := rows.Scan(append(ms.targets(p.meta()), p.targets()...)...); err != nil {
		return nil, err
	}
	if err := ms.finish(p.meta()); err != nil {
		return nil, err
	}
	return &r, nil
}
