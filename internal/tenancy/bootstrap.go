package tenancy

import (
	"context"
	"fmt"

	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/store"
)

// BootstrapAccountName names the platform administrator service account the
// first start creates.
const BootstrapAccountName = "platform-administrator"

const bootstrapStateKey = "bootstrap-service-account"

// Principals recorded as creators of rows made outside any API request.
var (
	systemActor   = &authn.Principal{Kind: authn.KindServiceAccount, Subject: "system:bootstrap"}
	adminCLIActor = &authn.Principal{Kind: authn.KindServiceAccount, Subject: "system:admin-cli"}
)

// Bootstrap creates the platform administrator service account on an empty
// installation and returns its token. On every later start (or when another
// replica won the race) it returns created=false and no token. Every start
// also issues the challenges of domain claims that lack one.
func (s *Service) Bootstrap(ctx context.Context) (token string, created bool, err error) {
	// Every start: domain claims from before verification existed get
	// their challenge (issue 12).
	if err := s.IssueDomainChallenges(ctx); err != nil {
		return "", false, fmt.Errorf("issue domain challenges: %w", err)
	}
	sa := &store.ServiceAccount{Meta: store.Meta{Name: BootstrapAccountName,
		Description: "Platform administrator created at first start."}}
	s.newMeta(&sa.Meta, systemActor, "")
	if token, err = s.newServiceAccountToken(sa); err != nil {
		return "", false, err
	}
	err = s.Store.Tx(ctx, func(q *store.Q) error {
		won, err := q.ClaimPlatformState(ctx, bootstrapStateKey, sa.ID)
		if err != nil || !won {
			return err
		}
		created = true
		if err := q.CreateServiceAccount(ctx, sa); err != nil {
			return fmt.Errorf("create bootstrap account: %w", err)
		}
		admin, _ := authz.RoleByName(authz.RolePlatformAdministrator)
		return q.BindPlatformRole(ctx, string(authn.KindServiceAccount), sa.ID, admin.ID)
	})
	if err != nil || !created {
		return "", false, err
	}
	return token, true, nil
}

// ReissueBootstrapToken replaces the bootstrap platform administrator's token
// (for a lost token): the old one stops working at once, and the account's
// platform-administrator binding is restored if it was removed.
func (s *Service) ReissueBootstrapToken(ctx context.Context) (string, error) {
	var token string
	err := s.Store.Tx(ctx, func(q *store.Q) error {
		id, err := q.PlatformState(ctx, bootstrapStateKey)
		if err != nil {
			return err
		}
		if id == "" {
			return fmt.Errorf("this installation was never bootstrapped: run gatehouse serve once")
		}
		sa, err := q.GetServiceAccount(ctx, "", id)
		if err != nil {
			return fmt.Errorf("bootstrap account %s: %w (was it deleted?)", id, err)
		}
		s.carryMeta(&sa.Meta, sa.Meta, adminCLIActor)
		if token, err = s.newServiceAccountToken(sa); err != nil {
			return err
		}
		if err := q.UpdateServiceAccount(ctx, sa); err != nil {
			return err
		}
		admin, _ := authz.RoleByName(authz.RolePlatformAdministrator)
		return q.BindPlatformRole(ctx, string(authn.KindServiceAccount), sa.ID, admin.ID)
	})
	return token, err
}
