package policy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"cel.dev/cel-go/cel"
)

// prefilterCases are expressions the prefilter must recognize (filter: it
// has conditions; exact: nothing else) or must leave to the program.
var prefilterCases = []struct {
	expr          string
	filter, exact bool
}{
	{"operation == 'x'", true, true},
	{"'x' == operation", true, true},
	{"operation in ['x', 'get-project']", true, true},
	{"operation in []", true, true},
	{"operation.startsWith('get-')", true, true},
	{"operation.startsWith('')", true, true},
	{"service == 'projects' && operation == 'x'", true, true},
	{"service == 'groups'", true, true},
	{"operation == 'x' && operation == 'get-project'", true, true},
	{"(operation == 'x' || operation == 'get-project') && operation == 'x'", true, false},
	{"operation == 'x' && resources.tags.env == 'dev'", true, false},
	{"resources.tags.env == 'dev' && operation == 'x'", true, false},
	{"(has(resources.tags) && operation == 'x') && (resources.tags.env == 'dev' && operation.startsWith('x'))", true, false},
	{"operation == 'x' && inIpRange(sourceIP, '10.0.0.0/8')", true, false},
	{"inIpRange(sourceIP, '10.0.0.0/8') && operation in ['get-project', 'x']", true, false},
	{"operation == 'x' && parameters.items.exists(i, i == 'a')", true, false},
	{"parameters.items.exists(i, i == 'a') && operation.startsWith('get-')", true, false},
	{"operation == 'x' && 1.0 / parameters.n > 0.5", true, false},
	{"operation == 'x' && false", true, false},
	{"true && operation == 'x'", true, false},
	{"['y'].all(operation, operation == 'y') && operation == 'x'", true, false},
	// Not conditions: the program decides.
	{"operation == 'x' || true", false, false},
	{"!(operation == 'x')", false, false},
	{"!(operation == 'x') && resources.tags.env == 'dev'", false, false},
	{"operation != 'x'", false, false},
	{"operation != 'x' && resources.tags.env == 'dev'", false, false},
	{"operation == project", false, false},
	{"operation == principal.type", false, false},
	{"operation in [project, 'x']", false, false},
	{"operation.startsWith(project)", false, false},
	{"operation.endsWith('project')", false, false},
	{"project == 'x'", false, false},
	{"resources.tags.env == 'dev'", false, false},
	{"operation == 'x' ? true : false", false, false},
	{"[operation].exists(o, o == 'x')", false, false},
	{"['x'].exists(operation, operation == 'x')", false, false},
	{"true", false, false},
}

// TestPrefilterRecognizes pins which expressions get a prefilter, so that
// the differential test below compares something: a prefilter that never
// applied would agree with the program trivially.
func TestPrefilterRecognizes(t *testing.T) {
	env := testEnv(t)
	for _, c := range prefilterCases {
		compiled := mustCompile(t, env, rules(c.expr))
		f := compiled.services["projects"].rules[0].filter
		if got := f != nil; got != c.filter {
			t.Errorf("%s: prefilter %v, want %v", c.expr, got, c.filter)
			continue
		}
		if f != nil && f.exact != c.exact {
			t.Errorf("%s: exact %v, want %v", c.expr, f.exact, c.exact)
		}
	}
}

// unoptimized returns c with every rule's plain program rebuilt without the
// inIpRange decorator and without a prefilter: the expressions as cel-go
// alone evaluates them.
func unoptimized(t testing.TB, env *Env, c *Compiled) *Compiled {
	t.Helper()
	out := &Compiled{source: c.source, strategy: c.strategy, inputSize: c.inputSize,
		services: make(map[string]*compiledService, len(c.services))}
	for name, sp := range c.services {
		cs := *sp
		cs.rules = make([]compiledRule, len(sp.rules))
		for i, r := range sp.rules {
			ast, iss := env.cel.Compile(c.source.Services[name].Rules[i].Expression)
			if iss.Err() != nil {
				t.Fatal(iss.Err())
			}
			prg, err := env.cel.Program(ast, cel.EvalOptions(cel.OptOptimize))
			if err != nil {
				t.Fatal(err)
			}
			r.program, r.filter = prg, nil
			cs.rules[i] = r
		}
		out.services[name] = &cs
	}
	return out
}

// prefilterRequests are requests whose operations hit and miss every literal
// of prefilterCases, with and without the attributes the other conjuncts
// read (a missing one is an error, which must stay a skip when the prefilter
// admits the request and must never be reported when it does not).
func prefilterRequests() []Request {
	var reqs []Request
	for _, svc := range []string{"projects", "groups"} {
		for _, op := range []string{"x", "X", "xy", "", "get-project", "get-", "get", "project", "y"} {
			for _, ip := range []string{"10.1.2.3", "bogus"} {
				for variant := 0; variant < 4; variant++ {
					req := Request{Service: svc, Operation: op, SourceIP: ip, Project: "x",
						Now:       time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
						Principal: Principal{Type: "x", ID: "u-1"}}
					if variant&1 != 0 {
						req.Resources = map[string]any{"tags": map[string]any{"env": "dev"}}
					}
					if variant&2 != 0 {
						req.Parameters = map[string]any{"items": []any{"a"}, "n": float64(0)}
					}
					reqs = append(reqs, req)
				}
			}
		}
	}
	return reqs
}

// TestPrefilterAgreesWithProgram is the differential test: every decision,
// reason included, is the same with the prefilter and the inIpRange
// decorator as with the programs alone, for each expression on its own and
// for random rule lists of them, on both services, in several roles and in
// the guardrail.
func TestPrefilterAgreesWithProgram(t *testing.T) {
	env := testEnv(t)
	reqs := prefilterRequests()
	check := func(t *testing.T, guard *Compiled, p []Policy, ctx context.Context) {
		t.Helper()
		roles := make([]NamedPolicy, len(p))
		plain := make([]NamedPolicy, len(p))
		for i, pol := range p {
			c := mustCompile(t, env, pol)
			roles[i] = NamedPolicy{Name: fmt.Sprintf("role-%d", i), Policy: c}
			plain[i] = NamedPolicy{Name: roles[i].Name, Policy: unoptimized(t, env, c)}
		}
		var plainGuard *Compiled
		if guard != nil {
			plainGuard = unoptimized(t, env, guard)
		}
		for _, req := range reqs {
			got := Evaluate(ctx, guard, roles, req)
			want := Evaluate(ctx, plainGuard, plain, req)
			if got != want {
				for _, pol := range p {
					t.Logf("policy %+v", pol)
				}
				t.Fatalf("request %+v:\noptimized: %+v\nprograms:  %+v", req, got, want)
			}
		}
	}
	both := func(action string, exprs ...string) Policy {
		p := Policy{DefaultServiceStrategy: Deny, Services: map[string]ServicePolicy{}}
		for _, svc := range []string{"projects", "groups"} {
			sp := ServicePolicy{Type: Rules}
			for _, e := range exprs {
				sp.Rules = append(sp.Rules, Rule{Action: action, Expression: e})
			}
			p.Services[svc] = sp
		}
		return p
	}
	t.Run("alone", func(t *testing.T) {
		for _, c := range prefilterCases {
			for _, action := range []string{Allow, Deny} {
				// The expression, then a rule that always matches, so that
				// whether the first one matched, failed or neither shows.
				check(t, nil, []Policy{both(action, c.expr, "true")}, context.Background())
			}
		}
	})
	t.Run("random", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 11))
		randomPolicy := func() Policy {
			p := both(Allow)
			for _, svc := range []string{"projects", "groups"} {
				sp := ServicePolicy{Type: Rules}
				for n := 1 + rng.IntN(5); n > 0; n-- {
					sp.Rules = append(sp.Rules, Rule{Action: []string{Allow, Deny}[rng.IntN(2)],
						Expression: prefilterCases[rng.IntN(len(prefilterCases))].expr})
				}
				p.Services[svc] = sp
			}
			return p
		}
		for i := 0; i < 150; i++ {
			var guard *Compiled
			if rng.IntN(3) == 0 {
				guard = mustCompile(t, env, randomPolicy())
			}
			p := make([]Policy, 1+rng.IntN(3))
			for j := range p {
				p[j] = randomPolicy()
			}
			check(t, guard, p, context.Background())
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		// A cancelled request skips every remaining rule, prefiltered or not.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for _, c := range prefilterCases {
			check(t, nil, []Policy{both(Allow, c.expr, "true")}, ctx)
		}
	})
}

// TestPrefilterLeavesTrackedProgramsAlone: a loop over an input larger than
// the estimate runs under the cost limit, which aborts it with an error
// before the && can be false; the rule is then reported as skipped, whatever
// the operation, as it was before the prefilter.
func TestPrefilterLeavesTrackedProgramsAlone(t *testing.T) {
	env, err := NewEnv([]string{"projects"}, Limits{MaxCost: 5000, MaxInputSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	p := Policy{DefaultServiceStrategy: Deny, Services: map[string]ServicePolicy{"projects": {Type: Rules, Rules: []Rule{
		{Action: Deny, Expression: "parameters.items.all(a, parameters.items.all(b, a + b >= 0)) && operation == 'delete-project'"},
		{Action: Allow, Expression: "true"},
	}}}}
	compiled := mustCompile(t, env, p)
	if compiled.services["projects"].rules[0].filter == nil {
		t.Fatal("the rule has no prefilter: the test tests nothing")
	}
	items := make([]any, 2000)
	for i := range items {
		items[i] = float64(i)
	}
	for _, op := range []string{"delete-project", "get-project"} {
		req := Request{Service: "projects", Operation: op, Parameters: map[string]any{"items": items}}
		d := Evaluate(context.Background(), nil, []NamedPolicy{{Name: "r", Policy: compiled}}, req)
		if !d.Allowed || d.RuleIndex != 1 || !strings.Contains(d.Reason, "rule 0 skipped") || !strings.Contains(d.Reason, "cost limit") {
			t.Errorf("%s: decision = %+v, want rule 1 after rule 0 skipped for its cost", op, d)
		}
		want := Evaluate(context.Background(), nil, []NamedPolicy{{Name: "r", Policy: unoptimized(t, env, compiled)}}, req)
		if d != want {
			t.Errorf("%s: optimized %+v, programs %+v", op, d, want)
		}
	}
}

// TestInIPRangeLiteralAgreesWithFunction: the decorated call (prefix parsed
// when the program is built, sourceIP once per decision) gives the function's
// answer, error message included, for every address shape.
func TestInIPRangeLiteralAgreesWithFunction(t *testing.T) {
	env := testEnv(t)
	var exprs []string
	for _, cidr := range []string{"10.0.0.0/8", "10.1.2.3/32", "0.0.0.0/0", "2001:db8::/32", "::ffff:10.0.0.0/104", "::/0", "10.0.0.0/33", "bogus", ""} {
		exprs = append(exprs,
			fmt.Sprintf("inIpRange(sourceIP, '%s')", cidr),
			fmt.Sprintf("sourceIP.inIpRange('%s')", cidr),
			fmt.Sprintf("inIpRange(principal.id, '%s')", cidr),
			fmt.Sprintf("resources.ip.inIpRange('%s')", cidr),
			fmt.Sprintf("[sourceIP].exists(a, inIpRange(a, '%s'))", cidr))
	}
	exprs = append(exprs, "inIpRange(sourceIP, project)", "inIpRange(sourceIP, '10.0.0.0' + '/8')")
	policies := make([]Policy, len(exprs))
	for i, e := range exprs {
		policies[i] = rules(e, "true")
	}
	for _, ip := range []string{"10.1.2.3", "10.1.2.4", "192.0.2.1", "2001:db8::1", "::ffff:10.1.2.3", "fe80::1%eth0", "10.1.2.3%eth0", "", "bogus", "010.1.2.3", " 10.1.2.3"} {
		for _, resIP := range []any{ip, "10.9.9.9", float64(10), nil} {
			req := Request{Service: "projects", SourceIP: ip, Project: "10.0.0.0/8",
				Principal: Principal{ID: ip}, Resources: map[string]any{"ip": resIP}}
			for i, p := range policies {
				c := mustCompile(t, env, p)
				got := Evaluate(context.Background(), nil, []NamedPolicy{{Name: "r", Policy: c}}, req)
				want := Evaluate(context.Background(), nil, []NamedPolicy{{Name: "r", Policy: unoptimized(t, env, c)}}, req)
				if got != want {
					t.Errorf("%s, sourceIP %q, resources.ip %v:\noptimized: %+v\nfunction:  %+v", exprs[i], ip, resIP, got, want)
				}
			}
		}
	}
}

// FuzzPrefilterAgreesWithProgram is the differential test on arbitrary
// expressions and requests: a decision with the prefilter and the inIpRange
// decorator equals the decision of the programs alone.
//
//	go test ./internal/policy/ -run '^$' -fuzz FuzzPrefilterAgreesWithProgram -fuzztime 1m
func FuzzPrefilterAgreesWithProgram(f *testing.F) {
	for _, c := range prefilterCases {
		f.Add(c.expr, "x", "10.1.2.3", true)
		f.Add(c.expr, "get-project", "bogus", false)
	}
	env := testEnv(f)
	f.Fuzz(func(t *testing.T, expr, operation, sourceIP string, withResources bool) {
		p := Policy{DefaultServiceStrategy: Deny, Services: map[string]ServicePolicy{"projects": {Type: Rules, Rules: []Rule{
			{Action: Deny, Expression: expr}, {Action: Allow, Expression: "true"}}}}}
		c, err := Compile(p, env)
		if err != nil {
			return
		}
		req := Request{Service: "projects", Operation: operation, SourceIP: sourceIP, Project: operation,
			Principal: Principal{ID: sourceIP}}
		if withResources {
			req.Resources = map[string]any{"tags": map[string]any{"env": operation}, "ip": sourceIP}
		}
		got := Evaluate(context.Background(), nil, []NamedPolicy{{Name: "r", Policy: c}}, req)
		want := Evaluate(context.Background(), nil, []NamedPolicy{{Name: "r", Policy: unoptimized(t, env, c)}}, req)
		if got != want {
			t.Fatalf("%s on %+v:\noptimized: %+v\nprograms:  %+v", expr, req, got, want)
		}
	})
}
