package policy

import (
	"strings"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
)

// A prefilter is what a rule's expression says, statically, about the
// request's service and operation: conditions that must all hold for the
// expression to be true. Most rules name the operations they are about
// (operation in ['get-project', 'list-projects'] && …), and most requests are
// about another operation: for them the rule is false without running CEL,
// which would cost a fraction of a microsecond per rule and is, for a
// principal with many roles, most of a decision's time.
//
// Why it is exact: the conditions are conjuncts of the expression (operands
// of a chain of &&, at any nesting, never under !, || or a macro). CEL's &&
// is false as soon as one operand is false, even when another one is an error
// (both orders: false && error and error && false are false). So when a
// condition is false, the plain program returns false, never an error: the
// rule does not match and is not reported as skipped, which is exactly what
// skipping it says. The conditions themselves never fail: service and
// operation are always strings, and they are compared with string literals.
//
// Two cases keep the program. The context is checked before the prefilter,
// so a cancelled request still skips every remaining rule with "interrupted".
// And the cost-tracked program (a loop over an input larger than the estimate
// assumed) is always run: it can abort on the cost limit or the context in an
// operand evaluated before the false one, and that is an error, not false.
type prefilter struct {
	// conds must all hold for the expression to be true.
	conds []condition
	// exact: the expression is nothing but conds, so the conditions are its
	// value and the program need not run when they all hold either.
	exact bool
}

// condition constrains one request variable to string literals.
type condition struct {
	// onService: the condition is on service, not operation.
	onService bool
	kind      conditionKind
	// values are the literals: one for equals and prefix, the list's
	// elements for in.
	values []string
}

type conditionKind int

const (
	// condEquals is `v == 'x'` or `'x' == v`.
	condEquals conditionKind = iota
	// condIn is `v in ['a', 'b']`.
	condIn
	// condPrefix is `v.startsWith('p')`.
	condPrefix
)

// holds reports whether c is true for a request's service and operation.
func (c *condition) holds(service, operation string) bool {
	v := operation
	if c.onService {
		v = service
	}
	switch c.kind {
	case condPrefix:
		return strings.HasPrefix(v, c.values[0])
	default: // condEquals, condIn
		for _, x := range c.values {
			if v == x {
				return true
			}
		}
		return false
	}
}

// admits reports whether every condition holds, i.e. whether the expression
// may be true for this service and operation. A nil prefilter admits all.
func (p *prefilter) admits(service, operation string) bool {
	if p == nil {
		return true
	}
	for i := range p.conds {
		if !p.conds[i].holds(service, operation) {
			return false
		}
	}
	return true
}

// newPrefilter extracts the conditions of a checked boolean expression; nil
// when it has none (the program always runs).
func newPrefilter(a *cel.Ast) *prefilter {
	native := a.NativeRep()
	p := &prefilter{exact: true}
	var walk func(e celast.Expr)
	walk = func(e celast.Expr) {
		if e.Kind() == celast.CallKind {
			call := e.AsCall()
			if call.FunctionName() == operators.LogicalAnd && !call.IsMemberFunction() {
				for _, arg := range call.Args() {
					walk(arg)
				}
				return
			}
		}
		if c, ok := conditionOf(native, e); ok {
			p.conds = append(p.conds, c)
			return
		}
		p.exact = false
	}
	walk(native.Expr())
	if len(p.conds) == 0 {
		return nil
	}
	return p
}

// conditionOf recognizes one conjunct that constrains service or operation
// to string literals. Anything else (!=, a negation, a non-literal operand, a
// list with a non-string element) is not a condition: the program decides it.
func conditionOf(a *celast.AST, e celast.Expr) (condition, bool) {
	if e.Kind() != celast.CallKind {
		return condition{}, false
	}
	call := e.AsCall()
	args := call.Args()
	switch call.FunctionName() {
	case operators.Equals:
		if call.IsMemberFunction() || len(args) != 2 {
			return condition{}, false
		}
		for _, pair := range [][2]celast.Expr{{args[0], args[1]}, {args[1], args[0]}} {
			if v, ok := requestVariable(a, pair[0]); ok {
				if s, ok := stringLiteral(pair[1]); ok {
					return condition{onService: v == VarService, kind: condEquals, values: []string{s}}, true
				}
			}
		}
	case operators.In:
		if call.IsMemberFunction() || len(args) != 2 || args[1].Kind() != celast.ListKind {
			return condition{}, false
		}
		v, ok := requestVariable(a, args[0])
		if !ok {
			return condition{}, false
		}
		list := args[1].AsList()
		if len(list.OptionalIndices()) > 0 {
			return condition{}, false
		}
		values := make([]string, 0, list.Size())
		for _, el := range list.Elements() {
			s, ok := stringLiteral(el)
			if !ok {
				return condition{}, false
			}
			values = append(values, s)
		}
		return condition{onService: v == VarService, kind: condIn, values: values}, true
	case overloads.StartsWith:
		if !call.IsMemberFunction() || len(args) != 1 {
			return condition{}, false
		}
		if ids := a.GetOverloadIDs(e.ID()); len(ids) != 1 || ids[0] != overloads.StartsWithString {
			return condition{}, false
		}
		v, ok := requestVariable(a, call.Target())
		if !ok {
			return condition{}, false
		}
		if s, ok := stringLiteral(args[0]); ok {
			return condition{onService: v == VarService, kind: condPrefix, values: []string{s}}, true
		}
	}
	return condition{}, false
}

// requestVariable reports whether e is the service or operation variable
// itself, as the type checker resolved it (not a comprehension's variable of
// the same name, which cannot occur outside a macro anyway).
func requestVariable(a *celast.AST, e celast.Expr) (string, bool) {
	if e.Kind() != celast.IdentKind {
		return "", false
	}
	name := e.AsIdent()
	if name != VarService && name != VarOperation {
		return "", false
	}
	ref, ok := a.ReferenceMap()[e.ID()]
	if !ok || ref.Name != name || ref.Value != nil {
		return "", false
	}
	return name, true
}

// stringLiteral returns the value of a string literal.
func stringLiteral(e celast.Expr) (string, bool) {
	if e.Kind() != celast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}
