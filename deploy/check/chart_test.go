package check

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// chartDir is the chart under test.
var chartDir = filepath.Join(root, "deploy", "helm", "gatehouse")

// postgresHA are the values of a replicated install on PostgreSQL, as
// docs/DEPLOY.md shows them.
func postgresHA() map[string]any {
	return map[string]any{
		"replicaCount": 3,
		"issuer":       "https://id.example.com",
		"database": map[string]any{"postgres": map[string]any{
			"enabled": true, "existingSecret": "gatehouse-database",
		}},
		"encryptionKey": map[string]any{"existingSecret": "gatehouse-encryption-key"},
	}
}

// everything is postgresHA with every optional object switched on.
func everything() map[string]any {
	v := postgresHA()
	v["ingress"] = map[string]any{
		"enabled": true, "className": "nginx",
		"hosts": []any{map[string]any{"host": "id.example.com"}},
		"tls":   []any{map[string]any{"hosts": []any{"id.example.com"}, "secretName": "id-tls"}},
	}
	v["serviceMonitor"] = map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus-stack"}}
	v["networkPolicy"] = map[string]any{"enabled": true, "from": []any{map[string]any{
		"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "ingress-nginx"}},
	}}}
	v["config"] = map[string]any{"log-format": "json", "trusted-proxies": "10.0.0.0/8", "console": false, "audit-retention": "8760h"}
	v["extraEnv"] = []any{map[string]any{
		"name":      "GATEHOUSE_CLOUD_AWS_SECRET_ACCESS_KEY",
		"valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": "aws", "key": "secret"}},
	}}
	return v
}

// rendered is one chart rendering: the manifest text as `helm template`
// prints it (hooks last), and each object decoded strictly.
type rendered struct {
	text    string
	objects []object
}

// object is one rendered Kubernetes object: its kind and name, its YAML,
// and the typed value it decoded into.
type object struct {
	kind, name string
	yaml       string
	value      any
}

// render renders the chart as `helm template gatehouse --namespace
// gatehouse` does (values checked against values.schema.json, objects in
// Helm's install order, hooks last), then decodes every object strictly
// into its Kubernetes API type. It uses Helm's engine rather than its
// install action, which would compile client-go's informers and kubectl
// into the test for nothing.
func render(t *testing.T, vals map[string]any) (rendered, error) {
	t.Helper()
	return renderWith(t, vals, false)
}

func renderWith(t *testing.T, vals map[string]any, skipSchema bool) (rendered, error) {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	caps := common.DefaultCapabilities.Copy()
	opts := common.ReleaseOptions{Name: "gatehouse", Namespace: "gatehouse", Revision: 1, IsInstall: true}
	values, err := chartutil.ToRenderValuesWithSchemaValidation(chrt, vals, opts, caps, skipSchema)
	if err != nil {
		return rendered{}, err
	}
	files, err := engine.Render(chrt, values)
	if err != nil {
		return rendered{}, err
	}
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, caps.APIVersions, releaseutil.InstallOrder)
	if err != nil {
		return rendered{}, err
	}
	var b strings.Builder
	for i, m := range manifests {
		if i > 0 {
			b.WriteString("---\n")
		}
		b.WriteString(strings.TrimSpace(m.Content) + "\n")
	}
	for _, h := range hooks {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", h.Path, strings.TrimSpace(h.Manifest))
	}
	out := rendered{text: b.String()}
	for _, doc := range strings.Split(out.text, "\n---\n") {
		obj, err := decode(doc)
		if err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		if obj.kind != "" {
			out.objects = append(out.objects, obj)
		}
	}
	return out, nil
}

// decode turns one YAML document into its typed object, refusing any field
// the type does not have (a misspelt or misplaced key) and any value of the
// wrong type: the offline stand-in for the API server's schema check.
func decode(doc string) (object, error) {
	var meta struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   metav1.ObjectMeta `json:"metadata"`
	}
	if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
		return object{}, fmt.Errorf("not YAML: %w", err)
	}
	if meta.Kind == "" {
		if strings.TrimSpace(stripComments(doc)) != "" {
			return object{}, errors.New("a document without a kind")
		}
		return object{}, nil
	}
	var v any
	switch meta.APIVersion + " " + meta.Kind {
	case "v1 ConfigMap":
		v = &corev1.ConfigMap{}
	case "v1 Service":
		v = &corev1.Service{}
	case "v1 ServiceAccount":
		v = &corev1.ServiceAccount{}
	case "v1 PersistentVolumeClaim":
		v = &corev1.PersistentVolumeClaim{}
	case "apps/v1 Deployment":
		v = &appsv1.Deployment{}
	case "batch/v1 Job":
		v = &batchv1.Job{}
	case "policy/v1 PodDisruptionBudget":
		v = &policyv1.PodDisruptionBudget{}
	case "networking.k8s.io/v1 Ingress":
		v = &networkingv1.Ingress{}
	case "networking.k8s.io/v1 NetworkPolicy":
		v = &networkingv1.NetworkPolicy{}
	case "monitoring.coreos.com/v1 ServiceMonitor":
		v = &monitoringv1.ServiceMonitor{}
	default:
		return object{}, fmt.Errorf("unexpected object %s %s", meta.APIVersion, meta.Kind)
	}
	if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
		return object{}, fmt.Errorf("%s %s does not decode strictly: %w", meta.Kind, meta.Metadata.Name, err)
	}
	if errs := validation.IsDNS1123Subdomain(meta.Metadata.Name); len(errs) > 0 {
		return object{}, fmt.Errorf("%s name %q: %v", meta.Kind, meta.Metadata.Name, errs)
	}
	for k, val := range meta.Metadata.Labels {
		if errs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(val)...); len(errs) > 0 {
			return object{}, fmt.Errorf("%s %s label %s=%q: %v", meta.Kind, meta.Metadata.Name, k, val, errs)
		}
	}
	return object{kind: meta.Kind, name: meta.Metadata.Name, yaml: doc, value: v}, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func mustRender(t *testing.T, vals map[string]any) rendered {
	t.Helper()
	r, err := render(t, vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return r
}

// kinds lists the rendered objects as "Kind/name", sorted.
func (r rendered) kinds() []string {
	var out []string
	for _, o := range r.objects {
		out = append(out, o.kind+"/"+o.name)
	}
	sort.Strings(out)
	return out
}

// get returns the one object of that kind, failing the test otherwise.
func get[T any](t *testing.T, r rendered, kind string) *T {
	t.Helper()
	var found *T
	for _, o := range r.objects {
		if o.kind == kind {
			if found != nil {
				t.Fatalf("more than one %s", kind)
			}
			v, ok := o.value.(*T)
			if !ok {
				t.Fatalf("%s decoded as %T", kind, o.value)
			}
			found = v
		}
	}
	if found == nil {
		t.Fatalf("no %s rendered (have %v)", kind, r.kinds())
	}
	return found
}

func TestLint(t *testing.T) {
	t.Parallel()
	for name, vals := range map[string]map[string]any{"defaults (SQLite)": nil, "PostgreSQL HA": everything()} {
		// helm lint --strict: a warning fails too.
		res := lint.RunAll(chartDir, vals, "gatehouse")
		for _, m := range res.Messages {
			// INFO: the chart has no icon, which only chart repositories show.
			if m.Severity > support.InfoSev {
				t.Errorf("%s: helm lint: %v", name, m)
			}
		}
		if res.HighestSeverity > support.InfoSev {
			t.Errorf("%s: helm lint: highest severity %d", name, res.HighestSeverity)
		}
	}
	// The linter must see a broken chart: a refused value is an error.
	res := lint.RunAll(chartDir, map[string]any{"replicaCount": 2}, "gatehouse")
	if res.HighestSeverity < support.ErrorSev {
		t.Errorf("helm lint passes replicaCount 2 on SQLite: %v", res.Messages)
	}
}

func TestRenderSQLiteDefault(t *testing.T) {
	t.Parallel()
	r := mustRender(t, nil)
	want := []string{
		"ConfigMap/gatehouse", "Deployment/gatehouse", "PersistentVolumeClaim/gatehouse",
		"Service/gatehouse", "ServiceAccount/gatehouse",
	}
	if got := r.kinds(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("objects %v, want %v", got, want)
	}
	d := get[appsv1.Deployment](t, r, "Deployment")
	if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("SQLite: replicas %d, strategy %s; want 1, Recreate", *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	pvc := get[corev1.PersistentVolumeClaim](t, r, "PersistentVolumeClaim")
	if v := volume(t, d.Spec.Template.Spec, "data"); v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != pvc.Name {
		t.Errorf("/data is %+v, want the claim %s", v.VolumeSource, pvc.Name)
	}
	if pvc.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Error("the SQLite claim is not kept on uninstall")
	}
	c := container(t, d.Spec.Template.Spec, "gatehouse")
	if e := env(c, "GATEHOUSE_DATABASE_URL"); e != nil {
		t.Errorf("SQLite install sets GATEHOUSE_DATABASE_URL: %+v", e)
	}
	// No key Secret named: the server generates the key into the volume.
	if e := env(c, "GATEHOUSE_ENCRYPTION_KEY_FILE"); e != nil {
		t.Errorf("GATEHOUSE_ENCRYPTION_KEY_FILE without a Secret: %+v", e)
	}
	checkWorkload(t, r)
}

func TestRenderPostgresHA(t *testing.T) {
	t.Parallel()
	r := mustRender(t, everything())
	want := []string{
		"ConfigMap/gatehouse", "Deployment/gatehouse", "Ingress/gatehouse", "Job/gatehouse-migrate",
		"NetworkPolicy/gatehouse", "PodDisruptionBudget/gatehouse", "Service/gatehouse",
		"ServiceAccount/gatehouse", "ServiceMonitor/gatehouse",
	}
	if got := r.kinds(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("objects %v, want %v", got, want)
	}
	d := get[appsv1.Deployment](t, r, "Deployment")
	if *d.Spec.Replicas != 3 || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType ||
		d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 {
		t.Errorf("replicas %d, strategy %+v; want 3, a rolling update that keeps every replica", *d.Spec.Replicas, d.Spec.Strategy)
	}
	spec := d.Spec.Template.Spec
	if v := volume(t, spec, "data"); v.EmptyDir == nil {
		t.Errorf("PostgreSQL: /data is %+v, want an emptyDir", v.VolumeSource)
	}
	if len(spec.TopologySpreadConstraints) != 2 {
		t.Errorf("topology spread: %+v", spec.TopologySpreadConstraints)
	}
	c := container(t, spec, "gatehouse")
	db := env(c, "GATEHOUSE_DATABASE_URL")
	if db == nil || db.ValueFrom == nil || db.ValueFrom.SecretKeyRef == nil ||
		db.ValueFrom.SecretKeyRef.Name != "gatehouse-database" || db.ValueFrom.SecretKeyRef.Key != "database-url" {
		t.Errorf("GATEHOUSE_DATABASE_URL = %+v, want from Secret gatehouse-database key database-url", db)
	}
	keyFile := env(c, "GATEHOUSE_ENCRYPTION_KEY_FILE")
	if keyFile == nil {
		t.Fatal("no GATEHOUSE_ENCRYPTION_KEY_FILE")
	}
	kv := volume(t, spec, "encryption-key")
	if kv.Secret == nil || kv.Secret.SecretName != "gatehouse-encryption-key" || *kv.Secret.DefaultMode != 0o400 {
		t.Errorf("encryption-key volume %+v", kv.VolumeSource)
	}
	if m := mount(c, "encryption-key"); m == nil || !m.ReadOnly || filepath.Join(m.MountPath, kv.Secret.Items[0].Path) != keyFile.Value {
		t.Errorf("the key file %s is not where the Secret is mounted (%+v)", keyFile.Value, m)
	}
	pdb := get[policyv1.PodDisruptionBudget](t, r, "PodDisruptionBudget")
	if pdb.Spec.MaxUnavailable.IntValue() != 1 || !selects(pdb.Spec.Selector, d) {
		t.Errorf("PodDisruptionBudget %+v does not keep all but one of the Deployment's pods", pdb.Spec)
	}
	job := get[batchv1.Job](t, r, "Job")
	if job.Annotations["helm.sh/hook"] != "pre-install,pre-upgrade" {
		t.Errorf("migration Job hook %q", job.Annotations["helm.sh/hook"])
	}
	jc := container(t, job.Spec.Template.Spec, "migrate")
	if strings.Join(jc.Command, " ") != "/usr/local/bin/gatehouse migrate" || jc.Image != c.Image {
		t.Errorf("migration Job runs %v in %s", jc.Command, jc.Image)
	}
	if e := env(jc, "GATEHOUSE_DATABASE_URL"); e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef.Name != "gatehouse-database" {
		t.Errorf("migration Job database %+v", e)
	}
	svc := get[corev1.Service](t, r, "Service")
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("Service selector %v does not select the pods %v", svc.Spec.Selector, d.Spec.Template.Labels)
	}
	ing := get[networkingv1.Ingress](t, r, "Ingress")
	if b := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service; b.Name != svc.Name || b.Port.Name != "http" {
		t.Errorf("Ingress backend %+v", b)
	}
	sm := get[monitoringv1.ServiceMonitor](t, r, "ServiceMonitor")
	if sm.Spec.Endpoints[0].Path != "/metrics" || sm.Spec.Endpoints[0].Port != "http" || sm.Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("ServiceMonitor %+v", sm.Spec)
	}
	if !labels.SelectorFromSet(sm.Spec.Selector.MatchLabels).Matches(labels.Set(svc.Labels)) {
		t.Errorf("ServiceMonitor selector %v does not select the Service %v", sm.Spec.Selector, svc.Labels)
	}
	np := get[networkingv1.NetworkPolicy](t, r, "NetworkPolicy")
	if !selects(&np.Spec.PodSelector, d) || np.Spec.Ingress[0].Ports[0].Port.String() != "http" || len(np.Spec.Ingress[0].From) != 1 {
		t.Errorf("NetworkPolicy %+v", np.Spec)
	}
	checkWorkload(t, r)
}

// TestRenderConfigFile: the ConfigMap is a configuration file that the real
// gatehouse accepts (it refuses unknown keys and wrong types), with the
// chart's settings and the values' config.
func TestRenderConfigFile(t *testing.T) {
	t.Parallel()
	r := mustRender(t, everything())
	cm := get[corev1.ConfigMap](t, r, "ConfigMap")
	file := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, file, cm.Data["config.yaml"])
	out := run(t, gatehouseBin(t), "config", "print", "--config", file)
	for _, want := range []string{
		"listen: 0.0.0.0:8080 # file", "data-dir: /data # file", "issuer: https://id.example.com # file",
		"trusted-proxies: 10.0.0.0/8 # file", "console: false # file", "audit-retention: 8760h0m0s # file",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("gatehouse config print does not show %q:\n%s", want, out)
		}
	}
	d := get[appsv1.Deployment](t, r, "Deployment")
	c := container(t, d.Spec.Template.Spec, "gatehouse")
	if e := env(c, "GATEHOUSE_CONFIG"); e == nil || e.Value != mount(c, "config").MountPath {
		t.Errorf("GATEHOUSE_CONFIG %+v is not the mounted file", e)
	}
	if d.Spec.Template.Annotations["checksum/config"] == "" {
		t.Error("no checksum/config annotation: a changed configuration would not roll the pods")
	}
}

// checkWorkload checks what every rendering must hold: the pod and
// container security contexts, the probes, resources, and that no secret
// is in clear.
func checkWorkload(t *testing.T, r rendered) {
	t.Helper()
	for _, o := range r.objects {
		var spec corev1.PodSpec
		switch v := o.value.(type) {
		case *appsv1.Deployment:
			spec = v.Spec.Template.Spec
			if !selects(v.Spec.Selector, v) {
				t.Errorf("Deployment selector %v does not match its pods %v", v.Spec.Selector, v.Spec.Template.Labels)
			}
			c := container(t, spec, "gatehouse")
			checkProbe(t, "liveness", c.LivenessProbe, "/healthz")
			checkProbe(t, "readiness", c.ReadinessProbe, "/readyz")
			checkProbe(t, "startup", c.StartupProbe, "/healthz")
			if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
				t.Errorf("resources %+v: want memory request and limit, CPU request", c.Resources)
			}
			if spec.TerminationGracePeriodSeconds == nil || *spec.TerminationGracePeriodSeconds <= 20 {
				t.Errorf("terminationGracePeriodSeconds %v: want above gatehouse's 20s shutdown timeout", spec.TerminationGracePeriodSeconds)
			}
		case *batchv1.Job:
			spec = v.Spec.Template.Spec
		case *corev1.ConfigMap:
			checkConfigHasNoSecret(t, v.Data["config.yaml"])
			continue
		default:
			continue
		}
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			t.Errorf("%s %s mounts a service account token", o.kind, o.name)
		}
		p := spec.SecurityContext
		if p == nil || p.RunAsNonRoot == nil || !*p.RunAsNonRoot || p.RunAsUser == nil || *p.RunAsUser != 65532 ||
			p.SeccompProfile == nil || p.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s %s pod securityContext %+v: want non-root 65532, seccomp RuntimeDefault", o.kind, o.name, p)
		}
		for _, c := range spec.Containers {
			s := c.SecurityContext
			if s == nil || s.ReadOnlyRootFilesystem == nil || !*s.ReadOnlyRootFilesystem ||
				s.AllowPrivilegeEscalation == nil || *s.AllowPrivilegeEscalation ||
				s.RunAsNonRoot == nil || !*s.RunAsNonRoot ||
				s.Capabilities == nil || len(s.Capabilities.Add) > 0 || fmt.Sprint(s.Capabilities.Drop) != "[ALL]" ||
				s.SeccompProfile == nil || s.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("%s %s container %s securityContext %+v", o.kind, o.name, c.Name, s)
			}
			for _, e := range c.Env {
				if secretName.MatchString(e.Name) && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
					t.Errorf("%s %s: %s is not from a Secret: %+v", o.kind, o.name, e.Name, e)
				}
			}
		}
	}
	for _, o := range r.objects {
		if o.kind == "Secret" {
			t.Errorf("the chart renders a Secret (%s): secrets come from Secrets the operator made", o.name)
		}
	}
}

// secretName matches the environment variables that hold secrets (file
// paths, ending in _FILE, name where one is).
var secretName = regexp.MustCompile(`(?i)(SECRET|PASSWORD|TOKEN|PRIVATE|CREDENTIAL|_KEY$|DATABASE_URL)`)

// checkConfigHasNoSecret: the configuration file names no secret option.
func checkConfigHasNoSecret(t *testing.T, file string) {
	t.Helper()
	var m map[string]any
	if err := yaml.UnmarshalStrict([]byte(file), &m); err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	for k := range m {
		if k == "database-url" || secretName.MatchString(strings.ReplaceAll(strings.ToUpper(k), "-", "_")) {
			t.Errorf("config.yaml has the secret option %s", k)
		}
	}
}

func checkProbe(t *testing.T, name string, p *corev1.Probe, path string) {
	t.Helper()
	if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "http" {
		t.Errorf("%s probe %+v: want GET %s on port http", name, p, path)
	}
}

func TestRefusedValues(t *testing.T) {
	t.Parallel()
	pg := func(edit func(map[string]any)) map[string]any {
		v := postgresHA()
		edit(v)
		return v
	}
	for _, tc := range []struct {
		name string
		vals map[string]any
		want string // in the error
	}{
		{"replicas on SQLite", map[string]any{"replicaCount": 2}, "replicaCount"},
		{"PostgreSQL without the URL Secret", pg(func(v map[string]any) {
			v["database"] = map[string]any{"postgres": map[string]any{"enabled": true}}
		}), "existingSecret"},
		{"PostgreSQL without the key Secret", pg(func(v map[string]any) { delete(v, "encryptionKey") }), "encryptionKey"},
		{"the key in config", map[string]any{"config": map[string]any{"encryption-key": "c2VjcmV0"}}, "encryption-key"},
		{"the URL in config", map[string]any{"config": map[string]any{"database-url": "postgres://u:p@h/db"}}, "database-url"},
		{"listen in config (the chart's)", map[string]any{"config": map[string]any{"listen": ":9999"}}, "listen"},
		{"a list in config", map[string]any{"config": map[string]any{"trusted-proxies": []any{"10.0.0.0/8"}}}, "trusted-proxies"},
		{"the key as a plain variable", map[string]any{"extraEnv": []any{
			map[string]any{"name": "GATEHOUSE_ENCRYPTION_KEY", "value": "c2VjcmV0"},
		}}, "extraEnv"},
		{"a secret as a plain variable", map[string]any{"extraEnv": []any{
			map[string]any{"name": "GATEHOUSE_CLOUD_AWS_SECRET_ACCESS_KEY_X", "value": "s3cr3t"},
		}}, "extraEnv"},
		{"an unknown key", map[string]any{"replicas": 2}, "replicas"},
		{"an issuer that is no URL", map[string]any{"issuer": "id.example.com"}, "issuer"},
		{"a migration Job that never ends", map[string]any{"migrations": map[string]any{"job": map[string]any{"activeDeadlineSeconds": 0}}}, "activeDeadlineSeconds"},
		{"a bad digest", map[string]any{"image": map[string]any{"repository": "gatehouse", "digest": "latest"}}, "digest"},
		{"an Ingress without hosts", map[string]any{"ingress": map[string]any{"enabled": true}}, "hosts"},
		{"replicas as a string", map[string]any{"replicaCount": "3"}, "replicaCount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := render(t, tc.vals)
			if err == nil {
				t.Fatal("rendered, want refused")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
		})
	}
}

// TestRefusedByTemplate: the two checks that matter most hold in
// the templates too, where the message is the clearer one, so that a
// schema-less install (helm --skip-schema-validation) still fails.
func TestRefusedByTemplate(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		vals map[string]any
		want string
	}{
		"replicas on SQLite":              {map[string]any{"replicaCount": 3}, "replicaCount > 1 needs PostgreSQL"},
		"PostgreSQL without a key Secret": {map[string]any{"database": map[string]any{"postgres": map[string]any{"enabled": true, "existingSecret": "db"}}}, "must share the encryption key"},
	} {
		_, err := renderWith(t, tc.vals, true)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", name, err, tc.want)
		}
	}
}

func container(t *testing.T, spec corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return corev1.Container{}
}

func volume(t *testing.T, spec corev1.PodSpec, name string) corev1.Volume {
	t.Helper()
	for _, v := range spec.Volumes {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no volume %s", name)
	return corev1.Volume{}
}

func env(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func mount(c corev1.Container, name string) *corev1.VolumeMount {
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].Name == name {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

// selects reports whether sel selects d's pods.
func selects(sel *metav1.LabelSelector, d *appsv1.Deployment) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !s.Empty() && s.Matches(labels.Set(d.Spec.Template.Labels))
}
