package scim

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

func resource(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

const jo = `{"id":"u1","externalId":"Ext-1","userName":"jo@acme.example","active":true,
	"name":{"givenName":"Jo","familyName":"Doe"},
	"emails":[{"value":"jo@acme.example","type":"work","primary":true},{"value":"j@acme.example","type":"home"}],
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"R&D"},
	"meta":{"lastModified":"2026-01-02T03:04:05Z"}}`

// TestFilter: the filter language of RFC 7644, section 3.4.2.2, evaluated
// on a resource's JSON form.
func TestFilter(t *testing.T) {
	t.Parallel()
	res := resource(t, jo)
	for _, c := range []struct {
		filter string
		want   bool
	}{
		{`userName eq "jo@acme.example"`, true},
		{`USERNAME eq "JO@ACME.EXAMPLE"`, true}, // names and (not caseExact) values ignore case
		{`userName eq "al@acme.example"`, false},
		{`userName ne "al@acme.example"`, true},
		{`externalId eq "Ext-1"`, true},
		{`externalId eq "ext-1"`, false}, // caseExact
		{`userName co "@acme"`, true},
		{`userName sw "jo@"`, true},
		{`userName ew ".example"`, true},
		{`userName sw "al"`, false},
		{`active eq true`, true},
		{`active eq false`, false},
		{`name.givenName pr`, true},
		{`name.middleName pr`, false},
		{`title pr`, false},
		{`emails.value eq "j@acme.example"`, true},
		{`emails[type eq "home" and value sw "j@"]`, true},
		{`emails[type eq "home" and value sw "jo@"]`, false},
		{`emails[type eq "work"]`, true},
		{`userName eq "x" or active eq true`, true},
		{`userName eq "x" and active eq true`, false},
		{`not (userName eq "x")`, true},
		{`(userName eq "x" or name.familyName eq "doe") and active eq true`, true},
		{`meta.lastModified gt "2026-01-01T00:00:00Z"`, true},
		{`meta.lastModified lt "2026-01-01T00:00:00Z"`, false},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d"`, true},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "jo@acme.example"`, true},
		{`userName eq "jo\u0040acme.example"`, true}, // JSON escapes in the value
	} {
		e, err := parseFilter(c.filter)
		if err != nil {
			t.Errorf("%s: %v", c.filter, err)
			continue
		}
		if got := matches(e, res); got != c.want {
			t.Errorf("%s = %v, want %v", c.filter, got, c.want)
		}
	}
	for _, bad := range []string{`userName eq`, `userName zz "x"`, `(userName eq "x"`, `active co true`, string(make([]byte, maxFilterLength+1))} {
		if _, err := parseFilter(bad); err == nil {
			t.Errorf("%.40q parsed", bad)
		} else if e, ok := err.(*Error); !ok || e.Status != 400 || e.ScimType != InvalidFilter {
			t.Errorf("%.40q: %v", bad, err)
		}
	}
}

// TestPatch: add, replace and remove, with and without paths and filters,
// as Okta and Entra ID send them.
func TestPatch(t *testing.T) {
	t.Parallel()
	group := `{"displayName":"G","members":[{"value":"a"},{"value":"b"}]}`
	for _, c := range []struct {
		name, start string
		ops         string
		attrs       schemaAttrs
		want        string
		scimType    string
	}{
		{"replace without path", `{"active":true,"userName":"x"}`, `[{"op":"replace","value":{"active":false}}]`, userPatch, `{"active":false,"userName":"x"}`, ""},
		{"replace with path, any case", `{"active":true}`, `[{"op":"Replace","path":"ACTIVE","value":false}]`, userPatch, `{"active":false}`, ""},
		{"sub-attribute", `{"name":{"givenName":"a","familyName":"b"}}`, `[{"op":"replace","path":"name.givenName","value":"c"}]`, userPatch, `{"name":{"givenName":"c","familyName":"b"}}`, ""},
		{"complex merge", `{"name":{"givenName":"a","familyName":"b"}}`, `[{"op":"add","value":{"name":{"givenName":"c"}}}]`, userPatch, `{"name":{"givenName":"c","familyName":"b"}}`, ""},
		{"dotted key without path", `{"name":{"givenName":"a"}}`, `[{"op":"replace","value":{"name.familyName":"z"}}]`, userPatch, `{"name":{"givenName":"a","familyName":"z"}}`, ""},
		{"extension by URN path", `{}`, `[{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Ops"}]`, userPatch, `{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Ops"}}`, ""},
		{"extension as a value", `{}`, `[{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Ops"}}}]`, userPatch, `{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Ops"}}`, ""},
		{"filtered sub-attribute", `{"emails":[{"type":"work","value":"a"},{"type":"home","value":"b"}]}`, `[{"op":"replace","path":"emails[type eq \"work\"].value","value":"c"}]`, userPatch, `{"emails":[{"type":"work","value":"c"},{"type":"home","value":"b"}]}`, ""},
		{"ignored attribute", `{"active":true}`, `[{"op":"add","path":"phoneNumbers[type eq \"work\"].value","value":"1"},{"op":"replace","path":"title","value":"x"}]`, userPatch, `{"active":true}`, ""},
		{"add members", group, `[{"op":"add","path":"members","value":[{"value":"c"},{"value":"a"}]}]`, groupPatch, `{"displayName":"G","members":[{"value":"a"},{"value":"b"},{"value":"c"}]}`, ""},
		{"remove member by filter", group, `[{"op":"remove","path":"members[value eq \"a\"]"}]`, groupPatch, `{"displayName":"G","members":[{"value":"b"}]}`, ""},
		{"remove members by value", group, `[{"op":"remove","path":"members","value":[{"value":"b"}]}]`, groupPatch, `{"displayName":"G","members":[{"value":"a"}]}`, ""},
		{"remove all members", group, `[{"op":"remove","path":"members"}]`, groupPatch, `{"displayName":"G"}`, ""},
		{"remove a missing member", group, `[{"op":"remove","path":"members[value eq \"z\"]"}]`, groupPatch, group, ""},
		{"replace members", group, `[{"op":"replace","path":"members","value":[{"value":"z"}]}]`, groupPatch, `{"displayName":"G","members":[{"value":"z"}]}`, ""},
		{"Okta's rename", `{"id":"g1","displayName":"G"}`, `[{"op":"replace","value":{"id":"g1","displayName":"H","schemas":["x"],"meta":{}}}]`, groupPatch, `{"id":"g1","displayName":"H"}`, ""},
		{"another id", `{"id":"g1","displayName":"G"}`, `[{"op":"replace","value":{"id":"g2","displayName":"H"}}]`, groupPatch, "", Mutability},
		{"unknown op", group, `[{"op":"copy","path":"members"}]`, groupPatch, "", InvalidSyntax},
		{"unknown attribute", group, `[{"op":"add","path":"owner","value":"x"}]`, groupPatch, "", InvalidPath},
		{"read-only", group, `[{"op":"replace","path":"id","value":"x"}]`, groupPatch, "", Mutability},
		{"remove without path", group, `[{"op":"remove"}]`, groupPatch, "", NoTarget},
		{"add without value", group, `[{"op":"add","path":"displayName"}]`, groupPatch, "", InvalidValue},
		{"no path, not an object", group, `[{"op":"replace","value":"x"}]`, groupPatch, "", InvalidValue},
		{"filter on add", group, `[{"op":"add","path":"members[value eq \"a\"]","value":{"value":"q"}}]`, groupPatch, "", InvalidPath},
		{"replace what no filter matches", group, `[{"op":"replace","path":"members[value eq \"q\"]","value":{"value":"r"}}]`, groupPatch, "", NoTarget},
		{"bad path", group, `[{"op":"replace","path":"members[","value":1}]`, groupPatch, "", InvalidPath},
	} {
		t.Run(c.name, func(t *testing.T) {
			var ops []patchOp
			if err := json.Unmarshal([]byte(c.ops), &ops); err != nil {
				t.Fatal(err)
			}
			res := resource(t, c.start)
			err := applyPatch(res, &patchRequest{Operations: ops}, c.attrs)
			if c.scimType != "" {
				if e, ok := err.(*Error); !ok || e.ScimType != c.scimType {
					t.Fatalf("error %v, want scimType %s", err, c.scimType)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := resource(t, c.want); !reflect.DeepEqual(res, want) {
				t.Errorf("got %v, want %v", res, want)
			}
		})
	}
}

// TestQuery: startIndex and count are bounded as RFC 7644 section
// 3.4.2.4 says, and by MaxResults.
func TestQuery(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		query        string
		start, count int
		bad          bool
	}{
		{"", 1, MaxResults, false},
		{"startIndex=0&count=-3", 1, 0, false},
		{"startIndex=5&count=10", 5, 10, false},
		{"count=100000", 1, MaxResults, false},
		{"count=x", 0, 0, true},
		{"startIndex=1.5", 0, 0, true},
	} {
		q, err := ParseQuery(httptest.NewRequest("GET", "/Users?"+c.query, nil))
		if (err != nil) != c.bad || !c.bad && (q.StartIndex != c.start || q.Count != c.count) {
			t.Errorf("%q: %+v, %v", c.query, q, err)
		}
	}
}

// TestVersions: ETags follow the last change, and If-Match compares them.
func TestVersions(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := store.Meta{CreatedAt: created}
	v := version(m)
	m.ModifiedAt = created.Add(time.Millisecond)
	if v2 := version(m); v2 == v {
		t.Errorf("version unchanged by a modification: %s", v)
	}
	for _, c := range []struct {
		ifMatch string
		ok      bool
	}{{"", true}, {"*", true}, {version(m), true}, {`"` + "x" + `", ` + version(m), true}, {v, false}, {`W/"1"`, false}} {
		if err := checkIfMatch(c.ifMatch, m); (err == nil) != c.ok {
			t.Errorf("If-Match %q: %v", c.ifMatch, err)
		}
	}
}

// TestDecodeStrict: kept, ignored, refused attributes.
func TestDecodeStrict(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		body     string
		scimType string
	}{
		{`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","title":"x","id":"ignored","meta":{}}`, ""},
		{`{"UserName":"a","ACTIVE":false}`, ""},
		{`{"userName":"a","active":"False"}`, ""},
		{`{"userName":"a","active":"no"}`, InvalidValue},
		{`{"userName":"a","active":1}`, InvalidValue},
		{`{"userName":"a","foo":1}`, InvalidSyntax},
		{`{"userName":"a","password":"x"}`, InvalidValue},
		{`{"userName":"a","name":{"given":"x"}}`, InvalidValue},
		{`{"userName":"a","emails":"x"}`, InvalidValue},
		{`{"userName":`, InvalidSyntax},
		{`null`, InvalidSyntax},
	} {
		var u User
		err := decodeStrict([]byte(c.body), &u, userKept, userIgnore, SchemaUser)
		if c.scimType == "" && err != nil || c.scimType != "" && (err == nil || err.(*Error).ScimType != c.scimType) {
			t.Errorf("%s: %v, want %q", c.body, err, c.scimType)
		}
	}
}

// TestUserNameLookup: the filters answered by one indexed read, and those
// that are not.
func TestUserNameLookup(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		filter, subject string
	}{
		{`userName eq "Jo@Acme.example"`, "jo@acme.example"},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "jo@acme.example"`, "jo@acme.example"},
		{`userName eq "not an address"`, ""},
		{`userName co "jo"`, ""},
		{`userName eq "jo@acme.example" and active eq true`, ""},
		{`emails.value eq "jo@acme.example"`, ""},
		{`userName eq true`, ""},
	} {
		e, err := parseFilter(c.filter)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := userNameLookup(e); got != c.subject || ok != (c.subject != "") {
			t.Errorf("%s: %q %v", c.filter, got, ok)
		}
	}
}
