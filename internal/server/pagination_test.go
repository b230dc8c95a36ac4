package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

// walkWith pages through a keyset list with limit and returns the IDs in
// order, checking that no page is larger than limit, that no ID repeats,
// that X-Next-Page-Token never appears on a short page, and that it appears
// only when more items remain (the page it points to is never empty). It
// calls between before each page after the first.
func walkWith(t testing.TB, a *apiEnv, path, token string, limit int, key func(map[string]any) string, between func()) []string {
	t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	var out []string
	seen := map[string]bool{}
	next := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("%s: more than 1000 pages of %d", path, limit)
		}
		if pages > 0 {
			between()
		}
		p := fmt.Sprintf("%s%slimit=%d", path, sep, limit)
		if next != "" {
			p += "&pageToken=" + url.QueryEscape(next)
		}
		r := a.must(t, http.StatusOK, "GET", p, token, nil)
		page := r.arr(t)
		if next != "" && len(page) == 0 {
			t.Errorf("%s: X-Next-Page-Token led to an empty page", p)
		}
		if len(page) > limit {
			t.Errorf("%s: %d items, more than the limit", r, len(page))
		}
		for _, it := range page {
			if seen[key(it)] {
				t.Errorf("%s: %s again (already on an earlier page)", p, key(it))
			}
			seen[key(it)] = true
			out = append(out, key(it))
		}
		tok, more := r.Header["X-Next-Page-Token"]
		if len(page) < limit {
			if more {
				t.Errorf("%s: X-Next-Page-Token on a short page", r)
			}
			return out
		}
		if !more {
			return out
		}
		if tok[0] == "" {
			t.Fatalf("%s: empty X-Next-Page-Token", r)
		}
		next = tok[0]
	}
}

// The pagination conformance suite: one row per paged list of the API (how
// to add one of its items, how to read it), and the properties every list
// must have, checked on each:
//
//   - the page size (limit, or size) is honoured;
//   - count, where the list has one, is the total of the whole list;
//   - the end is visible: no next-page token on the last keyset page, an
//     empty page past the end of an offset list;
//   - the order is stable: pages walked one by one, while unrelated rows are
//     inserted between them, give the whole list, without repeats or gaps;
//   - a bad limit, pageToken, page, size or sort is a 400;
//   - an unknown parent (organization, user, service account) is a 404,
//     not an empty 200.
//
// A list added to the API is added as a row (TestPagedListsCovered fails
// otherwise).

// pagingWorld is what the rows work on: an organization with members, and
// another organization for unrelated inserts.
type pagingWorld struct {
	a                       *apiEnv
	acme, other             *member
	user                    *member // a user-role member of acme
	jo, group, project, set string  // a user, a group jo is in, a project and a permission set of acme
	robot                   string  // a service account of acme in group
	readerRole              string
	n                       int // a counter for unique names
	// cloud is an AWS stand-in: each cloud connection needs an AWS
	// organization of its own.
	cloud *cloudStand
	// joToken is jo's own access token, and acmeIdP an identity provider
	// of acme (the sessions lists; made on first use).
	joToken, acmeIdP string
}

// joSessionToken signs jo in (once) and returns jo's access token.
func (w *pagingWorld) joSessionToken(t *testing.T) string {
	if w.joToken == "" {
		w.joToken = signIn(t, w.a.Env, sessionClient(t, w.a.Env, "paging-web"), fixtureSubject).AccessToken
	}
	return w.joToken
}

// addJoSession stores a session of jo that acme's provider vouched for.
func (w *pagingWorld) addJoSession(t *testing.T) {
	if w.acmeIdP == "" {
		w.acmeIdP = id(w.a.must(t, http.StatusCreated, "POST", orgPath(w.acme.org, "oauth2providers"), w.acme.token, providerWrite("paging-idp", "c", nil)).obj(t))
	}
	vouchedSessions(t, w.a.Env, fixtureSubject, w.acme.org, w.acmeIdP)
}

func (w *pagingWorld) name(prefix string) string {
	w.n++
	return fmt.Sprintf("%s-%d", prefix, w.n)
}

// pagedList is one row of the suite.
type pagedList struct {
	op string
	// path is the list's path (with query filters, if any) and token who
	// reads it.
	path  func(w *pagingWorld) string
	token func(w *pagingWorld) string
	// offset: page, size and sort, answering {items, count, page, size,
	// sort}; otherwise limit and pageToken, a bare array and
	// X-Next-Page-Token.
	offset bool
	// add adds one item to the list; nil for a list that cannot grow.
	add func(t *testing.T, w *pagingWorld)
	// unknownParents are paths whose parent does not exist (read by the
	// platform administrator): each must be a 404.
	unknownParents func(w *pagingWorld) []string
	// sortBy is a field of an offset list to order by besides the default.
	sortBy string
	// key identifies an item (default: metadata.id).
	key func(item map[string]any) string
}

// keyOf is l's item key.
func (l pagedList) keyOf() func(map[string]any) string {
	if l.key != nil {
		return l.key
	}
	return metadataID
}

// metadataID is the key of a resource.
func metadataID(it map[string]any) string { return id(it) }

// sessionKey identifies a session of the sessions lists.
func sessionKey(it map[string]any) string { return str(it, "id") }

func itemKeys(items []map[string]any, key func(map[string]any) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = key(it)
	}
	return out
}

func adminToken(w *pagingWorld) string { return w.a.AdminToken }
func acmeToken(w *pagingWorld) string  { return w.acme.token }

// inAcme is a list path of acme, and that path in an unknown organization.
func inAcme(rest ...string) (func(w *pagingWorld) string, func(w *pagingWorld) []string) {
	return func(w *pagingWorld) string { return orgPath(w.acme.org, rest...) },
		func(w *pagingWorld) []string { return []string{orgPath("no-such-org", rest...)} }
}

// create adds one resource through the API as acme's administrator.
func create(path func(w *pagingWorld) string, body func(w *pagingWorld) any) func(t *testing.T, w *pagingWorld) {
	return func(t *testing.T, w *pagingWorld) {
		r := w.a.call(t, "POST", path(w), w.acme.token, body(w))
		if r.Status/100 != 2 {
			t.Fatalf("add: %s", r)
		}
	}
}

func pagedLists() []pagedList {
	acmePath := func(rest ...string) func(w *pagingWorld) string {
		return func(w *pagingWorld) string { return orgPath(w.acme.org, rest...) }
	}
	row := func(op string, offset bool, token func(w *pagingWorld) string, add func(t *testing.T, w *pagingWorld), rest ...string) pagedList {
		path, unknown := inAcme(rest...)
		return pagedList{op: op, path: path, token: token, offset: offset, add: add, unknownParents: unknown}
	}
	assignNew := func(principalType string, principal func(w *pagingWorld) string) func(t *testing.T, w *pagingWorld) {
		return func(t *testing.T, w *pagingWorld) {
			p := w.a.projectOf(t, w.acme.org, w.acme.token, w.name("target"))
			w.a.assignOne(t, w.acme.org, w.acme.token, principalType, principal(w), w.set, p)
		}
	}
	effective := func(op, kind string, member func(w *pagingWorld) string) pagedList {
		return pagedList{op: op, offset: true, token: acmeToken, sortBy: "targetName",
			path: func(w *pagingWorld) string { return orgPath(w.acme.org, kind, member(w), "accountassignments") },
			// Its own assignments and its group's, in turn.
			add: func(t *testing.T, w *pagingWorld) {
				if w.n%2 == 0 {
					assignNew("group", func(w *pagingWorld) string { return w.group })(t, w)
					return
				}
				typ := "user"
				if kind == "serviceaccounts" {
					typ = "serviceAccount"
				}
				assignNew(typ, member)(t, w)
			},
			unknownParents: func(w *pagingWorld) []string {
				return []string{orgPath("no-such-org", kind, member(w), "accountassignments"), orgPath(w.acme.org, kind, "no-such-member", "accountassignments")}
			}}
	}
	allocationsAdd := func(t *testing.T, w *pagingWorld) {
		w.a.must(t, http.StatusCreated, "POST", orgPath(w.acme.org, "projects", w.project, "allocations"), w.acme.token, allocWrite(w.name("alloc"), item{"storage", 1, 1}))
	}
	return []pagedList{
		{op: "listOrganizations", path: func(*pagingWorld) string { return "/api/v1/organizations" }, token: adminToken,
			add: func(t *testing.T, w *pagingWorld) { w.a.newOrg(t, w.name("org")) }},
		{op: "listOrganizations (tenant)", path: func(*pagingWorld) string { return "/api/v1/organizations" }, token: acmeToken},
		{op: "listOrganizations (email)", path: func(*pagingWorld) string { return "/api/v1/organizations?email=jo@acme.example" }, token: adminToken,
			add: func(t *testing.T, w *pagingWorld) {
				org := w.a.newOrg(t, w.name("jo-org"))
				w.a.admin(t, http.StatusCreated, "POST", orgPath(org, "users"), userWrite("jo", "jo@acme.example", "active", nil))
			}},
		{op: "listSystemOauth2Providers", path: func(*pagingWorld) string { return "/api/v1/oauth2providers" }, token: acmeToken,
			add: func(t *testing.T, w *pagingWorld) {
				w.a.admin(t, http.StatusCreated, "POST", "/api/v1/oauth2providers", providerWrite(w.name("idp"), "c", nil))
			}},
		{op: "listLocalAccounts", path: func(*pagingWorld) string { return "/api/v1/localaccounts" }, token: adminToken,
			key: func(it map[string]any) string { return str(it, "email") },
			add: func(t *testing.T, w *pagingWorld) {
				if err := w.a.Password.SetPassword(context.Background(), w.name("local")+"@platform.example", "a long password"); err != nil {
					t.Fatal(err)
				}
			}},
		{op: "listOperations", path: func(*pagingWorld) string { return "/api/v1/operations" }, token: acmeToken,
			key: func(it map[string]any) string { return str(it, "operationId") }},
		// Each rotation publishes one key more (the retired one stays).
		{op: "listSigningKeys", path: func(*pagingWorld) string { return "/api/v1/signingkeys" }, token: adminToken,
			key: func(it map[string]any) string { return str(it, "kid") },
			add: func(t *testing.T, w *pagingWorld) {
				w.a.admin(t, http.StatusOK, "POST", "/api/v1/signingkeys/rotate", map[string]any{"algorithm": "ES256"})
			}},
		{op: "listAuditEvents", path: func(*pagingWorld) string { return "/api/v1/auditevents" }, token: adminToken, key: eventID,
			add: func(t *testing.T, w *pagingWorld) {
				w.a.admin(t, http.StatusCreated, "POST", "/api/v1/oauth2providers", providerWrite(w.name("audited"), "c", nil))
			}},
		row("listGroups", false, acmeToken, create(acmePath("groups"), func(w *pagingWorld) any { return groupWrite(w.name("g"), nil, nil, nil) }), "groups"),
		row("listUsers", false, acmeToken, create(acmePath("users"), func(w *pagingWorld) any {
			n := w.name("u")
			return userWrite(n, n+"@acme.example", "active", nil)
		}), "users"),
		row("listServiceAccounts", false, acmeToken, create(acmePath("serviceaccounts"), func(w *pagingWorld) any { return saWrite(w.name("sa"), nil) }), "serviceaccounts"),
		row("listProjects", false, acmeToken, create(acmePath("projects"), func(w *pagingWorld) any { return projectWrite(w.name("p"), nil) }), "projects"),
		row("listProjects (user role)", false, func(w *pagingWorld) string { return w.user.token },
			create(acmePath("projects"), func(w *pagingWorld) any { return projectWrite(w.name("up"), []string{w.user.group}) }), "projects"),
		row("listOrganizationOauth2Providers", false, acmeToken, create(acmePath("oauth2providers"), func(w *pagingWorld) any {
			return providerWrite(w.name("oidp"), "c", nil)
		}), "oauth2providers"),
		row("listOrganizationAllocations", false, acmeToken, allocationsAdd, "allocations"),
		// OAuth2 clients (issue 13).
		row("listOrganizationOauth2Clients", false, acmeToken, create(acmePath("oauth2clients"), func(w *pagingWorld) any {
			return clientWrite(w.name("app"))
		}), "oauth2clients"),
		{op: "listOauth2Clients", path: func(*pagingWorld) string { return "/api/v1/oauth2clients" }, token: adminToken,
			add: func(t *testing.T, w *pagingWorld) {
				w.a.admin(t, http.StatusCreated, "POST", "/api/v1/oauth2clients", clientWrite(w.name("papp")))
			}},
		row("listRoles", false, acmeToken, create(acmePath("roles"), func(w *pagingWorld) any { return roleWrite(w.name("r"), allowAll(), nil) }), "roles"),
		row("listApiKeys", false, acmeToken, create(acmePath("apikeys"), func(w *pagingWorld) any { return apiKeyWrite(w.name("k"), w.readerRole) }), "apikeys"),
		func() pagedList {
			l := row("listOrganizationAuditEvents", false, acmeToken, create(acmePath("groups"), func(w *pagingWorld) any {
				return groupWrite(w.name("ag"), nil, nil, nil)
			}), "auditevents")
			l.key = eventID
			return l
		}(),
		func() pagedList {
			l := row("listPermissionSets", true, acmeToken, create(acmePath("permissionsets"), func(w *pagingWorld) any {
				return permissionSetWrite(w.name("ps"), nil, nil)
			}), "permissionsets")
			l.sortBy = "name"
			return l
		}(),
		func() pagedList {
			l := row("listAccountAssignments", true, acmeToken, assignNew("user", func(w *pagingWorld) string { return w.jo }), "accountassignments")
			l.sortBy = "principalName"
			return l
		}(),
		func() pagedList {
			l := row("listAccountAssignments (filtered)", true, acmeToken, assignNew("group", func(w *pagingWorld) string { return w.group }), "accountassignments")
			l.path = func(w *pagingWorld) string {
				return orgPath(w.acme.org, "accountassignments") + "?principalType=group&principalID=" + w.group
			}
			l.sortBy = "targetName"
			return l
		}(),
		// Cloud credential federation: stored credentials, a project's cloud
		// identities, and connections (each to an AWS organization of its
		// own, validated against the stand-in).
		row("listCredentials", false, acmeToken, create(acmePath("credentials"), func(w *pagingWorld) any {
			return credentialWrite(w.name("cred"), 1)
		}), "credentials"),
		func() pagedList {
			l := row("listCloudIdentities", false, acmeToken, create(func(w *pagingWorld) string {
				return orgPath(w.acme.org, "projects", w.project, "cloudidentities")
			}, func(w *pagingWorld) any {
				return map[string]any{"metadata": map[string]any{"name": w.name("ci")}, "spec": map[string]any{"provider": "aws",
					"aws": map[string]any{"roleARN": "arn:aws:iam::123456789012:role/deploy"}}}
			}), "projects", "home", "cloudidentities")
			l.path = func(w *pagingWorld) string { return orgPath(w.acme.org, "projects", w.project, "cloudidentities") }
			l.unknownParents = func(w *pagingWorld) []string {
				return []string{orgPath("no-such-org", "projects", w.project, "cloudidentities"),
					orgPath(w.acme.org, "projects", "no-such-project", "cloudidentities")}
			}
			return l
		}(),
		row("listCloudConnections", false, acmeToken, func(t *testing.T, w *pagingWorld) {
			w.n++
			n := 100 + w.n
			w.cloud.addOrganization(n, fmt.Sprintf("%012d", 200000000000+n))
			cred := id(w.a.must(t, http.StatusCreated, "POST", orgPath(w.acme.org, "credentials"), w.acme.token, credentialWrite(w.name("conn-cred"), n)).obj(t))
			w.a.must(t, http.StatusCreated, "POST", orgPath(w.acme.org, "cloudconnections"), w.acme.token, connectionWrite(w.name("conn"), cred))
		}, "cloudconnections"),
		// Sessions (issue 13): each add stores a browser session and an
		// application session of jo that acme's provider vouched for.
		{op: "listUserSessions", token: acmeToken, key: sessionKey,
			path: func(w *pagingWorld) string { return orgPath(w.acme.org, "users", w.jo, "sessions") },
			add:  func(t *testing.T, w *pagingWorld) { w.addJoSession(t) },
			unknownParents: func(w *pagingWorld) []string {
				return []string{orgPath("no-such-org", "users", w.jo, "sessions"), orgPath(w.acme.org, "users", "no-such-user", "sessions")}
			}},
		{op: "listSubjectSessions", token: adminToken, key: sessionKey,
			path: func(w *pagingWorld) string { return "/api/v1/subjects/" + fixtureSubject + "/sessions" },
			add:  func(t *testing.T, w *pagingWorld) { w.addJoSession(t) }},
		{op: "listAccountSessions", key: sessionKey,
			token: func(w *pagingWorld) string { return w.joToken },
			path:  func(w *pagingWorld) string { return "/api/v1/account/sessions" },
			add: func(t *testing.T, w *pagingWorld) {
				w.joSessionToken(t)
				w.addJoSession(t)
			}},
		{op: "listAccountConsents", key: func(it map[string]any) string { return str(it, "clientId") },
			token: func(w *pagingWorld) string { return w.joToken },
			path:  func(w *pagingWorld) string { return "/api/v1/account/consents" },
			add: func(t *testing.T, w *pagingWorld) {
				w.joSessionToken(t)
				c := sessionClient(t, w.a.Env, w.name("consented"))
				ctx := context.Background()
				if err := w.a.Store.Tx(ctx, func(q *store.Q) error {
					return q.GrantConsent(ctx, fixtureSubject, c.ClientID, []string{"openid"}, w.a.OIDCClock.Now())
				}); err != nil {
					t.Fatal(err)
				}
			}},
		effective("listUserAccountAssignments", "users", func(w *pagingWorld) string { return w.jo }),
		effective("listServiceAccountAccountAssignments", "serviceaccounts", func(w *pagingWorld) string { return w.robot }),
	}
}

// TestPagedListsCovered: every list operation of the API is a row of the
// pagination conformance suite.
func TestPagedListsCovered(t *testing.T) {
	t.Parallel()
	rows := map[string]bool{}
	for _, l := range pagedLists() {
		op, _, _ := strings.Cut(l.op, " ")
		rows[op] = true
	}
	for _, op := range specOperations(t) {
		if strings.HasPrefix(op.id, "list") && op.method == "GET" && !rows[op.id] {
			t.Errorf("list operation %s is not in the pagination conformance suite (pagedLists)", op.id)
		}
	}
}

// TestPaginationConformance runs the suite over every paged list.
func TestPaginationConformance(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		w := &pagingWorld{a: a, acme: a.tenant(t, "acme", "administrator"), other: a.tenant(t, "other", "administrator"),
			cloud: newCloudStand(t, a.Env)}
		w.readerRole = a.role(t, "reader")
		w.user = a.addMember(t, w.acme.org, "users", "user")
		tok := w.acme.token
		w.group = a.groupOf(t, w.acme.org, tok, "members")
		w.jo = id(a.must(t, http.StatusCreated, "POST", orgPath(w.acme.org, "users"), tok, userWrite("jo", "jo@acme.example", "active", []string{w.group})).obj(t))
		w.robot = id(a.must(t, http.StatusCreated, "POST", orgPath(w.acme.org, "serviceaccounts"), tok, saWrite("robot", []string{w.group})).obj(t))
		w.project = a.projectOf(t, w.acme.org, tok, "home")
		w.set = a.setOf(t, w.acme.org, tok, "members", []string{a.role(t, "reader")}, nil)
		// Unrelated rows: in the other organization, seen by no list of acme
		// nor by the platform-level lists the rows read.
		// Each insertion is what matters; the previous one is deleted so the
		// other organization stays under its group limit however many
		// pages the walks make (GET /operations alone makes hundreds).
		lastNoise := ""
		unrelated := func(t *testing.T) {
			g := a.must(t, http.StatusCreated, "POST", orgPath(w.other.org, "groups"), w.other.token, groupWrite(w.name("noise"), nil, nil, nil)).obj(t)
			if lastNoise != "" {
				a.must(t, http.StatusOK, "DELETE", orgPath(w.other.org, "groups", lastNoise), w.other.token, nil)
			}
			lastNoise = id(g)
		}

		for _, l := range pagedLists() {
			t.Run(l.op, func(t *testing.T) {
				if l.add != nil {
					for range 5 {
						l.add(t, w)
					}
				}
				path, token := l.path(w), l.token(w)
				if l.offset {
					checkOffsetList(t, a, l, path, token, unrelated)
				} else {
					checkKeysetList(t, a, l, path, token, unrelated)
				}
				if l.unknownParents != nil {
					for _, p := range l.unknownParents(w) {
						wantError(t, a.call(t, "GET", p, a.AdminToken, nil), http.StatusNotFound, "not_found")
					}
				}
			})
		}
	})
}

// withQuery appends query parameters to a path that may have some.
func withQuery(path, query string) string {
	if strings.Contains(path, "?") {
		return path + "&" + query
	}
	return path + "?" + query
}

// checkKeysetList checks a limit/pageToken list.
func checkKeysetList(t *testing.T, a *apiEnv, l pagedList, path, token string, unrelated func(*testing.T)) {
	r := a.must(t, http.StatusOK, "GET", path, token, nil)
	full := itemKeys(r.arr(t), l.keyOf())
	if len(full) < 3 && l.add != nil {
		t.Fatalf("%s: %d items, too few to page", path, len(full))
	}
	if _, ok := r.Header["X-Next-Page-Token"]; ok {
		t.Errorf("%s: X-Next-Page-Token without a limit", path)
	}
	for _, limit := range []int{1, 2, 3, 1000} {
		unrelated(t)
		if got := walkWith(t, a, path, token, limit, l.keyOf(), func() { unrelated(t) }); !reflect.DeepEqual(got, full) {
			t.Errorf("%s: walk with limit %d = %v, want %v", path, limit, got, full)
		}
	}
	for _, q := range []string{"pageToken=%25%25garbage%25%25", "pageToken=" + strings.Repeat("A", 513), "pageToken=%20",
		"limit=0", "limit=1001", "limit=-1", "limit=two", "limit=1.5"} {
		wantError(t, a.call(t, "GET", withQuery(path, q), token, nil), http.StatusBadRequest, "invalid_request")
	}
}

// checkOffsetList checks a page/size/sort list: sizes honoured, count the
// total on every page, an empty page past the end, the same items in the
// same order however the list is cut, in the default order and in another,
// and 400s for bad paging.
func checkOffsetList(t *testing.T, a *apiEnv, l pagedList, path, token string, unrelated func(*testing.T)) {
	for _, order := range []string{"", "sort=" + l.sortBy + ":desc"} {
		base := path
		if order != "" {
			base = withQuery(path, order)
		}
		r := a.must(t, http.StatusOK, "GET", withQuery(base, "size=100"), token, nil)
		full, total := itemKeys(items(t, r), l.keyOf()), count(t, r)
		if total != len(full) || total < 3 {
			t.Fatalf("%s: count %d, %d items on one page of 100", base, total, len(full))
		}
		wantSort := []string{"createdAt:asc"}
		if order != "" {
			wantSort = []string{l.sortBy + ":desc"}
		}
		if got := r.obj(t); !reflect.DeepEqual(strs(got, "sort"), wantSort) || got["page"] != 0.0 || got["size"] != 100.0 {
			t.Errorf("%s: echoes page %v, size %v, sort %v", base, got["page"], got["size"], got["sort"])
		}
		if d := a.must(t, http.StatusOK, "GET", base, token, nil).obj(t); d["size"] != 20.0 {
			t.Errorf("%s: default size %v, want 20", base, d["size"])
		}
		for _, size := range []int{1, 2, 3} {
			var walked []string
			for page := 0; ; page++ {
				if page > total {
					t.Fatalf("%s: more pages than items", base)
				}
				unrelated(t)
				r := a.must(t, http.StatusOK, "GET", withQuery(base, fmt.Sprintf("page=%d&size=%d", page, size)), token, nil)
				got := itemKeys(items(t, r), l.keyOf())
				if len(got) > size {
					t.Errorf("%s page %d: %d items, more than the size %d", base, page, len(got), size)
				}
				if n := count(t, r); n != total {
					t.Errorf("%s page %d: count %d, want the total %d", base, page, n, total)
				}
				if len(got) == 0 {
					if want := (total + size - 1) / size; page != want {
						t.Errorf("%s: the first empty page is %d, want %d", base, page, want)
					}
					break
				}
				walked = append(walked, got...)
			}
			if !reflect.DeepEqual(walked, full) {
				t.Errorf("%s: pages of %d = %v, want %v", base, size, walked, full)
			}
		}
		if got := items(t, a.must(t, http.StatusOK, "GET", withQuery(base, "page=1000000&size=100"), token, nil)); len(got) != 0 {
			t.Errorf("%s: a page far past the end has %d items", base, len(got))
		}
	}
	for _, q := range []string{"sort=nope", "sort=" + l.sortBy + ":sideways", "sort=id&sort=id", "sort=:asc", "size=0", "size=101",
		"size=x", "page=-1", "page=x", "page=1.5"} {
		wantError(t, a.call(t, "GET", withQuery(path, q), token, nil), http.StatusBadRequest, "invalid_request")
	}
}

// walk pages through a keyset list of resources with limit (see walkWith).
func walk(t testing.TB, a *apiEnv, path, token string, limit int) []string {
	return walkWith(t, a, path, token, limit, metadataID, func() {})
}

// eventID is the key of an audit event.
func eventID(it map[string]any) string { return str(it, "id") }

// TestListWithoutLimit: without limit a list is complete, as in Identity
// API 1.4.0, even past the largest page.
func TestListWithoutLimit(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, a *apiEnv) {
		org := a.newOrg(t, "big")
		const n = 1001 // one more than the largest page a client may ask for
		err := a.Store.Tx(context.Background(), func(q *store.Q) error {
			for i := range n {
				p := &store.OAuth2Provider{Meta: store.Meta{ID: a.Tenancy.NewID(), OrganizationID: org, Name: fmt.Sprintf("p%04d", i),
					CreatedAt: t0, CreatedBy: adminSubject}, Type: "oidc", Issuer: "https://login.example.com", ClientID: "c"}
				if err := q.CreateOAuth2Provider(context.Background(), p); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		r := a.admin(t, http.StatusOK, "GET", orgPath(org, "oauth2providers"), nil)
		if got := len(r.arr(t)); got != n {
			t.Errorf("list without limit: %d items, want all %d", got, n)
		}
		if _, ok := r.Header["X-Next-Page-Token"]; ok {
			t.Errorf("X-Next-Page-Token without a limit")
		}
		if got := walk(t, a, orgPath(org, "oauth2providers"), a.AdminToken, 1000); len(got) != n {
			t.Errorf("walk with limit 1000: %d items, want %d", len(got), n)
		}
	})
}
