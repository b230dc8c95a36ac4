package pagination_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/pagination"
	"github.com/gatehouse/gatehouse/internal/store"
)

var fields = []pagination.Field{
	{Name: "createdAt", Alias: "created_at", Column: "created_at"},
	{Name: "principalName", Alias: "principal_name", Column: "principal_name"},
	{Name: "id", Column: "id"},
}

var def = []store.SortKey{{Column: "created_at"}}

func ip(i int) *int { return &i }

func TestParse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		req   pagination.Request
		page  store.OffsetPage
		order []string
	}{
		{"defaults", pagination.Request{}, store.OffsetPage{Size: 20, Sort: def}, []string{"createdAt:asc"}},
		{"page and size", pagination.Request{Page: ip(3), Size: ip(100)}, store.OffsetPage{Number: 3, Size: 100, Sort: def}, []string{"createdAt:asc"}},
		{"smallest size", pagination.Request{Size: ip(1)}, store.OffsetPage{Size: 1, Sort: def}, []string{"createdAt:asc"}},
		{"one key, no direction", pagination.Request{Sort: []string{"principalName"}},
			store.OffsetPage{Size: 20, Sort: []store.SortKey{{Column: "principal_name"}}}, []string{"principalName:asc"}},
		{"repeated keys, seed spelling", pagination.Request{Sort: []string{"principal_name:desc", "created_at:ASC"}},
			store.OffsetPage{Size: 20, Sort: []store.SortKey{{Column: "principal_name", Desc: true}, {Column: "created_at"}}},
			[]string{"principalName:desc", "createdAt:asc"}},
		{"comma-separated keys", pagination.Request{Sort: []string{"id:desc, createdAt:desc"}},
			store.OffsetPage{Size: 20, Sort: []store.SortKey{{Column: "id", Desc: true}, {Column: "created_at", Desc: true}}},
			[]string{"id:desc", "createdAt:desc"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			page, order, err := pagination.Parse(c.req, fields, def)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(page, c.page) || !reflect.DeepEqual(order, c.order) {
				t.Errorf("Parse = %+v %v, want %+v %v", page, order, c.page, c.order)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		req  pagination.Request
		says string
	}{
		"negative page":     {pagination.Request{Page: ip(-1)}, `"page"`},
		"size 0":            {pagination.Request{Size: ip(0)}, `"size"`},
		"size 101":          {pagination.Request{Size: ip(101)}, `"size"`},
		"unknown field":     {pagination.Request{Sort: []string{"color:asc"}}, `"color"`},
		"empty field":       {pagination.Request{Sort: []string{":asc"}}, `""`},
		"column name":       {pagination.Request{Sort: []string{"principalname"}}, `"principalname"`},
		"bad direction":     {pagination.Request{Sort: []string{"id:up"}}, `"up"`},
		"field twice":       {pagination.Request{Sort: []string{"id", "id:desc"}}, "twice"},
		"alias and name":    {pagination.Request{Sort: []string{"created_at", "createdAt:desc"}}, "twice"},
		"trailing comma":    {pagination.Request{Sort: []string{"id,"}}, `""`},
		"empty sort value":  {pagination.Request{Sort: []string{""}}, `""`},
		"direction only":    {pagination.Request{Sort: []string{"desc"}}, `"desc"`},
		"space in the name": {pagination.Request{Sort: []string{"created At"}}, `"created At"`},
	} {
		_, _, err := pagination.Parse(c.req, fields, def)
		e, ok := apierror.As(err)
		if !ok || e.Status != 400 || !strings.Contains(e.Description, c.says) {
			t.Errorf("%s: error %v, want a 400 mentioning %s", name, err, c.says)
		}
	}
}

// TestParseKeyLimit: a sort of more keys than MaxSortKeys is refused, one
// of exactly MaxSortKeys is not.
func TestParseKeyLimit(t *testing.T) {
	t.Parallel()
	var many []pagination.Field
	var keys []string
	for i := range pagination.MaxSortKeys + 1 {
		name := string(rune('a' + i))
		many = append(many, pagination.Field{Name: name, Column: name})
		keys = append(keys, name)
	}
	if _, _, err := pagination.Parse(pagination.Request{Sort: keys[:pagination.MaxSortKeys]}, many, nil); err != nil {
		t.Errorf("%d keys: %v", pagination.MaxSortKeys, err)
	}
	if _, _, err := pagination.Parse(pagination.Request{Sort: keys}, many, nil); err == nil {
		t.Errorf("%d keys accepted", len(keys))
	}
}

func TestOf(t *testing.T) {
	t.Parallel()
	p := pagination.Of[string](nil, 7, store.OffsetPage{Number: 2, Size: 3}, []string{"id:asc"})
	if p.Items == nil || len(p.Items) != 0 || p.Total != 7 || p.Number != 2 || p.Size != 3 || !reflect.DeepEqual(p.Sort, []string{"id:asc"}) {
		t.Errorf("Of = %+v", p)
	}
}
