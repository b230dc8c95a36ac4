package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Strategies, service types and rule actions.
const (
	// Allow is a default strategy, a service type and a rule action.
	Allow = "allow"
	// Deny is a default strategy, a service type and a rule action.
	Deny = "deny"
	// Rules is the service type whose rules decide, first match in order.
	Rules = "rules"
)

// Policy is a role's policy or an organization's guardrail policy.
type Policy struct {
	// DefaultServiceStrategy ("allow" or "deny") decides for services that
	// Services does not name.
	DefaultServiceStrategy string `json:"defaultServiceStrategy"`
	// Services maps a service name to how its requests are decided.
	Services map[string]ServicePolicy `json:"services"`
}

// ServicePolicy decides the requests of one service.
type ServicePolicy struct {
	// Type is "allow", "deny" or "rules".
	Type string `json:"type"`
	// Rules are evaluated in order when Type is "rules"; the first whose
	// expression is true decides. They must be empty for the other types.
	Rules []Rule `json:"rules,omitempty"`
}

// Rule is one conditional decision.
type Rule struct {
	// Action ("allow" or "deny") is the decision when Expression is true.
	Action string `json:"action"`
	// Expression is a CEL expression of type bool.
	Expression string `json:"expression"`
}

// AllowAll is the policy that allows every request: the seed's default for a
// role created without a policy and for a reset organization policy.
func AllowAll() Policy {
	return Policy{DefaultServiceStrategy: Allow, Services: map[string]ServicePolicy{}}
}

// Parse decodes a policy document strictly: the document must be at most
// limits.MaxPolicyBytes long, be one JSON object, and have no unknown fields.
// It does not compile the policy; Compile does.
func Parse(data []byte, limits Limits) (Policy, error) {
	limits = limits.withDefaults()
	if len(data) > limits.MaxPolicyBytes {
		return Policy{}, &CompileError{Rule: -1, Limit: "MaxPolicyBytes",
			Message: fmt.Sprintf("policy is %d bytes, the limit is %d", len(data), limits.MaxPolicyBytes)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p Policy
	if err := dec.Decode(&p); err != nil {
		return Policy{}, &CompileError{Rule: -1, Message: fmt.Sprintf("policy is not valid JSON: %v", err)}
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return Policy{}, &CompileError{Rule: -1, Message: "policy must be a single JSON object"}
	}
	return p, nil
}

// encodedSize is the length of p as JSON, the measure MaxPolicyBytes bounds.
func encodedSize(p Policy) (int, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return 0, fmt.Errorf("measure policy: %w", err)
	}
	return len(b), nil
}
