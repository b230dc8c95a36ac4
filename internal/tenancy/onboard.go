package tenancy

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Limits of resource metadata, as api/openapi.yaml states them for the
// /api/v1 bodies (the guard checks those; forms outside the API use these).
const (
	MaxNameLength        = 63
	MaxDescriptionLength = 1024
)

var (
	validName = regexp.MustCompile(`^[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$`)
	notLabel  = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)
)

// ValidName reports whether s is a valid resource name: a Kubernetes label
// value of 1-63 characters.
func ValidName(s string) bool { return len(s) <= MaxNameLength && validName.MatchString(s) }

// NameFromSubject derives a resource name from an email when a user is
// written without metadata: "Jo.Doe@example.com" → "Jo.Doe-example.com".
func NameFromSubject(subject string) string {
	s := notLabel.ReplaceAllString(subject, "-")
	if len(s) > MaxNameLength {
		s = s[:MaxNameLength]
	}
	return strings.Trim(s, "-_.")
}

// OnboardInput is what the onboarding form (POST /oauth2/v2/onboard) asks
// of a user who belongs to no organization yet.
type OnboardInput struct {
	// Subject is the authenticated user (an email).
	Subject                                   string
	OrganizationName, OrganizationDescription string
	GroupName, GroupDescription               string
	// RoleIDs are the system roles of the group: assignable ones only,
	// administrator when empty.
	RoleIDs []string
}

// ErrOnboarded: the subject already has a user record in an organization,
// or its email domain belongs to one; onboarding is for people who have
// neither.
var ErrOnboarded = errors.New("already a member of an organization, or the email domain belongs to one")

// CheckOnboardInput checks the input's names, descriptions and roles (and
// defaults the roles), returning an apierror naming the field at fault.
func CheckOnboardInput(in *OnboardInput) error {
	bad := apierror.BadRequest
	subject, err := NormalizeSubject(in.Subject)
	if err != nil {
		return bad("subject: %v", err)
	}
	in.Subject = subject
	switch {
	case !ValidName(in.OrganizationName):
		return bad("organization_name: 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
	case !ValidName(in.GroupName):
		return bad("group_name: 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
	case len(in.OrganizationDescription) > MaxDescriptionLength, len(in.GroupDescription) > MaxDescriptionLength:
		return bad("descriptions have at most %d characters", MaxDescriptionLength)
	case TextProblem(in.OrganizationDescription) != "", TextProblem(in.GroupDescription) != "":
		return bad("descriptions must be valid UTF-8 text without NUL characters")
	}
	if len(in.RoleIDs) == 0 {
		admin, _ := authz.RoleByName(authz.RoleAdministrator)
		in.RoleIDs = []string{admin.ID}
	}
	in.RoleIDs = dedupeList(in.RoleIDs)
	// A new organization has no roles of its own: the assignable system
	// roles only.
	for _, id := range in.RoleIDs {
		if r, ok := authz.RoleByID(id); !ok || !r.Assignable {
			return bad("roles: %q is not a role a new organization may grant (administrator, user or reader)", id)
		}
	}
	return nil
}

func dedupeList(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// NeedsOnboarding reports whether subject belongs to no organization: no
// user record anywhere, and an email domain that no organization owns (such
// people are for that organization to add), and no platform role.
func NeedsOnboarding(ctx context.Context, q *store.Q, subject string) (bool, error) {
	states, err := q.UserStatesOfSubject(ctx, subject)
	if err != nil || len(states) > 0 {
		return false, err
	}
	// A platform administrator (admin users set-password
	// --platform-administrator) has somewhere to go without an
	// organization: the console's platform pages.
	if roles, err := q.PlatformRoles(ctx, store.MemberUser, subject); err != nil || len(roles) > 0 {
		return false, err
	}
	at := strings.LastIndexByte(subject, '@')
	if at < 0 {
		return true, nil
	}
	_, err = q.OrganizationByDomain(ctx, subject[at+1:])
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	return false, err
}

// auditOutsideAPI begins the audit entry of a write made by the login flow
// rather than through /api/v1 (onboarding, completing a signup), with the
// signed-in subject as the actor: such writes are recorded like API writes,
// in their own transaction. A ctx that already carries an entry keeps it.
// The new entry is returned (nil when ctx had one) so that a write which
// learns its organization and actor only inside its transaction can set
// them before the commit.
func (s *Service) auditOutsideAPI(ctx context.Context, operation, orgID, subject, resourceType, resourceID string) (context.Context, *audit.Entry) {
	if audit.From(ctx) != nil {
		return ctx, nil
	}
	e := &audit.Entry{NewID: s.NewID, Now: s.Now, OrganizationID: orgID, OperationID: operation,
		Actor: audit.Actor{Kind: string(authn.KindUser), ID: subject, Subject: subject}}
	return audit.Begin(ctx, e, resourceType, resourceID), e
}

// Onboard creates, in one transaction, an adhoc organization, a group in it
// with the chosen roles, and the subject as an active user in that group:
// all of it or nothing (a name clash leaves no organization behind). It
// returns ErrOnboarded when the subject turns out to need no onboarding
// (checked under a per-subject lock, so two concurrent onboardings of one
// person create one organization).
func (s *Service) Onboard(ctx context.Context, in OnboardInput) (*store.Organization, error) {
	if err := CheckOnboardInput(&in); err != nil {
		return nil, err
	}
	actor := &authn.Principal{Kind: authn.KindUser, ID: in.Subject, Subject: in.Subject}
	org := &store.Organization{Meta: store.Meta{Name: in.OrganizationName, Description: in.OrganizationDescription},
		Type: OrganizationAdhoc}
	s.newMeta(&org.Meta, actor, "")
	org.OrganizationID = org.ID
	user := &store.User{Meta: store.Meta{Name: NameFromSubject(in.Subject)}, Subject: in.Subject, State: authz.ActiveUserState}
	s.newMeta(&user.Meta, actor, org.ID)
	group := &store.Group{Meta: store.Meta{Name: in.GroupName, Description: in.GroupDescription}, RoleIDs: in.RoleIDs,
		UserIDs: []string{user.ID}}
	s.newMeta(&group.Meta, actor, org.ID)
	if user.Name == "" {
		return nil, apierror.BadRequest("no user name can be derived from the subject %q", in.Subject)
	}
	ctx, _ = s.auditOutsideAPI(ctx, "onboard", org.ID, in.Subject, "organizations", org.ID)
	err := s.Store.Tx(ctx, func(q *store.Q) error {
		if err := q.LockSubject(ctx, in.Subject); err != nil {
			return err
		}
		need, err := NeedsOnboarding(ctx, q, in.Subject)
		if err != nil {
			return err
		}
		if !need {
			return ErrOnboarded
		}
		if err := q.CreateOrganization(ctx, org); err != nil {
			return organizationError(err, org)
		}
		if err := q.CreateUser(ctx, user); err != nil {
			return userError(err, user)
		}
		audit.Describe(ctx, "organizations", org.ID, nil, map[string]any{"organization": org, "group": group, "user": user})
		return storeError(q.CreateGroup(ctx, group), "group", group.Name)
	})
	if err != nil {
		return nil, err
	}
	return org, nil
}
