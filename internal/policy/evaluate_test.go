package policy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

func mustCompile(t testing.TB, env *Env, p Policy) *Compiled {
	t.Helper()
	c, err := Compile(p, env)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return c
}

func TestEvaluateCostLimitSkipsRule(t *testing.T) {
	env, err := NewEnv([]string{"projects"}, Limits{MaxCost: 5000, MaxInputSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	p := Policy{DefaultServiceStrategy: Deny, Services: map[string]ServicePolicy{"projects": {Type: Rules, Rules: []Rule{
		{Action: Deny, Expression: "parameters.items.all(a, parameters.items.all(b, a + b >= 0))"},
		{Action: Allow, Expression: "true"},
	}}}}
	compiled := mustCompile(t, env, p)
	items := make([]any, 2000) // 4 million pairs: far beyond the limit
	for i := range items {
		items[i] = float64(i)
	}
	start := time.Now()
	d := Evaluate(context.Background(), nil, []NamedPolicy{{Name: "r", Policy: compiled}},
		Request{Service: "projects", Parameters: map[string]any{"items": items}})
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("evaluation took %v, the cost limit should stop it early", elapsed)
	}
	if !d.Allowed || d.RuleIndex != 1 || !strings.Contains(d.Reason, "rule 0 skipped") || !strings.Contains(d.Reason, "cost limit") {
		t.Errorf("decision = %+v, want rule 1 after rule 0 skipped for its cost", d)
	}
	// Within the estimate the same rule evaluates normally.
	d = Evaluate(context.Background(), nil, []NamedPolicy{{Name: "r", Policy: compiled}},
		Request{Service: "projects", Parameters: map[string]any{"items": items[:5]}})
	if d.Allowed || d.RuleIndex != 0 {
		t.Errorf("small input: decision = %+v, want rule 0 (deny)", d)
	}
}

func TestEvaluateCancelledContextDenies(t *testing.T) {
	env := testEnv(t)
	compiled := mustCompile(t, env, rules("true"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := Evaluate(ctx, nil, []NamedPolicy{{Name: "r", Policy: compiled}}, Request{Service: "projects"})
	if d.Allowed || !strings.Contains(d.Reason, "interrupted") {
		t.Errorf("decision = %+v, want a deny saying the evaluation was interrupted", d)
	}
	// A type allow needs no evaluation and is not affected.
	allow := mustCompile(t, env, Policy{DefaultServiceStrategy: Deny, Services: map[string]ServicePolicy{"projects": {Type: Allow}}})
	if d := Evaluate(ctx, nil, []NamedPolicy{{Name: "r", Policy: allow}}, Request{Service: "projects"}); !d.Allowed {
		t.Errorf("type allow under a cancelled context: %+v", d)
	}
}

func TestEvaluateLiveContext(t *testing.T) {
	env := testEnv(t)
	compiled := mustCompile(t, env, rules("parameters.roles.exists(r, r == 'admin')"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := Evaluate(ctx, nil, []NamedPolicy{{Name: "r", Policy: compiled}},
		Request{Service: "projects", Parameters: map[string]any{"roles": []any{"reader", "admin"}}})
	if !d.Allowed || d.RuleIndex != 0 {
		t.Errorf("decision = %+v, want rule 0 to allow", d)
	}
}

func TestEvaluateNilRolePolicyDenies(t *testing.T) {
	d := Evaluate(context.Background(), nil, []NamedPolicy{{Name: "broken"}}, Request{Service: "projects"})
	if d.Allowed || d.Policy != "broken" || !strings.Contains(d.Reason, "no compiled policy") {
		t.Errorf("decision = %+v", d)
	}
}

func TestEvaluateConcurrent(t *testing.T) {
	env := testEnv(t)
	compiled := mustCompile(t, env, rules("resources.tags.env == 'dev'"))
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				env := "prod"
				if (g+i)%2 == 0 {
					env = "dev"
				}
				d := Evaluate(context.Background(), nil, []NamedPolicy{{Name: "r", Policy: compiled}},
					Request{Service: "projects", Resources: map[string]any{"tags": map[string]any{"env": env}}})
				if d.Allowed != (env == "dev") {
					t.Errorf("env %s: %+v", env, d)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	env := testEnv(t)
	cache := NewCache(env, 2)
	get := func(id, version string) *Compiled {
		t.Helper()
		c, err := cache.Get(CacheKey{ID: id, Version: version}, rules("true"))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a1 := get("a", "1")
	get("b", "1")
	if get("a", "1") != a1 {
		t.Fatal("a hit compiled again")
	}
	get("c", "1") // evicts b, the least recently used
	if s := cache.Stats(); s.Len != 2 || s.Hits != 1 || s.Misses != 3 {
		t.Fatalf("stats = %+v, want 2 entries, 1 hit, 3 misses", s)
	}
	if get("a", "1") != a1 {
		t.Error("a was evicted, b should have been")
	}
	get("b", "1")
	if s := cache.Stats(); s.Misses != 4 {
		t.Errorf("b was still cached: %+v", s)
	}
	if get("a", "2") == a1 {
		t.Error("a new version returned the old program")
	}
	cache.Forget("a")
	if s := cache.Stats(); s.Len != 1 {
		t.Errorf("after Forget: %+v, want only b", s)
	}
}

func TestCacheReturnsCompileErrors(t *testing.T) {
	cache := NewCache(testEnv(t), 4)
	_, err := cache.Get(CacheKey{ID: "role-1", Version: "7"}, rules("nope"))
	if err == nil || !strings.Contains(err.Error(), "role-1 version 7") || !strings.Contains(err.Error(), "undeclared reference") {
		t.Fatalf("error = %v", err)
	}
	if s := cache.Stats(); s.Len != 0 {
		t.Errorf("an error was cached: %+v", s)
	}
}

func TestCacheConcurrent(t *testing.T) {
	cache := NewCache(testEnv(t), 8)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				key := CacheKey{ID: fmt.Sprintf("role-%d", (g+i)%12), Version: "1"}
				c, err := cache.Get(key, rules("true"))
				if err != nil || c == nil {
					t.Errorf("Get(%v) = %v, %v", key, c, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if s := cache.Stats(); s.Len > 8 || s.Hits+s.Misses != 400 {
		t.Errorf("stats = %+v, want at most 8 entries and 400 lookups", s)
	}
}

// referenceEvaluate is the semantics of several roles written the slow,
// obvious way: every role evaluated in full, then combined. Evaluate, which
// stops early, must agree with it on the policy and rule that decided.
func referenceEvaluate(guardrail *Compiled, roles []NamedPolicy, req Request) Decision {
	ctx := context.Background()
	act := bind(req)
	if guardrail != nil {
		if r := guardrail.decide(ctx, act, req, false); r.outcome != allowed {
			return Decision{Policy: GuardrailPolicy, Service: r.service, RuleIndex: r.rule}
		}
	}
	results := make([]result, len(roles))
	for i, role := range roles {
		results[i] = role.Policy.decide(ctx, act, req, false)
	}
	for i, r := range results {
		if r.outcome == explicitDeny {
			return Decision{Policy: roles[i].Name, Service: r.service, RuleIndex: r.rule}
		}
	}
	for i, r := range results {
		if r.outcome == allowed {
			return Decision{Allowed: true, Policy: roles[i].Name, Service: r.service, RuleIndex: r.rule}
		}
	}
	if len(roles) == 0 {
		return Decision{RuleIndex: -1}
	}
	return Decision{Policy: roles[0].Name, Service: results[0].service, RuleIndex: results[0].rule}
}

func TestEvaluateAgreesWithReference(t *testing.T) {
	env := testEnv(t)
	exprs := []string{
		"true", "false",
		"operation.startsWith('get-')", "operation == 'delete-project'",
		"resources.tags.env == 'dev'",          // fails without tags
		"inIpRange(sourceIP, '10.0.0.0/8')",    // fails on a bad address
		"parameters.items.exists(x, x == 'a')", // fails without items
		"'grp-admins' in principal.groupIDs",
	}
	// Every request is "too large" for this environment's estimate, so loops
	// run under the cost limit.
	tinyInputs, err := NewEnv([]string{"projects", "groups"}, Limits{MaxInputSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 2))
	randomPolicy := func() Policy {
		p := Policy{DefaultServiceStrategy: []string{Allow, Deny}[rng.IntN(2)], Services: map[string]ServicePolicy{}}
		for _, svc := range []string{"projects", "groups"} {
			switch rng.IntN(4) {
			case 0: // absent
			case 1:
				p.Services[svc] = ServicePolicy{Type: []string{Allow, Deny}[rng.IntN(2)]}
			default:
				sp := ServicePolicy{Type: Rules}
				for n := rng.IntN(5); n > 0; n-- {
					sp.Rules = append(sp.Rules, Rule{Action: []string{Allow, Deny}[rng.IntN(2)], Expression: exprs[rng.IntN(len(exprs))]})
				}
				p.Services[svc] = sp
			}
		}
		return p
	}
	randomRequest := func() Request {
		req := Request{Service: []string{"projects", "groups"}[rng.IntN(2)],
			Operation: []string{"get-project", "delete-project", "list-groups"}[rng.IntN(3)],
			SourceIP:  []string{"10.1.2.3", "192.0.2.1", "bogus"}[rng.IntN(3)],
			Principal: Principal{Type: "user", ID: "u-1", GroupIDs: [][]string{nil, {"grp-admins"}}[rng.IntN(2)]}}
		if rng.IntN(2) == 0 {
			req.Resources = map[string]any{"tags": map[string]any{"env": []string{"dev", "prod"}[rng.IntN(2)]}}
		}
		if rng.IntN(2) == 0 {
			req.Parameters = map[string]any{"items": []any{"b", "a"}[:1+rng.IntN(2)]}
		}
		return req
	}
	for i := 0; i < 3000; i++ {
		var guard *Compiled
		if rng.IntN(3) == 0 {
			guard = mustCompile(t, env, randomPolicy())
		}
		roles := make([]NamedPolicy, rng.IntN(5))
		for j := range roles {
			roles[j] = NamedPolicy{Name: fmt.Sprintf("role-%d", j), Policy: mustCompile(t, env, randomPolicy())}
		}
		req := randomRequest()
		got := Evaluate(context.Background(), guard, roles, req)
		if i%10 == 0 {
			// Every loop rule through its cost-tracked program decides the same.
			tracked := make([]NamedPolicy, len(roles))
			for j, r := range roles {
				tracked[j] = NamedPolicy{Name: r.Name, Policy: mustCompile(t, tinyInputs, r.Policy.Policy())}
			}
			if d := Evaluate(context.Background(), guard, tracked, req); d != got {
				t.Fatalf("request %+v: cost-tracked programs decide %+v, plain ones %+v", req, d, got)
			}
		}
		want := referenceEvaluate(guard, roles, req)
		if got.Allowed != want.Allowed || got.Policy != want.Policy || got.Service != want.Service || got.RuleIndex != want.RuleIndex {
			for _, r := range roles {
				t.Logf("%s: %+v", r.Name, r.Policy.Policy())
			}
			t.Fatalf("request %+v: Evaluate = %+v, reference = %+v", req, got, want)
		}
	}
}

// TestCacheLoadReadsOnMissOnly: Load calls its source only for a key that is
// not cached, and not again once it is; a source error is returned and
// nothing is cached.
func TestCacheLoadReadsOnMissOnly(t *testing.T) {
	cache := NewCache(testEnv(t), 4)
	reads := 0
	source := func() (Policy, error) { reads++; return rules("true"), nil }
	first, err := cache.Load(CacheKey{ID: "r", Version: "1"}, source)
	if err != nil {
		t.Fatal(err)
	}
	again, err := cache.Load(CacheKey{ID: "r", Version: "1"}, source)
	if err != nil || again != first || reads != 1 {
		t.Errorf("second Load: same program %v, %d reads, err %v; want the cached program and 1 read", again == first, reads, err)
	}
	if _, err := cache.Load(CacheKey{ID: "r", Version: "2"}, source); err != nil || reads != 2 {
		t.Errorf("a new version was not read: %d reads, err %v", reads, err)
	}
	_, err = cache.Load(CacheKey{ID: "gone", Version: "1"}, func() (Policy, error) { return Policy{}, fmt.Errorf("row vanished") })
	if err == nil || !strings.Contains(err.Error(), "row vanished") {
		t.Errorf("source error = %v", err)
	}
	if s := cache.Stats(); s.Len != 2 {
		t.Errorf("cache holds %d policies, want 2 (the failed load is not cached)", s.Len)
	}
}

// refValCEL is the conversion bind used before maps were keyed by Go
// strings (map[ref.Val]ref.Val): the reference the string-keyed maps must
// agree with.
func refValCEL(v any) ref.Val {
	adapter := types.DefaultTypeAdapter
	switch v := v.(type) {
	case map[string]any:
		m := make(map[ref.Val]ref.Val, len(v))
		for k, e := range v {
			m[types.String(k)] = refValCEL(e)
		}
		return types.NewRefValMap(adapter, m)
	case []any:
		l := make([]ref.Val, len(v))
		for i, e := range v {
			l[i] = refValCEL(e)
		}
		return types.NewRefValList(adapter, l)
	case map[string]string:
		m := make(map[ref.Val]ref.Val, len(v))
		for k, e := range v {
			m[types.String(k)] = types.String(e)
		}
		return types.NewRefValMap(adapter, m)
	}
	return toCEL(v, func(int) {})
}

// TestStringKeyedMapsAgreeWithRefValMaps: every map operation an expression
// can apply to principal, parameters and resources (lookups, missing keys,
// has, in, size, equality both ways, iteration, indexing with other key
// types) gives the same value or the same error with the maps bind builds as
// with the map[ref.Val]ref.Val maps it built before.
func TestStringKeyedMapsAgreeWithRefValMaps(t *testing.T) {
	env := testEnv(t)
	req := Request{Service: "projects", Operation: "get-project", SourceIP: "10.1.2.3",
		Principal:  Principal{Type: "user", ID: "u-1", Email: "a@example.com", OrganizationID: "org-1", GroupIDs: []string{"g1", "g2"}},
		Parameters: map[string]any{"items": []any{"a", "b"}, "n": float64(2), "labels": map[string]string{"a": "1"}, "none": nil, "flag": true},
		Resources:  map[string]any{"tags": map[string]any{"env": "dev", "team": "core"}, "n": float64(1), "list": []any{map[string]any{"k": "v"}}},
	}
	exprs := []string{
		"resources.tags.env == 'dev'", "resources.tags.missing == 'x'", "resources['tags']['team'] == 'core'",
		"has(resources.tags)", "has(resources.nope)", "has(resources.tags.env)", "'env' in resources.tags", "'x' in resources.tags",
		"dyn(1) in resources", "dyn(2.0) in resources", "dyn(resources)[1] == 'x'", "resources.tags.size() == 2", "size(resources) == 3",
		"resources.tags == {'env': 'dev', 'team': 'core'}", "{'env': 'dev', 'team': 'core'} == resources.tags",
		"resources.tags == {'env': 'dev'}", "{'team': 'core', 'env': 'prod'} == resources.tags", "resources.tags != {}",
		"resources == parameters", "resources.tags == resources.tags", "resources.list[0] == {'k': 'v'}", "{'k': 'v'} == resources.list[0]",
		"resources.tags.all(k, resources.tags[k] != '')", "resources.tags.exists(k, k == 'team')", "resources.tags.map(k, k + '!').size() == 2",
		"resources.tags.filter(k, k.startsWith('e')) == ['env']", "resources.n == 1", "resources.n > 0.5", "resources.list.exists(m, m.k == 'v')",
		"type(resources) == map", "type(resources.tags) == map", "dyn(resources).tags.env == 'dev'", "resources.tags == {1: 'dev', 'team': 'core'}",
		"parameters.labels.a == '1'", "parameters.labels == {'a': '1'}", "parameters.none == null", "parameters.flag", "parameters.items.size() == 2",
		"principal.type == 'user'", "principal.groupIDs.exists(g, g == 'g2')", "'g1' in principal.groupIDs", "principal.nope == 'x'",
		"principal == {'type': 'user', 'id': 'u-1', 'email': 'a@example.com', 'organizationId': 'org-1', 'groupIDs': ['g1', 'g2']}",
		"principal.size() == 5", "principal.all(k, k != '')",
	}
	act := bind(req)
	old := *act
	old.parameters = refValCEL(req.Parameters)
	old.resources = refValCEL(req.Resources)
	groups := make([]any, len(req.Principal.GroupIDs))
	for i, g := range req.Principal.GroupIDs {
		groups[i] = g
	}
	old.principal = refValCEL(map[string]any{"type": req.Principal.Type, "id": req.Principal.ID, "email": req.Principal.Email,
		"organizationId": req.Principal.OrganizationID, "groupIDs": groups})
	for _, e := range exprs {
		ast, iss := env.cel.Compile(e)
		if iss.Err() != nil {
			t.Fatalf("%s: %v", e, iss.Err())
		}
		prg, err := env.cel.Program(ast, cel.EvalOptions(cel.OptOptimize))
		if err != nil {
			t.Fatal(err)
		}
		got, _, gotErr := prg.Eval(act)
		want, _, wantErr := prg.Eval(&old)
		if fmt.Sprint(got, gotErr) != fmt.Sprint(want, wantErr) {
			t.Errorf("%s: string-keyed maps give %v (%v), map[ref.Val]ref.Val %v (%v)", e, got, gotErr, want, wantErr)
		}
	}
}
