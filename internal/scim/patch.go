package scim

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// PATCH (RFC 7644, section 3.5.2) is applied to the resource's JSON form
// (what a GET answers, read-only attributes removed), and the result is
// decoded and checked exactly as a PUT body would be: one set of rules for
// both, and a PATCH cannot write what a PUT could not.

// maxPatchOperations bounds one request's operations (a whole body is
// already at most 1 MiB).
const maxPatchOperations = 1000

// patchRequest is the PatchOp message.
type patchRequest struct {
	Schemas    []string  `json:"schemas"`
	Operations []patchOp `json:"Operations"`
}

type patchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
}

// schemaAttrs says, for one resource type, which top-level attributes a
// PATCH may name: kept (written), ignored (accepted, not kept), read-only
// (refused: mutability), and which are multi-valued.
type schemaAttrs struct {
	kept, ignored, readOnly, multi []string
}

var (
	userPatch = schemaAttrs{
		kept:     []string{"externalid", "username", "name", "displayname", "active", "emails", strings.ToLower(SchemaEnterprise)},
		ignored:  userIgnore[3:], // the core attributes Gatehouse does not keep (after id, meta, groups)
		readOnly: []string{"id", "meta", "groups", "schemas"},
		multi:    []string{"emails", "groups"},
	}
	groupPatch = schemaAttrs{
		kept:     []string{"externalid", "displayname", "members"},
		readOnly: []string{"id", "meta", "schemas"},
		multi:    []string{"members"},
	}
)

// decodePatch reads a PatchOp body.
func decodePatch(body []byte) (*patchRequest, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	var p patchRequest
	if err := d.Decode(&p); err != nil {
		return nil, badRequest(InvalidSyntax, "the PATCH body is not a PatchOp message: %s", jsonProblem(err))
	}
	if !hasSchema(p.Schemas, SchemaPatch) {
		return nil, badRequest(InvalidSyntax, "schemas must include %q", SchemaPatch)
	}
	if len(p.Operations) == 0 {
		return nil, badRequest(InvalidSyntax, "Operations is empty")
	}
	if len(p.Operations) > maxPatchOperations {
		return nil, badRequest(TooMany, "more than %d operations in one PATCH", maxPatchOperations)
	}
	return &p, nil
}

// applyPatch applies p's operations in order to res.
func applyPatch(res map[string]any, p *patchRequest, attrs schemaAttrs) error {
	for i, op := range p.Operations {
		if err := applyOp(res, op, attrs); err != nil {
			if e, ok := err.(*Error); ok {
				e.Detail = "Operations[" + itoa(i) + "]: " + e.Detail
			}
			return err
		}
	}
	return nil
}

func applyOp(res map[string]any, op patchOp, attrs schemaAttrs) error {
	kind := strings.ToLower(op.Op)
	if kind != "add" && kind != "replace" && kind != "remove" {
		return badRequest(InvalidSyntax, "op %q is not add, replace or remove", op.Op)
	}
	var value any
	if len(op.Value) > 0 {
		if err := json.Unmarshal(op.Value, &value); err != nil {
			return badRequest(InvalidSyntax, "value: %s", jsonProblem(err))
		}
	}
	if op.Path == "" {
		if kind == "remove" {
			return badRequest(NoTarget, "remove needs a path")
		}
		obj, ok := value.(map[string]any)
		if !ok {
			return badRequest(InvalidValue, "%s without a path needs an object value", kind)
		}
		// Each member is an operation on the attribute it names ("name",
		// "name.givenName", or the enterprise extension's URN).
		for k, v := range obj {
			if slices.Contains(attrs.readOnly, strings.ToLower(k)) {
				// Okta renames a group with {"id": …, "displayName": …}:
				// read-only attributes given their present value are
				// ignored (RFC 7644, section 3.5.1); another id is a
				// change it may not make.
				if strings.EqualFold(k, "id") {
					if _, cur, _ := lookup(res, "id"); cur != v {
						return badRequest(Mutability, "id is read-only")
					}
				}
				continue
			}
			if strings.EqualFold(k, SchemaEnterprise) {
				if err := applyAt(res, []string{SchemaEnterprise}, nil, kind, v, attrs); err != nil {
					return err
				}
				continue
			}
			path, err := filter.ParsePath([]byte(k))
			if err != nil {
				return badRequest(InvalidPath, "%q is not an attribute path: %v", k, err)
			}
			if err := applyAt(res, attrKey(path.AttributePath), path.ValueExpression, kind, v, attrs); err != nil {
				return err
			}
		}
		return nil
	}
	path, err := filter.ParsePath([]byte(op.Path))
	if err != nil {
		return badRequest(InvalidPath, "%q is not an attribute path: %v", op.Path, err)
	}
	keys := attrKey(path.AttributePath)
	if path.ValueExpression != nil && path.SubAttribute != nil {
		keys = append(keys, *path.SubAttribute)
	}
	if len(op.Value) == 0 && kind != "remove" {
		return badRequest(InvalidValue, "%s needs a value", kind)
	}
	return applyAt(res, keys, path.ValueExpression, kind, value, attrs)
}

// applyAt applies one operation at keys (the first is the top-level
// attribute, or the extension's URN); where, when set, selects elements of
// the multi-valued attribute keys[0] (and keys[1], if any, is the
// sub-attribute of those elements).
func applyAt(res map[string]any, keys []string, where filter.Expression, kind string, value any, attrs schemaAttrs) error {
	top := strings.ToLower(keys[0])
	switch {
	case slices.Contains(attrs.ignored, top):
		return nil // accepted, not kept (see userIgnore)
	case slices.Contains(attrs.readOnly, top):
		return badRequest(Mutability, "%s is read-only", keys[0])
	case !slices.Contains(attrs.kept, top):
		return badRequest(InvalidPath, "unknown attribute %q", keys[0])
	}
	if where != nil {
		return applyFiltered(res, keys, where, kind, value)
	}
	// Walk to the container of the last key, making objects on the way
	// for add and replace.
	container := res
	for _, k := range keys[:len(keys)-1] {
		name, next, ok := lookup(container, k)
		m, isMap := next.(map[string]any)
		if !ok || !isMap {
			if kind == "remove" {
				return nil // nothing there to remove
			}
			if ok && !isMap {
				return badRequest(InvalidPath, "%s has no sub-attributes", k)
			}
			m = map[string]any{}
			name = k
			container[name] = m
		}
		container = m
	}
	last := keys[len(keys)-1]
	name, cur, exists := lookup(container, last)
	if !exists {
		name = last
	}
	multi := len(keys) == 1 && slices.Contains(attrs.multi, top)
	switch kind {
	case "remove":
		if multi && value != nil && exists {
			// Remove the listed values (Entra ID removes group members so).
			container[name] = withoutValues(asList(cur), asList(value))
			return nil
		}
		delete(container, name)
	case "add":
		switch {
		case multi:
			container[name] = withValues(asList(cur), asList(value))
		case isObject(cur) && isObject(value):
			merge(cur.(map[string]any), value.(map[string]any))
		default:
			container[name] = value
		}
	case "replace":
		switch {
		case multi:
			container[name] = asList(value)
		case isObject(cur) && isObject(value):
			merge(cur.(map[string]any), value.(map[string]any))
		default:
			container[name] = value
		}
	}
	return nil
}

// applyFiltered applies an operation to the elements of a multi-valued
// attribute that where selects: members[value eq "…"],
// emails[type eq "work"].value.
func applyFiltered(res map[string]any, keys []string, where filter.Expression, kind string, value any) error {
	if kind == "add" {
		return badRequest(InvalidPath, "add cannot select elements with a filter; add to %s itself", keys[0])
	}
	name, cur, _ := lookup(res, keys[0])
	list, _ := cur.([]any)
	var kept []any
	matched := 0
	for _, el := range list {
		m, ok := el.(map[string]any)
		if !ok || !matches(where, m) {
			kept = append(kept, el)
			continue
		}
		matched++
		switch {
		case kind == "remove" && len(keys) == 1:
			continue // the element goes
		case kind == "remove":
			if k, _, ok := lookup(m, keys[1]); ok {
				delete(m, k)
			}
		case len(keys) == 1:
			obj, ok := value.(map[string]any)
			if !ok {
				return badRequest(InvalidValue, "replacing elements of %s needs an object value", keys[0])
			}
			el = obj
		default:
			k, _, ok := lookup(m, keys[1])
			if !ok {
				k = keys[1]
			}
			m[k] = value
		}
		kept = append(kept, el)
	}
	if matched == 0 {
		if kind == "remove" {
			return nil // already gone: deprovisioning stays idempotent
		}
		return badRequest(NoTarget, "no element of %s matches the filter", keys[0])
	}
	if name == "" {
		name = keys[0]
	}
	res[name] = kept
	return nil
}

func isObject(v any) bool { _, ok := v.(map[string]any); return ok }

// merge writes the members of src into dst (sub-attributes of a complex
// attribute: add and replace both set those given, keep the others).
func merge(dst, src map[string]any) {
	for k, v := range src {
		if name, _, ok := lookup(dst, k); ok {
			dst[name] = v
		} else {
			dst[k] = v
		}
	}
}

// asList is v as a list: a single value is a list of one.
func asList(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	}
	return []any{v}
}

// refValue is an element's "value" sub-attribute (a member's ID, an
// email's address), "" if none.
func refValue(el any) string {
	m, ok := el.(map[string]any)
	if !ok {
		return ""
	}
	_, v, _ := lookup(m, "value")
	s, _ := v.(string)
	return s
}

// withValues appends add to list, skipping elements whose value is there
// already (adding a member twice is adding it once).
func withValues(list, add []any) []any {
	out := append([]any(nil), list...)
	for _, el := range add {
		v := refValue(el)
		if v != "" && slices.ContainsFunc(out, func(e any) bool { return strings.EqualFold(refValue(e), v) }) {
			continue
		}
		out = append(out, el)
	}
	return out
}

// withoutValues removes from list the elements whose value one of remove's
// has.
func withoutValues(list, remove []any) []any {
	var out []any
	for _, el := range list {
		v := refValue(el)
		if slices.ContainsFunc(remove, func(r any) bool { return v != "" && strings.EqualFold(refValue(r), v) }) {
			continue
		}
		out = append(out, el)
	}
	return out
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
