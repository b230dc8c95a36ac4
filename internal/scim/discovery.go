package scim

// Discovery (RFC 7644, section 4): what this service provider supports and
// the schemas of the attributes it keeps. Built from the base URL of the
// request's organization, so every location is absolute.

// MaxResults is the largest page a list answers (count above it is
// lowered to it), and the ServiceProviderConfig says so.
const MaxResults = 200

func serviceProviderConfig(base string) map[string]any {
	return map[string]any{
		"schemas":          []string{SchemaSPConfig},
		"documentationUri": "https://github.com/gatehouse/gatehouse/blob/main/docs/SCIM.md",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": MaxResults},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": true},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []map[string]any{{
			"type": "oauthbearertoken", "name": "Bearer token",
			"description": "A Gatehouse API key of the organization bound to the scim-provisioner role (Authorization: Bearer ghak_...).",
			"primary":     true,
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": base + "/ServiceProviderConfig"},
	}
}

func resourceTypes(base string) []map[string]any {
	return []map[string]any{
		{
			"schemas": []string{SchemaResType}, "id": "User", "name": "User", "endpoint": "/Users",
			"description": "A person of the organization's verified domain", "schema": SchemaUser,
			"schemaExtensions": []map[string]any{{"schema": SchemaEnterprise, "required": false}},
			"meta":             map[string]any{"resourceType": "ResourceType", "location": base + "/ResourceTypes/User"},
		},
		{
			"schemas": []string{SchemaResType}, "id": "Group", "name": "Group", "endpoint": "/Groups",
			"description": "A group of the organization made by its directory", "schema": SchemaGroup,
			"schemaExtensions": []map[string]any{},
			"meta":             map[string]any{"resourceType": "ResourceType", "location": base + "/ResourceTypes/Group"},
		},
	}
}

// attr describes one attribute in a Schema answer.
func attr(name, typ string, multi, required bool, mutability, uniqueness string, caseExact bool, sub ...map[string]any) map[string]any {
	a := map[string]any{
		"name": name, "type": typ, "multiValued": multi, "required": required, "caseExact": caseExact,
		"mutability": mutability, "returned": "default", "uniqueness": uniqueness, "description": name,
	}
	if len(sub) > 0 {
		a["subAttributes"] = sub
	}
	if typ == "reference" {
		a["referenceTypes"] = []string{"User", "Group"}
	}
	return a
}

func str(name string) map[string]any {
	return attr(name, "string", false, false, "readWrite", "none", false)
}

func schemas(base string) []map[string]any {
	rw, ro := "readWrite", "readOnly"
	meta := func(id string) map[string]any {
		return map[string]any{"resourceType": "Schema", "location": base + "/Schemas/" + id}
	}
	user := map[string]any{
		"schemas": []string{SchemaSchema}, "id": SchemaUser, "name": "User", "description": "User Account",
		"attributes": []map[string]any{
			attr("userName", "string", false, true, rw, "server", false),
			attr("name", "complex", false, false, rw, "none", false,
				str("formatted"), str("familyName"), str("givenName"), str("middleName"), str("honorificPrefix"), str("honorificSuffix")),
			str("displayName"),
			attr("active", "boolean", false, false, rw, "none", false),
			attr("emails", "complex", true, false, rw, "none", false,
				str("value"), str("display"), str("type"), attr("primary", "boolean", false, false, rw, "none", false)),
			attr("groups", "complex", true, false, ro, "none", false,
				attr("value", "string", false, false, ro, "none", true), attr("$ref", "reference", false, false, ro, "none", true),
				attr("display", "string", false, false, ro, "none", false), attr("type", "string", false, false, ro, "none", false)),
		},
		"meta": meta(SchemaUser),
	}
	group := map[string]any{
		"schemas": []string{SchemaSchema}, "id": SchemaGroup, "name": "Group", "description": "Group",
		"attributes": []map[string]any{
			attr("displayName", "string", false, true, rw, "none", false),
			attr("members", "complex", true, false, rw, "none", false,
				attr("value", "string", false, false, "immutable", "none", true), attr("$ref", "reference", false, false, "immutable", "none", true),
				attr("display", "string", false, false, ro, "none", false), attr("type", "string", false, false, "immutable", "none", false)),
		},
		"meta": meta(SchemaGroup),
	}
	enterprise := map[string]any{
		"schemas": []string{SchemaSchema}, "id": SchemaEnterprise, "name": "EnterpriseUser", "description": "Enterprise User",
		"attributes": []map[string]any{
			str("employeeNumber"), str("costCenter"), str("organization"), str("division"), str("department"),
			attr("manager", "complex", false, false, rw, "none", false,
				attr("value", "string", false, false, rw, "none", true), attr("$ref", "reference", false, false, rw, "none", true),
				attr("displayName", "string", false, false, ro, "none", false)),
		},
		"meta": meta(SchemaEnterprise),
	}
	return []map[string]any{user, group, enterprise}
}

// listOf wraps resources in a ListResponse.
func listOf[T any](items []T, total, start int) map[string]any {
	return map[string]any{"schemas": []string{SchemaList}, "totalResults": total, "startIndex": start,
		"itemsPerPage": len(items), "Resources": items}
}
