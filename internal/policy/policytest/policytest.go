// Package policytest hands the policy conformance cases
// (internal/policy/testdata/conformance.json) to tests in any package, so
// that the unit suite of internal/policy and the HTTP policy simulator test
// run exactly the same cases, decoded the same way. It reads the file from
// the source tree and is meant for tests only.
package policytest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/gatehouse/gatehouse/internal/policy"
)

// Suite is the conformance file.
type Suite struct {
	// Description explains the file's format and purpose.
	Description string `json:"description"`
	// Services are the service names the cases' policies use; an Env for
	// the cases must know at least these.
	Services []string `json:"services"`
	// BaseRequest holds the request fields a case leaves out.
	BaseRequest json.RawMessage `json:"baseRequest"`
	// Cases are the cases, in file order, with unique names.
	Cases []Case `json:"cases"`
}

// Case is one policy set, one request and the expected decision.
type Case struct {
	// Name identifies the case (unique, kebab-case).
	Name string `json:"name"`
	// Description says what the case shows, when the name is not enough.
	Description string `json:"description,omitempty"`
	// Guardrail is the organization policy; nil means none.
	Guardrail *policy.Policy `json:"guardrail,omitempty"`
	// Roles are the principal's roles in the order given to Evaluate.
	Roles []Role `json:"roles"`
	// Request is the case's request fields, laid over BaseRequest.
	Request json.RawMessage `json:"request"`
	// Want is the expected decision.
	Want Want `json:"want"`
}

// Role is a named role policy.
type Role struct {
	// Name is the role's name, the Decision.Policy it is reported as.
	Name string `json:"name"`
	// Policy is the role's policy.
	Policy policy.Policy `json:"policy"`
}

// Want is an expected decision.
type Want struct {
	// Allowed is the expected decision.
	Allowed bool `json:"allowed"`
	// Policy, Service and RuleIndex must equal the Decision's.
	Policy    string `json:"policy"`
	Service   string `json:"service"`
	RuleIndex int    `json:"ruleIndex"`
	// ReasonContains, when not empty, must be part of Decision.Reason.
	ReasonContains string `json:"reasonContains,omitempty"`
}

// Path is the conformance file's location in the source tree.
func Path() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "conformance.json")
}

// Load reads and decodes the conformance file, and checks that case names
// are unique.
func Load() (*Suite, error) {
	data, err := os.ReadFile(Path())
	if err != nil {
		return nil, fmt.Errorf("read conformance cases: %w", err)
	}
	var s Suite
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("decode conformance cases: %w", err)
	}
	seen := make(map[string]bool, len(s.Cases))
	for _, c := range s.Cases {
		if seen[c.Name] {
			return nil, fmt.Errorf("conformance cases: duplicate name %q", c.Name)
		}
		seen[c.Name] = true
	}
	return &s, nil
}

// Request returns a case's request: BaseRequest with the case's fields laid
// over it (JSON decoding of one over the other).
func (s *Suite) Request(c Case) (policy.Request, error) {
	var req policy.Request
	if err := json.Unmarshal(s.BaseRequest, &req); err != nil {
		return policy.Request{}, fmt.Errorf("decode baseRequest: %w", err)
	}
	if len(c.Request) > 0 {
		if err := json.Unmarshal(c.Request, &req); err != nil {
			return policy.Request{}, fmt.Errorf("case %s: decode request: %w", c.Name, err)
		}
	}
	return req, nil
}

// Compile compiles a case's guardrail and roles in env.
func Compile(env *policy.Env, c Case) (*policy.Compiled, []policy.NamedPolicy, error) {
	var guard *policy.Compiled
	if c.Guardrail != nil {
		g, err := policy.Compile(*c.Guardrail, env)
		if err != nil {
			return nil, nil, fmt.Errorf("case %s: guardrail: %w", c.Name, err)
		}
		guard = g
	}
	roles := make([]policy.NamedPolicy, 0, len(c.Roles))
	for _, r := range c.Roles {
		compiled, err := policy.Compile(r.Policy, env)
		if err != nil {
			return nil, nil, fmt.Errorf("case %s: role %s: %w", c.Name, r.Name, err)
		}
		roles = append(roles, policy.NamedPolicy{Name: r.Name, Policy: compiled})
	}
	return guard, roles, nil
}

// Check compares a decision with the expected one and describes every
// difference; it returns "" when the decision conforms.
func (w Want) Check(d policy.Decision) string {
	var msg string
	if d.Allowed != w.Allowed || d.Policy != w.Policy || d.Service != w.Service || d.RuleIndex != w.RuleIndex {
		msg = fmt.Sprintf("decision = {allowed:%v policy:%q service:%q rule:%d}, want {allowed:%v policy:%q service:%q rule:%d}; reason: %s",
			d.Allowed, d.Policy, d.Service, d.RuleIndex, w.Allowed, w.Policy, w.Service, w.RuleIndex, d.Reason)
	}
	if w.ReasonContains != "" && !strings.Contains(d.Reason, w.ReasonContains) {
		if msg != "" {
			msg += "; "
		}
		msg += fmt.Sprintf("reason %q does not contain %q", d.Reason, w.ReasonContains)
	}
	return msg
}
