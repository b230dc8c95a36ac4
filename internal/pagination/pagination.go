// Package pagination reads the paging parameters of the lists that follow
// the seed's convention (issue 6: permission sets and account assignments):
// page (0-based), size (1..100, default 20) and sort, a repeatable
// field:asc|desc whose fields each list declares. The other lists of the
// API page by keyset (limit, pageToken); see internal/server.
package pagination

import (
	"strings"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Sizes of a page.
const (
	DefaultSize = 20
	MaxSize     = 100
)

// MaxSortKeys bounds the keys of one sort.
const MaxSortKeys = 6

// Field is a field a list may be sorted by: its API name (camelCase), the
// seed's snake_case spelling, and the store column.
type Field struct {
	Name, Alias, Column string
}

// Page is one page of a list, as the API answers it.
type Page[T any] struct {
	Items []T
	// Total is how many items the whole list holds.
	Total        int
	Number, Size int
	// Sort is the order applied, as field:direction with the API's names.
	Sort []string
}

// Request is the paging part of a list request: what the generated
// parameters hold (nil when absent).
type Request struct {
	Page, Size *int
	Sort       []string
}

// Parse reads r for a list sortable by fields, whose order when r names
// none is def. It returns the store's page and the order as the answer
// reports it. An unknown field or direction, a field named twice, a page
// below 0 or a size outside 1..100 is a 400 that says which.
func Parse(r Request, fields []Field, def []store.SortKey) (store.OffsetPage, []string, error) {
	p := store.OffsetPage{Size: DefaultSize}
	if r.Page != nil {
		if *r.Page < 0 {
			return p, nil, apierror.BadRequest("query parameter \"page\": %d is below 0", *r.Page)
		}
		p.Number = *r.Page
	}
	if r.Size != nil {
		if *r.Size < 1 || *r.Size > MaxSize {
			return p, nil, apierror.BadRequest("query parameter \"size\": %d is outside 1..%d", *r.Size, MaxSize)
		}
		p.Size = *r.Size
	}
	var names []string
	for _, v := range r.Sort {
		for _, key := range strings.Split(v, ",") {
			field, dir, _ := strings.Cut(strings.TrimSpace(key), ":")
			f, ok := find(fields, field)
			if !ok {
				return p, nil, apierror.BadRequest("query parameter \"sort\": cannot sort by %q (fields: %s)", field, list(fields))
			}
			k := store.SortKey{Column: f.Column}
			switch strings.ToLower(dir) {
			case "", "asc":
			case "desc":
				k.Desc = true
			default:
				return p, nil, apierror.BadRequest("query parameter \"sort\": direction %q of %s is not asc or desc", dir, f.Name)
			}
			for _, prev := range p.Sort {
				if prev.Column == k.Column {
					return p, nil, apierror.BadRequest("query parameter \"sort\": %s is named twice", f.Name)
				}
			}
			p.Sort = append(p.Sort, k)
		}
	}
	if len(p.Sort) > MaxSortKeys {
		return p, nil, apierror.BadRequest("query parameter \"sort\": %d keys, at most %d", len(p.Sort), MaxSortKeys)
	}
	if len(p.Sort) == 0 {
		p.Sort = def
	}
	for _, k := range p.Sort {
		names = append(names, Describe(fields, k))
	}
	return p, names, nil
}

// Describe is how a page reports one key of its order: field:asc or
// field:desc, with the field's API name.
func Describe(fields []Field, k store.SortKey) string {
	name := k.Column
	for _, f := range fields {
		if f.Column == k.Column {
			name = f.Name
		}
	}
	if k.Desc {
		return name + ":desc"
	}
	return name + ":asc"
}

func find(fields []Field, name string) (Field, bool) {
	for _, f := range fields {
		if name != "" && (f.Name == name || f.Alias == name) {
			return f, true
		}
	}
	return Field{}, false
}

func list(fields []Field) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

// Of wraps items read for p, out of total, and the order names, as a Page.
func Of[T any](items []T, total int, p store.OffsetPage, order []string) Page[T] {
	if items == nil {
		items = []T{}
	}
	return Page[T]{Items: items, Total: total, Number: p.Number, Size: p.Size, Sort: order}
}
