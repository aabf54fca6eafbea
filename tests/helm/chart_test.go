// SPDX-License-Identifier: Apache-2.0

package helm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ebbscale/ebb/tests/controlplane"
	"github.com/ebbscale/ebb/tests/helm"
)

const namespace = "ebb-system"

func loadChart(t *testing.T) (*chart.Chart, string) {
	t.Helper()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	c, err := helm.Load(filepath.Join(root, "deploy", "helm", "ebb"))
	if err != nil {
		t.Fatalf("load the chart: %v", err)
	}
	return c, root
}

func render(t *testing.T, c *chart.Chart, values map[string]any) *helm.Rendered {
	t.Helper()
	r, err := helm.Render(c, namespace, values)
	if err != nil {
		t.Fatalf("render with %v: %v", values, err)
	}
	return r
}

// find returns the one object of the kind and name, failing the test when
// there is none.
func find(t *testing.T, r *helm.Rendered, kind, name string) *unstructured.Unstructured {
	t.Helper()
	if o := lookup(r, kind, name); o != nil {
		return o
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return nil
}

func lookup(r *helm.Rendered, kind, name string) *unstructured.Unstructured {
	for _, o := range r.Objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func str(o *unstructured.Unstructured, path ...string) string {
	v, _, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
	s, _ := v.(string)
	return s
}

func container(t *testing.T, r *helm.Rendered) map[string]any {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(find(t, r, "Deployment", "ebb-operator").Object, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("%d containers", len(cs))
	}
	return cs[0].(map[string]any)
}

func args(t *testing.T, r *helm.Rendered) []string {
	var out []string
	for _, a := range container(t, r)["args"].([]any) {
		out = append(out, a.(string))
	}
	return out
}

// The chart's CRDs are byte for byte the generated ones in deploy/crds.
func TestChartCRDsAreTheGeneratedOnes(t *testing.T) {
	_, root := loadChart(t)
	want, _ := filepath.Glob(filepath.Join(root, "deploy", "crds", "*.yaml"))
	got, _ := filepath.Glob(filepath.Join(root, "deploy", "helm", "ebb", "crds", "*.yaml"))
	if len(want) == 0 || len(want) != len(got) {
		t.Fatalf("deploy/crds has %d files, the chart %d: run make chart-sync", len(want), len(got))
	}
	for _, w := range want {
		a, _ := os.ReadFile(w)
		b, err := os.ReadFile(filepath.Join(root, "deploy", "helm", "ebb", "crds", filepath.Base(w)))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("the chart's %s differs from deploy/crds: run make chart-sync", filepath.Base(w))
		}
	}
	dash, _ := os.ReadFile(filepath.Join(root, "deploy", "grafana", "ebb.json"))
	chartDash, _ := os.ReadFile(filepath.Join(root, "deploy", "helm", "ebb", "dashboards", "ebb.json"))
	if len(dash) == 0 || !bytes.Equal(dash, chartDash) {
		t.Error("the chart's dashboards/ebb.json differs from deploy/grafana/ebb.json: run make chart-sync")
	}
}

// With default values: two leader-elected, locked-down replicas with probes
// and resources, a PDB, the APIService without caBundle (the operator
// injects its CA) and never insecureSkipTLSVerify, the webhook with a
// caBundle that vouches for its Service.
func TestDefaultValuesRenderASafeHighlyAvailableOperator(t *testing.T) {
	c, _ := loadChart(t)
	r := render(t, c, nil)

	dep := find(t, r, "Deployment", "ebb-operator")
	if n, _, _ := unstructured.NestedInt64(dep.Object, "spec", "replicas"); n != 2 {
		t.Errorf("replicas = %d, want 2", n)
	}
	a := args(t, r)
	for _, want := range []string{"--leader-elect=true", "--namespace=$(POD_NAMESPACE)", "--adapter-apiservice=v1beta1.external.metrics.k8s.io",
		"--adapter-ca-secret=ebb-metrics-adapter-ca", "--adapter-service-name=ebb-metrics-adapter", "--webhook=true", "--webhook-ca-secret=ebb-webhook-ca", "--webhook-service-name=ebb-webhook",
		"--webhook-configuration=ebb-operator", "--webhook-cert-validity=87600h", "--metrics-bind-address=:8080"} {
		if !slices.Contains(a, want) {
			t.Errorf("operator args %v lack %s", a, want)
		}
	}
	ctr := container(t, r)
	sc := ctr["securityContext"].(map[string]any)
	if sc["readOnlyRootFilesystem"] != true || sc["allowPrivilegeEscalation"] != false ||
		!slices.Equal(sc["capabilities"].(map[string]any)["drop"].([]any), []any{"ALL"}) {
		t.Errorf("container securityContext = %v", sc)
	}
	if v, _, _ := unstructured.NestedBool(dep.Object, "spec", "template", "spec", "securityContext", "runAsNonRoot"); !v {
		t.Error("the pod may run as root")
	}
	for _, p := range []string{"livenessProbe", "readinessProbe", "resources"} {
		if ctr[p] == nil {
			t.Errorf("no %s", p)
		}
	}
	if pdb := find(t, r, "PodDisruptionBudget", "ebb-operator"); pdb.Object["spec"].(map[string]any)["minAvailable"] != int64(1) {
		t.Errorf("PDB spec = %v", pdb.Object["spec"])
	}
	api := find(t, r, "APIService", "v1beta1.external.metrics.k8s.io")
	spec := api.Object["spec"].(map[string]any)
	if _, ok := spec["insecureSkipTLSVerify"]; ok {
		t.Error("the APIService skips TLS verification")
	}
	if _, ok := spec["caBundle"]; ok {
		t.Error("the APIService sets a caBundle the operator would fight over")
	}
	if str(api, "spec", "service", "name") != "ebb-metrics-adapter" || str(api, "spec", "service", "namespace") != namespace {
		t.Errorf("APIService service = %v", spec["service"])
	}

	// The operator makes the webhook's certificate and sets its caBundle:
	// the chart renders neither (TestRenderingTwiceGivesTheSameOutput).
	vwc := find(t, r, "ValidatingWebhookConfiguration", "ebb-operator")
	hooks, _, _ := unstructured.NestedSlice(vwc.Object, "webhooks")
	for _, h := range hooks {
		if _, ok := h.(map[string]any)["clientConfig"].(map[string]any)["caBundle"]; ok {
			t.Error("the webhook configuration sets a caBundle the operator would fight over")
		}
	}
	for _, o := range r.Objects {
		if o.GetKind() == "Secret" {
			t.Errorf("the chart renders Secret %s", o.GetName())
		}
	}
	if lookup(r, "ServiceMonitor", "ebb-operator") != nil || lookup(r, "ConfigMap", "ebb-grafana-dashboard") != nil || lookup(r, "Certificate", "ebb-operator-tls") != nil {
		t.Error("an optional object is rendered by default")
	}
	if !strings.Contains(r.Notes, "kubectl get apiservice v1beta1.external.metrics.k8s.io") {
		t.Errorf("NOTES.txt = %q", r.Notes)
	}
}

// Each documented option renders, and does what it says.
func TestEachOptionRenders(t *testing.T) {
	c, _ := loadChart(t)
	for _, tc := range options {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, render(t, c, tc.values))
		})
	}
}

// envSourceValues let the operator read Argo Rollouts' pod templates.
var envSourceValues = map[string]any{"rbac": map[string]any{"envSourceResources": []any{
	map[string]any{"apiGroup": "argoproj.io", "resources": []any{"rollouts"}},
}}}

type option struct {
	name   string
	values map[string]any
	check  func(*testing.T, *helm.Rendered)
}

var options = []option{
	{"clusterTriggerAuthentication.openByDefault restores KEDA's open ClusterTriggerAuthentications", map[string]any{"clusterTriggerAuthentication": map[string]any{"openByDefault": true}}, func(t *testing.T, r *helm.Rendered) {
		if a := args(t, r); !slices.Contains(a, "--cta-open-by-default=true") {
			t.Errorf("operator args = %v, want --cta-open-by-default=true", a)
		}
	}},
	{"an egress policy", map[string]any{"egress": map[string]any{"allow": []any{"10.0.0.0/8", "*.svc.cluster.local"}, "deny": []any{"10.96.0.1"}, "allowLinkLocal": true}}, func(t *testing.T, r *helm.Rendered) {
		a := args(t, r)
		for _, want := range []string{"--egress-allow=10.0.0.0/8,*.svc.cluster.local", "--egress-deny=10.96.0.1", "--egress-allow-link-local=true"} {
			if !slices.Contains(a, want) {
				t.Errorf("args %v lack %s", a, want)
			}
		}
	}},
	{"cert-manager issues the adapter's and the webhook's certificate and injects the CA", map[string]any{"certManager": map[string]any{"enabled": true}}, func(t *testing.T, r *helm.Rendered) {
		crt := find(t, r, "Certificate", "ebb-operator-tls")
		dns, _, _ := unstructured.NestedStringSlice(crt.Object, "spec", "dnsNames")
		if !slices.Contains(dns, "ebb-metrics-adapter.ebb-system.svc") || !slices.Contains(dns, "ebb-webhook.ebb-system.svc") {
			t.Errorf("dnsNames = %v", dns)
		}
		find(t, r, "Issuer", "ebb-ca")
		for _, o := range []*unstructured.Unstructured{find(t, r, "APIService", "v1beta1.external.metrics.k8s.io"), find(t, r, "ValidatingWebhookConfiguration", "ebb-operator")} {
			if o.GetAnnotations()["cert-manager.io/inject-ca-from"] != "ebb-system/ebb-operator-tls" {
				t.Errorf("%s annotations = %v", o.GetKind(), o.GetAnnotations())
			}
		}
		if lookup(r, "Secret", "ebb-webhook-tls") != nil {
			t.Error("a Helm-made webhook certificate with cert-manager on")
		}
		a := args(t, r)
		for _, want := range []string{"--adapter-cert-dir=/certs/adapter", "--adapter-apiservice=", "--webhook-cert-dir=/certs/webhook", "--webhook-configuration="} {
			if !slices.Contains(a, want) {
				t.Errorf("args %v lack %s", a, want)
			}
		}
	}},
	{"cert-manager with an existing ClusterIssuer", map[string]any{"certManager": map[string]any{"enabled": true, "issuerRef": map[string]any{"name": "corp-ca", "kind": "ClusterIssuer"}}}, func(t *testing.T, r *helm.Rendered) {
		crt := find(t, r, "Certificate", "ebb-operator-tls")
		if str(crt, "spec", "issuerRef", "name") != "corp-ca" || str(crt, "spec", "issuerRef", "kind") != "ClusterIssuer" {
			t.Errorf("issuerRef = %v", crt.Object["spec"].(map[string]any)["issuerRef"])
		}
		if lookup(r, "Issuer", "ebb-ca") != nil {
			t.Error("a self-signed CA besides the given issuer")
		}
	}},
	{"webhook off", map[string]any{"webhook": map[string]any{"enabled": false}}, func(t *testing.T, r *helm.Rendered) {
		if lookup(r, "ValidatingWebhookConfiguration", "ebb-operator") != nil || lookup(r, "Service", "ebb-webhook") != nil || lookup(r, "Secret", "ebb-webhook-tls") != nil {
			t.Error("webhook objects with the webhook off")
		}
		if !slices.Contains(args(t, r), "--webhook=false") {
			t.Error("the operator serves the webhook")
		}
	}},
	{"webhook failure policy Ignore", map[string]any{"webhook": map[string]any{"failurePolicy": "Ignore"}}, func(t *testing.T, r *helm.Rendered) {
		hooks, _, _ := unstructured.NestedSlice(find(t, r, "ValidatingWebhookConfiguration", "ebb-operator").Object, "webhooks")
		if len(hooks) != 2 {
			t.Fatalf("%d webhooks, want one for ScaledObjects and one for ScaledJobs", len(hooks))
		}
		for i, path := range []string{"/validate-ebb-dev-v1alpha1-scaledobject", "/validate-ebb-dev-v1alpha1-scaledjob"} {
			h := hooks[i].(map[string]any)
			if h["failurePolicy"] != "Ignore" {
				t.Errorf("webhook %d failurePolicy = %v", i, h["failurePolicy"])
			}
			if got, _, _ := unstructured.NestedString(h, "clientConfig", "service", "path"); got != path {
				t.Errorf("webhook %d path = %q, want %q", i, got, path)
			}
		}
	}},
	{"adapter off", map[string]any{"adapter": map[string]any{"enabled": false}}, func(t *testing.T, r *helm.Rendered) {
		if lookup(r, "APIService", "v1beta1.external.metrics.k8s.io") != nil || lookup(r, "Service", "ebb-metrics-adapter") != nil || lookup(r, "RoleBinding", "ebb-operator:auth-reader") != nil {
			t.Error("adapter objects with the adapter off")
		}
		// The secure metrics endpoint still delegates authentication.
		find(t, r, "ClusterRoleBinding", "ebb-operator:auth-delegator")
	}},
	{"adapter off, plain metrics", map[string]any{"adapter": map[string]any{"enabled": false}, "metrics": map[string]any{"secure": false}}, func(t *testing.T, r *helm.Rendered) {
		if lookup(r, "ClusterRoleBinding", "ebb-operator:auth-delegator") != nil {
			t.Error("system:auth-delegator bound with neither the adapter nor secure metrics")
		}
		if !slices.Contains(args(t, r), "--adapter=false") {
			t.Error("the operator serves the adapter")
		}
	}},
	{"APIService managed elsewhere", map[string]any{"adapter": map[string]any{"apiService": map[string]any{"create": false}}}, func(t *testing.T, r *helm.Rendered) {
		if lookup(r, "APIService", "v1beta1.external.metrics.k8s.io") != nil {
			t.Error("the APIService is rendered")
		}
		if !slices.Contains(args(t, r), "--adapter-apiservice=") {
			t.Error("the operator patches an APIService the chart does not own")
		}
	}},
	{"get on the scale targets of a custom kind (envSourceResources)", envSourceValues, func(t *testing.T, r *helm.Rendered) {
		var found bool
		for _, rule := range rules(find(t, r, "ClusterRole", "ebb-operator")) {
			if slices.Equal(rule.APIGroups, []string{"argoproj.io"}) {
				found = true
				if !slices.Equal(rule.Resources, []string{"rollouts"}) || !slices.Equal(rule.Verbs, []string{"get"}) {
					t.Errorf("the rule for argoproj.io is %+v, want get on rollouts only", rule)
				}
			}
		}
		if !found {
			t.Error("no rule for argoproj.io rollouts")
		}
	}},
	{"namespace-restricted Secret access", map[string]any{"rbac": map[string]any{"secretNamespaces": []any{"shop", "ebb-system"}}}, func(t *testing.T, r *helm.Rendered) {
		for _, rule := range rules(find(t, r, "ClusterRole", "ebb-operator")) {
			if slices.Contains(rule.Resources, "secrets") {
				t.Errorf("the ClusterRole grants secrets: %+v", rule)
			}
		}
		role := lookupNS(r, "Role", "ebb-operator-trigger-auth", "shop")
		if role == nil {
			t.Fatal("no Role in shop")
		}
		if lookupNS(r, "Role", "ebb-operator-trigger-auth", "ebb-system") != nil {
			t.Error("a second Role in the release namespace")
		}
		if !strings.Contains(r.Notes, "Namespace-restricted mode") {
			t.Error("NOTES.txt does not say the mode")
		}
	}},
	{"RBAC made elsewhere", map[string]any{"rbac": map[string]any{"create": false}}, func(t *testing.T, r *helm.Rendered) {
		for _, o := range r.Objects {
			if strings.Contains(o.GetKind(), "Role") {
				t.Errorf("%s %s rendered", o.GetKind(), o.GetName())
			}
		}
	}},
	{"ServiceMonitor", map[string]any{"metrics": map[string]any{"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prom"}}}}, func(t *testing.T, r *helm.Rendered) {
		sm := find(t, r, "ServiceMonitor", "ebb-operator")
		if sm.GetLabels()["release"] != "prom" {
			t.Errorf("labels = %v", sm.GetLabels())
		}
		checkServiceMonitor(t, r, "ebb-operator", "ebb-operator-metrics", "metrics")
		if lookup(r, "ServiceMonitor", "ebb-interceptor") != nil {
			t.Error("a ServiceMonitor for the interceptor, which is off")
		}
	}},
	{"ServiceMonitors for the operator and the interceptor", map[string]any{
		"metrics":     map[string]any{"serviceMonitor": map[string]any{"enabled": true, "interval": "15s", "labels": map[string]any{"release": "prom"}}},
		"interceptor": map[string]any{"enabled": true, "adminPort": 9191},
	}, func(t *testing.T, r *helm.Rendered) {
		checkServiceMonitor(t, r, "ebb-operator", "ebb-operator-metrics", "metrics")
		checkServiceMonitor(t, r, "ebb-interceptor", "ebb-interceptor-admin", "admin")
		// It scrapes the endpoints of the headless Service: every replica.
		checkAdminServiceIsHeadless(t, r)
		sm := find(t, r, "ServiceMonitor", "ebb-interceptor")
		if sm.GetLabels()["release"] != "prom" {
			t.Errorf("the interceptor's ServiceMonitor labels = %v, without the values' release=prom", sm.GetLabels())
		}
		eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		if len(eps) != 1 || eps[0].(map[string]any)["interval"] != "15s" {
			t.Errorf("the interceptor's ServiceMonitor endpoints = %v, want the values' interval 15s", eps)
		}
		// The admin Service's port reaches the container port the
		// interceptor's --admin-address (which serves /metrics) listens on.
		ports, _, _ := unstructured.NestedSlice(find(t, r, "Service", "ebb-interceptor-admin").Object, "spec", "ports")
		if len(ports) != 1 || ports[0].(map[string]any)["targetPort"] != "admin" {
			t.Fatalf("ebb-interceptor-admin ports = %v, want one with targetPort admin", ports)
		}
		cs, _, _ := unstructured.NestedSlice(find(t, r, "Deployment", "ebb-interceptor").Object, "spec", "template", "spec", "containers")
		var adminPort int64
		for _, p := range cs[0].(map[string]any)["ports"].([]any) {
			if p.(map[string]any)["name"] == "admin" {
				adminPort = p.(map[string]any)["containerPort"].(int64)
			}
		}
		if want := fmt.Sprintf("--admin-address=:%d", adminPort); adminPort != 9191 || !slices.Contains(interceptorArgs(t, r), want) {
			t.Errorf("the interceptor's container port admin is %d, its args %v; want 9191 and %s", adminPort, interceptorArgs(t, r), want)
		}
	}},
	{"secure metrics by default: HTTPS scraped with a token", map[string]any{"metrics": map[string]any{"serviceMonitor": map[string]any{"enabled": true}}}, func(t *testing.T, r *helm.Rendered) {
		if a := args(t, r); !slices.Contains(a, "--metrics-secure=true") || !slices.Contains(a, "--enable-http2=false") || !slices.Contains(a, "--scaled-jobs=false") {
			t.Errorf("the operator's args %v lack the secure defaults", a)
		}
		eps, _, _ := unstructured.NestedSlice(find(t, r, "ServiceMonitor", "ebb-operator").Object, "spec", "endpoints")
		ep := eps[0].(map[string]any)
		if ep["scheme"] != "https" || ep["bearerTokenFile"] == nil {
			t.Errorf("the ServiceMonitor endpoint %v does not scrape over HTTPS with a token", ep)
		}
		find(t, r, "ClusterRole", "ebb-metrics-reader")
	}},
	{"plain metrics", map[string]any{"metrics": map[string]any{"secure": false, "serviceMonitor": map[string]any{"enabled": true}}}, func(t *testing.T, r *helm.Rendered) {
		if a := args(t, r); !slices.Contains(a, "--metrics-secure=false") {
			t.Errorf("args %v", a)
		}
		if lookup(r, "ClusterRole", "ebb-metrics-reader") != nil {
			t.Error("ebb-metrics-reader rendered with plain metrics")
		}
		eps, _, _ := unstructured.NestedSlice(find(t, r, "ServiceMonitor", "ebb-operator").Object, "spec", "endpoints")
		if ep := eps[0].(map[string]any); ep["scheme"] != nil || ep["bearerTokenFile"] != nil {
			t.Errorf("plain metrics scraped as %v", ep)
		}
	}},
	{"metrics with a certificate from a Secret", map[string]any{"metrics": map[string]any{"certSecret": "metrics-tls"}}, func(t *testing.T, r *helm.Rendered) {
		if a := args(t, r); !slices.Contains(a, "--metrics-cert-dir=/certs/metrics") {
			t.Errorf("args %v", a)
		}
		vols, _, _ := unstructured.NestedSlice(find(t, r, "Deployment", "ebb-operator").Object, "spec", "template", "spec", "volumes")
		found := false
		for _, v := range vols {
			if sec, ok := v.(map[string]any)["secret"].(map[string]any); ok && sec["secretName"] == "metrics-tls" {
				found = true
			}
		}
		if !found {
			t.Errorf("no volume of the Secret metrics-tls: %v", vols)
		}
	}},
	{"ScaledJobs on", map[string]any{"scaledJobs": map[string]any{"enabled": true}}, func(t *testing.T, r *helm.Rendered) {
		if a := args(t, r); !slices.Contains(a, "--scaled-jobs=true") {
			t.Errorf("args %v", a)
		}
	}},
	{"NetworkPolicies for the operator and the interceptor", map[string]any{
		"networkPolicy": map[string]any{"enabled": true,
			"metricsFrom": []any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "monitoring"}}}},
			"egress":      []any{map[string]any{"to": []any{map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.0/8"}}}}},
		},
		"interceptor": map[string]any{"enabled": true},
	}, func(t *testing.T, r *helm.Rendered) {
		op := find(t, r, "NetworkPolicy", "ebb-operator")
		pts, _, _ := unstructured.NestedStringSlice(op.Object, "spec", "policyTypes")
		if !slices.Equal(pts, []string{"Ingress", "Egress"}) {
			t.Errorf("the operator's policy types %v, want Ingress and Egress (egress rules given)", pts)
		}
		sel, _, _ := unstructured.NestedStringMap(op.Object, "spec", "podSelector", "matchLabels")
		tmpl, _, _ := unstructured.NestedStringMap(find(t, r, "Deployment", "ebb-operator").Object, "spec", "template", "metadata", "labels")
		for k, v := range sel {
			if tmpl[k] != v {
				t.Errorf("the operator's policy selects %v, the pods have %v", sel, tmpl)
			}
		}
		ip := find(t, r, "NetworkPolicy", "ebb-interceptor")
		ing, _, _ := unstructured.NestedSlice(ip.Object, "spec", "ingress")
		if len(ing) != 2 {
			t.Fatalf("the interceptor's ingress rules %v, want the proxy port and the admin port", ing)
		}
		admin := ing[1].(map[string]any)
		if from, _ := admin["from"].([]any); len(from) != 2 {
			t.Errorf("the interceptor's admin port is open to %v, want the operator's pods and metricsFrom", admin["from"])
		}
	}},
	{"no NetworkPolicy by default", nil, func(t *testing.T, r *helm.Rendered) {
		if lookup(r, "NetworkPolicy", "ebb-operator") != nil {
			t.Error("a NetworkPolicy by default")
		}
	}},
	{"dashboard ConfigMap for Grafana's sidecar", map[string]any{"dashboard": map[string]any{"enabled": true, "label": "grafana_dashboard", "labelValue": "ebb", "namespace": "monitoring"}}, func(t *testing.T, r *helm.Rendered) {
		cm := lookupNS(r, "ConfigMap", "ebb-grafana-dashboard", "monitoring")
		if cm == nil {
			t.Fatal("no dashboard ConfigMap in monitoring")
		}
		if cm.GetLabels()["grafana_dashboard"] != "ebb" {
			t.Errorf("labels = %v", cm.GetLabels())
		}
		var dash map[string]any
		if err := json.Unmarshal([]byte(str(cm, "data", "ebb.json")), &dash); err != nil || dash["title"] == nil {
			t.Errorf("the ConfigMap's ebb.json is not the dashboard: %v", err)
		}
		// It is deploy/grafana/ebb.json, the Interceptor row included.
		root, err := controlplane.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(root, "deploy", "grafana", "ebb.json"))
		if err != nil {
			t.Fatal(err)
		}
		var want map[string]any
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(dash, want) {
			t.Error("the ConfigMap's ebb.json is not deploy/grafana/ebb.json: run make chart-sync")
		}
		rows := []string{}
		for _, p := range dash["panels"].([]any) {
			if p := p.(map[string]any); p["type"] == "row" {
				rows = append(rows, p["title"].(string))
			}
		}
		if !slices.Contains(rows, "Interceptor") {
			t.Errorf("the dashboard's rows %q lack Interceptor", rows)
		}
	}},
	{"one replica without leader election, no PDB", map[string]any{"replicaCount": 1, "leaderElection": false, "podDisruptionBudget": map[string]any{"enabled": false}}, func(t *testing.T, r *helm.Rendered) {
		if lookup(r, "PodDisruptionBudget", "ebb-operator") != nil {
			t.Error("a PDB")
		}
		if !slices.Contains(args(t, r), "--leader-elect=false") {
			t.Error("leader election on")
		}
	}},
	{"a named, existing service account", map[string]any{"serviceAccount": map[string]any{"create": false, "name": "ops"}}, func(t *testing.T, r *helm.Rendered) {
		if lookup(r, "ServiceAccount", "ops") != nil || lookup(r, "ServiceAccount", "ebb-operator") != nil {
			t.Error("a ServiceAccount is rendered")
		}
		if sa := str(find(t, r, "Deployment", "ebb-operator"), "spec", "template", "spec", "serviceAccountName"); sa != "ops" {
			t.Errorf("serviceAccountName = %q", sa)
		}
		subj, _, _ := unstructured.NestedSlice(find(t, r, "ClusterRoleBinding", "ebb-operator").Object, "subjects")
		if subj[0].(map[string]any)["name"] != "ops" {
			t.Errorf("binding subjects = %v", subj)
		}
	}},
	{"the interceptor with routes", interceptorValues, func(t *testing.T, r *helm.Rendered) {
		find(t, r, "Deployment", "ebb-interceptor")
		if lookup(r, "ServiceMonitor", "ebb-interceptor") != nil {
			t.Error("a ServiceMonitor for the interceptor with metrics.serviceMonitor off")
		}
		find(t, r, "Service", "ebb-interceptor")
		// The operator makes the token when absent.
		if lookup(r, "Secret", "ebb-interceptor-token") != nil {
			t.Error("the chart renders the interceptor's token")
		}
		if !slices.Contains(args(t, r), "--interceptor-token-secret=ebb-interceptor-token") {
			t.Errorf("operator args %v do not name the interceptor's token Secret", args(t, r))
		}
		var routes struct {
			Routes []map[string]any `json:"routes"`
		}
		if err := json.Unmarshal([]byte(str(find(t, r, "ConfigMap", "ebb-interceptor-routes"), "data", "routes.json")), &routes); err != nil || len(routes.Routes) != 2 {
			t.Errorf("routes.json: %v, %v", routes, err)
		}
		role := lookupNS(r, "Role", "ebb-interceptor", "shop")
		if role == nil {
			t.Fatal("no EndpointSlice Role in the routes' namespace")
		}
		if rs := rules(role); len(rs) != 1 || !slices.Equal(rs[0].Resources, []string{"endpointslices"}) || !slices.Equal(rs[0].Verbs, []string{"list", "watch"}) {
			t.Errorf("interceptor Role rules = %+v", rs)
		}
		if lookupNS(r, "Role", "ebb-interceptor", "ebb-system") != nil {
			t.Error("an EndpointSlice Role where no route's Service is")
		}
	}},
	{"the interceptor with routes from the cluster", map[string]any{"interceptor": map[string]any{"enabled": true}}, func(t *testing.T, r *helm.Rendered) {
		if lookupNS(r, "ConfigMap", "ebb-interceptor-routes", namespace) != nil {
			t.Error("a routes ConfigMap with routes from the cluster")
		}
		for _, a := range interceptorArgs(t, r) {
			if strings.HasPrefix(a, "--routes") || strings.HasPrefix(a, "--namespace") {
				t.Errorf("interceptor argument %s with routes from the whole cluster", a)
			}
		}
		role := lookupNS(r, "ClusterRole", "ebb-interceptor", "")
		if role == nil {
			t.Fatal("no ClusterRole for the interceptor")
		}
		want := []rule{
			{APIGroups: []string{"ebb.dev"}, Resources: []string{"scaledobjects"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		}
		if rs := rules(role); !slices.EqualFunc(rs, want, func(a, b rule) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
			t.Errorf("interceptor ClusterRole rules = %+v, want %+v", rs, want)
		}
		find(t, r, "ClusterRoleBinding", "ebb-interceptor")
		checkAdminServiceIsHeadless(t, r)
	}},
	{"the interceptor with routes from one namespace, without Events", interceptorFromClusterValues, func(t *testing.T, r *helm.Rendered) {
		a := interceptorArgs(t, r)
		if !slices.Contains(a, "--namespace=shop") || !slices.Contains(a, "--no-events") {
			t.Errorf("interceptor args %v lack --namespace=shop and --no-events", a)
		}
		for _, want := range []string{"--host-claims-namespace=" + namespace, "--cluster-domain=corp.example", "--host-grant=edge=*.example.com,example.com"} {
			if !slices.Contains(a, want) {
				t.Errorf("interceptor args %v lack %s", a, want)
			}
		}
		for _, want := range []string{"--host-claims", "--host-claims-grace=2h", "--host-grant=edge=*.example.com,example.com"} {
			if a := args(t, r); !slices.Contains(a, want) {
				t.Errorf("operator args %v lack %s", a, want)
			}
		}
		role := lookupNS(r, "Role", "ebb-interceptor", "shop")
		if role == nil {
			t.Fatal("no Role for the interceptor in its namespace")
		}
		if rs := rules(role); len(rs) != 2 {
			t.Errorf("interceptor Role rules = %+v, want ScaledObjects and EndpointSlices only", rs)
		}
		if lookupNS(r, "ClusterRole", "ebb-interceptor", "") != nil {
			t.Error("a ClusterRole for an interceptor restricted to a namespace")
		}
	}},
	{"adapter.delegate names another adapter with its CA and a front-proxy client certificate", delegateValues, func(t *testing.T, r *helm.Rendered) {
		a := args(t, r)
		for _, want := range []string{"--adapter-delegate-address=keda-operator-metrics-apiserver.keda.svc:443", "--adapter-delegate-server-name=keda-operator-metrics-apiserver.keda.svc",
			"--adapter-delegate-ca-file=/etc/ebb/delegate/ca.crt", "--adapter-delegate-client-cert-dir=/certs/delegate-client", "--adapter-delegate-timeout=5s"} {
			if !slices.Contains(a, want) {
				t.Errorf("args %v lack %s", a, want)
			}
		}
		cm := findNS(t, r, "ConfigMap", "ebb-metrics-delegate", namespace)
		if data, _, _ := unstructured.NestedStringMap(cm.Object, "data"); data["ca.crt"] != testCAPEM || data["service"] != "keda/keda-operator-metrics-apiserver:443" || data["apiservice.json"] != "" {
			t.Errorf("ConfigMap data = %v", data)
		}
		vols, _, _ := unstructured.NestedSlice(find(t, r, "Deployment", "ebb-operator").Object, "spec", "template", "spec", "volumes")
		if got := fmt.Sprint(vols); !strings.Contains(got, "secretName:ebb-front-proxy-client") || !strings.Contains(got, "name:ebb-metrics-delegate") {
			t.Errorf("volumes = %v", vols)
		}
		// The caller's identity goes with the certificate: the operator
		// needs no right to read external metrics itself.
		for _, ru := range rules(find(t, r, "ClusterRole", "ebb-operator")) {
			if slices.Contains(ru.APIGroups, "external.metrics.k8s.io") {
				t.Errorf("the operator may read external metrics: %+v", ru)
			}
		}
		if lookup(r, "APIService", "v1beta1.external.metrics.k8s.io").GetAnnotations()["helm.sh/hook"] != "" {
			t.Error("nothing was taken over, yet a restoring hook is rendered")
		}
	}},
	{"adapter.delegate without a client certificate: the operator's token, and the right to read external metrics", map[string]any{"adapter": map[string]any{"delegate": map[string]any{
		"service": map[string]any{"namespace": "keda", "name": "keda-metrics", "port": 6443}, "insecureSkipTLSVerify": true,
	}}}, func(t *testing.T, r *helm.Rendered) {
		a := args(t, r)
		for _, want := range []string{"--adapter-delegate-address=keda-metrics.keda.svc:6443", "--adapter-delegate-insecure-skip-tls-verify"} {
			if !slices.Contains(a, want) {
				t.Errorf("args %v lack %s", a, want)
			}
		}
		found := false
		for _, ru := range rules(find(t, r, "ClusterRole", "ebb-operator")) {
			found = found || slices.Contains(ru.APIGroups, "external.metrics.k8s.io") && slices.Equal(ru.Verbs, []string{"get", "list"})
		}
		if !found {
			t.Error("the operator may not read external metrics from the other adapter")
		}
	}},
	{"image, logs and tuning", map[string]any{"image": map[string]any{"repository": "registry.local/ebb", "tag": "v9"}, "logLevel": 1, "kubeAPI": map[string]any{"qps": 50, "burst": 100}, "pollWorkers": 8, "hpaSyncPeriod": "30s"}, func(t *testing.T, r *helm.Rendered) {
		if img := container(t, r)["image"]; img != "registry.local/ebb:v9" {
			t.Errorf("image = %v", img)
		}
		a := args(t, r)
		for _, want := range []string{"--v=1", "--kube-api-qps=50", "--kube-api-burst=100", "--poll-workers=8", "--hpa-sync-period=30s"} {
			if !slices.Contains(a, want) {
				t.Errorf("args %v lack %s", a, want)
			}
		}
	}},
}

// testCAPEM stands for the CA of the adapter Ebb delegates to.
const testCAPEM = "-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----\n"

var delegateValues = map[string]any{"adapter": map[string]any{"delegate": map[string]any{
	"service":  map[string]any{"namespace": "keda", "name": "keda-operator-metrics-apiserver"},
	"caBundle": testCAPEM, "clientCertSecret": "ebb-front-proxy-client", "timeout": "5s",
}}}

func findNS(t *testing.T, r *helm.Rendered, kind, name, ns string) *unstructured.Unstructured {
	t.Helper()
	if o := lookupNS(r, kind, name, ns); o != nil {
		return o
	}
	t.Fatalf("no %s %s/%s rendered", kind, ns, name)
	return nil
}

// interceptorFromClusterValues take the routes from the ScaledObjects of one
// namespace, without Events.
var interceptorFromClusterValues = map[string]any{"interceptor": map[string]any{"enabled": true, "namespace": "shop", "events": false,
	"hostClaimGrace": "2h", "clusterDomain": "corp.example", "hostGrants": []any{map[string]any{"namespace": "edge", "hosts": []any{"*.example.com", "example.com"}}}}}

var interceptorValues = map[string]any{"interceptor": map[string]any{"enabled": true, "routes": []any{
	map[string]any{"name": "shop/web", "host": "shop.example.com", "backend": "http://web.shop.svc:8080", "namespace": "shop", "service": "web"},
	map[string]any{"name": "static", "host": "*", "pathPrefix": "/static", "backend": "http://static.example:80"},
}}}

func interceptorArgs(t *testing.T, r *helm.Rendered) []string {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(find(t, r, "Deployment", "ebb-interceptor").Object, "spec", "template", "spec", "containers")
	var a []string
	for _, x := range cs[0].(map[string]any)["args"].([]any) {
		a = append(a, x.(string))
	}
	return a
}

// checkAdminServiceIsHeadless checks that the interceptor's admin Service
// is headless and selects the interceptor's pods, of which the defaults run
// two: its name resolves to every ready replica, which the http triggers
// read and sum (behind a cluster IP each read would reach one replica).
func checkAdminServiceIsHeadless(t *testing.T, r *helm.Rendered) {
	t.Helper()
	svc := find(t, r, "Service", "ebb-interceptor-admin")
	if ip := str(svc, "spec", "clusterIP"); ip != "None" {
		t.Errorf("ebb-interceptor-admin clusterIP = %q, want None (headless: one address per interceptor replica)", ip)
	}
	if typ := str(svc, "spec", "type"); typ != "" && typ != "ClusterIP" {
		t.Errorf("ebb-interceptor-admin type = %q, want ClusterIP (headless)", typ)
	}
	if p, ok, _ := unstructured.NestedBool(svc.Object, "spec", "publishNotReadyAddresses"); ok && p {
		t.Error("ebb-interceptor-admin publishes pods that are not ready")
	}
	dep := find(t, r, "Deployment", "ebb-interceptor")
	if n, _, _ := unstructured.NestedInt64(dep.Object, "spec", "replicas"); n != 2 {
		t.Errorf("ebb-interceptor replicas = %d, want the default 2", n)
	}
	sel, _, _ := unstructured.NestedStringMap(svc.Object, "spec", "selector")
	pod, _, _ := unstructured.NestedStringMap(dep.Object, "spec", "template", "metadata", "labels")
	match := len(sel) > 0
	for k, v := range sel {
		match = match && pod[k] == v
	}
	if !match {
		t.Errorf("ebb-interceptor-admin selector %v does not select the interceptor's pods %v", sel, pod)
	}
	if svc.GetLabels()["app.kubernetes.io/component"] != "interceptor-admin" {
		t.Errorf("ebb-interceptor-admin labels = %v, want component interceptor-admin (the ServiceMonitor selects it)", svc.GetLabels())
	}
}

// checkServiceMonitor checks that the ServiceMonitor name selects exactly
// the Service service among the rendered ones, in the release namespace, and
// scrapes /metrics on its port named port.
func checkServiceMonitor(t *testing.T, r *helm.Rendered, name, service, port string) {
	t.Helper()
	sm := find(t, r, "ServiceMonitor", name)
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	nss, _, _ := unstructured.NestedStringSlice(sm.Object, "spec", "namespaceSelector", "matchNames")
	var selected []string
	for _, o := range r.Objects {
		if o.GetKind() != "Service" || !slices.Contains(nss, o.GetNamespace()) {
			continue
		}
		match := len(sel) > 0
		for k, v := range sel {
			match = match && o.GetLabels()[k] == v
		}
		if match {
			selected = append(selected, o.GetName())
		}
	}
	if !slices.Equal(selected, []string{service}) {
		t.Errorf("ServiceMonitor %s selects the Services %v (labels %v in %v), want %s only", name, selected, sel, nss, service)
	}
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(eps) != 1 || eps[0].(map[string]any)["port"] != port || eps[0].(map[string]any)["path"] != "/metrics" {
		t.Errorf("ServiceMonitor %s endpoints = %v, want /metrics on port %s", name, eps, port)
	}
	ports, _, _ := unstructured.NestedSlice(find(t, r, "Service", service).Object, "spec", "ports")
	found := false
	for _, p := range ports {
		found = found || p.(map[string]any)["name"] == port
	}
	if !found {
		t.Errorf("Service %s has no port named %s: %v", service, port, ports)
	}
}

func lookupNS(r *helm.Rendered, kind, name, ns string) *unstructured.Unstructured {
	for _, o := range r.Objects {
		if o.GetKind() == kind && o.GetName() == name && o.GetNamespace() == ns {
			return o
		}
	}
	return nil
}

type rule struct {
	APIGroups, Resources, Verbs, ResourceNames []string
}

func rules(o *unstructured.Unstructured) []rule {
	var out []rule
	data, _ := json.Marshal(o.Object["rules"])
	_ = json.Unmarshal(data, &out)
	return out
}

// Bad values are refused before anything renders, with a message that
// names the value.
// `helm template` twice gives the same output, with the webhook, the
// adapter and the interceptor on, with and without cert-manager: the chart
// renders no generated key, certificate or token (the operator makes them
// at run time), so a GitOps tool that renders on every sync rotates
// nothing.
func TestRenderingTwiceGivesTheSameOutput(t *testing.T) {
	c, _ := loadChart(t)
	for _, tc := range []struct {
		name   string
		values map[string]any
	}{
		{"defaults", nil},
		{"the interceptor from the cluster", map[string]any{"interceptor": map[string]any{"enabled": true}}},
		{"the interceptor with routes", interceptorValues},
		{"cert-manager", map[string]any{"certManager": map[string]any{"enabled": true}, "interceptor": map[string]any{"enabled": true}}},
	} {
		first, second := render(t, c, tc.values), render(t, c, tc.values)
		a, b := manifest(t, first), manifest(t, second)
		if a != b {
			t.Errorf("%s: two renders differ:\n%s", tc.name, firstDifference(a, b))
		}
	}
}

// manifest is a rendered release as one YAML text.
func manifest(t *testing.T, r *helm.Rendered) string {
	t.Helper()
	var sb strings.Builder
	for _, o := range r.Objects {
		y, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		sb.WriteString("---\n")
		sb.Write(y)
	}
	return sb.String()
}

func firstDifference(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return fmt.Sprintf("line %d: %q vs %q", i+1, la[i], lb[i])
		}
	}
	return fmt.Sprintf("%d lines vs %d", len(la), len(lb))
}

func TestTheValuesSchemaRejectsBadValues(t *testing.T) {
	c, _ := loadChart(t)
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   []string
	}{
		{"zero replicas", map[string]any{"replicaCount": 0}, []string{"replicaCount", "minimum"}},
		{"replicas as a string", map[string]any{"replicaCount": "two"}, []string{"replicaCount", "string"}},
		{"a log level beyond 1", map[string]any{"logLevel": 3}, []string{"logLevel"}},
		{"a misspelt top-level key", map[string]any{"replicas": 2}, []string{"replicas"}},
		{"a misspelt nested key", map[string]any{"webhook": map[string]any{"failurePolicyy": "Fail"}}, []string{"failurePolicyy"}},
		{"an unknown failure policy", map[string]any{"webhook": map[string]any{"failurePolicy": "Maybe"}}, []string{"failurePolicy", "Fail", "Ignore"}},
		{"a port out of range", map[string]any{"adapter": map[string]any{"port": 70000}}, []string{"adapter/port", "maximum"}},
		{"a duration without unit", map[string]any{"adapter": map[string]any{"certValidity": "8760"}}, []string{"certValidity"}},
		{"a namespace that is no DNS label", map[string]any{"rbac": map[string]any{"secretNamespaces": []any{"Shop_1"}}}, []string{"secretNamespaces", "Shop_1"}},
		{"an envSourceResources wildcard", map[string]any{"rbac": map[string]any{"envSourceResources": []any{map[string]any{"apiGroup": "*", "resources": []any{"*"}}}}}, []string{"envSourceResources/0"}},
		{"an envSourceResources subresource", map[string]any{"rbac": map[string]any{"envSourceResources": []any{map[string]any{"apiGroup": "argoproj.io", "resources": []any{"rollouts/status"}}}}}, []string{"envSourceResources/0/resources/0"}},
		{"an envSourceResources entry without resources", map[string]any{"rbac": map[string]any{"envSourceResources": []any{map[string]any{"apiGroup": "argoproj.io"}}}}, []string{"envSourceResources/0", "resources"}},
		{"a pull policy in lower case", map[string]any{"image": map[string]any{"pullPolicy": "always"}}, []string{"pullPolicy"}},
		{"an interceptor route with a namespace but no service", map[string]any{"interceptor": map[string]any{"routes": []any{map[string]any{"name": "a", "host": "a", "backend": "http://a", "namespace": "shop"}}}}, []string{"routes/0", "service"}},
		{"an interceptor namespace that is no DNS label", map[string]any{"interceptor": map[string]any{"namespace": "Shop_1"}}, []string{"interceptor/namespace"}},
		{"an interceptor backend that is not http://", map[string]any{"interceptor": map[string]any{"routes": []any{map[string]any{"name": "a", "host": "a", "backend": "https://a"}}}}, []string{"backend"}},
		{"an issuer kind cert-manager does not know", map[string]any{"certManager": map[string]any{"issuerRef": map[string]any{"name": "x", "kind": "Vault"}}}, []string{"kind", "ClusterIssuer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := helm.Render(c, namespace, tc.values)
			if err == nil {
				t.Fatalf("values %v rendered", tc.values)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	// And a rule the schema cannot express is checked by the templates.
	_, err := helm.Render(c, namespace, map[string]any{"replicaCount": 3, "leaderElection": false})
	if err == nil || !strings.Contains(err.Error(), "leaderElection must be true with more than one replica") {
		t.Errorf("several replicas without leader election: %v", err)
	}
}

// Every object of every option set applies to a real API server
// (server-side apply), and the operator's service account can do what the
// code needs and no more.
func TestRenderedObjectsApplyToARealAPIServerWithLeastPrivilege(t *testing.T) {
	c, _ := loadChart(t)
	cp := controlplane.Start(t)
	ctx := t.Context()
	for _, ns := range []string{namespace, "shop", "monitoring", "elsewhere"} {
		if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	// Stand-ins for the CRDs of cert-manager and prometheus-operator, which
	// this API server does not have: the kinds exist, their schemas are open.
	standInCRD(t, cp, "cert-manager.io", "Certificate", "certificates")
	standInCRD(t, cp, "cert-manager.io", "Issuer", "issuers")
	standInCRD(t, cp, "monitoring.coreos.com", "ServiceMonitor", "servicemonitors")

	sets := append([]option{{name: "defaults"}}, options...)
	for _, tc := range sets {
		r := render(t, c, tc.values)
		for _, o := range append(r.CRDs, r.Objects...) {
			apply(t, cp, o, tc.name)
		}
	}

	// The defaults last, as installed: cluster-wide GETs of Secrets.
	r := render(t, c, nil)
	for _, o := range r.Objects {
		apply(t, cp, o, "defaults again")
	}
	sa := "system:serviceaccount:" + namespace + ":ebb-operator"
	// kubernetes-workload triggers (kubernetesWorkload.enabled, the
	// default) list and watch the pods of a namespace matching a selector.
	workloadRules := []authzv1.ResourceAttributes{
		{Group: "", Resource: "pods", Verb: "list", Namespace: "shop"},
		{Group: "", Resource: "pods", Verb: "watch", Namespace: "shop"},
	}
	can := []authzv1.ResourceAttributes{
		{Group: "ebb.dev", Resource: "scaledobjects", Verb: "list"},
		{Group: "ebb.dev", Resource: "scaledobjects", Verb: "watch"},
		{Group: "ebb.dev", Resource: "scaledobjects", Verb: "patch", Namespace: "shop"},
		{Group: "ebb.dev", Resource: "scaledobjects", Subresource: "status", Verb: "patch", Namespace: "shop"},
		{Group: "ebb.dev", Resource: "scaledobjects", Subresource: "finalizers", Verb: "update", Namespace: "shop"},
		{Group: "ebb.dev", Resource: "triggerauthentications", Verb: "get", Namespace: "shop"},
		{Group: "ebb.dev", Resource: "clustertriggerauthentications", Verb: "get"},
		// Watched, so that a change reaches the triggers that use it.
		{Group: "ebb.dev", Resource: "triggerauthentications", Verb: "watch"},
		{Group: "ebb.dev", Resource: "clustertriggerauthentications", Verb: "list"},
		// The labels of a trigger's namespace, for a ClusterTriggerAuthentication's namespaceSelector.
		{Group: "", Resource: "namespaces", Verb: "get", Name: "shop"},
		{Group: "autoscaling", Resource: "horizontalpodautoscalers", Verb: "watch"},
		{Group: "autoscaling", Resource: "horizontalpodautoscalers", Verb: "create", Namespace: "shop"},
		{Group: "autoscaling", Resource: "horizontalpodautoscalers", Verb: "delete", Namespace: "shop"},
		{Group: "apps", Resource: "deployments", Subresource: "scale", Verb: "get", Namespace: "shop"},
		{Group: "apps", Resource: "deployments", Subresource: "scale", Verb: "patch", Namespace: "shop"},
		{Group: "apps", Resource: "statefulsets", Subresource: "scale", Verb: "patch", Namespace: "shop"},
		// The pod templates of the built-in scale targets, for ...FromEnv
		// parameters and TriggerAuthentication env.
		{Group: "apps", Resource: "deployments", Verb: "get", Namespace: "shop", Name: "worker"},
		{Group: "apps", Resource: "statefulsets", Verb: "get", Namespace: "shop"},
		// Watched for their replica counts (the target watch).
		{Group: "apps", Resource: "deployments", Verb: "list"},
		{Group: "apps", Resource: "deployments", Verb: "watch"},
		{Group: "apps", Resource: "statefulsets", Verb: "list"},
		{Group: "apps", Resource: "statefulsets", Verb: "watch"},
		{Group: "apps", Resource: "replicasets", Verb: "get", Namespace: "shop"},
		{Group: "", Resource: "replicationcontrollers", Verb: "get", Namespace: "shop"},
		{Group: "", Resource: "secrets", Verb: "get", Namespace: "shop", Name: "rabbit-credentials"},
		{Group: "", Resource: "configmaps", Verb: "get", Namespace: "shop"},
		{Group: "", Resource: "events", Verb: "create", Namespace: "shop"},
		{Group: "events.k8s.io", Resource: "events", Verb: "create", Namespace: "shop"},
		{Group: "coordination.k8s.io", Resource: "leases", Verb: "update", Namespace: namespace},
		{Group: "", Resource: "secrets", Verb: "create", Namespace: namespace},
		{Group: "", Resource: "secrets", Verb: "get", Namespace: namespace, Name: "ebb-metrics-adapter-ca"},
		{Group: "apiregistration.k8s.io", Resource: "apiservices", Verb: "patch", Name: "v1beta1.external.metrics.k8s.io"},
		{Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations", Verb: "patch", Name: "ebb-operator"},
		{Group: "authentication.k8s.io", Resource: "tokenreviews", Verb: "create"},
		{Group: "authorization.k8s.io", Resource: "subjectaccessreviews", Verb: "create"},
		{Group: "", Resource: "configmaps", Verb: "watch", Namespace: "kube-system", Name: "extension-apiserver-authentication"},
	}
	cannot := []authzv1.ResourceAttributes{
		{Group: "", Resource: "secrets", Verb: "list"},
		{Group: "", Resource: "secrets", Verb: "watch"},
		{Group: "", Resource: "secrets", Verb: "list", Namespace: "shop"},
		{Group: "", Resource: "secrets", Verb: "create", Namespace: "shop"},
		{Group: "", Resource: "secrets", Verb: "update", Namespace: namespace, Name: "ebb-metrics-adapter-ca"},
		{Group: "", Resource: "configmaps", Verb: "list", Namespace: "shop"},
		{Group: "apps", Resource: "deployments", Verb: "update", Namespace: "shop"},
		{Group: "apps", Resource: "deployments", Verb: "delete", Namespace: "shop"},
		{Group: "apps", Resource: "deployments", Verb: "patch", Namespace: "shop"},
		{Group: "apps", Resource: "statefulsets", Verb: "update", Namespace: "shop"},
		{Group: "apps", Resource: "replicasets", Verb: "list"},
		{Group: "apps", Resource: "replicasets", Verb: "watch", Namespace: "shop"},
		{Group: "apps", Resource: "daemonsets", Verb: "list"},
		{Group: "apps", Resource: "daemonsets", Verb: "get", Namespace: "shop"},
		{Group: "", Resource: "replicationcontrollers", Verb: "list", Namespace: "shop"},
		{Group: "argoproj.io", Resource: "rollouts", Verb: "get", Namespace: "shop"},
		{Group: "", Resource: "pods", Verb: "get", Namespace: "shop"},
		{Group: "", Resource: "pods", Verb: "delete", Namespace: "shop"},
		{Group: "batch", Resource: "jobs", Verb: "update", Namespace: "shop"},
		{Group: "batch", Resource: "jobs", Verb: "watch"},
		{Group: "apiregistration.k8s.io", Resource: "apiservices", Verb: "patch", Name: "v1beta1.custom.metrics.k8s.io"},
		{Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations", Verb: "patch", Name: "someone-elses"},
		{Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations", Verb: "patch", Name: "ebb-operator"},
		{Group: "ebb.dev", Resource: "scaledobjects", Verb: "delete", Namespace: "shop"},
		{Group: "ebb.dev", Resource: "scaledjobs", Verb: "delete", Namespace: "shop"},
		{Group: "ebb.dev", Resource: "triggerauthentications", Verb: "update", Namespace: "shop"},
		{Group: "coordination.k8s.io", Resource: "leases", Verb: "update", Namespace: "shop"},
		{Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Verb: "escalate"},
		{Group: "", Resource: "namespaces", Verb: "list"},
		{Group: "", Resource: "namespaces", Verb: "watch"},
		{Group: "", Resource: "namespaces", Verb: "update", Name: "shop"},
	}
	// ScaledJobs are off by default: none of their permissions (creating
	// Jobs, which run as any ServiceAccount of their namespace, and listing
	// pods) is granted.
	jobRules := []authzv1.ResourceAttributes{
		{Group: "ebb.dev", Resource: "scaledjobs", Verb: "watch"},
		{Group: "ebb.dev", Resource: "scaledjobs", Verb: "patch", Namespace: "shop"},
		{Group: "ebb.dev", Resource: "scaledjobs", Subresource: "status", Verb: "patch", Namespace: "shop"},
		{Group: "ebb.dev", Resource: "scaledjobs", Subresource: "finalizers", Verb: "update", Namespace: "shop"},
		{Group: "batch", Resource: "jobs", Verb: "list", Namespace: "shop"},
		{Group: "batch", Resource: "jobs", Verb: "create", Namespace: "shop"},
		{Group: "batch", Resource: "jobs", Verb: "delete", Namespace: "shop"},
		{Group: "batch", Resource: "jobs", Verb: "patch", Namespace: "shop"},
	}
	cannot = append(cannot, jobRules...)
	can = append(can, workloadRules...)
	for _, ra := range can {
		if !settled(true, func() bool { return allowed(t, cp, sa, ra) }) {
			t.Errorf("the operator cannot %s", describe(ra))
		}
	}
	for _, ra := range cannot {
		if settled(false, func() bool { return allowed(t, cp, sa, ra) }) {
			t.Errorf("the operator can %s", describe(ra))
		}
	}
	// The secure metrics endpoint (the default): a scraper bound to
	// ebb-metrics-reader may GET /metrics; nobody else may.
	scraper := "system:serviceaccount:monitoring:prometheus"
	if settled(false, func() bool { return nonResourceAllowed(t, cp, scraper, "/metrics") }) {
		t.Error("a scraper not bound to ebb-metrics-reader may GET /metrics")
	}
	bindClusterRole(t, cp, "ebb-metrics-reader", "monitoring", "prometheus")
	if !settled(true, func() bool { return nonResourceAllowed(t, cp, scraper, "/metrics") }) {
		t.Error("a scraper bound to ebb-metrics-reader may not GET /metrics")
	}
	if settled(false, func() bool { return nonResourceAllowed(t, cp, scraper, "/debug/pprof/") }) {
		t.Error("ebb-metrics-reader grants more than /metrics")
	}

	// kubernetesWorkload.enabled=false grants no pod permission.
	r = render(t, c, map[string]any{"kubernetesWorkload": map[string]any{"enabled": false}})
	for _, o := range r.Objects {
		apply(t, cp, o, "kubernetesWorkload.enabled=false")
	}
	for _, ra := range workloadRules {
		if settled(false, func() bool { return allowed(t, cp, sa, ra) }) {
			t.Errorf("with kubernetesWorkload.enabled=false, the operator can %s", describe(ra))
		}
	}

	// scaledJobs.enabled grants what the job loop uses.
	r = render(t, c, map[string]any{"scaledJobs": map[string]any{"enabled": true}})
	for _, o := range r.Objects {
		apply(t, cp, o, "scaledJobs.enabled")
	}
	for _, ra := range jobRules {
		if !settled(true, func() bool { return allowed(t, cp, sa, ra) }) {
			t.Errorf("with scaledJobs.enabled, the operator cannot %s", describe(ra))
		}
	}

	// The interceptor, with routes from the whole cluster (the last
	// interceptor set applied), reads ScaledObjects and EndpointSlices and
	// records Events, and nothing else.
	r = render(t, c, map[string]any{"interceptor": map[string]any{"enabled": true}})
	for _, o := range r.Objects {
		apply(t, cp, o, "interceptor from the cluster")
	}
	isa := "system:serviceaccount:" + namespace + ":ebb-interceptor"
	for _, ra := range []authzv1.ResourceAttributes{
		{Group: "ebb.dev", Resource: "scaledobjects", Verb: "list"},
		{Group: "ebb.dev", Resource: "scaledobjects", Verb: "watch"},
		{Group: "ebb.dev", Resource: "scaledobjects", Verb: "get", Namespace: "shop"},
		{Group: "discovery.k8s.io", Resource: "endpointslices", Verb: "watch", Namespace: "elsewhere"},
		{Group: "", Resource: "events", Verb: "create", Namespace: "shop"},
		// Its /metrics asks the API server who calls (metrics.secure).
		{Group: "authentication.k8s.io", Resource: "tokenreviews", Verb: "create"},
		{Group: "authorization.k8s.io", Resource: "subjectaccessreviews", Verb: "create"},
	} {
		if !settled(true, func() bool { return allowed(t, cp, isa, ra) }) {
			t.Errorf("the interceptor cannot %s", describe(ra))
		}
	}
	for _, ra := range []authzv1.ResourceAttributes{
		{Group: "ebb.dev", Resource: "scaledobjects", Verb: "update", Namespace: "shop"},
		{Group: "ebb.dev", Resource: "triggerauthentications", Verb: "get", Namespace: "shop"},
		{Group: "", Resource: "secrets", Verb: "get", Namespace: "shop"},
		{Group: "", Resource: "services", Verb: "list"},
		{Group: "", Resource: "pods", Verb: "list"},
	} {
		if settled(false, func() bool { return allowed(t, cp, isa, ra) }) {
			t.Errorf("the interceptor can %s", describe(ra))
		}
	}
	// The host claims: the operator writes ConfigMap ebb-host-claims in its
	// namespace (create cannot be limited to a name), the interceptor reads
	// that one ConfigMap; neither writes any other.
	claims := func(verb, ns, name string) authzv1.ResourceAttributes {
		return authzv1.ResourceAttributes{Resource: "configmaps", Verb: verb, Namespace: ns, Name: name}
	}
	for _, tc := range []struct {
		user string
		ra   authzv1.ResourceAttributes
		want bool
	}{
		{sa, claims("get", namespace, "ebb-host-claims"), true},
		{sa, claims("create", namespace, ""), true},
		{sa, claims("update", namespace, "ebb-host-claims"), true},
		{sa, claims("update", namespace, "other"), false},
		{sa, claims("delete", namespace, "ebb-host-claims"), false},
		{sa, claims("create", "shop", ""), false},
		{sa, claims("update", "shop", "ebb-host-claims"), false},
		{isa, claims("get", namespace, "ebb-host-claims"), true},
		{isa, claims("list", namespace, "ebb-host-claims"), true},
		{isa, claims("watch", namespace, "ebb-host-claims"), true},
		{isa, claims("get", namespace, "other"), false},
		{isa, claims("list", namespace, ""), false},
		{isa, claims("update", namespace, "ebb-host-claims"), false},
		{isa, claims("get", "shop", "ebb-host-claims"), false},
	} {
		if got := settled(tc.want, func() bool { return allowed(t, cp, tc.user, tc.ra) }); got != tc.want {
			t.Errorf("%s may %s: %v, want %v", tc.user, describe(tc.ra), got, tc.want)
		}
	}

	// The HPA controller may read external metrics.
	if !settled(true, func() bool {
		return allowed(t, cp, "system:serviceaccount:kube-system:horizontal-pod-autoscaler", authzv1.ResourceAttributes{Group: "external.metrics.k8s.io", Resource: "s0-rabbitmq", Verb: "list", Namespace: "shop"})
	}) {
		t.Error("the HPA controller cannot read external metrics")
	}

	// Namespace-restricted mode: Secrets of listed namespaces only.
	r = render(t, c, map[string]any{"rbac": map[string]any{"secretNamespaces": []any{"shop"}}})
	for _, o := range r.Objects {
		apply(t, cp, o, "namespace-restricted")
	}
	for ns, want := range map[string]bool{"shop": true, namespace: true, "elsewhere": false} {
		if got := settled(want, func() bool {
			return allowed(t, cp, sa, authzv1.ResourceAttributes{Resource: "secrets", Verb: "get", Namespace: ns, Name: "creds"})
		}); got != want {
			t.Errorf("namespace-restricted: get secrets in %s allowed = %v, want %v", ns, got, want)
		}
	}

	// rbac.envSourceResources: get on Argo Rollouts, and nothing more.
	r = render(t, c, envSourceValues)
	for _, o := range r.Objects {
		apply(t, cp, o, "envSourceResources")
	}
	for ra, want := range map[authzv1.ResourceAttributes]bool{
		{Group: "argoproj.io", Resource: "rollouts", Verb: "get", Namespace: "shop", Name: "web"}: true,
		{Group: "argoproj.io", Resource: "rollouts", Verb: "list", Namespace: "shop"}:             false,
		{Group: "argoproj.io", Resource: "rollouts", Verb: "watch"}:                               false,
		{Group: "argoproj.io", Resource: "rollouts", Verb: "patch", Namespace: "shop"}:            false,
		{Group: "argoproj.io", Resource: "analysisruns", Verb: "get", Namespace: "shop"}:          false,
		{Group: "apps", Resource: "deployments", Verb: "get", Namespace: "shop"}:                  true,
	} {
		if got := settled(want, func() bool { return allowed(t, cp, sa, ra) }); got != want {
			t.Errorf("envSourceResources: %s allowed = %v, want %v", describe(ra), got, want)
		}
	}
}

// apply server-side applies an object as the chart's field manager.
func apply(t *testing.T, cp *controlplane.ControlPlane, o *unstructured.Unstructured, set string) {
	t.Helper()
	data, err := json.Marshal(o.Object)
	if err != nil {
		t.Fatal(err)
	}
	obj := o.DeepCopy()
	if err := cp.Client.Patch(t.Context(), obj, client.RawPatch(types.ApplyPatchType, data), client.FieldOwner("helm-chart-test"), client.ForceOwnership); err != nil {
		t.Errorf("%s: apply %s %s/%s: %v", set, o.GetKind(), o.GetNamespace(), o.GetName(), err)
		return
	}
	if o.GetKind() == "CustomResourceDefinition" {
		waitEstablished(t, cp, o.GetName())
	}
}

func standInCRD(t *testing.T, cp *controlplane.ControlPlane, group, kind, plural string) {
	t.Helper()
	open := true
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: plural + "." + group},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: group, Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: kind, Plural: plural, ListKind: kind + "List", Singular: strings.ToLower(kind)},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: &open}}}},
		},
	}
	if err := cp.Client.Create(t.Context(), crd); err != nil {
		t.Fatal(err)
	}
	waitEstablished(t, cp, crd.Name)
}

func waitEstablished(t *testing.T, cp *controlplane.ControlPlane, name string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := cp.Client.Get(ctx, client.ObjectKey{Name: name}, &crd); err != nil {
			return false, err
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("CRD %s not established: %v", name, err)
	}
}

func allowed(t *testing.T, cp *controlplane.ControlPlane, user string, ra authzv1.ResourceAttributes) bool {
	t.Helper()
	sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + strings.Split(user, ":")[2], "system:authenticated"},
		ResourceAttributes: &ra,
	}}
	if err := cp.Client.Create(t.Context(), sar); err != nil {
		t.Fatalf("SubjectAccessReview: %v", err)
	}
	return sar.Status.Allowed
}

// nonResourceAllowed asks the API server whether a ServiceAccount user may
// GET a non-resource URL.
func nonResourceAllowed(t *testing.T, cp *controlplane.ControlPlane, user, path string) bool {
	t.Helper()
	sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + strings.Split(user, ":")[2], "system:authenticated"},
		NonResourceAttributes: &authzv1.NonResourceAttributes{Path: path, Verb: "get"},
	}}
	if err := cp.Client.Create(t.Context(), sar); err != nil {
		t.Fatalf("SubjectAccessReview: %v", err)
	}
	return sar.Status.Allowed
}

// settled asks check until it answers want, for at most 10 s, and returns
// its last answer: the API server's RBAC authorizer reads roles and
// bindings from an informer, so a SubjectAccessReview right after a write
// may still see the RBAC from before it.
func settled(want bool, check func() bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := check()
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// bindClusterRole binds a ClusterRole to a ServiceAccount, cluster-wide.
func bindClusterRole(t *testing.T, cp *controlplane.ControlPlane, role, namespace, name string) {
	t.Helper()
	b := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role + "-" + namespace + "-" + name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: namespace, Name: name}},
	}
	if err := cp.Client.Create(t.Context(), b); err != nil {
		t.Fatal(err)
	}
}

func describe(ra authzv1.ResourceAttributes) string {
	res := ra.Resource
	if ra.Subresource != "" {
		res += "/" + ra.Subresource
	}
	if ra.Group != "" {
		res += "." + ra.Group
	}
	where := "cluster-wide"
	if ra.Namespace != "" {
		where = "in " + ra.Namespace
	}
	if ra.Name != "" {
		res += " " + ra.Name
	}
	return ra.Verb + " " + res + " " + where
}
