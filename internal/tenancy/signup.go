package tenancy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// SignupTokenPrefix starts every signup link token.
const SignupTokenPrefix = "ghsu_"

// DefaultSignupLifetime is how long a signup link works when no lifetime is
// given.
const DefaultSignupLifetime = 7 * 24 * time.Hour

// MaxSignupLifetime bounds a signup link's lifetime.
const MaxSignupLifetime = 30 * 24 * time.Hour

// ErrSignupInvalid: the signup token is unknown, expired, already used, or
// its user is no longer pending.
var ErrSignupInvalid = errors.New("signup link unknown, expired, used, or for a user that is not pending")

// CreateSignup issues the signup link token of the pending user with that
// subject in orgID (GET /api/v1/signup?token=... activates the user). The
// token is returned once; its SHA-256 is stored, and an earlier link of the
// same user stops working. Only pending users get one.
func (s *Service) CreateSignup(ctx context.Context, orgID, subject string, lifetime time.Duration) (string, time.Time, error) {
	if lifetime == 0 {
		lifetime = DefaultSignupLifetime
	}
	if lifetime < time.Minute || lifetime > MaxSignupLifetime {
		return "", time.Time{}, apierror.BadRequest("signup link lifetime %s: want between 1m and %s", lifetime, MaxSignupLifetime)
	}
	// Stored subjects are normalized (lower-cased): look the user up the same way.
	subject, err := NormalizeSubject(subject)
	if err != nil {
		return "", time.Time{}, apierror.BadRequest("%v", err)
	}
	token, err := secret.NewToken(s.Rand, SignupTokenPrefix)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("signup token: %w", err)
	}
	now := s.Now().UTC().Truncate(time.Millisecond)
	exp := now.Add(lifetime)
	err = s.Store.Tx(ctx, func(q *store.Q) error {
		u, err := q.GetUserBySubject(ctx, orgID, subject)
		if err != nil {
			return storeError(err, "user", subject)
		}
		if u.State != "pending" {
			return apierror.BadRequest("user %q is %s: signup links are for pending users", subject, u.State)
		}
		return q.ReplaceSignup(ctx, &store.Signup{TokenHash: secret.Hash(token), OrganizationID: orgID, UserID: u.ID,
			CreatedAt: now, ExpiresAt: exp})
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return token, exp, nil
}

// CompleteSignup spends a signup link token: its pending user becomes
// active, in one transaction with the token's deletion, so a link works
// once. Anything else is ErrSignupInvalid and changes nothing.
func (s *Service) CompleteSignup(ctx context.Context, token string) (*store.User, error) {
	var u *store.User
	// The subject is known once the signup is taken: the entry's actor and
	// organization are filled in inside the transaction, before its commit.
	ctx, entry := s.auditOutsideAPI(ctx, "completeSignup", "", "", "users", "")
	err := s.Store.Tx(ctx, func(q *store.Q) error {
		sg, err := q.TakeSignup(ctx, secret.Hash(token), s.Now())
		if errors.Is(err, store.ErrNotFound) {
			return ErrSignupInvalid
		}
		if err != nil {
			return err
		}
		if u, err = q.GetUser(ctx, sg.OrganizationID, sg.UserID); err != nil {
			return err
		}
		if u.State != "pending" {
			return ErrSignupInvalid
		}
		actor := &authn.Principal{Kind: authn.KindUser, ID: u.Subject, Subject: u.Subject}
		before := *u
		s.carryMeta(&u.Meta, u.Meta, actor)
		u.State = authz.ActiveUserState
		if entry != nil {
			entry.OrganizationID = sg.OrganizationID
			entry.Actor = audit.Actor{Kind: string(authn.KindUser), ID: u.Subject, Subject: u.Subject}
		}
		audit.Describe(ctx, "users", u.ID, &before, u)
		return q.UpdateUser(ctx, u)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}
