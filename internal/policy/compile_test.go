package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func testEnv(t testing.TB) *Env {
	t.Helper()
	env, err := NewEnv([]string{"projects", "groups"}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func rules(exprs ...string) Policy {
	p := Policy{DefaultServiceStrategy: Deny, Services: map[string]ServicePolicy{"projects": {Type: Rules}}}
	sp := p.Services["projects"]
	for _, e := range exprs {
		sp.Rules = append(sp.Rules, Rule{Action: Allow, Expression: e})
	}
	p.Services["projects"] = sp
	return p
}

func TestCompileRefuses(t *testing.T) {
	env := testEnv(t)
	tooMany := rules()
	for i := 0; i <= DefaultLimits.MaxRulesPerService; i++ {
		sp := tooMany.Services["projects"]
		sp.Rules = append(sp.Rules, Rule{Action: Allow, Expression: "true"})
		tooMany.Services["projects"] = sp
	}
	// About 1 MB of rules spread over services: refused for its size before
	// any rule is looked at.
	huge := Policy{DefaultServiceStrategy: Deny, Services: map[string]ServicePolicy{}}
	for i := 0; i < 260; i++ {
		sp := ServicePolicy{Type: Rules}
		for j := 0; j < 1; j++ {
			sp.Rules = append(sp.Rules, Rule{Action: Allow, Expression: "operation == '" + strings.Repeat("x", 4000) + "'"})
		}
		huge.Services[fmt.Sprintf("svc-%d", i)] = sp
	}

	tests := []struct {
		name    string
		policy  Policy
		want    CompileError
		message string
	}{
		{"syntax error has a position", rules("true", "operation == "),
			CompileError{Service: "projects", Rule: 1, Line: 1, Column: 14}, "Syntax error"},
		{"syntax error on a later line", rules("operation == 'a' ||\n  )"),
			CompileError{Service: "projects", Rule: 0, Line: 2, Column: 3}, "Syntax error"},
		{"non-bool expression", rules("operation"),
			CompileError{Service: "projects", Rule: 0}, "has type string, it must be bool"},
		{"dyn expression", rules("parameters.force"),
			CompileError{Service: "projects", Rule: 0}, "has type dyn"},
		{"unknown variable", rules("region == 'ch-gva-2'"),
			CompileError{Service: "projects", Rule: 0, Line: 1, Column: 1}, "undeclared reference to 'region'"},
		{"unknown function", rules("isAdmin(principal.id)"),
			CompileError{Service: "projects", Rule: 0, Line: 1, Column: 8}, "undeclared reference to 'isAdmin'"},
		{"type error", rules("operation == 1"),
			CompileError{Service: "projects", Rule: 0, Line: 1, Column: 11}, "no matching overload"},
		{"inIpRange wrong arity", rules("inIpRange(sourceIP)"),
			CompileError{Service: "projects", Rule: 0, Line: 1, Column: 10}, "no matching overload"},
		{"unknown service", Policy{DefaultServiceStrategy: Allow, Services: map[string]ServicePolicy{"compute": {Type: Allow}}},
			CompileError{Service: "compute", Rule: -1}, `unknown service "compute"`},
		{"bad default strategy", Policy{DefaultServiceStrategy: "maybe"},
			CompileError{Rule: -1}, "defaultServiceStrategy must be"},
		{"missing default strategy", Policy{Services: map[string]ServicePolicy{}},
			CompileError{Rule: -1}, "defaultServiceStrategy must be"},
		{"bad service type", Policy{DefaultServiceStrategy: Allow, Services: map[string]ServicePolicy{"groups": {Type: "some"}}},
			CompileError{Service: "groups", Rule: -1}, "type must be"},
		{"rules on type allow", Policy{DefaultServiceStrategy: Allow, Services: map[string]ServicePolicy{"groups": {Type: Allow, Rules: []Rule{{Action: Deny, Expression: "true"}}}}},
			CompileError{Service: "groups", Rule: -1}, "rules are only allowed with type"},
		{"bad action", Policy{DefaultServiceStrategy: Allow, Services: map[string]ServicePolicy{"groups": {Type: Rules, Rules: []Rule{{Action: "permit", Expression: "true"}}}}},
			CompileError{Service: "groups", Rule: 0}, "action must be"},
		{"empty expression", rules("true", "  "),
			CompileError{Service: "projects", Rule: 1}, "expression is empty"},
		{"too many rules", tooMany,
			CompileError{Service: "projects", Rule: -1, Limit: "MaxRulesPerService"}, "101 rules, the limit is 100"},
		{"too long expression", rules("operation == '" + strings.Repeat("a", 5000) + "'"),
			CompileError{Service: "projects", Rule: 0, Limit: "MaxExpressionBytes"}, "the limit is 4096"},
		{"excessive cost", rules("parameters.all(a, parameters.all(b, parameters.all(c, a + b + c != '')))"),
			CompileError{Service: "projects", Rule: 0, Limit: "MaxCost"}, "may cost up to"},
		{"1 MB policy", huge,
			CompileError{Rule: -1, Limit: "MaxPolicyBytes"}, "the limit is 65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Compile(tt.policy, env)
			if err == nil {
				t.Fatalf("Compile succeeded (%v), want an error", c != nil)
			}
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *CompileError", err, err)
			}
			got := *ce
			got.Message = ""
			if got != tt.want {
				t.Errorf("error fields = %+v, want %+v (error: %v)", got, tt.want, err)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not contain %q", err.Error(), tt.message)
			}
			if tt.want.Line > 0 && !strings.Contains(err.Error(), fmt.Sprintf("%d:%d", tt.want.Line, tt.want.Column)) {
				t.Errorf("error %q does not show the position %d:%d", err.Error(), tt.want.Line, tt.want.Column)
			}
		})
	}
}

func TestCompileErrorNamesServiceAndRule(t *testing.T) {
	_, err := Compile(rules("true", "true", "foo"), testEnv(t))
	want := `services["projects"].rules[2].expression: 1:1: undeclared reference to 'foo'`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error = %v, want it to start with %q", err, want)
	}
}

func TestCompileAccepts(t *testing.T) {
	env := testEnv(t)
	for _, p := range []Policy{
		AllowAll(),
		{DefaultServiceStrategy: Deny},
		rules("true"),
		rules("parameters.roles.exists(r, r == 'admin')"),
		rules("sourceIP.inIpRange('10.0.0.0/8') || inIpRange(sourceIP, '::1/128')"),
		rules("now.getHours('Europe/Zurich') < 18 && now.getDayOfWeek() < 6"),
		rules("principal.groupIDs.exists(g, g == 'grp-admins') && principal.type == 'user'"),
		rules("has(resources.tags) && resources.tags.env == 'dev' && project != '' && organization == principal.organizationId"),
		rules("size(parameters) < 10 && service == 'projects' && operation.matches('^get-')"),
		rules(strings.Repeat("operation == 'x' || ", 150) + "true"),
	} {
		if _, err := Compile(p, env); err != nil {
			t.Errorf("Compile(%+v): %v", p, err)
		}
	}
}

func TestParse(t *testing.T) {
	lim := Limits{MaxPolicyBytes: 200}
	tests := []struct {
		name, doc, err string
	}{
		{"valid", `{"defaultServiceStrategy":"deny","services":{"projects":{"type":"rules","rules":[{"action":"allow","expression":"true"}]}}}`, ""},
		{"unknown field", `{"defaultServiceStrategy":"deny","services":{},"extra":1}`, "unknown field"},
		{"kebab-case seed field", `{"default-service-strategy":"deny","services":{}}`, "unknown field"},
		{"two documents", `{"defaultServiceStrategy":"deny"} {}`, "single JSON object"},
		{"not JSON", `{`, "not valid JSON"},
		{"too large", `{"defaultServiceStrategy":"deny","services":{}}` + strings.Repeat(" ", 200), "MaxPolicyBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.doc), lim)
			if tt.err == "" {
				if err != nil || p.DefaultServiceStrategy != Deny || len(p.Services["projects"].Rules) != 1 {
					t.Fatalf("Parse = %+v, %v", p, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Parse error = %v, want one containing %q", err, tt.err)
			}
		})
	}
}

func TestNewEnvRefusesEmptyService(t *testing.T) {
	if _, err := NewEnv([]string{"projects", ""}, Limits{}); err == nil {
		t.Fatal("NewEnv accepted an empty service name")
	}
}
