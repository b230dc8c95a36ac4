package check

import (
	"os"
	"path/filepath"
	"testing"
)

// plainManifests are the files of deploy/kubernetes and the values each is
// rendered with: for kubectl users, without Helm hooks (the servers migrate
// at start, under PostgreSQL's advisory lock).
var plainManifests = map[string]func() map[string]any{
	"gatehouse-sqlite.yaml": func() map[string]any { return nil },
	"gatehouse-postgres.yaml": func() map[string]any {
		v := postgresHA()
		v["migrations"] = map[string]any{"job": map[string]any{"enabled": false}}
		return v
	},
}

// TestPlainManifests: deploy/kubernetes is what the chart renders.
// GATEHOUSE_UPDATE_MANIFESTS=1 rewrites the files.
func TestPlainManifests(t *testing.T) {
	t.Parallel()
	for file, vals := range plainManifests {
		r := mustRender(t, vals())
		checkWorkload(t, r)
		want := "# Generated from the Helm chart deploy/helm/gatehouse by deploy/check\n" +
			"# (GATEHOUSE_UPDATE_MANIFESTS=1 go test . -run TestPlainManifests): do not edit.\n" +
			"# Apply with: kubectl create namespace gatehouse; kubectl apply -n gatehouse -f " + file + "\n" +
			"# docs/DEPLOY.md says which values, Secrets and image to change.\n" +
			"---\n" + r.text
		path := filepath.Join(root, "deploy", "kubernetes", file)
		if os.Getenv("GATEHOUSE_UPDATE_MANIFESTS") != "" {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (generate it: GATEHOUSE_UPDATE_MANIFESTS=1 go test . -run TestPlainManifests in deploy/check)", err)
		}
		if string(got) != want {
			t.Errorf("deploy/kubernetes/%s differs from what the chart renders: run GATEHOUSE_UPDATE_MANIFESTS=1 go test . -run TestPlainManifests in deploy/check, and commit it", file)
		}
	}
}
