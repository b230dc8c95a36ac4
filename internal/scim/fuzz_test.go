package scim

import (
	"encoding/json"
	"testing"
)

// FuzzFilter: any filter text is parsed and evaluated, or refused with a
// 400 invalidFilter; never a panic. (Seeds run with go test; CI does not
// fuzz it.)
func FuzzFilter(f *testing.F) {
	for _, s := range []string{`userName eq "a"`, `emails[type eq "work" and value co "@"]`, `not (a pr) or b.c gt "x"`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x"`, `((((a eq 1))))`, `a eq null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var res map[string]any
		_ = json.Unmarshal([]byte(jo), &res)
		e, err := parseFilter(s)
		if err != nil {
			if se, ok := err.(*Error); !ok || se.Status != 400 || se.ScimType != InvalidFilter {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		_ = matches(e, res)
		_ = sortResources([]map[string]any{res, res}, "emails.value", "descending")
	})
}

// FuzzPatch: any PatchOp body is applied or refused with a 400; the
// result is decoded as a PUT would be; never a panic.
func FuzzPatch(f *testing.F) {
	for _, s := range []string{
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"emails[type eq \"home\"]"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"name.givenName","value":"x"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"emails[type eq \"work\"].value","value":1}]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var res map[string]any
		_ = json.Unmarshal([]byte(jo), &res)
		p, err := decodePatch([]byte(body))
		if err == nil {
			err = applyPatch(res, p, userPatch)
		}
		if err == nil {
			b, _ := json.Marshal(res)
			var u User
			err = decodeStrict(b, &u, userKept, userIgnore, SchemaUser)
		}
		if err != nil {
			if se, ok := err.(*Error); !ok || se.Status != 400 {
				t.Fatalf("%q: %v", body, err)
			}
		}
	})
}
