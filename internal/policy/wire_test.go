package policy

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The JSON shapes of Request and Decision are the policy simulator's request
// and response bodies; this test pins them.
func TestWireShapes(t *testing.T) {
	in := `{"service":"projects","operation":"get-project","now":"2026-11-23T10:00:00Z","sourceIP":"10.1.2.3",
		"principal":{"type":"user","id":"u-1","email":"jo@acme.example","organizationId":"org-1","groupIDs":["grp-a"]},
		"organization":"org-1","project":"prj-1","parameters":{"limit":5},"resources":{"tags":{"env":"dev"}}}`
	var req Request
	dec := json.NewDecoder(strings.NewReader(in))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		t.Fatalf("decode request: %v", err)
	}
	want := Request{Service: "projects", Operation: "get-project", Now: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
		SourceIP:     "10.1.2.3",
		Principal:    Principal{Type: "user", ID: "u-1", Email: "jo@acme.example", OrganizationID: "org-1", GroupIDs: []string{"grp-a"}},
		Organization: "org-1", Project: "prj-1",
		Parameters: map[string]any{"limit": 5.0}, Resources: map[string]any{"tags": map[string]any{"env": "dev"}}}
	if !reflect.DeepEqual(req, want) {
		t.Errorf("request = %+v, want %+v", req, want)
	}
	out, err := json.Marshal(Decision{Allowed: true, Policy: "r", Service: "projects", RuleIndex: 2, Reason: "why"})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); got != `{"allowed":true,"policy":"r","service":"projects","ruleIndex":2,"reason":"why"}` {
		t.Errorf("decision JSON = %s", got)
	}
	out, err = json.Marshal(Policy{DefaultServiceStrategy: Deny, Services: map[string]ServicePolicy{
		"projects": {Type: Rules, Rules: []Rule{{Action: Allow, Expression: "true"}}}, "groups": {Type: Allow}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); got != `{"defaultServiceStrategy":"deny","services":{"groups":{"type":"allow"},"projects":{"type":"rules","rules":[{"action":"allow","expression":"true"}]}}}` {
		t.Errorf("policy JSON = %s", got)
	}
}

// A 1 MB body is refused by Parse with the default limits before decoding.
func TestParseRefusesOneMegabyte(t *testing.T) {
	doc := `{"defaultServiceStrategy":"deny","services":{"projects":{"type":"rules","rules":[{"action":"allow","expression":"'` +
		strings.Repeat("x", 1<<20) + `' != ''"}]}}}`
	_, err := Parse([]byte(doc), Limits{})
	var ce *CompileError
	if !errors.As(err, &ce) || ce.Limit != "MaxPolicyBytes" {
		t.Fatalf("Parse(1 MB) = %v, want a MaxPolicyBytes CompileError", err)
	}
}
