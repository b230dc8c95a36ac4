package policy

import (
	"context"
	"fmt"
	"strings"
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"
)

// GuardrailPolicy is Decision.Policy when the organization guardrail decided.
const GuardrailPolicy = "guardrail"

// Principal is the caller as expressions see it in the principal variable,
// under the JSON names of its fields (principal.type, principal.groupIds, …).
type Principal struct {
	// Type is the kind of caller: user, serviceAccount, apiKey, assumedRole.
	Type string `json:"type"`
	// ID is the caller's ID.
	ID string `json:"id"`
	// Email is the caller's email address, "" if it has none.
	Email string `json:"email"`
	// OrganizationID is the organization the caller belongs to.
	OrganizationID string `json:"organizationId"`
	// GroupIDs are the groups the caller belongs to (possibly none).
	GroupIDs []string `json:"groupIds"`
}

// Request is what a decision is about. Evaluate reads no clock: Now is the
// caller's (the server clock for enforcement, the request body or the server
// clock for the simulator).
type Request struct {
	// Service is the service of the operation ("projects").
	Service string `json:"service"`
	// Operation is the operation name ("get-project").
	Operation string `json:"operation"`
	// Now is the time of the request.
	Now time.Time `json:"now"`
	// SourceIP is the caller's address.
	SourceIP string `json:"sourceIP"`
	// Principal is the caller.
	Principal Principal `json:"principal"`
	// Organization is the organization ID the request is about.
	Organization string `json:"organization"`
	// Project is the project ID the request is about, "" if none.
	Project string `json:"project"`
	// Parameters are the operation's parameters (path, query and body fields).
	Parameters map[string]any `json:"parameters,omitempty"`
	// Resources are attributes of the resources the request targets, e.g.
	// {"tags": {"env": "dev"}}.
	Resources map[string]any `json:"resources,omitempty"`
}

// NamedPolicy is one role's compiled policy and the name a Decision reports
// for it (the role's ID or name, the caller's choice).
type NamedPolicy struct {
	// Name identifies the role in decisions.
	Name string
	// Policy is the role's compiled policy.
	Policy *Compiled
}

// Decision is the outcome of Evaluate and which policy and rule produced it.
type Decision struct {
	// Allowed is the decision.
	Allowed bool `json:"allowed"`
	// Policy is GuardrailPolicy or the Name of the role that decided; "" when
	// no policy could decide (no roles at all).
	Policy string `json:"policy"`
	// Service is the services entry that decided; "" when the policy's
	// defaultServiceStrategy decided.
	Service string `json:"service"`
	// RuleIndex is the index of the deciding rule, -1 when the default
	// strategy, a service type or "no rule matched" decided.
	RuleIndex int `json:"ruleIndex"`
	// Reason explains the decision in words, including the rules skipped
	// because their evaluation failed when they preceded the decision.
	Reason string `json:"reason"`
}

// outcome of one policy.
type outcome int

const (
	// implicitDeny: the default strategy denied, or no rule matched.
	implicitDeny outcome = iota
	// allowed: an allow rule, type allow or default allow.
	allowed
	// explicitDeny: a deny rule matched, or type deny.
	explicitDeny
)

type result struct {
	outcome outcome
	service string
	rule    int
	reason  string
}

// Evaluate decides req. It is the one decision function: the policy
// simulator and the enforcement middleware both call it. The guardrail (nil:
// no organization policy, allow everything) must allow, and then the roles
// decide: the first role (in the given order) that denies explicitly denies;
// else the first role that allows allows; else the request is denied. It
// never panics and returns within the cost limits; a cancelled ctx makes
// every remaining rule evaluation fail, hence skip, hence deny.
func Evaluate(ctx context.Context, guardrail *Compiled, roles []NamedPolicy, req Request) Decision {
	act, err := interpreter.NewActivation(variables(req))
	if err != nil {
		return Decision{Allowed: false, RuleIndex: -1, Reason: fmt.Sprintf("cannot bind the request: %v", err)}
	}
	guardNote := ""
	if guardrail != nil {
		r := guardrail.decide(ctx, act, req)
		if r.outcome != allowed {
			return Decision{Allowed: false, Policy: GuardrailPolicy, Service: r.service, RuleIndex: r.rule,
				Reason: "organization guardrail denies: " + r.reason}
		}
		guardNote = "; organization guardrail allows: " + r.reason
	}
	if len(roles) == 0 {
		return Decision{Allowed: false, RuleIndex: -1, Reason: "the principal holds no role"}
	}
	var firstAllow, firstDeny *Decision
	for _, role := range roles {
		if role.Policy == nil {
			if firstDeny == nil {
				firstDeny = &Decision{Policy: role.Name, RuleIndex: -1, Reason: fmt.Sprintf("role %q has no compiled policy", role.Name)}
			}
			continue
		}
		r := role.Policy.decide(ctx, act, req)
		d := Decision{Allowed: r.outcome == allowed, Policy: role.Name, Service: r.service, RuleIndex: r.rule}
		switch r.outcome {
		case explicitDeny:
			d.Reason = fmt.Sprintf("role %q denies explicitly: %s", role.Name, r.reason)
			return d
		case allowed:
			if firstAllow == nil {
				d.Reason = fmt.Sprintf("role %q allows: %s%s", role.Name, r.reason, guardNote)
				firstAllow = &d
			}
		default:
			if firstDeny == nil {
				d.Reason = fmt.Sprintf("no role allows; role %q: %s", role.Name, r.reason)
				firstDeny = &d
			}
		}
	}
	if firstAllow != nil {
		return *firstAllow
	}
	return *firstDeny
}

// decide applies one policy to the request.
func (c *Compiled) decide(ctx context.Context, act interpreter.Activation, req Request) result {
	sp, ok := c.services[req.Service]
	if !ok {
		o := implicitDeny
		if c.strategy == Allow {
			o = allowed
		}
		return result{outcome: o, rule: -1,
			reason: fmt.Sprintf("service %q is not in the policy, defaultServiceStrategy is %s", req.Service, c.strategy)}
	}
	switch sp.typ {
	case Allow:
		return result{outcome: allowed, service: req.Service, rule: -1,
			reason: fmt.Sprintf("service %q has type allow", req.Service)}
	case Deny:
		return result{outcome: explicitDeny, service: req.Service, rule: -1,
			reason: fmt.Sprintf("service %q has type deny", req.Service)}
	}
	var skipped []string
	for i, r := range sp.rules {
		match, err := r.eval(ctx, act)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("rule %d skipped (evaluation failed: %v)", i, err))
			continue
		}
		if !match {
			continue
		}
		o := allowed
		if r.action == Deny {
			o = explicitDeny
		}
		return result{outcome: o, service: req.Service, rule: i,
			reason: fmt.Sprintf("service %q rule %d (%s) matched%s", req.Service, i, r.action, notes(skipped))}
	}
	return result{outcome: implicitDeny, service: req.Service, rule: -1,
		reason: fmt.Sprintf("service %q: no rule matched%s", req.Service, notes(skipped))}
}

func notes(skipped []string) string {
	if len(skipped) == 0 {
		return ""
	}
	return "; " + strings.Join(skipped, "; ")
}

// eval runs one rule. Anything but true or false is an error: the rule is
// skipped. Panics cannot escape (cel-go recovers its own, this is a second
// net for bindings).
func (r *compiledRule) eval(ctx context.Context, act interpreter.Activation) (match bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			match, err = false, fmt.Errorf("internal error: %v", p)
		}
	}()
	if ctx.Err() != nil {
		return false, fmt.Errorf("interrupted: %w", context.Cause(ctx))
	}
	var out any
	if ctx.Done() == nil {
		v, _, e := r.program.Eval(act)
		out, err = v, e
	} else {
		v, _, e := r.program.ContextEval(ctx, act)
		out, err = v, e
	}
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("expression returned %v, not a bool", out)
	}
	return bool(b), nil
}

// variables binds a request to the expression variables.
func variables(req Request) map[string]any {
	groups := req.Principal.GroupIDs
	if groups == nil {
		groups = []string{}
	}
	params := req.Parameters
	if params == nil {
		params = map[string]any{}
	}
	res := req.Resources
	if res == nil {
		res = map[string]any{}
	}
	return map[string]any{
		VarService:   types.String(req.Service),
		VarOperation: types.String(req.Operation),
		VarNow:       types.Timestamp{Time: req.Now},
		VarSourceIP:  types.String(req.SourceIP),
		VarPrincipal: map[string]any{
			"type":           req.Principal.Type,
			"id":             req.Principal.ID,
			"email":          req.Principal.Email,
			"organizationId": req.Principal.OrganizationID,
			"groupIds":       groups,
		},
		VarOrganization: types.String(req.Organization),
		VarProject:      types.String(req.Project),
		VarParameters:   params,
		VarResources:    res,
	}
}
