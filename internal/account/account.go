// Package account owns local password accounts as people and their
// administrators meet them over HTTP (issue 13): who owns an account (the
// platform or one organization), the single-use links that let a person
// choose a password (an invitation, a password reset, the setup link of the
// first human platform administrator), and what a signed-in person may do
// with their own account (read it, change their password).
//
// The administrator never sees or sets a password: they get a link, valid
// once and for a while, which they hand to the person (issue 14 will mail
// it). Only the SHA-256 of a link's token is stored, a newer link of the
// same account revokes the older ones, and spending a link is one
// transaction with what it does, so a link works once and only if that
// succeeds.
//
// Ownership is the security boundary: an account an organization owns
// vouches for its person like that organization's own identity provider
// (store.IdP.Org), so its logins act in that organization only, never as a
// member of another and never with a platform role (see internal/oidc and
// docs/SECURITY.md). An address held by one owner's account cannot be
// claimed by another (409).
package account

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/access"
	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/connector"
	"github.com/gatehouse/gatehouse/internal/mfa"
	"github.com/gatehouse/gatehouse/internal/outbox"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tenancy"
)

// Paths of the pages links land on (served by internal/oidc).
const (
	// PasswordPath is the page of invitation and reset links: it asks for
	// the new password (twice). Under /oauth2/v2/ so that the login
	// endpoints' input checks and rate limits apply.
	PasswordPath = "/oauth2/v2/password"
	// SetupPath is the page of the setup link: email and password of the
	// first human platform administrator.
	SetupPath = "/setup"
)

// Token prefixes, so that a leaked link is recognisable.
const (
	LinkTokenPrefix  = "ghpw_"
	SetupTokenPrefix = "ghsetup_"
)

// Link lifetimes.
const (
	InviteLifetime = 7 * 24 * time.Hour
	ResetLifetime  = 24 * time.Hour
	SetupLifetime  = 24 * time.Hour
)

// Errors of the link pages (anything else is a failure to report).
var (
	// ErrLinkInvalid: the link is unknown, expired, already used, or what it
	// was for changed (the user was deleted, suspended or renamed; the
	// account was deleted).
	ErrLinkInvalid = errors.New("the link is unknown, expired, already used or no longer valid")
	// ErrAdminExists: a human platform administrator exists; setup links
	// are for the first one only.
	ErrAdminExists = errors.New("a human platform administrator already exists")
	// ErrEmailTaken: the address already has a local account.
	ErrEmailTaken = errors.New("the address already has a local account")
)

// Service runs local accounts.
type Service struct {
	Store    *store.Store
	Password *connector.Password
	// Issuer is the public base URL links start with.
	Issuer string
	Now    func() time.Time
	Rand   io.Reader
	// NewID makes the IDs of audit events recorded outside an API request
	// (the link pages).
	NewID func() string
	// SessionsEnded hears of the OIDC sessions a committed write ended
	// (back-channel logout); nil ignores them.
	SessionsEnded func(context.Context, []*store.OIDCSession)
	// Mail queues mail (invitation and reset links, password change
	// notices); nil sends none (no --smtp-url).
	Mail *outbox.Queue
	// MFA runs the person's second factors (issue 14; nil: none).
	MFA *mfa.Service
}

// Link is a link handed out once: its URL holds the token.
type Link struct {
	URL       string
	ExpiresAt time.Time
}

// Purpose and Email say what the link is for (Email "" for a setup link).
type linkSpec struct {
	purpose, email, orgID, userID string
	lifetime                      time.Duration
}

// newLink stores a fresh link of spec in q (revoking older ones) and
// returns it.
func (s *Service) newLink(ctx context.Context, q *store.Q, spec linkSpec) (*Link, error) {
	prefix, path := LinkTokenPrefix, PasswordPath
	if spec.purpose == store.LinkSetup {
		prefix, path = SetupTokenPrefix, SetupPath
	}
	token, err := secret.NewToken(s.Rand, prefix)
	if err != nil {
		return nil, fmt.Errorf("link token: %w", err)
	}
	now := s.Now().UTC().Truncate(time.Millisecond)
	l := &store.LocalAccountLink{TokenHash: secret.Hash(token), Purpose: spec.purpose, Email: spec.email,
		OrganizationID: spec.orgID, UserID: spec.userID, CreatedAt: now, ExpiresAt: now.Add(spec.lifetime)}
	if err := q.ReplaceLocalAccountLink(ctx, l); err != nil {
		return nil, err
	}
	return &Link{URL: strings.TrimRight(s.Issuer, "/") + path + "?" + url.Values{"token": {token}}.Encode(), ExpiresAt: l.ExpiresAt}, nil
}

// linkRecord is what the audit log keeps of a link handed out (never its
// token), and whether it was mailed.
func (s *Service) linkRecord(purpose, email string, exp time.Time) map[string]any {
	r := map[string]any{"link": purpose, "email": email, "expiresAt": exp}
	if s.Mail != nil && purpose != store.LinkSetup {
		r["mailed"] = true
	}
	return r
}

// orgUser reads user userID of orgID for a write about its local account.
func orgUser(ctx context.Context, q *store.Q, orgID, userID string) (*store.User, error) {
	u, err := q.GetUser(ctx, orgID, userID)
	if err != nil {
		return nil, tenancy.StoreError(err, "user", userID)
	}
	return u, nil
}

// linkGrantChange is the change of access handing out a link makes: the
// caller gets the link, and with it the rights of the user's groups.
func linkGrantChange(u *store.User) string {
	if len(u.GroupIDs) == 0 {
		return ""
	}
	return "sending a password link for a user with groups (the caller gets the link, and with it the groups' rights)"
}

// InviteUser hands out the invitation link of user userID of orgID: the
// person chooses the password of a new local account the organization
// owns, and a pending user becomes active. The user must have no local
// account yet (409: reset its password instead; or the address belongs to
// another owner's account) and must not be suspended (400). Handing a
// link for a user with groups needs the right to grant (may).
func (s *Service) InviteUser(ctx context.Context, may access.GrantCheck, orgID, userID string) (*Link, error) {
	return s.userLink(ctx, may, orgID, userID, store.LinkInvite)
}

// ResetUserPassword hands out the reset link of user userID's local account,
// which orgID must own (404 otherwise).
func (s *Service) ResetUserPassword(ctx context.Context, may access.GrantCheck, orgID, userID string) (*Link, error) {
	return s.userLink(ctx, may, orgID, userID, store.LinkReset)
}

func (s *Service) userLink(ctx context.Context, may access.GrantCheck, orgID, userID, purpose string) (*Link, error) {
	var link *Link
	err := s.Store.Tx(ctx, func(q *store.Q) error {
		u, err := orgUser(ctx, q, orgID, userID)
		if err != nil {
			return err
		}
		if u.State == "suspended" {
			return apierror.BadRequest("user %s is suspended: resume it before sending a password link", userID)
		}
		if err := checkGrant(ctx, may, orgID, linkGrantChange(u)); err != nil {
			return err
		}
		if err := s.checkAccount(ctx, q, u.Subject, orgID, purpose); err != nil {
			return err
		}
		if err := checkDomain(ctx, q, orgID, u.Subject); err != nil {
			return err
		}
		lifetime := InviteLifetime
		if purpose == store.LinkReset {
			lifetime = ResetLifetime
		}
		if link, err = s.newLink(ctx, q, linkSpec{purpose: purpose, email: u.Subject, orgID: orgID, userID: u.ID, lifetime: lifetime}); err != nil {
			return err
		}
		audit.Describe(ctx, "users", u.ID, nil, s.linkRecord(purpose, u.Subject, link.ExpiresAt))
		return s.mailLink(ctx, q, purpose, u.Subject, orgID, link)
	})
	s.pokeMail(err)
	if err != nil {
		return nil, err
	}
	return link, nil
}

// ErrForeignDomain: the organization may not own a local account at the
// address, which is not in its verified email domain (any more). It is an
// ErrLinkInvalid: what the link was for changed.
var ErrForeignDomain = fmt.Errorf("%w: the address is not in the organization's verified email domain", ErrLinkInvalid)

// mayOwn reports whether organization orgID may own a local account at
// email: only an address of its verified email domain, the rule its own
// identity provider follows (issue 12). Otherwise an organization
// administrator could make Gatehouse vouch, at platform clients, for anyone's
// address (ceo@victim.example) and take the one local account of an address
// before its owner does.
func mayOwn(ctx context.Context, q *store.Q, orgID, email string) (bool, error) {
	org, err := q.GetOrganization(ctx, orgID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("organization of local account: %w", err)
	}
	return org.VouchesFor(email), nil
}

// checkDomain is mayOwn as a 400 for the API.
func checkDomain(ctx context.Context, q *store.Q, orgID, email string) error {
	ok, err := mayOwn(ctx, q, orgID, email)
	if err != nil {
		return err
	}
	if !ok {
		return apierror.BadRequest("%s is not in the organization's verified email domain: an organization may own local accounts only for addresses of the domain it proved (verify the domain first)", email)
	}
	return nil
}

// checkAccount checks that email's local account is as a link of purpose
// needs: none for an invitation (409 if one exists, whoever owns it), one
// orgID owns for a reset (404 otherwise: another owner's account is as
// unknown as a missing one).
func (s *Service) checkAccount(ctx context.Context, q *store.Q, email, orgID, purpose string) error {
	acc, err := q.GetLocalPassword(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if purpose == store.LinkReset {
			return apierror.NotFoundError("%s has no local account", email)
		}
		return nil
	case err != nil:
		return err
	case purpose == store.LinkReset && acc.OrganizationID == orgID:
		return nil
	case purpose == store.LinkReset:
		return apierror.NotFoundError("%s has no local account", email)
	case acc.OrganizationID != orgID:
		return apierror.ConflictError("%s already has a local account of another owner", email)
	default:
		return apierror.ConflictError("%s already has a local account: send a password reset instead", email)
	}
}

func checkGrant(ctx context.Context, may access.GrantCheck, orgID, change string) error {
	if change == "" {
		return nil
	}
	return may.Check(ctx, orgID, change)
}

// UserPassword reads the local account of user userID, which orgID must own
// (404 otherwise).
func (s *Service) UserPassword(ctx context.Context, orgID, userID string) (*store.LocalPassword, error) {
	q := s.Store.Read()
	u, err := orgUser(ctx, q, orgID, userID)
	if err != nil {
		return nil, err
	}
	acc, err := q.GetLocalPassword(ctx, u.Subject)
	if errors.Is(err, store.ErrNotFound) || err == nil && acc.OrganizationID != orgID {
		return nil, apierror.NotFoundError("user %s has no local account", userID)
	}
	return acc, err
}

// DeleteUserPassword deletes the local account of user userID, which orgID
// must own (404 otherwise), with its pending links; the logins it made end.
// The user record stays (it may sign in another way).
func (s *Service) DeleteUserPassword(ctx context.Context, orgID, userID string) error {
	return s.deleteAccount(ctx, orgID, userID, func(q *store.Q) (string, error) {
		u, err := orgUser(ctx, q, orgID, userID)
		if err != nil {
			return "", err
		}
		return u.Subject, nil
	})
}

// deleteAccount deletes the local account orgID owns at the address email
// gives, its links, and the sessions its password began; the audit event
// names resourceID (the user, or the address) among the users.
func (s *Service) deleteAccount(ctx context.Context, orgID, resourceID string, email func(*store.Q) (string, error)) error {
	var ended []*store.OIDCSession
	err := s.Store.Tx(ctx, func(q *store.Q) error {
		addr, err := email(q)
		if err != nil {
			return err
		}
		before, err := q.GetLocalPassword(ctx, addr)
		if err == nil && before.OrganizationID != orgID {
			err = store.ErrNotFound
		}
		if err == nil {
			err = q.DeleteOwnedLocalPassword(ctx, addr, orgID)
		}
		if errors.Is(err, store.ErrNotFound) {
			return apierror.NotFoundError("%s has no local account", addr)
		}
		if err != nil {
			return err
		}
		if err := q.DeleteLocalAccountLinks(ctx, addr, orgID); err != nil {
			return err
		}
		if ended, err = q.EndLocalSessions(ctx, addr, "", s.Now().UTC()); err != nil {
			return err
		}
		audit.Describe(ctx, "users", resourceID, accountRecord(before), nil)
		return nil
	})
	s.sessionsEnded(ctx, err, ended)
	return err
}

// accountRecord is what the audit log keeps of an account (never its hash).
func accountRecord(a *store.LocalPassword) map[string]any {
	return map[string]any{"email": a.Email, "organizationID": a.OrganizationID, "updatedAt": a.UpdatedAt}
}

func (s *Service) sessionsEnded(ctx context.Context, err error, ended []*store.OIDCSession) {
	if err == nil && len(ended) > 0 && s.SessionsEnded != nil {
		s.SessionsEnded(ctx, ended)
	}
}

// --- platform-owned accounts ---

// checkedEmail is email's key form, or a 400.
func checkedEmail(email string) (string, error) {
	e, err := connector.CheckEmail(email)
	if err != nil {
		return "", apierror.BadRequest("%v", err)
	}
	return e, nil
}

// InvitePlatform hands out the invitation link of a new platform-owned local
// account at email (409 if the address has a local account already).
func (s *Service) InvitePlatform(ctx context.Context, email string) (*Link, error) {
	return s.platformLink(ctx, email, store.LinkInvite, InviteLifetime)
}

// ResetPlatform hands out the reset link of the platform-owned local account
// at email (404 if there is none).
func (s *Service) ResetPlatform(ctx context.Context, email string) (*Link, error) {
	return s.platformLink(ctx, email, store.LinkReset, ResetLifetime)
}

func (s *Service) platformLink(ctx context.Context, email, purpose string, lifetime time.Duration) (*Link, error) {
	email, err := checkedEmail(email)
	if err != nil {
		return nil, err
	}
	var link *Link
	err = s.Store.Tx(ctx, func(q *store.Q) error {
		if err := s.checkAccount(ctx, q, email, "", purpose); err != nil {
			return err
		}
		if link, err = s.newLink(ctx, q, linkSpec{purpose: purpose, email: email, lifetime: lifetime}); err != nil {
			return err
		}
		audit.Describe(ctx, "users", email, nil, s.linkRecord(purpose, email, link.ExpiresAt))
		return s.mailLink(ctx, q, purpose, email, "", link)
	})
	s.pokeMail(err)
	if err != nil {
		return nil, err
	}
	return link, nil
}

// ListPlatform lists a page of the platform-owned local accounts.
func (s *Service) ListPlatform(ctx context.Context, page store.Page) ([]*store.LocalPassword, error) {
	return s.Store.Read().ListLocalPasswords(ctx, "", page)
}

// DeletePlatform deletes the platform-owned local account at email (404 if
// there is none), its links and the sessions its password began.
func (s *Service) DeletePlatform(ctx context.Context, email string) error {
	email, err := checkedEmail(email)
	if err != nil {
		return apierror.NotFoundError("%s has no local account", email)
	}
	return s.deleteAccount(ctx, "", email, func(*store.Q) (string, error) { return email, nil })
}

// --- the link pages ---

// LinkFor reads the unexpired invitation or reset link of token without
// spending it (for the page that asks the password), or ErrLinkInvalid.
func (s *Service) LinkFor(ctx context.Context, token, purpose string) (*store.LocalAccountLink, error) {
	if token == "" || len(token) > 256 {
		return nil, ErrLinkInvalid
	}
	l, err := s.Store.Read().GetLocalAccountLink(ctx, secret.Hash(token), s.Now())
	if errors.Is(err, store.ErrNotFound) || store.IsInvalidInput(err) || err == nil && (l.Purpose == store.LinkSetup) != (purpose == store.LinkSetup) {
		return nil, ErrLinkInvalid
	}
	return l, err
}

// auditOutside begins the audit entry of a write made from a link page, not
// through /api/v1, with actor subject (filled in once known).
func (s *Service) auditOutside(ctx context.Context, operation, resourceType string) (context.Context, *audit.Entry) {
	if audit.From(ctx) != nil {
		return ctx, nil
	}
	e := &audit.Entry{NewID: s.NewID, Now: s.Now, OperationID: operation}
	return audit.Begin(ctx, e, resourceType, ""), e
}

// CompleteLink spends an invitation or reset link: the account gets
// password (which must meet the policy: an error wrapping
// connector.ErrPasswordPolicy, and the link stays usable), an
// organization's pending user becomes active, and every session the old
// password began ends. A link that is unknown, expired, spent, or whose
// user or account changed is ErrLinkInvalid and changes nothing; an address
// another owner took meanwhile is ErrEmailTaken.
func (s *Service) CompleteLink(ctx context.Context, token, password string) (*store.LocalAccountLink, error) {
	if token == "" || len(token) > 256 {
		return nil, ErrLinkInvalid
	}
	hash, err := s.Password.Hash(ctx, password)
	if err != nil {
		return nil, err
	}
	ctx, entry := s.auditOutside(ctx, "completePasswordLink", "localaccounts")
	var (
		l     *store.LocalAccountLink
		ended []*store.OIDCSession
	)
	err = s.Store.Tx(ctx, func(q *store.Q) error {
		var err error
		l, err = q.TakeLocalAccountLink(ctx, secret.Hash(token), s.Now())
		if errors.Is(err, store.ErrNotFound) || store.IsInvalidInput(err) || err == nil && l.Purpose == store.LinkSetup {
			return ErrLinkInvalid
		}
		if err != nil {
			return err
		}
		if entry != nil {
			entry.OrganizationID = l.OrganizationID
			entry.Actor = audit.Actor{Kind: string(authn.KindUser), ID: l.Email, Subject: l.Email}
		}
		if l.OrganizationID != "" {
			// The domain may have stopped being the organization's
			// since the link was handed out.
			ok, err := mayOwn(ctx, q, l.OrganizationID, l.Email)
			if err != nil {
				return err
			}
			if !ok {
				return ErrForeignDomain
			}
			if err := s.activateUser(ctx, q, l); err != nil {
				return err
			}
		}
		before, err := q.GetLocalPassword(ctx, l.Email)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if l.Purpose == store.LinkReset {
				return ErrLinkInvalid // the account was deleted since
			}
			before = nil
		case err != nil:
			return err
		case before.OrganizationID != l.OrganizationID:
			return ErrEmailTaken
		}
		now := s.Now().UTC()
		if err := q.SetOwnedLocalPassword(ctx, l.Email, l.OrganizationID, hash, now); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return ErrEmailTaken
			}
			return err
		}
		if ended, err = q.EndLocalSessions(ctx, l.Email, "", now); err != nil {
			return err
		}
		after := &store.LocalPassword{Email: l.Email, OrganizationID: l.OrganizationID, UpdatedAt: now}
		var b any
		if before != nil {
			b = accountRecord(before)
		}
		audit.Describe(ctx, "localaccounts", l.Email, b, accountRecord(after))
		if before != nil {
			// A password replaced (not an account's first): its owner
			// hears of it, in case it was not them.
			return s.mailPasswordChanged(ctx, q, l.Email, l.OrganizationID, now)
		}
		return nil
	})
	s.pokeMail(err)
	s.sessionsEnded(ctx, err, ended)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// activateUser checks that the organization's user of link l is still the
// one it was made for (same subject, not suspended) and makes a pending one
// active.
func (s *Service) activateUser(ctx context.Context, q *store.Q, l *store.LocalAccountLink) error {
	u, err := q.GetUser(ctx, l.OrganizationID, l.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrLinkInvalid
	}
	if err != nil {
		return err
	}
	if u.Subject != l.Email || u.State == "suspended" {
		return ErrLinkInvalid
	}
	if u.State == authz.ActiveUserState {
		return nil
	}
	u.Carry(u.Meta, s.Now(), l.Email)
	u.State = authz.ActiveUserState
	return q.UpdateUser(ctx, u)
}

// --- setup of the first human platform administrator ---

// SetupNeeded reports whether no person holds the platform administrator
// role yet (the bootstrap service account does not count).
func (s *Service) SetupNeeded(ctx context.Context) (bool, error) {
	exists, err := s.Store.Read().HasUserWithPlatformRole(ctx, platformAdminRoleID())
	return !exists, err
}

// setupLock is the lock (store.Q.LockSubject) that serializes setups.
const setupLock = "gatehouse:setup"

func platformAdminRoleID() string {
	r, _ := authz.RoleByName(authz.RolePlatformAdministrator)
	return r.ID
}

// CreateSetupLink hands out a fresh setup link (older ones stop working),
// or ErrAdminExists once a human platform administrator exists.
func (s *Service) CreateSetupLink(ctx context.Context) (*Link, error) {
	var link *Link
	err := s.Store.Tx(ctx, func(q *store.Q) error {
		exists, err := q.HasUserWithPlatformRole(ctx, platformAdminRoleID())
		if err != nil {
			return err
		}
		if exists {
			return ErrAdminExists
		}
		if link, err = s.newLink(ctx, q, linkSpec{purpose: store.LinkSetup, lifetime: SetupLifetime}); err != nil {
			return err
		}
		audit.Describe(ctx, "localaccounts", "", nil, s.linkRecord(store.LinkSetup, "", link.ExpiresAt))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return link, nil
}

// CompleteSetup spends a setup link: it creates the platform-owned local
// account email with password and binds the platform administrator role to
// that person, in one transaction. The email must be a bare address
// (connector.ErrInvalidEmail) and the password meet the policy
// (connector.ErrPasswordPolicy): the link stays usable then. A link that is
// unknown, expired or spent is ErrLinkInvalid; once a human platform
// administrator exists every setup link is refused (ErrAdminExists); an
// address that has a local account already is ErrEmailTaken.
func (s *Service) CompleteSetup(ctx context.Context, token, email, password string) (string, error) {
	if token == "" || len(token) > 256 {
		return "", ErrLinkInvalid
	}
	email, err := connector.CheckEmail(email)
	if err != nil {
		return "", err
	}
	hash, err := s.Password.Hash(ctx, password)
	if err != nil {
		return "", err
	}
	ctx, entry := s.auditOutside(ctx, "completeSetup", "localaccounts")
	if entry != nil {
		entry.Actor = audit.Actor{Kind: string(authn.KindUser), ID: email, Subject: email}
	}
	err = s.Store.Tx(ctx, func(q *store.Q) error {
		// Two setups at once (a link spent while the command line printed
		// a newer one) must not both see "no administrator yet".
		if err := q.LockSubject(ctx, setupLock); err != nil {
			return err
		}
		l, err := q.TakeLocalAccountLink(ctx, secret.Hash(token), s.Now())
		if errors.Is(err, store.ErrNotFound) || store.IsInvalidInput(err) || err == nil && l.Purpose != store.LinkSetup {
			return ErrLinkInvalid
		}
		if err != nil {
			return err
		}
		exists, err := q.HasUserWithPlatformRole(ctx, platformAdminRoleID())
		if err != nil {
			return err
		}
		if exists {
			return ErrAdminExists
		}
		if _, err := q.GetLocalPassword(ctx, email); err == nil {
			return ErrEmailTaken
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		now := s.Now().UTC()
		if err := q.SetOwnedLocalPassword(ctx, email, "", hash, now); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return ErrEmailTaken
			}
			return err
		}
		if err := q.BindPlatformRole(ctx, store.MemberUser, email, platformAdminRoleID()); err != nil {
			return err
		}
		audit.Describe(ctx, "localaccounts", email, nil, map[string]any{"email": email,
			"platformRole": authz.RolePlatformAdministrator, "updatedAt": now})
		return nil
	})
	if err != nil {
		return "", err
	}
	return email, nil
}
