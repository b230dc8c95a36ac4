package scim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/access"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tenancy"

	filter "github.com/scim2/filter-parser/v2"
)

// Service maps SCIM onto the tenancy service's users and groups of one
// organization.
//
// What the directory sees: the organization's users whose subject is an
// address of its verified domain (the directory speaks for those people
// only, as the organization's own identity provider does:
// store.Organization.VouchesFor), and the groups the directory made (those
// with a record). Other users and groups, the administrators' own group
// among them, are as unknown to it as another organization's (404).
type Service struct {
	Store   *store.Store
	Tenancy *tenancy.Service
}

// Query is a list request's parameters (RFC 7644, section 3.4.2).
type Query struct {
	Filter, SortBy, SortOrder string
	StartIndex, Count         int
	// Attributes and ExcludedAttributes name top-level attributes to
	// return, or to leave out (RFC 7644, section 3.4.2.5).
	Attributes, ExcludedAttributes []string
}

// ParseQuery reads a list request's query parameters.
func ParseQuery(r *http.Request) (Query, error) {
	v := r.URL.Query()
	q := Query{Filter: v.Get("filter"), SortBy: v.Get("sortBy"), SortOrder: v.Get("sortOrder"), StartIndex: 1, Count: MaxResults}
	for name, dst := range map[string]*int{"startIndex": &q.StartIndex, "count": &q.Count} {
		s := v.Get(name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return q, badRequest(InvalidValue, "%s must be an integer, not %q", name, s)
		}
		*dst = n
	}
	// RFC 7644, section 3.4.2.4: a startIndex below 1 is 1, a negative
	// count is 0; and this provider answers at most MaxResults.
	q.StartIndex = max(q.StartIndex, 1)
	q.Count = min(max(q.Count, 0), MaxResults)
	split := func(s string) []string {
		var out []string
		for _, a := range strings.Split(s, ",") {
			if a = strings.TrimSpace(a); a != "" {
				out = append(out, a)
			}
		}
		return out
	}
	q.Attributes, q.ExcludedAttributes = split(v.Get("attributes")), split(v.Get("excludedAttributes"))
	return q, nil
}

// errStale: the resource changed between the read a PATCH was applied to
// and its write; the PATCH is applied again to the new state.
var errStale = errors.New("scim: the resource changed during the patch")

// patchAttempts bounds how often a PATCH is reapplied after errStale.
const patchAttempts = 3

// version is a resource's ETag (RFC 7644, section 3.14): weak, from its
// last modification (its creation until then), in milliseconds.
func version(m store.Meta) string {
	t := m.ModifiedAt
	if t.IsZero() {
		t = m.CreatedAt
	}
	return fmt.Sprintf(`W/"%d"`, t.UnixMilli())
}

// checkIfMatch refuses a write whose If-Match does not name the stored
// version (412); "" and "*" match any.
func checkIfMatch(ifMatch string, m store.Meta) error {
	if ifMatch == "" || ifMatch == "*" {
		return nil
	}
	cur := version(m)
	for _, v := range strings.Split(ifMatch, ",") {
		v = strings.TrimSpace(v)
		if v == cur || "W/"+v == cur {
			return nil
		}
	}
	return Errorf(http.StatusPreconditionFailed, "", "the resource's version is %s, not %s", cur, ifMatch)
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (s *Service) organization(ctx context.Context, orgID string) (*store.Organization, error) {
	o, err := s.Store.Read().GetOrganization(ctx, orgID)
	if err != nil {
		return nil, tenancy.StoreError(err, "organization", orgID)
	}
	return o, nil
}

func notFound(kind, id string) *Error {
	return Errorf(http.StatusNotFound, "", "%s %q not found", kind, id)
}

// --- users ---

// userView is what a user's answer is built from.
type userView struct {
	u      *store.User
	rec    *store.SCIMRecord
	groups map[string]*store.SCIMRecord // the directory's groups, by ID
}

func (v userView) resource(base string) *User {
	u := v.u
	active := Bool(u.State == authz.ActiveUserState)
	out := &User{Schemas: []string{SchemaUser}, ID: u.ID, UserName: u.Subject, Active: &active,
		Meta: &Meta{ResourceType: "User", Created: timestamp(u.CreatedAt), LastModified: timestamp(lastModified(u.Meta)),
			Location: base + "/Users/" + u.ID, Version: version(u.Meta)}}
	var attrs userAttributes
	if v.rec != nil {
		out.ExternalID = v.rec.ExternalID
		_ = json.Unmarshal([]byte(v.rec.Attributes), &attrs)
	}
	out.Name, out.DisplayName, out.Emails, out.Enterprise = attrs.Name, attrs.DisplayName, attrs.Emails, attrs.Enterprise
	if out.Enterprise != nil {
		out.Schemas = append(out.Schemas, SchemaEnterprise)
	}
	if len(out.Emails) == 0 {
		out.Emails = []Email{{Value: u.Subject, Type: "work", Primary: true}}
	}
	for _, g := range u.GroupIDs {
		if rec, ok := v.groups[g]; ok {
			var ga groupAttributes
			_ = json.Unmarshal([]byte(rec.Attributes), &ga)
			out.Groups = append(out.Groups, Ref{Value: g, Ref: base + "/Groups/" + g, Display: ga.DisplayName, Type: "direct"})
		}
	}
	return out
}

func lastModified(m store.Meta) time.Time {
	if m.ModifiedAt.IsZero() {
		return m.CreatedAt
	}
	return m.ModifiedAt
}

// GetUser answers one user.
func (s *Service) GetUser(ctx context.Context, c *Caller, base, id string) (*User, error) {
	org, err := s.organization(ctx, c.OrganizationID)
	if err != nil {
		return nil, err
	}
	q := s.Store.Read()
	u, err := q.GetUser(ctx, c.OrganizationID, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && !org.VouchesFor(u.Subject) {
		return nil, notFound("User", id)
	}
	if err != nil {
		return nil, fmt.Errorf("scim get user: %w", err)
	}
	rec, err := q.GetSCIMRecord(ctx, store.SCIMUsers, c.OrganizationID, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("scim get user: %w", err)
	}
	groups, err := q.SCIMRecords(ctx, store.SCIMGroups, c.OrganizationID)
	if err != nil {
		return nil, fmt.Errorf("scim get user: %w", err)
	}
	return userView{u: u, rec: rec, groups: groups}.resource(base), nil
}

// ListUsers answers the users a query selects.
func (s *Service) ListUsers(ctx context.Context, c *Caller, base string, qy Query) (map[string]any, error) {
	expr, err := parseFilter(qy.Filter)
	if err != nil {
		return nil, err
	}
	org, err := s.organization(ctx, c.OrganizationID)
	if err != nil {
		return nil, err
	}
	q := s.Store.Read()
	var users []*store.User
	if subject, ok := userNameLookup(expr); ok {
		// The lookup every provisioning client makes before each create:
		// one indexed read instead of the whole organization.
		u, err := q.GetUserBySubject(ctx, c.OrganizationID, subject)
		switch {
		case err == nil:
			users = []*store.User{u}
		case !errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("scim list users: %w", err)
		}
	} else if users, err = q.ListUsers(ctx, c.OrganizationID, store.Page{Limit: store.NoLimit}); err != nil {
		return nil, fmt.Errorf("scim list users: %w", err)
	}
	recs, err := q.SCIMRecords(ctx, store.SCIMUsers, c.OrganizationID)
	if err != nil {
		return nil, fmt.Errorf("scim list users: %w", err)
	}
	groups, err := q.SCIMRecords(ctx, store.SCIMGroups, c.OrganizationID)
	if err != nil {
		return nil, fmt.Errorf("scim list users: %w", err)
	}
	var all []map[string]any
	for _, u := range users {
		if !org.VouchesFor(u.Subject) {
			continue
		}
		all = append(all, toMap(userView{u: u, rec: recs[u.ID], groups: groups}.resource(base)))
	}
	return page(all, expr, qy)
}

// userNameLookup reports whether expr is `userName eq "<address>"`, and
// the subject it can only match: subjects are stored normalized (lower
// case), and userName compares ignoring case, so no other user matches.
// The filter is still evaluated on the result.
func userNameLookup(expr filter.Expression) (string, bool) {
	e, ok := expr.(*filter.AttributeExpression)
	if !ok || e.Operator != filter.EQ || e.AttributePath.SubAttribute != nil ||
		!strings.EqualFold(e.AttributePath.AttributeName, "userName") ||
		e.AttributePath.URIPrefix != nil && !strings.EqualFold(e.AttributePath.URI(), SchemaUser) {
		return "", false
	}
	v, ok := e.CompareValue.(string)
	if !ok {
		return "", false
	}
	subject, err := tenancy.NormalizeSubject(unescape(v))
	if err != nil {
		// Not an address: no stored subject can equal it, but let the
		// general path say so.
		return "", false
	}
	return subject, true
}

// toMap is a resource's JSON form.
func toMap(v any) map[string]any {
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// page filters, sorts and pages resources into a ListResponse.
func page(all []map[string]any, expr filter.Expression, qy Query) (map[string]any, error) {
	var selected []map[string]any
	for _, r := range all {
		if expr == nil || matches(expr, r) {
			selected = append(selected, r)
		}
	}
	if err := sortResources(selected, qy.SortBy, qy.SortOrder); err != nil {
		return nil, err
	}
	total := len(selected)
	from := min(qy.StartIndex-1, total)
	to := min(from+qy.Count, total)
	items := make([]map[string]any, 0, to-from)
	for _, r := range selected[from:to] {
		items = append(items, project(r, qy))
	}
	return listOf(items, total, qy.StartIndex), nil
}

// project keeps the attributes a query asks for (id and schemas always,
// RFC 7643 section 7: "returned": "always").
func project(r map[string]any, qy Query) map[string]any {
	if len(qy.Attributes) == 0 && len(qy.ExcludedAttributes) == 0 {
		return r
	}
	named := func(list []string, k string) bool {
		return slices.ContainsFunc(list, func(a string) bool {
			a, _, _ = strings.Cut(a, ".")
			return strings.EqualFold(a, k)
		})
	}
	out := map[string]any{}
	for k, v := range r {
		switch {
		case k == "id" || k == "schemas":
		case len(qy.Attributes) > 0 && !named(qy.Attributes, k):
			continue
		case named(qy.ExcludedAttributes, k):
			continue
		}
		out[k] = v
	}
	return out
}

// userInput checks a User from a request and turns it into the user's
// subject and state and the directory's record.
func userInput(org *store.Organization, in *User) (subject, state string, rec store.SCIMRecord, err error) {
	if err := checkSchemas(in.Schemas, SchemaUser, SchemaEnterprise); err != nil {
		return "", "", rec, err
	}
	if in.UserName == "" {
		return "", "", rec, badRequest(InvalidValue, "userName is required")
	}
	subject, nerr := tenancy.NormalizeSubject(in.UserName)
	if nerr != nil {
		return "", "", rec, badRequest(InvalidValue, "userName: %v", nerr)
	}
	if !org.VouchesFor(subject) {
		return "", "", rec, badRequest(InvalidValue, "userName %q is not an address of the organization's verified domain (%s): a directory provisions only its organization's own addresses", in.UserName, verifiedDomain(org))
	}
	for _, e := range in.Emails {
		if !org.VouchesFor(e.Value) {
			return "", "", rec, badRequest(InvalidValue, "emails: %q is not an address of the organization's verified domain (%s)", e.Value, verifiedDomain(org))
		}
	}
	// No active: "" (a create makes the user active; a replace keeps the
	// state, so a PUT of profile changes never reactivates a leaver).
	if in.Active != nil {
		state = authz.ActiveUserState
		if !*in.Active {
			state = "suspended"
		}
	}
	attrs, err := json.Marshal(userAttributes{Name: in.Name, DisplayName: in.DisplayName, Emails: in.Emails, Enterprise: in.Enterprise})
	if err != nil {
		return "", "", rec, fmt.Errorf("scim user attributes: %w", err)
	}
	rec = store.SCIMRecord{OrganizationID: org.ID, ExternalID: in.ExternalID, Attributes: string(attrs)}
	return subject, state, rec, nil
}

func verifiedDomain(org *store.Organization) string {
	if !org.DomainVerified() {
		return "none verified yet"
	}
	return org.Domain
}

// CreateUser provisions a user.
func (s *Service) CreateUser(ctx context.Context, c *Caller, base string, body []byte) (*User, error) {
	var in User
	if err := decodeStrict(body, &in, userKept, userIgnore, SchemaUser); err != nil {
		return nil, err
	}
	org, err := s.organization(ctx, c.OrganizationID)
	if err != nil {
		return nil, err
	}
	subject, state, rec, err := userInput(org, &in)
	if err != nil {
		return nil, err
	}
	if state == "" {
		state = authz.ActiveUserState
	}
	u := &store.User{Meta: store.Meta{Name: tenancy.NameFromSubject(subject)}, Subject: subject, State: state}
	err = s.Tenancy.CreateUserWith(ctx, c.Principal, c.May, c.OrganizationID, u, tenancy.Hooks[store.User]{
		Then: func(q *store.Q, _, u *store.User) error {
			rec.ResourceID = u.ID
			return q.PutSCIMRecord(ctx, store.SCIMUsers, rec)
		},
	})
	if err != nil {
		return nil, err
	}
	return userView{u: u, rec: &rec}.resource(base), nil
}

// ReplaceUser replaces a user's attributes (PUT). Its groups stay: they
// are the groups' to say (RFC 7643: a User's groups are read-only).
func (s *Service) ReplaceUser(ctx context.Context, c *Caller, base, id string, body []byte, ifMatch string) (*User, error) {
	var in User
	if err := decodeStrict(body, &in, userKept, userIgnore, SchemaUser); err != nil {
		return nil, err
	}
	if err := s.writeUser(ctx, c, id, &in, ifMatch, ""); err != nil {
		return nil, err
	}
	return s.GetUser(ctx, c, base, id)
}

// PatchUser applies a PATCH to a user: to its present JSON form, the
// result written as a PUT would be, again if the user changed meanwhile.
func (s *Service) PatchUser(ctx context.Context, c *Caller, base, id string, body []byte, ifMatch string) (*User, error) {
	p, err := decodePatch(body)
	if err != nil {
		return nil, err
	}
	for range patchAttempts {
		cur, err := s.GetUser(ctx, c, base, id)
		if err != nil {
			return nil, err
		}
		m := toMap(cur)
		// id stays for the PATCH to compare (decodeStrict ignores it).
		for _, k := range []string{"meta", "groups"} {
			delete(m, k)
		}
		if err := applyPatch(m, p, userPatch); err != nil {
			return nil, err
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("scim patch: %w", err)
		}
		var in User
		if err := decodeStrict(b, &in, userKept, userIgnore, SchemaUser); err != nil {
			return nil, err
		}
		err = s.writeUser(ctx, c, id, &in, ifMatch, cur.Meta.Version)
		if errors.Is(err, errStale) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return s.GetUser(ctx, c, base, id)
	}
	return nil, Errorf(http.StatusConflict, "", "the user changed during the patch %d times; try again", patchAttempts)
}

// writeUser writes in over user id in one transaction (tenancy's, with
// the directory's record): the user must be the directory's, at the
// version If-Match names, and (for a PATCH) still at the version it was
// applied to (baseVersion; errStale otherwise).
func (s *Service) writeUser(ctx context.Context, c *Caller, id string, in *User, ifMatch, baseVersion string) error {
	org, err := s.organization(ctx, c.OrganizationID)
	if err != nil {
		return err
	}
	subject, state, rec, err := userInput(org, in)
	if err != nil {
		return err
	}
	rec.ResourceID = id
	delegated := false
	u := &store.User{Meta: store.Meta{Name: tenancy.NameFromSubject(subject)}, Subject: subject, State: state}
	hooks := tenancy.Hooks[store.User]{
		Prepare: func(q *store.Q, old, u *store.User) error {
			if !org.VouchesFor(old.Subject) {
				return notFound("User", id)
			}
			if err := checkIfMatch(ifMatch, old.Meta); err != nil {
				return err
			}
			if baseVersion != "" && version(old.Meta) != baseVersion {
				return errStale
			}
			u.Description, u.Tags, u.GroupIDs = old.Description, old.Tags, old.GroupIDs
			if u.State == "" {
				u.State = old.State
			}
			if u.State != authz.ActiveUserState {
				if err := keepAnAdministrator(ctx, q, c.OrganizationID, old); err != nil {
					return err
				}
			}
			delegated, err = s.onlyDirectoryRights(ctx, q, c.OrganizationID, old)
			return err
		},
		Then: func(q *store.Q, _, _ *store.User) error { return q.PutSCIMRecord(ctx, store.SCIMUsers, rec) },
	}
	may := func(ctx context.Context, orgID, change string) error {
		if delegated {
			return nil
		}
		return c.May.Check(ctx, orgID, change)
	}
	return s.Tenancy.UpdateUserWith(ctx, c.Principal, may, c.OrganizationID, id, u, hooks)
}

// onlyDirectoryRights reports whether every right user u holds comes from
// groups the directory made: then the directory may hand them back (make
// the user active again, give it another address of the domain), as it
// may put anyone in those groups. Whoever gave such a group a role
// delegated its membership to the directory; a right from anywhere else (an
// administrators' group, a permission set assigned to the user itself)
// still needs the caller's own right to grant.
func (s *Service) onlyDirectoryRights(ctx context.Context, q *store.Q, orgID string, u *store.User) (bool, error) {
	for _, g := range u.GroupIDs {
		_, err := q.GetSCIMRecord(ctx, store.SCIMGroups, orgID, g)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
	n, err := q.CountAccountAssignments(ctx, orgID, store.AssignmentFilter{PrincipalType: store.PrincipalUser, PrincipalID: u.ID})
	if err != nil {
		return false, err
	}
	return n == 0, nil
}

// DeleteUser deletes a user (and so ends their sessions and tokens at
// once, as tenancy's DeleteUser does).
func (s *Service) DeleteUser(ctx context.Context, c *Caller, id, ifMatch string) error {
	org, err := s.organization(ctx, c.OrganizationID)
	if err != nil {
		return err
	}
	return s.Tenancy.DeleteUserWith(ctx, c.OrganizationID, id, tenancy.Hooks[store.User]{
		Prepare: func(q *store.Q, old, _ *store.User) error {
			if !org.VouchesFor(old.Subject) {
				return notFound("User", id)
			}
			if err := checkIfMatch(ifMatch, old.Meta); err != nil {
				return err
			}
			return keepAnAdministrator(ctx, q, c.OrganizationID, old)
		},
	})
}

// keepAnAdministrator refuses (409) to delete or deactivate u when it is
// the organization's last active administrator: an active user in a group
// holding the administrator role. The directory may act on anyone of the
// verified domain, also on administrators whose rights it did not give;
// without this check a directory sync (or a compromised directory token)
// could leave the organization with nobody able to administer it, and only
// a platform administrator could repair that. It runs inside the write's
// transaction and first locks the organization, so that two directory
// requests removing the last two administrators at once (on PostgreSQL,
// where they would not otherwise wait for each other) are checked one
// after the other.
func keepAnAdministrator(ctx context.Context, q *store.Q, orgID string, u *store.User) error {
	if u.State != authz.ActiveUserState {
		return nil
	}
	if err := q.LockOrganization(ctx, orgID); err != nil {
		return fmt.Errorf("lock organization %s: %w", orgID, err)
	}
	admin, _ := authz.RoleByName(authz.RoleAdministrator)
	groups, err := q.ListGroups(ctx, orgID, store.Page{Limit: store.NoLimit})
	if err != nil {
		return fmt.Errorf("list the groups of organization %s: %w", orgID, err)
	}
	isAdmin := false
	others := map[string]bool{}
	for _, g := range groups {
		if !slices.Contains(g.RoleIDs, admin.ID) {
			continue
		}
		for _, id := range g.UserIDs {
			if id == u.ID {
				isAdmin = true
			} else {
				others[id] = true
			}
		}
	}
	if !isAdmin {
		return nil
	}
	for id := range others {
		o, err := q.GetUser(ctx, orgID, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read administrator %s: %w", id, err)
		}
		if o.State == authz.ActiveUserState {
			return nil
		}
	}
	return Errorf(http.StatusConflict, "mutability",
		"%s is the organization's last active administrator: make another user an administrator before deleting or deactivating this one", u.Subject)
}

// --- groups ---

func groupResource(g *store.Group, rec *store.SCIMRecord, users map[string]*store.User, userRecs map[string]*store.SCIMRecord, base string) *Group {
	var ga groupAttributes
	_ = json.Unmarshal([]byte(rec.Attributes), &ga)
	out := &Group{Schemas: []string{SchemaGroup}, ID: g.ID, ExternalID: rec.ExternalID, DisplayName: ga.DisplayName,
		Meta: &Meta{ResourceType: "Group", Created: timestamp(g.CreatedAt), LastModified: timestamp(lastModified(g.Meta)),
			Location: base + "/Groups/" + g.ID, Version: version(g.Meta)}}
	for _, id := range g.UserIDs {
		u, ok := users[id]
		if !ok {
			continue // not the directory's: not shown, kept on writes
		}
		display := u.Subject
		if r := userRecs[id]; r != nil {
			var ua userAttributes
			if json.Unmarshal([]byte(r.Attributes), &ua) == nil && ua.DisplayName != "" {
				display = ua.DisplayName
			}
		}
		out.Members = append(out.Members, Ref{Value: id, Ref: base + "/Users/" + id, Display: display, Type: "User"})
	}
	return out
}

// directoryUsers are the users of the organization the directory sees, by
// ID, with their records.
func directoryUsers(ctx context.Context, q *store.Q, org *store.Organization) (map[string]*store.User, map[string]*store.SCIMRecord, error) {
	users, err := q.ListUsers(ctx, org.ID, store.Page{Limit: store.NoLimit})
	if err != nil {
		return nil, nil, fmt.Errorf("scim users: %w", err)
	}
	out := make(map[string]*store.User, len(users))
	for _, u := range users {
		if org.VouchesFor(u.Subject) {
			out[u.ID] = u
		}
	}
	recs, err := q.SCIMRecords(ctx, store.SCIMUsers, org.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("scim users: %w", err)
	}
	return out, recs, nil
}

// GetGroup answers one group.
func (s *Service) GetGroup(ctx context.Context, c *Caller, base, id string) (*Group, error) {
	org, err := s.organization(ctx, c.OrganizationID)
	if err != nil {
		return nil, err
	}
	q := s.Store.Read()
	rec, err := q.GetSCIMRecord(ctx, store.SCIMGroups, c.OrganizationID, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("Group", id)
	}
	if err != nil {
		return nil, fmt.Errorf("scim get group: %w", err)
	}
	g, err := q.GetGroup(ctx, c.OrganizationID, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("Group", id)
	}
	if err != nil {
		return nil, fmt.Errorf("scim get group: %w", err)
	}
	users, userRecs, err := directoryUsers(ctx, q, org)
	if err != nil {
		return nil, err
	}
	return groupResource(g, rec, users, userRecs, base), nil
}

// ListGroups answers the groups a query selects.
func (s *Service) ListGroups(ctx context.Context, c *Caller, base string, qy Query) (map[string]any, error) {
	expr, err := parseFilter(qy.Filter)
	if err != nil {
		return nil, err
	}
	org, err := s.organization(ctx, c.OrganizationID)
	if err != nil {
		return nil, err
	}
	q := s.Store.Read()
	recs, err := q.SCIMRecords(ctx, store.SCIMGroups, c.OrganizationID)
	if err != nil {
		return nil, fmt.Errorf("scim list groups: %w", err)
	}
	groups, err := q.ListGroups(ctx, c.OrganizationID, store.Page{Limit: store.NoLimit})
	if err != nil {
		return nil, fmt.Errorf("scim list groups: %w", err)
	}
	users, userRecs, err := directoryUsers(ctx, q, org)
	if err != nil {
		return nil, err
	}
	var all []map[string]any
	for _, g := range groups {
		if rec, ok := recs[g.ID]; ok {
			all = append(all, toMap(groupResource(g, rec, users, userRecs, base)))
		}
	}
	return page(all, expr, qy)
}

// groupName is the group's name (unique in the organization, a resource
// name) for a displayName: the displayName with what a name cannot hold
// replaced, or, when nothing is left (a name in another script), a name
// from its hash.
func groupName(displayName string) string {
	if n := tenancy.NameFromSubject(displayName); n != "" && tenancy.ValidName(n) {
		return n
	}
	h := sha256.Sum256([]byte(displayName))
	return "group-" + hex.EncodeToString(h[:6])
}

// groupInput checks a Group from a request.
func groupInput(orgID string, in *Group) (*store.Group, store.SCIMRecord, error) {
	if err := checkSchemas(in.Schemas, SchemaGroup); err != nil {
		return nil, store.SCIMRecord{}, err
	}
	if strings.TrimSpace(in.DisplayName) == "" {
		return nil, store.SCIMRecord{}, badRequest(InvalidValue, "displayName is required")
	}
	if len(in.DisplayName) > tenancy.MaxDescriptionLength {
		return nil, store.SCIMRecord{}, badRequest(InvalidValue, "displayName is longer than %d bytes", tenancy.MaxDescriptionLength)
	}
	g := &store.Group{Meta: store.Meta{Name: groupName(in.DisplayName), Description: in.DisplayName}}
	for _, m := range in.Members {
		if m.Type != "" && !strings.EqualFold(m.Type, "User") {
			return nil, store.SCIMRecord{}, badRequest(InvalidValue, "members: %q is a %s; a group's members are users (nested groups are not supported)", m.Value, m.Type)
		}
		if m.Value == "" {
			return nil, store.SCIMRecord{}, badRequest(InvalidValue, "members: a member without a value")
		}
		if !slices.Contains(g.UserIDs, m.Value) {
			g.UserIDs = append(g.UserIDs, m.Value)
		}
	}
	attrs, err := json.Marshal(groupAttributes{DisplayName: in.DisplayName})
	if err != nil {
		return nil, store.SCIMRecord{}, fmt.Errorf("scim group attributes: %w", err)
	}
	return g, store.SCIMRecord{OrganizationID: orgID, ExternalID: in.ExternalID, Attributes: string(attrs)}, nil
}

// checkMembers refuses members that are not users the directory sees, and
// keeps in g the members of old it does not see (a user an administrator
// put in the group, of another domain): they are not the directory's to
// remove.
func checkMembers(ctx context.Context, q *store.Q, org *store.Organization, old, g *store.Group) error {
	users, _, err := directoryUsers(ctx, q, org)
	if err != nil {
		return err
	}
	for _, id := range g.UserIDs {
		if _, ok := users[id]; !ok {
			return badRequest(InvalidValue, "members: %q is not a user of this organization's directory", id)
		}
	}
	if old != nil {
		for _, id := range old.UserIDs {
			if _, ok := users[id]; !ok {
				g.UserIDs = append(g.UserIDs, id)
			}
		}
	}
	return nil
}

// CreateGroup makes a group of the directory: members only, no roles (an
// administrator gives it rights through /api/v1).
func (s *Service) CreateGroup(ctx context.Context, c *Caller, base string, body []byte) (*Group, error) {
	var in Group
	if err := decodeStrict(body, &in, groupKept, groupIgnore, SchemaGroup); err != nil {
		return nil, err
	}
	org, err := s.organization(ctx, c.OrganizationID)
	if err != nil {
		return nil, err
	}
	g, rec, err := groupInput(c.OrganizationID, &in)
	if err != nil {
		return nil, err
	}
	err = s.Tenancy.CreateGroupWith(ctx, c.Principal, c.OrganizationID, g, tenancy.Hooks[store.Group]{
		Prepare: func(q *store.Q, _, g *store.Group) error { return checkMembers(ctx, q, org, nil, g) },
		Then: func(q *store.Q, _, g *store.Group) error {
			rec.ResourceID = g.ID
			return q.PutSCIMRecord(ctx, store.SCIMGroups, rec)
		},
	})
	if err != nil {
		return nil, err
	}
	return s.GetGroup(ctx, c, base, g.ID)
}

// ReplaceGroup replaces a group's displayName, externalId and members.
func (s *Service) ReplaceGroup(ctx context.Context, c *Caller, base, id string, body []byte, ifMatch string) (*Group, error) {
	var in Group
	if err := decodeStrict(body, &in, groupKept, groupIgnore, SchemaGroup); err != nil {
		return nil, err
	}
	if err := s.writeGroup(ctx, c, id, &in, ifMatch, ""); err != nil {
		return nil, err
	}
	return s.GetGroup(ctx, c, base, id)
}

// PatchGroup applies a PATCH to a group (see PatchUser).
func (s *Service) PatchGroup(ctx context.Context, c *Caller, base, id string, body []byte, ifMatch string) (*Group, error) {
	p, err := decodePatch(body)
	if err != nil {
		return nil, err
	}
	for range patchAttempts {
		cur, err := s.GetGroup(ctx, c, base, id)
		if err != nil {
			return nil, err
		}
		m := toMap(cur)
		delete(m, "meta") // id stays for the PATCH to compare

		if err := applyPatch(m, p, groupPatch); err != nil {
			return nil, err
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("scim patch: %w", err)
		}
		var in Group
		if err := decodeStrict(b, &in, groupKept, groupIgnore, SchemaGroup); err != nil {
			return nil, err
		}
		err = s.writeGroup(ctx, c, id, &in, ifMatch, cur.Meta.Version)
		if errors.Is(err, errStale) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return s.GetGroup(ctx, c, base, id)
	}
	return nil, Errorf(http.StatusConflict, "", "the group changed during the patch %d times; try again", patchAttempts)
}

// writeGroup writes in over group id (see writeUser). The group's roles
// and service accounts stay as they are, so the only change of access it
// can make is the membership of one of the directory's groups, which is
// the directory's to decide (see onlyDirectoryRights): the grant check is
// passed.
func (s *Service) writeGroup(ctx context.Context, c *Caller, id string, in *Group, ifMatch, baseVersion string) error {
	org, err := s.organization(ctx, c.OrganizationID)
	if err != nil {
		return err
	}
	g, rec, err := groupInput(c.OrganizationID, in)
	if err != nil {
		return err
	}
	rec.ResourceID = id
	hooks := tenancy.Hooks[store.Group]{
		Prepare: func(q *store.Q, old, g *store.Group) error {
			if _, err := q.GetSCIMRecord(ctx, store.SCIMGroups, c.OrganizationID, id); errors.Is(err, store.ErrNotFound) {
				return notFound("Group", id)
			} else if err != nil {
				return err
			}
			if err := checkIfMatch(ifMatch, old.Meta); err != nil {
				return err
			}
			if baseVersion != "" && version(old.Meta) != baseVersion {
				return errStale
			}
			g.Tags, g.RoleIDs, g.ServiceAccountIDs = old.Tags, old.RoleIDs, old.ServiceAccountIDs
			return checkMembers(ctx, q, org, old, g)
		},
		Then: func(q *store.Q, _, _ *store.Group) error { return q.PutSCIMRecord(ctx, store.SCIMGroups, rec) },
	}
	return s.Tenancy.UpdateGroupWith(ctx, c.Principal, access.TrustedGrant, c.OrganizationID, id, g, hooks)
}

// DeleteGroup deletes one of the directory's groups.
func (s *Service) DeleteGroup(ctx context.Context, c *Caller, id, ifMatch string) error {
	return s.Tenancy.DeleteGroupWith(ctx, c.OrganizationID, id, tenancy.Hooks[store.Group]{
		Prepare: func(q *store.Q, old, _ *store.Group) error {
			if _, err := q.GetSCIMRecord(ctx, store.SCIMGroups, c.OrganizationID, id); errors.Is(err, store.ErrNotFound) {
				return notFound("Group", id)
			} else if err != nil {
				return err
			}
			return checkIfMatch(ifMatch, old.Meta)
		},
	})
}
