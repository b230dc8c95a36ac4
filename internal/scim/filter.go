package scim

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// Filters (RFC 7644, section 3.4.2.2) are parsed by scim2/filter-parser and
// evaluated here over a resource's JSON form (what a GET answers), so every
// attribute a client can read can be filtered and sorted on, with the same
// names. String comparisons ignore case except on the caseExact attributes
// (RFC 7643: id, externalId, meta.version and the references' values).

// maxFilterLength bounds a filter's text: the parser is recursive, and a
// directory's filters are short.
const maxFilterLength = 4096

var caseExact = map[string]bool{"id": true, "externalid": true, "meta.version": true, "members.value": true, "groups.value": true}

// parseFilter parses a filter parameter; "" is no filter.
func parseFilter(s string) (filter.Expression, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > maxFilterLength {
		return nil, badRequest(InvalidFilter, "the filter is longer than %d bytes", maxFilterLength)
	}
	e, err := filter.ParseFilter([]byte(s))
	if err != nil {
		return nil, badRequest(InvalidFilter, "the filter %q cannot be parsed: %v", s, err)
	}
	if err := checkOperators(e); err != nil {
		return nil, err
	}
	return e, nil
}

// checkOperators refuses comparisons whose value does not fit the operator:
// co, sw and ew compare strings.
func checkOperators(e filter.Expression) error {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		if err := checkOperators(x.Left); err != nil {
			return err
		}
		return checkOperators(x.Right)
	case *filter.NotExpression:
		return checkOperators(x.Expression)
	case *filter.ValuePath:
		return checkOperators(x.ValueFilter)
	case *filter.AttributeExpression:
		switch x.Operator {
		case filter.CO, filter.SW, filter.EW:
			if _, ok := x.CompareValue.(string); !ok {
				return badRequest(InvalidFilter, "%s compares strings, not %v", x.Operator, x.CompareValue)
			}
		}
	}
	return nil
}

// attrKey is an attribute path's key in a resource's JSON form: the
// enterprise extension's attributes live in their schema's object.
func attrKey(p filter.AttributePath) []string {
	var keys []string
	if uri := p.URI(); uri != "" && !strings.EqualFold(uri, SchemaUser) && !strings.EqualFold(uri, SchemaGroup) {
		keys = append(keys, uri)
	}
	keys = append(keys, p.AttributeName)
	if p.SubAttribute != nil {
		keys = append(keys, *p.SubAttribute)
	}
	return keys
}

// lookup finds key in m ignoring case.
func lookup(m map[string]any, key string) (string, any, bool) {
	if v, ok := m[key]; ok {
		return key, v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return k, v, true
		}
	}
	return "", nil, false
}

// values are the values at keys in v: every element of a multi-valued
// attribute along the way contributes (emails.value is each email's).
func values(v any, keys []string) []any {
	if len(keys) == 0 {
		if arr, ok := v.([]any); ok {
			return arr
		}
		if v == nil {
			return nil
		}
		return []any{v}
	}
	switch x := v.(type) {
	case map[string]any:
		_, next, ok := lookup(x, keys[0])
		if !ok {
			return nil
		}
		return values(next, keys[1:])
	case []any:
		var out []any
		for _, e := range x {
			out = append(out, values(e, keys)...)
		}
		return out
	}
	return nil
}

// matches evaluates e on the resource res (its JSON form).
func matches(e filter.Expression, res map[string]any) bool {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		if x.Operator == filter.AND {
			return matches(x.Left, res) && matches(x.Right, res)
		}
		return matches(x.Left, res) || matches(x.Right, res)
	case *filter.NotExpression:
		return !matches(x.Expression, res)
	case *filter.ValuePath:
		// emails[type eq "work" and value co "@x"]: one element must
		// match the whole inner filter.
		for _, el := range values(res, attrKey(x.AttributePath)) {
			if m, ok := el.(map[string]any); ok && matches(x.ValueFilter, m) {
				return true
			}
		}
		return false
	case *filter.AttributeExpression:
		keys := attrKey(x.AttributePath)
		exact := caseExact[strings.ToLower(strings.Join(keys, "."))]
		vals := values(res, keys)
		if x.Operator == filter.PR {
			for _, v := range vals {
				if s, ok := v.(string); !ok || s != "" {
					return true
				}
			}
			return false
		}
		for _, v := range vals {
			if compare(v, x.Operator, x.CompareValue, exact) {
				return true
			}
		}
		return false
	}
	return false
}

// compare applies op to an attribute value and the filter's value.
func compare(v any, op filter.CompareOperator, want any, exact bool) bool {
	switch w := want.(type) {
	case string:
		s, ok := v.(string)
		if !ok {
			return op == filter.NE
		}
		w = unescape(w)
		if !exact {
			s, w = strings.ToLower(s), strings.ToLower(w)
		}
		switch op {
		case filter.EQ:
			return s == w
		case filter.NE:
			return s != w
		case filter.CO:
			return strings.Contains(s, w)
		case filter.SW:
			return strings.HasPrefix(s, w)
		case filter.EW:
			return strings.HasSuffix(s, w)
		case filter.GT:
			return s > w
		case filter.GE:
			return s >= w
		case filter.LT:
			return s < w
		case filter.LE:
			return s <= w
		}
	case bool:
		b, ok := v.(bool)
		switch op {
		case filter.EQ:
			return ok && b == w
		case filter.NE:
			return !ok || b != w
		}
	case nil:
		switch op {
		case filter.EQ:
			return v == nil
		case filter.NE:
			return v != nil
		}
	default:
		// Numbers: Gatehouse's resources have none; equality on the
		// text keeps the answer defined.
		switch op {
		case filter.EQ:
			return fmt.Sprint(v) == fmt.Sprint(w)
		case filter.NE:
			return fmt.Sprint(v) != fmt.Sprint(w)
		}
	}
	return false
}

// unescape undoes the JSON escapes the parser leaves in a compared string
// ("a\"b" is a"b); text that is not a valid JSON string stays as it is.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var out string
	if json.Unmarshal([]byte(`"`+s+`"`), &out) == nil {
		return out
	}
	return s
}

// sortKey is the value a resource sorts by for sortBy (RFC 7644, section
// 3.4.2.3): the attribute's value, for a multi-valued one its primary (or
// first) value; resources without one sort last.
func sortKey(res map[string]any, path filter.AttributePath) (string, bool) {
	keys := attrKey(path)
	var vals []any
	if _, top, ok := lookup(res, keys[0]); ok {
		if arr, ok := top.([]any); ok && len(arr) > 0 {
			pick := arr[0]
			for _, el := range arr {
				if m, ok := el.(map[string]any); ok && m["primary"] == true {
					pick = el
					break
				}
			}
			vals = values(pick, keys[1:])
		} else {
			vals = values(top, keys[1:])
		}
	}
	if len(vals) == 0 {
		return "", false
	}
	s, ok := vals[0].(string)
	if !ok {
		s = fmt.Sprint(vals[0])
	}
	if !caseExact[strings.ToLower(strings.Join(keys, "."))] {
		s = strings.ToLower(s)
	}
	return s, true
}

// sortResources orders res by sortBy ("" keeps the creation order).
func sortResources(res []map[string]any, sortBy, order string) error {
	if sortBy == "" {
		return nil
	}
	p, err := filter.ParseAttrPath([]byte(sortBy))
	if err != nil {
		return badRequest(InvalidValue, "sortBy %q is not an attribute path: %v", sortBy, err)
	}
	desc := false
	switch strings.ToLower(order) {
	case "", "ascending":
	case "descending":
		desc = true
	default:
		return badRequest(InvalidValue, "sortOrder must be ascending or descending, not %q", order)
	}
	type keyed struct {
		k   string
		has bool
	}
	keys := make([]keyed, len(res))
	for i, r := range res {
		k, has := sortKey(r, p)
		keys[i] = keyed{k, has}
	}
	idx := make([]int, len(res))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ka, kb := keys[idx[a]], keys[idx[b]]
		if ka.has != kb.has {
			return ka.has
		}
		if desc {
			return ka.k > kb.k
		}
		return ka.k < kb.k
	})
	sorted := make([]map[string]any, len(res))
	for i, j := range idx {
		sorted[i] = res[j]
	}
	copy(res, sorted)
	return nil
}
