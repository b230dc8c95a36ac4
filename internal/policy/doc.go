// Package policy is the policy language of Gatehouse's IAM roles and of the
// organization guardrail: the policy document, its compilation (CEL
// expressions type-checked and cost-bounded when a policy is written) and the
// one decision function that both the policy simulator and the enforcement
// middleware call. It is pure logic: no HTTP, no storage, no clock of its own.
//
// # The document
//
// A Policy mirrors the seed's (Exoscale IAM) role policy:
//
//	{"defaultServiceStrategy": "deny",
//	 "services": {
//	   "projects": {"type": "rules", "rules": [
//	     {"action": "deny",  "expression": "operation == 'delete-project' && resources.tags.env == 'prod'"},
//	     {"action": "allow", "expression": "operation.startsWith('get-') || operation.startsWith('list-')"}]},
//	   "groups": {"type": "allow"}}}
//
// The field names are the seed's, in the product's camelCase JSON convention
// (seed-features.md §5.3, and issue 4 itself): the seed's
// "default-service-strategy" is "defaultServiceStrategy"; "services", "type",
// "rules", "action" and "expression" are spelled the same in both. Every other
// Gatehouse resource is camelCase, and a policy is embedded in them (a role's
// "policy" and "assumeRolePolicy"), so one document must not mix conventions.
//
// # Semantics of one policy
//
// For a request on service S (seed-features.md §3(a), implemented exactly):
//
//	services[S] absent         → defaultServiceStrategy decides (allow or deny)
//	services[S].type "allow"   → allow
//	services[S].type "deny"    → deny (explicit)
//	services[S].type "rules"   → the rules in order; the first rule whose
//	                             expression is true decides with its action
//	no rule is true            → deny, whatever defaultServiceStrategy says
//	a rule's evaluation fails  → the rule is skipped (it concludes nothing)
//
// Why: first-match makes a rule list read like a firewall, top to bottom, so
// an author can put the narrow deny before the broad allow. "No match → deny"
// means a rules block is an allow-list unless it says otherwise; a service
// the author bothered to name is never opened by the default by accident.
// Evaluation errors (a missing map key, a bad CIDR, the cost limit) skip the
// rule instead of failing the request, as in the seed: a rule about
// resources.tags.env must not break requests whose target has no tags. The
// sharp edge: a failing deny rule is passed over and a later allow may match
// (conformance case ip-negated-deny-skipped-on-bad-address). A fence that must
// fail closed is written as the allow ("inIpRange(sourceIP, '10.0.0.0/8')"
// with nothing after it) or guards its lookups with has().
//
// # Several roles, and the guardrail
//
// A principal may hold several roles (directly and through groups). Each is
// evaluated alone, then:
//
//	any role denies explicitly (a matching deny rule, or type "deny") → deny
//	else any role allows (allow rule, type "allow", default "allow")  → allow
//	else (only implicit denies, or no role at all)                     → deny
//
// An implicit deny (the default strategy, or no rule matched) does not veto
// another role's allow: otherwise two roles each opening one service would
// close each other's. An explicit deny does: it is how an administrator
// fences a capability off whatever else a principal holds.
//
// The organization guardrail is a policy with the same semantics, evaluated
// first and independently; the request is allowed only when the guardrail
// allows AND the roles allow. A guardrail deny (explicit or implicit) wins
// over every role allow. No guardrail (nil) allows everything, as the seed's
// empty organization policy does.
//
// # Expressions
//
// Expressions are CEL (cel.dev/cel-go), must be of type bool, and see these
// variables (see Env):
//
//	service       string           the request's service ("projects")
//	operation     string           the operation ("get-project")
//	now           timestamp        request time, e.g. now.getHours('Europe/Zurich') < 18
//	sourceIP      string           caller address; inIpRange(sourceIP, '10.0.0.0/8')
//	                               or sourceIP.inIpRange('2001:db8::/32')
//	principal     map(string, dyn) type, id, email, organizationId, groupIDs
//	organization  string           organization ID of the request
//	project       string           project ID of the request ("" if none)
//	parameters    map(string, dyn) the operation's parameters
//	resources     map(string, dyn) attributes of the target, e.g. resources.tags.env
//
// # Cost
//
// Compile estimates every expression's worst-case cost, assuming every
// string, list and map it reads is at most Limits.MaxInputSize long, and
// rejects it above Limits.MaxCost. Only a comprehension (all, exists, map,
// filter, exists_one) loops; an expression without one is evaluated plainly.
// An expression with a loop is evaluated plainly when the request's inputs
// are within MaxInputSize (the estimate then bounds its cost), and otherwise
// under cel.CostLimit(MaxCost) with context interruption checks: a cost
// blow-up is a skipped rule with a reason, never a panic or a hang. The
// context is also checked before every rule. Cost tracking and interruption
// checks make an evaluation several times slower, so only the case that can
// run away pays for them (see docs/PERFORMANCE.md, "Policy evaluation").
//
// Evaluation is kept cheap without changing what a rule means: a rule whose
// expression requires, in a conjunction, that operation (or service) equal,
// be in a list of, or start with string literals is not run for a request
// that does not satisfy that (the expression is false then, whatever else it
// says; see prefilter.go), and an inIpRange on a literal range parses the
// range once per program and sourceIP once per decision.
//
// Compiling costs milliseconds and evaluating microseconds, so compiled
// policies are kept in a bounded Cache keyed by (policy ID, version).
package policy
