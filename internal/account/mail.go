package account

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/connector"
	"github.com/gatehouse/gatehouse/internal/mail"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Mail (issue 14): with Service.Mail set, the links handed out here are
// also mailed to the account's address, and a password change is told to
// its owner; each message is queued in the transaction of its event
// (internal/outbox), so it is sent if and only if the event happened.
// Without it nothing is mailed: links reach people through the API, the
// console and the CLI, as before.

// langKey carries the language of mail a request causes.
type langKey struct{}

// WithLanguage makes the mail queued under ctx be in lang (a language tag;
// see mail.Lang). The pages set it from the browser's language; mail
// caused elsewhere is in English, since an administrator's language says
// nothing of the recipient's.
func WithLanguage(ctx context.Context, lang string) context.Context {
	return context.WithValue(ctx, langKey{}, mail.Lang(lang))
}

func languageOf(ctx context.Context) string {
	if l, ok := ctx.Value(langKey{}).(string); ok {
		return l
	}
	return mail.Languages[0]
}

// Mails reports whether this Gatehouse sends mail.
func (s *Service) Mails() bool { return s.Mail != nil }

// orgName is the name messages give organization orgID ("" the platform).
func orgName(ctx context.Context, q *store.Q, orgID string) (string, error) {
	if orgID == "" {
		return "", nil
	}
	o, err := q.GetOrganization(ctx, orgID)
	if err != nil {
		return "", err
	}
	return o.Name, nil
}

// mailLink queues the message carrying link (an invitation or reset) to
// email, in q. Without mail it does nothing.
func (s *Service) mailLink(ctx context.Context, q *store.Q, purpose, email, orgID string, link *Link) error {
	if s.Mail == nil {
		return nil
	}
	kind := mail.KindReset
	if purpose == store.LinkInvite {
		kind = mail.KindInvite
	}
	org, err := orgName(ctx, q, orgID)
	if err != nil {
		return err
	}
	_, err = s.Mail.Add(ctx, q, kind, languageOf(ctx), email, mail.Data{Link: link.URL, ExpiresAt: link.ExpiresAt, Email: email,
		Organization: org, Issuer: s.Issuer}, link.ExpiresAt)
	return err
}

// mailPasswordChanged queues the notice that email's password changed at
// now, in q. Without mail it does nothing.
func (s *Service) mailPasswordChanged(ctx context.Context, q *store.Q, email, orgID string, now time.Time) error {
	if s.Mail == nil {
		return nil
	}
	org, err := orgName(ctx, q, orgID)
	if err != nil {
		return err
	}
	_, err = s.Mail.Add(ctx, q, mail.KindPasswordChanged, languageOf(ctx), email, mail.Data{Email: email, Organization: org,
		Issuer: s.Issuer, At: now}, time.Time{})
	return err
}

// pokeMail wakes the local outbox worker after a write that queued mail
// committed.
func (s *Service) pokeMail(err error) {
	if err == nil && s.Mail != nil {
		s.Mail.Poke()
	}
}

// ErrNoMail: this Gatehouse sends no mail, so it cannot mail a reset link.
var ErrNoMail = errors.New("this Gatehouse sends no mail (no --smtp-url)")

// RequestReset is the "Forgot password?" page's request: if email has a
// local account that may still sign in (a platform account, or an
// organization's whose user is not suspended and whose address is still in
// its verified domain), a reset link (the one administrators hand out:
// single use, ResetLifetime, revoking older ones) is mailed to it. The
// caller learns nothing of whether that happened: it is nil either way, so
// the page answers the same for an account that exists and one that does
// not. Only a malformed address (connector.ErrInvalidEmail), no mail
// (ErrNoMail) and failures are errors.
func (s *Service) RequestReset(ctx context.Context, email string) error {
	if s.Mail == nil {
		return ErrNoMail
	}
	email, err := connector.CheckEmail(email)
	if err != nil {
		return err
	}
	ctx, entry := s.auditOutside(ctx, "requestPasswordReset", "localaccounts")
	err = s.Store.Tx(ctx, func(q *store.Q) error {
		acc, err := q.GetLocalPassword(ctx, email)
		if errors.Is(err, store.ErrNotFound) {
			return errNothingToDo
		}
		if err != nil {
			return err
		}
		spec := linkSpec{purpose: store.LinkReset, email: email, orgID: acc.OrganizationID, lifetime: ResetLifetime}
		if acc.OrganizationID != "" {
			ok, err := mayOwn(ctx, q, acc.OrganizationID, email)
			if err != nil {
				return err
			}
			if !ok {
				return errNothingToDo
			}
			u, err := q.GetUserBySubject(ctx, acc.OrganizationID, email)
			if errors.Is(err, store.ErrNotFound) {
				return errNothingToDo
			}
			if err != nil {
				return err
			}
			if u.State == "suspended" {
				return errNothingToDo
			}
			spec.userID = u.ID
		}
		link, err := s.newLink(ctx, q, spec)
		if err != nil {
			return err
		}
		if entry != nil {
			entry.OrganizationID = acc.OrganizationID
			// Anyone may ask: the actor is not the account's owner.
			entry.Actor = audit.Actor{Kind: "anonymous"}
		}
		audit.Describe(ctx, "localaccounts", email, nil, map[string]any{"link": store.LinkReset, "email": email,
			"expiresAt": link.ExpiresAt, "mailed": true, "requestedBy": "forgot-password page"})
		return s.mailLink(ctx, q, store.LinkReset, email, acc.OrganizationID, link)
	})
	if errors.Is(err, errNothingToDo) {
		return nil
	}
	s.pokeMail(err)
	return err
}

// errNothingToDo rolls back a RequestReset that has no account to mail.
var errNothingToDo = errors.New("no local account to reset")
