package policy

import (
	"fmt"
	"sort"
	"strings"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
)

// CompileError is a policy refused at write time. Its fields let an HTTP
// handler answer 400 with a precise message; Error renders them all.
type CompileError struct {
	// Service is the service whose entry is wrong, "" for the whole policy.
	Service string
	// Rule is the index of the wrong rule, -1 when no rule is at fault.
	Rule int
	// Line and Column (both 1-based) locate a CEL error in the expression;
	// zero when the error has no position.
	Line, Column int
	// Limit names the exceeded limit (a Limits field), "" otherwise.
	Limit string
	// Message says what is wrong.
	Message string
}

// Error implements error, e.g.
// `services["projects"].rules[2].expression: 1:12: undeclared reference to 'foo'`.
func (e *CompileError) Error() string {
	var b strings.Builder
	switch {
	case e.Service != "" && e.Rule >= 0:
		fmt.Fprintf(&b, "services[%q].rules[%d]", e.Service, e.Rule)
	case e.Service != "":
		fmt.Fprintf(&b, "services[%q]", e.Service)
	default:
		b.WriteString("policy")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, ".expression: %d:%d", e.Line, e.Column)
	}
	b.WriteString(": ")
	b.WriteString(e.Message)
	if e.Limit != "" {
		fmt.Fprintf(&b, " (limit %s)", e.Limit)
	}
	return b.String()
}

// Compiled is a policy checked and turned into CEL programs, ready to
// evaluate. It is immutable and safe for concurrent use.
type Compiled struct {
	source    Policy
	strategy  string
	services  map[string]*compiledService
	inputSize uint64
}

type compiledService struct {
	typ   string
	rules []compiledRule
	// lastDeny is the index of the last deny rule, -1 if none: once another
	// role has allowed, only a deny can change the decision, and no rule
	// after lastDeny can produce one.
	lastDeny int
}

type compiledRule struct {
	action  string
	program cel.Program
	// tracked is the program under the cost limit, for expressions with a
	// loop; nil otherwise.
	tracked cel.Program
	// filter decides the rule without its plain program when the request's
	// service or operation is not one the expression can be true for; nil
	// when the expression does not constrain them (see prefilter).
	filter *prefilter
}

// Policy returns the policy c was compiled from.
func (c *Compiled) Policy() Policy { return c.source }

// Compile checks p in env and compiles its expressions. It refuses, with a
// *CompileError: a policy larger than MaxPolicyBytes; a default strategy other
// than allow or deny; a service env does not know; a service type other than
// allow, deny or rules; rules on a service whose type is not rules; more than
// MaxRulesPerService rules; an action other than allow or deny; an expression
// longer than MaxExpressionBytes, that does not parse or type-check, whose
// type is not bool, or whose estimated cost exceeds MaxCost. Services are
// checked in name order and rules in order, and the first problem is returned.
func Compile(p Policy, env *Env) (*Compiled, error) {
	lim := env.limits
	size, err := encodedSize(p)
	if err != nil {
		return nil, err
	}
	if size > lim.MaxPolicyBytes {
		return nil, &CompileError{Rule: -1, Limit: "MaxPolicyBytes",
			Message: fmt.Sprintf("policy is %d bytes, the limit is %d", size, lim.MaxPolicyBytes)}
	}
	if p.DefaultServiceStrategy != Allow && p.DefaultServiceStrategy != Deny {
		return nil, &CompileError{Rule: -1,
			Message: fmt.Sprintf("defaultServiceStrategy must be %q or %q, not %q", Allow, Deny, p.DefaultServiceStrategy)}
	}
	names := make([]string, 0, len(p.Services))
	for name := range p.Services {
		names = append(names, name)
	}
	sort.Strings(names)

	c := &Compiled{source: p, strategy: p.DefaultServiceStrategy,
		services: make(map[string]*compiledService, len(names)), inputSize: lim.MaxInputSize}
	for _, name := range names {
		sp := p.Services[name]
		if !env.services[name] {
			return nil, &CompileError{Service: name, Rule: -1,
				Message: fmt.Sprintf("unknown service %q (known: %s)", name, strings.Join(env.Services(), ", "))}
		}
		cs := &compiledService{typ: sp.Type, lastDeny: -1}
		switch sp.Type {
		case Allow, Deny:
			if len(sp.Rules) > 0 {
				return nil, &CompileError{Service: name, Rule: -1,
					Message: fmt.Sprintf("rules are only allowed with type %q, this service has type %q", Rules, sp.Type)}
			}
		case Rules:
			if len(sp.Rules) > lim.MaxRulesPerService {
				return nil, &CompileError{Service: name, Rule: -1, Limit: "MaxRulesPerService",
					Message: fmt.Sprintf("%d rules, the limit is %d", len(sp.Rules), lim.MaxRulesPerService)}
			}
			cs.rules = make([]compiledRule, len(sp.Rules))
			for i, r := range sp.Rules {
				rule, err := compileRule(env, name, i, r)
				if err != nil {
					return nil, err
				}
				cs.rules[i] = rule
				if r.Action == Deny {
					cs.lastDeny = i
				}
			}
		default:
			return nil, &CompileError{Service: name, Rule: -1,
				Message: fmt.Sprintf("type must be %q, %q or %q, not %q", Allow, Deny, Rules, sp.Type)}
		}
		c.services[name] = cs
	}
	return c, nil
}

func compileRule(env *Env, service string, i int, r Rule) (compiledRule, error) {
	lim := env.limits
	fail := func(format string, args ...any) *CompileError {
		return &CompileError{Service: service, Rule: i, Message: fmt.Sprintf(format, args...)}
	}
	if r.Action != Allow && r.Action != Deny {
		return compiledRule{}, fail("action must be %q or %q, not %q", Allow, Deny, r.Action)
	}
	if strings.TrimSpace(r.Expression) == "" {
		return compiledRule{}, fail("expression is empty (write 'true' to always match)")
	}
	if len(r.Expression) > lim.MaxExpressionBytes {
		e := fail("expression is %d bytes, the limit is %d", len(r.Expression), lim.MaxExpressionBytes)
		e.Limit = "MaxExpressionBytes"
		return compiledRule{}, e
	}
	ast, iss := env.cel.Compile(r.Expression)
	if iss != nil && iss.Err() != nil {
		e := fail("%s", iss.Err().Error())
		if errs := iss.Errors(); len(errs) > 0 {
			first := errs[0]
			e.Message = first.Message
			if len(errs) > 1 {
				e.Message = fmt.Sprintf("%s (and %d more errors)", first.Message, len(errs)-1)
			}
			if first.Location != nil && first.Location.Line() > 0 {
				e.Line, e.Column = first.Location.Line(), first.Location.Column()+1
			}
		}
		return compiledRule{}, e
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return compiledRule{}, fail("expression has type %s, it must be bool (compare a dynamic value explicitly, e.g. parameters.flag == true)",
			cel.FormatCELType(ast.OutputType()))
	}
	est, err := env.cel.EstimateCost(ast, estimator{maxSize: lim.MaxInputSize})
	if err != nil {
		return compiledRule{}, fail("cannot estimate the expression's cost: %v", err)
	}
	if est.Max > lim.MaxCost {
		e := fail("expression may cost up to %d units, the limit is %d (avoid nested comprehensions over parameters or resources)", est.Max, lim.MaxCost)
		e.Limit = "MaxCost"
		return compiledRule{}, e
	}
	// Only a comprehension (all, exists, exists_one, map, filter) loops. An
	// expression without one costs at most its size times its inputs' sizes
	// and cannot blow up: it runs without the cost tracker, which would
	// double its evaluation time. An expression with a loop gets two
	// programs: one under cel.CostLimit that checks the context between
	// iterations, run when some input of the request is larger than the
	// estimate assumed, and a plain one, run otherwise, when the estimate (at
	// most MaxCost) already bounds the real cost.
	// The plain program parses a literal inIpRange prefix once, here. The
	// tracked one keeps the plain call, whose cost the tracker accounts.
	prg, err := env.cel.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.CustomDecoratorV2(inIPRangeLiteral))
	if err != nil {
		return compiledRule{}, fail("cannot build the program: %v", err)
	}
	rule := compiledRule{action: r.Action, program: prg, filter: newPrefilter(ast)}
	if hasLoop(ast) {
		rule.tracked, err = env.cel.Program(ast, cel.EvalOptions(cel.OptOptimize),
			cel.CostLimit(lim.MaxCost), cel.InterruptCheckFrequency(interruptCheckFrequency))
		if err != nil {
			return compiledRule{}, fail("cannot build the program: %v", err)
		}
	}
	return rule, nil
}

// hasLoop reports whether a checked expression contains a comprehension.
func hasLoop(a *cel.Ast) bool {
	loops := celast.MatchDescendants(celast.NavigateAST(a.NativeRep()), celast.KindMatcher(celast.ComprehensionKind))
	return len(loops) > 0
}

// interruptCheckFrequency is how many comprehension iterations run between
// two checks of the context.
const interruptCheckFrequency = 64
