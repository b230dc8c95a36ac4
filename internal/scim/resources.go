package scim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Meta is a resource's meta attribute (RFC 7643, section 3.1).
type Meta struct {
	ResourceType string `json:"resourceType"`
	Created      string `json:"created"`
	LastModified string `json:"lastModified"`
	Location     string `json:"location"`
	Version      string `json:"version"`
}

// Name is the User's name (RFC 7643, section 4.1.1).
type Name struct {
	Formatted       string `json:"formatted,omitempty"`
	FamilyName      string `json:"familyName,omitempty"`
	GivenName       string `json:"givenName,omitempty"`
	MiddleName      string `json:"middleName,omitempty"`
	HonorificPrefix string `json:"honorificPrefix,omitempty"`
	HonorificSuffix string `json:"honorificSuffix,omitempty"`
}

// Email is one of a User's emails (RFC 7643, section 4.1.2).
type Email struct {
	Value   string `json:"value"`
	Display string `json:"display,omitempty"`
	Type    string `json:"type,omitempty"`
	Primary bool   `json:"primary,omitempty"`
}

// Ref is a reference to another resource: a User's groups, a Group's
// members, the enterprise extension's manager.
type Ref struct {
	Value   string `json:"value"`
	Ref     string `json:"$ref,omitempty"`
	Display string `json:"display,omitempty"`
	Type    string `json:"type,omitempty"`
}

// Enterprise is the enterprise User extension (RFC 7643, section 4.3).
type Enterprise struct {
	EmployeeNumber string   `json:"employeeNumber,omitempty"`
	CostCenter     string   `json:"costCenter,omitempty"`
	Organization   string   `json:"organization,omitempty"`
	Division       string   `json:"division,omitempty"`
	Department     string   `json:"department,omitempty"`
	Manager        *Manager `json:"manager,omitempty"`
}

// Manager is the enterprise extension's manager: another User.
type Manager struct {
	Value       string `json:"value,omitempty"`
	Ref         string `json:"$ref,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
}

// User is a SCIM User as Gatehouse keeps it: userName is the user's
// subject (an address of the organization's verified domain), active its
// state; the rest is the directory's (store.SCIMRecord).
type User struct {
	Schemas     []string    `json:"schemas"`
	ID          string      `json:"id,omitempty"`
	ExternalID  string      `json:"externalId,omitempty"`
	UserName    string      `json:"userName"`
	Name        *Name       `json:"name,omitempty"`
	DisplayName string      `json:"displayName,omitempty"`
	Active      *Bool       `json:"active,omitempty"`
	Emails      []Email     `json:"emails,omitempty"`
	Groups      []Ref       `json:"groups,omitempty"`
	Enterprise  *Enterprise `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User,omitempty"`
	Meta        *Meta       `json:"meta,omitempty"`
}

// Bool is a SCIM boolean. It also takes the strings "true" and "false" in
// any case: Microsoft Entra ID's provisioning sends "active" so ("False")
// in PATCH requests unless told otherwise, and refusing it would leave its
// leavers active. Any other string, and any other type, is refused.
type Bool bool

// UnmarshalJSON reads a JSON boolean, or "true"/"false" as text.
func (b *Bool) UnmarshalJSON(raw []byte) error {
	var v bool
	if err := json.Unmarshal(raw, &v); err == nil {
		*b = Bool(v)
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		switch strings.ToLower(s) {
		case "true":
			*b = true
			return nil
		case "false":
			*b = false
			return nil
		}
	}
	return &json.UnmarshalTypeError{Value: string(raw), Type: reflect.TypeFor[bool](), Field: "active"}
}

// Group is a SCIM Group: a group of the organization the directory made.
type Group struct {
	Schemas     []string `json:"schemas"`
	ID          string   `json:"id,omitempty"`
	ExternalID  string   `json:"externalId,omitempty"`
	DisplayName string   `json:"displayName"`
	Members     []Ref    `json:"members,omitempty"`
	Meta        *Meta    `json:"meta,omitempty"`
}

// userAttributes are the directory's attributes of a user kept in its
// record (store.SCIMRecord.Attributes).
type userAttributes struct {
	Name        *Name       `json:"name,omitempty"`
	DisplayName string      `json:"displayName,omitempty"`
	Emails      []Email     `json:"emails,omitempty"`
	Enterprise  *Enterprise `json:"enterprise,omitempty"`
}

// groupAttributes are those of a group.
type groupAttributes struct {
	DisplayName string `json:"displayName"`
}

// The top-level attributes a request may carry, lower-cased (SCIM names
// are case-insensitive, RFC 7643 section 2.1): those Gatehouse keeps, the
// read-only ones it ignores (RFC 7644, section 3.5.1: "readOnly" values
// SHALL be ignored), and the other core User attributes of RFC 7643, which
// it accepts and does not keep (its Schemas say which it keeps). Any other
// name is refused: a typo must not be taken silently.
var (
	userKept   = []string{"schemas", "externalid", "username", "name", "displayname", "active", "emails", strings.ToLower(SchemaEnterprise)}
	userIgnore = []string{"id", "meta", "groups", "nickname", "profileurl", "title", "usertype", "preferredlanguage", "locale",
		"timezone", "phonenumbers", "ims", "photos", "addresses", "entitlements", "roles", "x509certificates"}
	groupKept   = []string{"schemas", "externalid", "displayname", "members"}
	groupIgnore = []string{"id", "meta"}
)

// decodeStrict decodes a request body into v (a *User or *Group): one JSON
// object, whose top-level names are kept, ignored or refused as above,
// and whose kept attributes hold exactly their schema's sub-attributes of
// the right types. Any failure is a 400 naming the attribute.
func decodeStrict(body []byte, v any, kept, ignore []string, schema string) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return badRequest(InvalidSyntax, "the request body is not a JSON object: %s", jsonProblem(err))
	}
	clean := make(map[string]json.RawMessage, len(top))
	for k, raw := range top {
		lk := strings.ToLower(k)
		switch {
		case slices.Contains(kept, lk):
			clean[k] = raw
		case slices.Contains(ignore, lk):
		case lk == "password":
			return badRequest(InvalidValue, "password: Gatehouse takes no passwords from a directory (people sign in through the organization's identity provider or set their own)")
		default:
			return badRequest(InvalidSyntax, "unknown attribute %q: %s does not have it", k, schema)
		}
	}
	b, err := json.Marshal(clean)
	if err != nil {
		return fmt.Errorf("re-encode request: %w", err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return badRequest(InvalidValue, "%s", jsonProblem(err))
	}
	return nil
}

// jsonProblem says what encoding/json found wrong, in the request's terms.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case err == nil:
		return "null or not an object"
	case asErr(err, &te):
		field := te.Field
		if field == "" {
			field = "the body"
		}
		return fmt.Sprintf("%s: %s is not a valid value (want %s)", field, te.Value, te.Type)
	case asErr(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, se)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return "unknown sub-attribute " + f
	}
	return strings.TrimPrefix(msg, "json: ")
}

// hasSchema reports whether schemas names want (case-insensitively: URNs
// compare so).
func hasSchema(schemas []string, want string) bool {
	for _, s := range schemas {
		if strings.EqualFold(s, want) {
			return true
		}
	}
	return false
}

// checkSchemas refuses a resource whose schemas do not name its core schema
// or name one Gatehouse does not know for it.
func checkSchemas(schemas []string, core string, allowed ...string) error {
	if !hasSchema(schemas, core) {
		return badRequest(InvalidValue, "schemas must include %q", core)
	}
	for _, s := range schemas {
		if !strings.EqualFold(s, core) && !slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(a, s) }) {
			return badRequest(InvalidValue, "schemas: %q is not a schema of this resource", s)
		}
	}
	return nil
}
