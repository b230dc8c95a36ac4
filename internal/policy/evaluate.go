package policy

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// GuardrailPolicy is Decision.Policy when the organization guardrail decided.
const GuardrailPolicy = "guardrail"

// Principal is the caller as expressions see it in the principal variable,
// under the JSON names of its fields (principal.type, principal.groupIDs, …).
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
	GroupIDs []string `json:"groupIDs"`
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
	// Explicit marks a deny that a policy stated (a matching deny rule, or a
	// service of type deny), as opposed to an implicit one (the default
	// strategy, no rule matched, no role). Enforcement lets an explicit deny
	// of a custom role override what system roles allow; an implicit one does
	// not. Not part of the simulator's JSON (it is implied by the reason).
	Explicit bool `json:"-"`
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

// how says what in a policy produced its outcome.
type how int

const (
	byDefault how = iota
	byType
	byRule
	byNoMatch
)

// result is one policy's outcome. Its reason is put into words only when it
// becomes the decision: most results of a multi-role evaluation are dropped.
type result struct {
	outcome outcome
	how     how
	service string // the services entry, "" when the default decided
	rule    int
	word    string // the strategy, type or action that decided
	skipped []skip
}

// skip is a rule whose evaluation failed.
type skip struct {
	rule int
	err  error
}

func (r result) reason(service string) string {
	var s string
	switch r.how {
	case byDefault:
		s = fmt.Sprintf("service %q is not in the policy, defaultServiceStrategy is %s", service, r.word)
	case byType:
		s = fmt.Sprintf("service %q has type %s", service, r.word)
	case byRule:
		s = fmt.Sprintf("service %q rule %d (%s) matched", service, r.rule, r.word)
	default:
		s = fmt.Sprintf("service %q: no rule matched", service)
	}
	for _, sk := range r.skipped {
		s += fmt.Sprintf("; rule %d skipped (evaluation failed: %v)", sk.rule, sk.err)
	}
	return s
}

// Evaluate decides req. It is the one decision function: the policy
// simulator and the enforcement middleware both call it. The guardrail (nil:
// no organization policy, allow everything) must allow, and then the roles
// decide: the first role (in the given order) that denies explicitly denies;
// else the first role that allows allows; else the first role's implicit
// deny is reported. It never panics and returns within the cost limits; a
// cancelled ctx makes every remaining rule evaluation fail, hence skip,
// hence deny.
func Evaluate(ctx context.Context, guardrail *Compiled, roles []NamedPolicy, req Request) Decision {
	act := bind(req)
	// One execution frame for all the decision's plain programs: given an
	// activation, every Program.Eval takes a frame from cel-go's pool, looks
	// for function bindings in the activation and returns the frame, some 30
	// ns of a rule's 100 to 250. A plain program leaves the frame as it found
	// it (comprehensions push and pop frames of their own); the cost-tracked
	// programs, which set a cost tracker on their frame, get the activation.
	if f, err := interpreter.NewExecutionFrame(act); err == nil {
		act.frame = f
		defer f.Close()
	}
	var guard *result
	if guardrail != nil {
		r := guardrail.decide(ctx, act, req, false)
		if r.outcome != allowed {
			return Decision{Allowed: false, Policy: GuardrailPolicy, Service: r.service, RuleIndex: r.rule,
				Reason: "organization guardrail denies: " + r.reason(req.Service), Explicit: r.outcome == explicitDeny}
		}
		guard = &r
	}
	if len(roles) == 0 {
		return Decision{Allowed: false, RuleIndex: -1, Reason: "the principal holds no role"}
	}
	firstAllow, firstDeny := -1, -1
	var allowResult, denyResult result
	for i, role := range roles {
		if role.Policy == nil {
			if firstDeny < 0 {
				firstDeny, denyResult = i, result{rule: -1}
			}
			continue
		}
		// Once a role has allowed, only an explicit deny from a later role
		// can change the decision, so those roles stop at their last deny.
		r := role.Policy.decide(ctx, act, req, firstAllow >= 0)
		switch {
		case r.outcome == explicitDeny:
			return Decision{Allowed: false, Policy: role.Name, Service: r.service, RuleIndex: r.rule,
				Reason: fmt.Sprintf("role %q denies explicitly: %s", role.Name, r.reason(req.Service)), Explicit: true}
		case r.outcome == allowed && firstAllow < 0:
			firstAllow, allowResult = i, r
		case r.outcome == implicitDeny && firstDeny < 0:
			firstDeny, denyResult = i, r
		}
	}
	if firstAllow >= 0 {
		name := roles[firstAllow].Name
		reason := fmt.Sprintf("role %q allows: %s", name, allowResult.reason(req.Service))
		if guard != nil {
			reason += "; organization guardrail allows: " + guard.reason(req.Service)
		}
		return Decision{Allowed: true, Policy: name, Service: allowResult.service, RuleIndex: allowResult.rule, Reason: reason}
	}
	name := roles[firstDeny].Name
	if roles[firstDeny].Policy == nil {
		return Decision{Policy: name, RuleIndex: -1, Reason: fmt.Sprintf("role %q has no compiled policy", name)}
	}
	return Decision{Allowed: false, Policy: name, Service: denyResult.service, RuleIndex: denyResult.rule,
		Reason: fmt.Sprintf("no role allows; role %q: %s", name, denyResult.reason(req.Service))}
}

// decide applies one policy to the request. With denyOnly, the caller only
// needs to know whether the policy denies explicitly: rules after the last
// deny rule are not evaluated, and the allow or implicit deny returned then
// may not be the one full evaluation would give.
func (c *Compiled) decide(ctx context.Context, act *activation, req Request, denyOnly bool) result {
	sp, ok := c.services[req.Service]
	if !ok {
		o := implicitDeny
		if c.strategy == Allow {
			o = allowed
		}
		return result{outcome: o, how: byDefault, rule: -1, word: c.strategy}
	}
	switch sp.typ {
	case Allow:
		return result{outcome: allowed, how: byType, service: req.Service, rule: -1, word: Allow}
	case Deny:
		return result{outcome: explicitDeny, how: byType, service: req.Service, rule: -1, word: Deny}
	}
	rules := sp.rules
	if denyOnly {
		rules = rules[:sp.lastDeny+1]
	}
	var skipped []skip
	for i := range rules {
		r := &rules[i]
		match, err := r.eval(ctx, act, act.largest <= c.inputSize)
		if err != nil {
			skipped = append(skipped, skip{rule: i, err: err})
			continue
		}
		if !match {
			continue
		}
		o := allowed
		if r.action == Deny {
			o = explicitDeny
		}
		return result{outcome: o, how: byRule, service: req.Service, rule: i, word: r.action, skipped: skipped}
	}
	return result{outcome: implicitDeny, how: byNoMatch, service: req.Service, rule: -1, skipped: skipped}
}

// eval runs one rule. Anything but true or false is an error: the rule is
// skipped. Panics cannot escape (cel-go recovers its own, this is a second
// net for bindings).
func (r *compiledRule) eval(ctx context.Context, act *activation, fits bool) (match bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			match, err = false, fmt.Errorf("internal error: %v", p)
		}
	}()
	if ctx.Err() != nil {
		return false, fmt.Errorf("interrupted: %w", context.Cause(ctx))
	}
	// Three cases. A loop-free expression cannot run long: plain Eval. An
	// expression with a loop, on a request whose every string, list and map
	// is within MaxInputSize: the compile-time estimate (at most MaxCost)
	// bounds its cost, plain Eval too. A loop over a larger input: the
	// program under cel.CostLimit, through ContextEval so that a cancelled
	// request stops it between iterations. ContextEval and cost tracking
	// cost several times Eval, so only the case that needs them pays.
	var out any
	if r.tracked == nil || fits {
		// The prefilter stands for the plain program only: see prefilter.
		if !r.filter.admits(act.serviceName, act.operationName) {
			return false, nil
		}
		if r.filter != nil && r.filter.exact {
			return true, nil
		}
		var input any = act
		if act.frame != nil {
			input = act.frame
		}
		v, _, e := r.program.Eval(input)
		out, err = v, e
	} else {
		v, _, e := r.tracked.ContextEval(ctx, act)
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

// activation holds a request's variables as CEL values, converted once per
// Evaluate rather than on every access by every rule. The fields are ref.Val
// (interfaces) so that resolving a name does not box a value again.
type activation struct {
	service, operation, sourceIP, organization, project ref.Val
	now, principal, parameters, resources               ref.Val
	// serviceName and operationName are the request's service and operation
	// as Go strings, for the rules' prefilters.
	serviceName, operationName string
	// sourceIPText is the request's sourceIP; sourceAddr is it parsed, when
	// sourceAddrOK, for the inIpRange calls on a literal range (ipRangeCall).
	sourceIPText string
	sourceAddr   netip.Addr
	sourceAddrOK bool
	// frame, when set, is the execution frame of this activation that the
	// plain programs share (see Evaluate); nil, they are given the activation.
	frame *interpreter.ExecutionFrame
	// largest is the length of the longest string, list or map in the
	// request: when it is within the estimate's assumption (MaxInputSize),
	// the compile-time estimate bounds every rule's cost.
	largest uint64
}

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case VarService:
		return a.service, true
	case VarOperation:
		return a.operation, true
	case VarNow:
		return a.now, true
	case VarSourceIP:
		return a.sourceIP, true
	case VarPrincipal:
		return a.principal, true
	case VarOrganization:
		return a.organization, true
	case VarProject:
		return a.project, true
	case VarParameters:
		return a.parameters, true
	case VarResources:
		return a.resources, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

// bind turns a request into the expression variables. Absent parameters and
// resources are empty maps, so a lookup in them is a missing key (an error
// that skips the rule), like a lookup of a key they lack.
func bind(req Request) *activation {
	adapter := types.DefaultTypeAdapter
	var largest uint64
	size := func(n int) {
		if uint64(n) > largest {
			largest = uint64(n)
		}
	}
	for _, s := range []string{req.Service, req.Operation, req.SourceIP, req.Organization, req.Project,
		req.Principal.Type, req.Principal.ID, req.Principal.Email, req.Principal.OrganizationID} {
		size(len(s))
	}
	size(len(req.Principal.GroupIDs))
	for _, g := range req.Principal.GroupIDs {
		size(len(g))
	}
	params := req.Parameters
	if params == nil {
		params = map[string]any{}
	}
	res := req.Resources
	if res == nil {
		res = map[string]any{}
	}
	addr, addrOK := parseAddr(req.SourceIP)
	groups := make([]ref.Val, len(req.Principal.GroupIDs))
	for i, g := range req.Principal.GroupIDs {
		groups[i] = types.String(g)
	}
	principal := types.NewMap(adapter, map[string]ref.Val{
		"type":           types.String(req.Principal.Type),
		"id":             types.String(req.Principal.ID),
		"email":          types.String(req.Principal.Email),
		"organizationId": types.String(req.Principal.OrganizationID),
		"groupIDs":       types.NewRefValList(adapter, groups),
	})
	return &activation{
		service:       types.String(req.Service),
		operation:     types.String(req.Operation),
		now:           types.Timestamp{Time: req.Now},
		sourceIP:      types.String(req.SourceIP),
		principal:     principal,
		organization:  types.String(req.Organization),
		project:       types.String(req.Project),
		parameters:    toCEL(params, size),
		resources:     toCEL(res, size),
		serviceName:   req.Service,
		operationName: req.Operation,
		sourceIPText:  req.SourceIP,
		sourceAddr:    addr,
		sourceAddrOK:  addrOK,
		largest:       largest,
	}
}

// toCEL converts decoded JSON (and the Go types handlers put in parameters
// and resources) to CEL values, deeply and once, so that a rule reading
// resources.tags.env does not convert the tags map again.
// It reports the length of every string, list and map to size.
//
// Maps are keyed by Go strings (types.NewMap[string, ref.Val]), not by
// ref.Val: a field access (resources.tags.env) then looks the name up
// directly instead of hashing an interface, which halved the cost of a rule
// reading a tag. Both are cel-go's one generic map implementation and behave
// alike in every expression (TestStringKeyedMapsAgreeWithRefValMaps).
func toCEL(v any, size func(int)) ref.Val {
	adapter := types.DefaultTypeAdapter
	switch v := v.(type) {
	case string:
		size(len(v))
		return types.String(v)
	case map[string]any:
		size(len(v))
		m := make(map[string]ref.Val, len(v))
		for k, e := range v {
			size(len(k))
			m[k] = toCEL(e, size)
		}
		return types.NewMap(adapter, m)
	case []any:
		size(len(v))
		l := make([]ref.Val, len(v))
		for i, e := range v {
			l[i] = toCEL(e, size)
		}
		return types.NewRefValList(adapter, l)
	case map[string]string:
		size(len(v))
		m := make(map[string]ref.Val, len(v))
		for k, e := range v {
			size(len(k))
			size(len(e))
			m[k] = types.String(e)
		}
		return types.NewMap(adapter, m)
	case []string:
		size(len(v))
		l := make([]ref.Val, len(v))
		for i, e := range v {
			size(len(e))
			l[i] = types.String(e)
		}
		return types.NewRefValList(adapter, l)
	}
	// Other Go values (numbers, booleans, nil, structs a handler put in) are
	// converted by cel-go; their size is unknown, so the tracked programs run.
	switch v.(type) {
	case nil, bool, float64, float32, int, int32, int64, uint, uint32, uint64:
	default:
		size(math.MaxInt)
	}
	return adapter.NativeToValue(v)
}
