package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/telemetry"
)

// Offset paging: the lists of issue 6 (permission sets, account assignments)
// follow the seed's convention, page (0-based) and size with a total count
// and a repeatable sort, instead of the keyset paging of the other lists.
//
// Offset paging costs what the database must step over to reach the page.
// Two things keep a deep page cheap on 100,000 rows:
//
//   - a deferred join: the page's IDs are found by walking an index that
//     holds the sort keys (no table rows are read for the rows skipped), and
//     only the page's rows are then read by primary key;
//   - a page past the middle is read from the other end, in the reverse
//     order, and turned around: the walk is min(offset, total-offset) index
//     entries, so the last page costs what the first does.
//
// The count and the page are meant to be read in one Snapshot, so that the
// page's position (which the reverse read depends on) and the total agree.

// SortKey is one key of an offset page's order: a column and a direction.
type SortKey struct {
	Column string
	Desc   bool
}

// OffsetPage selects page Number (0-based) of Size rows of a list ordered by
// Sort. Rows equal on every key are ordered by the list's tie-breakers
// (creation time, then id) in the direction of the last key, so the order is
// total and pages neither repeat nor skip rows.
type OffsetPage struct {
	Number, Size int
	Sort         []SortKey
}

// offsetQuery is a list that pages by offset: its table, the columns it
// selects, the condition rows must meet (on $1..$len(args)) and the columns
// it may be sorted by.
type offsetQuery struct {
	table, columns string
	cond           string
	args           []any
	sortable       []string
}

// tieBreakers end every order: creation time, then the unique id.
var tieBreakers = []string{"created_at", "id"}

// order is the full ORDER BY of page p: its keys, then the tie-breakers it
// does not name, in the direction of its last key; flipped reverses every
// direction.
func (l offsetQuery) order(p OffsetPage, flipped bool) (string, error) {
	keys := append([]SortKey(nil), p.Sort...)
	desc := len(keys) > 0 && keys[len(keys)-1].Desc
	for _, t := range tieBreakers {
		if slices.ContainsFunc(keys, func(k SortKey) bool { return k.Column == "id" }) {
			break // unique: nothing after it can change the order
		}
		if !slices.ContainsFunc(keys, func(k SortKey) bool { return k.Column == t }) {
			keys = append(keys, SortKey{Column: t, Desc: desc})
		}
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		if !slices.Contains(l.sortable, k.Column) && !slices.Contains(tieBreakers, k.Column) {
			return "", fmt.Errorf("list %s: cannot sort by %q", l.table, k.Column)
		}
		dir := " ASC"
		if k.Desc != flipped {
			dir = " DESC"
		}
		parts[i] = k.Column + dir
	}
	return strings.Join(parts, ", "), nil
}

// count is the number of rows meeting l's condition.
func (l offsetQuery) count(ctx context.Context, q *Q) (int, error) {
	var n int
	if err := q.q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+l.table+" WHERE "+l.cond, l.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", l.table, err)
	}
	return n, nil
}

// offsetList reads page p of l, whose condition total rows meet, scanning
// each row with scan.
func offsetList[T any](ctx context.Context, q *Q, l offsetQuery, p OffsetPage, total int, scan func(*sql.Rows) (T, error)) ([]T, error) {
	if p.Size <= 0 || p.Number < 0 {
		return nil, fmt.Errorf("list %s: page %d of size %d", l.table, p.Number, p.Size)
	}
	offset := p.Number * p.Size
	if offset >= total || offset/p.Size != p.Number { // past the end (or overflowing)
		return nil, nil
	}
	n := min(p.Size, total-offset)
	// From the end, the page starts after the total-offset-n rows behind it.
	flipped := total-offset-n < offset
	if flipped {
		offset = total - offset - n
	}
	order, err := l.order(p, flipped)
	if err != nil {
		return nil, err
	}
	args := append(append([]any(nil), l.args...), n, offset)
	at := strconv.Itoa(len(l.args) + 1)
	query := "SELECT " + l.columns + " FROM " + l.table + " WHERE id IN (SELECT id FROM " + l.table + " WHERE " + l.cond +
		" ORDER BY " + order + " LIMIT $" + at + " OFFSET $" + strconv.Itoa(len(l.args)+2) + ") ORDER BY " + order
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", l.table, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", l.table, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s: %w", l.table, err)
	}
	if flipped {
		slices.Reverse(out)
	}
	return out, nil
}

// Snapshot runs fn in a read-only transaction: every read of fn sees the
// same committed state (a list's total and its page agree). On PostgreSQL it
// is REPEATABLE READ; on SQLite a deferred read transaction, which in WAL
// mode reads one snapshot and takes no write lock.
func (s *Store) Snapshot(ctx context.Context, fn func(q *Q) error) (err error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	spanCtx, span := startSpan(ctx, "db.snapshot", s.dialect)
	defer func() { telemetry.End(span, err) }()
	b := s.bound(spanCtx)
	defer b.end()
	tx, err := s.db.BeginTx(b.ctx, opts)
	if err != nil {
		return fmt.Errorf("begin snapshot: %w", note(ctx, b.classify(b.ctx, err)))
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(&Q{q: watched{q: tx, tx: b}, dialect: s.dialect}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("end snapshot: %w", note(ctx, b.classify(b.ctx, err)))
	}
	return nil
}
