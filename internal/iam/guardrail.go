package iam

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/policy"
	"github.com/gatehouse/gatehouse/internal/store"
)

// guardrail reads orgID's guardrail in q: nil when it has none.
func (s *Service) guardrail(ctx context.Context, q *store.Q, orgID string) (*policy.Policy, error) {
	row, err := q.GetOrganizationPolicy(ctx, orgID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p, err := policy.Parse([]byte(row.Policy), s.Access.Env().Limits())
	if err != nil {
		return nil, fmt.Errorf("guardrail of %s: stored policy: %w", orgID, err)
	}
	return &p, nil
}

// GetGuardrail returns orgID's guardrail policy; an organization without one
// answers the allow-all policy (the same decisions).
func (s *Service) GetGuardrail(ctx context.Context, orgID string) (policy.Policy, error) {
	p, err := s.guardrail(ctx, s.Store.Read(), orgID)
	if err != nil || p == nil {
		return policy.AllowAll(), err
	}
	return *p, nil
}

// PutGuardrail replaces orgID's guardrail with p, compiled first (a bad
// policy is a 400 and nothing is stored). Every replica applies it from its
// next request: the compiled guardrail is cached by version.
//
// The guardrail caps every grant in the organization, so replacing it can
// widen anyone's access as surely as giving them a role: it needs the right
// to grant (access.GrantOperation), decided under the guardrail in force,
// beside the right to the write. ResetGuardrail does not: it is the
// break-glass permission resetOrganizationPolicy, granted on its own.
func (s *Service) PutGuardrail(ctx context.Context, o Origin, orgID string, p policy.Policy) (policy.Policy, error) {
	if err := s.Access.GrantCheck(o.Caller, o.Now, o.SourceIP).Check(ctx, orgID, "replacing the organization's guardrail"); err != nil {
		return policy.Policy{}, err
	}
	text, err := s.compile("policy", p)
	if err != nil {
		return policy.Policy{}, err
	}
	return p, s.changeGuardrail(ctx, orgID, p, func(q *store.Q) error {
		return q.PutOrganizationPolicy(ctx, &store.OrganizationPolicy{OrganizationID: orgID, Policy: text, ModifiedAt: s.now(), ModifiedBy: o.Caller.Principal.Subject})
	})
}

// ResetGuardrail removes orgID's guardrail and returns the allow-all policy
// that now applies.
func (s *Service) ResetGuardrail(ctx context.Context, actor *authn.Principal, orgID string) (policy.Policy, error) {
	allowAll := policy.AllowAll()
	return allowAll, s.changeGuardrail(ctx, orgID, allowAll, func(q *store.Q) error {
		_, err := q.ResetOrganizationPolicy(ctx, orgID, s.now(), actor.Subject)
		return err
	})
}

// changeGuardrail runs write, which makes after orgID's guardrail, in one
// transaction with the audit record of the change.
func (s *Service) changeGuardrail(ctx context.Context, orgID string, after policy.Policy, write func(q *store.Q) error) error {
	return s.Store.Tx(ctx, func(q *store.Q) error {
		before, err := s.guardrail(ctx, q, orgID)
		if err != nil {
			return err
		}
		if err := write(q); err != nil {
			return err
		}
		audit.Describe(ctx, auditPolicies, orgID, guardrailView(before), guardrailView(&after))
		return nil
	})
}

// guardrailView is how the audit log records a guardrail: the document, or
// the allow-all policy for none.
func guardrailView(p *policy.Policy) any {
	if p == nil {
		return map[string]any{"policy": policy.AllowAll(), "none": true}
	}
	return map[string]any{"policy": *p}
}
