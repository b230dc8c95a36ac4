package policy

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"
)

// benchRoles builds 10 roles of 20 rules each on the projects service. Rules
// mix the shapes real policies use (operation lists, tag lookups, IP ranges,
// group membership, business hours). For the worst-case request no rule
// matches but the last rule of the last role, so all 200 rules run. With
// loops, group membership is tested with exists() (a comprehension, so the
// rule runs under the cost tracker); without, with the in operator.
func benchRoles(tb testing.TB, env *Env, loops bool) []NamedPolicy {
	tb.Helper()
	roles := make([]NamedPolicy, 10)
	for r := range roles {
		sp := ServicePolicy{Type: Rules}
		for i := 0; i < 20; i++ {
			var expr string
			switch i % 5 {
			case 0:
				expr = fmt.Sprintf("operation in ['get-thing-%d-%d', 'list-things-%d-%d']", r, i, r, i)
			case 1:
				expr = fmt.Sprintf("has(resources.tags) && resources.tags.env == 'env-%d-%d'", r, i)
			case 2:
				expr = fmt.Sprintf("inIpRange(sourceIP, '172.%d.%d.0/24')", 16+r, i)
			case 3:
				expr = fmt.Sprintf("'grp-%d-%d' in principal.groupIDs", r, i)
				if loops {
					expr = fmt.Sprintf("principal.groupIDs.exists(g, g == 'grp-%d-%d')", r, i)
				}
			default:
				expr = fmt.Sprintf("operation.startsWith('op-%d-%d-') && now.getHours('Europe/Zurich') < 18", r, i)
			}
			action := Allow
			if i%4 == 3 {
				action = Deny
			}
			sp.Rules = append(sp.Rules, Rule{Action: action, Expression: expr})
		}
		if r == 9 {
			sp.Rules[19] = Rule{Action: Allow, Expression: "operation == 'get-project' && resources.tags.env == 'dev'"}
		}
		p := Policy{DefaultServiceStrategy: Deny, Services: map[string]ServicePolicy{"projects": sp}}
		roles[r] = NamedPolicy{Name: fmt.Sprintf("role-%d", r), Policy: mustCompile(tb, env, p)}
	}
	return roles
}

func benchRequest() Request {
	return Request{
		Service: "projects", Operation: "get-project", Now: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
		SourceIP:     "10.1.2.3",
		Principal:    Principal{Type: "serviceAccount", ID: "sa-1", OrganizationID: "org-1", GroupIDs: []string{"grp-dev", "grp-ops"}},
		Organization: "org-1", Project: "prj-1",
		Parameters: map[string]any{"projectID": "prj-1"},
		Resources:  map[string]any{"tags": map[string]any{"env": "dev", "team": "core"}},
	}
}

// BenchmarkEvaluate10Roles20Rules is the decision latency of a principal with
// 10 roles × 20 rules, worst case (all 200 rules evaluated) and with the
// organization guardrail; it reports p50 and p99 per decision.
func BenchmarkEvaluate10Roles20Rules(b *testing.B) {
	b.Run("loop-free", func(b *testing.B) { benchWorstCase(b, false, false) })
	b.Run("with-loops", func(b *testing.B) { benchWorstCase(b, true, false) })
	// The same decisions with every rule run by its CEL program, without the
	// prefilter and the inIpRange decorator: what those save.
	b.Run("loop-free-programs-only", func(b *testing.B) { benchWorstCase(b, false, true) })
}

func benchWorstCase(b *testing.B, loops, programsOnly bool) {
	env := testEnv(b)
	roles := benchRoles(b, env, loops)
	if programsOnly {
		for i, r := range roles {
			roles[i].Policy = unoptimized(b, env, r.Policy)
		}
	}
	guard := mustCompile(b, env, Policy{DefaultServiceStrategy: Allow, Services: map[string]ServicePolicy{"projects": {Type: Rules, Rules: []Rule{
		{Action: Deny, Expression: "!inIpRange(sourceIP, '10.0.0.0/8')"},
		{Action: Allow, Expression: "true"},
	}}}})
	req := benchRequest()
	// A cancellable context, like an HTTP request's.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if d := Evaluate(ctx, guard, roles, req); !d.Allowed || d.Policy != "role-9" || d.RuleIndex != 19 {
		b.Fatalf("benchmark request decided %+v, want role-9 rule 19", d)
	}
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		Evaluate(ctx, guard, roles, req)
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, durations)
}

// BenchmarkEvaluateFirstRule is the common case: the first rule of the first
// role decides (and the other nine roles still run to look for a deny).
func BenchmarkEvaluateFirstRule(b *testing.B) {
	env := testEnv(b)
	roles := benchRoles(b, env, true)
	req := benchRequest()
	req.Operation = "get-thing-0-0"
	req.Resources = nil
	// A cancellable context, like an HTTP request's.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		Evaluate(ctx, nil, roles, req)
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, durations)
}

func reportPercentiles(b *testing.B, durations []time.Duration) {
	if len(durations) == 0 {
		return
	}
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	at := func(q float64) float64 { return float64(durations[int(q*float64(len(durations)-1))].Nanoseconds()) }
	b.ReportMetric(at(0.50)/1000, "p50-µs")
	b.ReportMetric(at(0.99)/1000, "p99-µs")
}

// BenchmarkCompileRole is the cost of compiling one 20-rule role: what a
// cache miss costs.
func BenchmarkCompileRole(b *testing.B) {
	env := testEnv(b)
	roles := benchRoles(b, env, true)
	p := roles[3].Policy.Policy()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Compile(p, env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCacheHit is the cost of fetching a compiled role from the cache.
func BenchmarkCacheHit(b *testing.B) {
	env := testEnv(b)
	p := benchRoles(b, env, true)[0].Policy.Policy()
	cache := NewCache(env, 1024)
	key := CacheKey{ID: "role-0", Version: "1"}
	if _, err := cache.Get(key, p); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := cache.Get(key, p); err != nil {
			b.Fatal(err)
		}
	}
}
