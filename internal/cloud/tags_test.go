package cloud_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/internal/cloud"
	"github.com/gatehouse/gatehouse/internal/cloud/cloudtest"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

const (
	taggerKeyID  = "AKIAACMETAGREADER001"
	taggerSecret = "tagger-secret-0123456789abcdefghijklmnopqrstu"
)

// TestConnectionTagFilter: a connection's tag filter keeps the accounts
// carrying one of its tags, or those below an organizational unit that
// does, read from AWS Organizations (ListTagsForResource, ListParents)
// through the real SDK; only kept accounts can be assigned, an account the
// filter drops at an update loses its assignments, and a credential that
// may not read tags is NOT_ENOUGH_PERMISSIONS with nothing stored.
func TestConnectionTagFilter(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		t.Parallel()
		w := newWorld(t, open(t))
		a := w.a
		w.aws.AddUser(cloudtest.User{ARN: "arn:aws:iam::" + accountA + ":user/gatehouse-tags", AccessKeyID: taggerKeyID, SecretAccessKey: taggerSecret,
			Allowed: []string{"organizations:DescribeOrganization", "organizations:ListAccounts", "organizations:ListTagsForResource",
				"organizations:ListParents"}})
		tagger := w.storeAccessKey(a, "tagger", taggerKeyID, taggerSecret)
		plain := w.storeAccessKey(a, "plain", orgKeyID, orgKeySecret)
		spec := func(key, typ string, tags ...string) map[string]any {
			s := stored(key)
			if typ != "" {
				var ts []any
				for i := 0; i+1 < len(tags); i += 2 {
					ts = append(ts, map[string]any{"key": tags[i], "value": tags[i+1]})
				}
				s["tagFilter"] = map[string]any{"type": typ, "tags": ts}
			}
			return s
		}
		kept := func(r map[string]any) (ids []string, filteredOut float64) {
			st := r["status"].(map[string]any)
			for _, acc := range st["accounts"].([]any) {
				ids = append(ids, acc.(map[string]any)["accountID"].(string))
			}
			f, _ := st["filteredOut"].(float64)
			return ids, f
		}
		body := func(s map[string]any) map[string]any {
			return map[string]any{"metadata": map[string]any{"name": "acme"}, "spec": s}
		}

		// A credential that may not read tags: refused, nothing stored.
		r := w.e.Do("POST", a.connections(), a.admin.Token, body(spec(plain, cloud.TagFilterAccount, "env", "prod")))
		wantCloudError(t, r, http.StatusBadRequest, cloud.ErrNotEnoughPermissions, "ListTagsForResource")
		for _, bad := range []map[string]any{
			spec(tagger, "planet", "env", "prod"),
			spec(tagger, cloud.TagFilterAccount),
			spec(tagger, cloud.TagFilterAccount, "", "prod"),
		} {
			if r := w.e.Do("POST", a.connections(), a.admin.Token, body(bad)); r.Status != http.StatusBadRequest {
				t.Errorf("filter %v: %d %s", bad["tagFilter"], r.Status, r.Body)
			}
		}
		var n int
		if err := w.e.Store.DB().QueryRow("SELECT COUNT(*) FROM cloud_connections").Scan(&n); err != nil || n != 0 {
			t.Fatalf("refused connections were stored: %d, %v", n, err)
		}

		// Account tags: key and value must both match, any listed tag does.
		created := w.e.Must(http.StatusCreated, "POST", a.connections(), a.admin.Token,
			body(spec(tagger, cloud.TagFilterAccount, "env", "prod", "env", "qa", "cost-center", "7"))).Map(t)
		id := created["metadata"].(map[string]any)["id"].(string)
		if ids, out := kept(created); !slices.Equal(ids, []string{memberOne}) || out != 3 {
			t.Errorf("account tag env=prod keeps %v (%v left out), want [%s] (3)", ids, out, memberOne)
		}
		if f := created["spec"].(map[string]any)["tagFilter"].(map[string]any); f["type"] != cloud.TagFilterAccount || len(f["tags"].([]any)) != 3 {
			t.Errorf("the filter reads back as %v", f)
		}
		// Only kept accounts are assignment targets.
		set := w.e.Must(http.StatusCreated, "POST", a.base()+"/permissionsets", a.admin.Token, map[string]any{
			"metadata": map[string]any{"name": "ops"}, "spec": map[string]any{"roleIDs": []string{}}}).Map(t)["metadata"].(map[string]any)["id"].(string)
		assignTo := func(account string) *testenv.Response {
			return w.e.Do("POST", a.base()+"/accountassignments", a.admin.Token, map[string]any{
				"principals": []any{map[string]any{"type": "group", "id": a.member.GroupID}}, "permissionSetIDs": []string{set},
				"targets": []any{map[string]any{"type": "cloudAccount", "id": account}}})
		}
		if r := assignTo(memberTwo); r.Status != http.StatusBadRequest {
			t.Errorf("assigning an account the filter left out: %d %s", r.Status, r.Body)
		}
		if r := assignTo(memberOne); r.Status != http.StatusCreated {
			t.Fatalf("assigning a kept account: %d %s", r.Status, r.Body)
		}

		// Organizational unit tags, inherited from any unit above: staging
		// (two levels down) and old (directly in the unit); prod and the
		// management account are at the root, whose tags do not count.
		upd := w.e.Must(http.StatusOK, "PUT", a.connections()+"/"+id, a.admin.Token,
			body(spec(tagger, cloud.TagFilterOrganizationalUnit, "tier", "workloads", "tier", "root"))).Map(t)
		if ids, out := kept(upd); !slices.Equal(ids, []string{memberTwo, memberSuspend}) || out != 2 {
			t.Errorf("unit tag tier=workloads keeps %v (%v left out), want [%s %s] (2)", ids, out, memberTwo, memberSuspend)
		}
		// prod left the filter: its assignment went with it.
		list := w.e.Must(http.StatusOK, "GET", a.base()+"/accountassignments?targetType=cloudAccount", a.admin.Token, nil).Map(t)
		if list["count"] != float64(0) {
			t.Errorf("assignments after prod left the filter: %v", list)
		}
		if r := assignTo(memberTwo); r.Status != http.StatusCreated {
			t.Errorf("assigning staging once the filter keeps it: %d %s", r.Status, r.Body)
		}

		// No filter: every account again.
		all := w.e.Must(http.StatusOK, "PUT", a.connections()+"/"+id, a.admin.Token, body(spec(tagger, ""))).Map(t)
		if ids, out := kept(all); len(ids) != 4 || out != 0 {
			t.Errorf("without a filter: %v (%v left out)", ids, out)
		}
	})
}
