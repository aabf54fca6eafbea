// SPDX-License-Identifier: Apache-2.0

package helm_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	certutil "k8s.io/client-go/util/cert"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/tests/controlplane"
)

// The chart installed with Helm over another adapter's APIService (KEDA's,
// as KEDA's Helm release leaves it): the install records that APIService
// and points the operator at its Service with its CA; an upgrade keeps
// both; the uninstall puts the APIService back as it was, still owned by
// the other release.
func TestInstallOverAnotherAdapterDelegatesAndUninstallRestoresIt(t *testing.T) {
	ch, _ := loadChart(t)
	cp := controlplane.Start(t)
	ctx := t.Context()
	c := cp.Client

	caPEM, _, err := certutil.GenerateSelfSignedCertKey("keda-operator-metrics-apiserver.keda.svc", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "keda"}}); err != nil {
		t.Fatal(err)
	}
	kedaLabels := map[string]string{"app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/part-of": "keda-operator"}
	kedaAnnotations := map[string]string{"meta.helm.sh/release-name": "keda", "meta.helm.sh/release-namespace": "keda"}
	kedaSpec := map[string]any{
		"group": "external.metrics.k8s.io", "version": "v1beta1",
		"groupPriorityMinimum": int64(100), "versionPriority": int64(100),
		"service":  map[string]any{"namespace": "keda", "name": "keda-operator-metrics-apiserver", "port": int64(443)},
		"caBundle": base64.StdEncoding.EncodeToString(caPEM),
	}
	kedaAPI := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": "v1beta1.external.metrics.k8s.io"},
		"spec":     kedaSpec,
	}}
	kedaAPI.SetLabels(kedaLabels)
	kedaAPI.SetAnnotations(kedaAnnotations)
	if err := c.Create(ctx, kedaAPI); err != nil {
		t.Fatal(err)
	}

	flags := genericclioptions.NewConfigFlags(false)
	kubeconfig, cacheDir, ns := cp.Kubeconfig, filepath.Join(t.TempDir(), "cache"), namespace
	flags.KubeConfig, flags.CacheDir, flags.Namespace = &kubeconfig, &cacheDir, &ns
	cfg := new(action.Configuration)
	if err := cfg.Init(flags, namespace, "secret", t.Logf); err != nil {
		t.Fatal(err)
	}
	values := map[string]any{"replicaCount": 1, "leaderElection": false}

	apiService := func(t *testing.T) *unstructured.Unstructured {
		t.Helper()
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("apiregistration.k8s.io/v1")
		u.SetKind("APIService")
		if err := c.Get(ctx, client.ObjectKey{Name: "v1beta1.external.metrics.k8s.io"}, u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	delegated := func(t *testing.T, when string) {
		t.Helper()
		var cm corev1.ConfigMap
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "ebb-metrics-delegate"}, &cm); err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if cm.Data["service"] != "keda/keda-operator-metrics-apiserver:443" || cm.Data["ca.crt"] != string(caPEM) {
			t.Errorf("%s: the recorded Service and CA: %q, %q", when, cm.Data["service"], cm.Data["ca.crt"])
		}
		var rec struct {
			Labels, Annotations map[string]string
			Spec                map[string]any
		}
		if err := json.Unmarshal([]byte(cm.Data["apiservice.json"]), &rec); err != nil {
			t.Fatalf("%s: apiservice.json: %v", when, err)
		}
		if fmt.Sprint(rec.Labels) != fmt.Sprint(kedaLabels) || fmt.Sprint(rec.Annotations) != fmt.Sprint(kedaAnnotations) || rec.Spec["caBundle"] != kedaSpec["caBundle"] {
			t.Errorf("%s: recorded %+v", when, rec)
		}
		var d unstructured.Unstructured
		d.SetAPIVersion("apps/v1")
		d.SetKind("Deployment")
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "ebb-operator"}, &d); err != nil {
			t.Fatal(err)
		}
		cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
		var a []string
		for _, x := range cs[0].(map[string]any)["args"].([]any) {
			a = append(a, x.(string))
		}
		for _, want := range []string{"--adapter-delegate-address=keda-operator-metrics-apiserver.keda.svc:443",
			"--adapter-delegate-server-name=keda-operator-metrics-apiserver.keda.svc", "--adapter-delegate-ca-file=/etc/ebb/delegate/ca.crt"} {
			if !slices.Contains(a, want) {
				t.Errorf("%s: operator args %v lack %s", when, a, want)
			}
		}
		api := apiService(t)
		svcNS, _, _ := unstructured.NestedString(api.Object, "spec", "service", "namespace")
		svcName, _, _ := unstructured.NestedString(api.Object, "spec", "service", "name")
		if svcNS != namespace || svcName != "ebb-metrics-adapter" {
			t.Errorf("%s: the APIService points at %s/%s, not Ebb's adapter", when, svcNS, svcName)
		}
		if api.GetAnnotations()["meta.helm.sh/release-name"] != "ebb" {
			t.Errorf("%s: the APIService's annotations %v", when, api.GetAnnotations())
		}
	}

	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace, in.CreateNamespace = "ebb", namespace, true
	in.TakeOwnership = true
	if _, err := in.RunWithContext(ctx, ch, values); err != nil {
		t.Fatalf("helm install --take-ownership: %v", err)
	}
	delegated(t, "after the install")

	up := action.NewUpgrade(cfg)
	up.Namespace = namespace
	if _, err := up.RunWithContext(ctx, "ebb", ch, values); err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	delegated(t, "after an upgrade")

	if _, err := action.NewUninstall(cfg).Run("ebb"); err != nil {
		t.Fatalf("helm uninstall: %v", err)
	}
	api := apiService(t)
	spec, _, _ := unstructured.NestedMap(api.Object, "spec")
	if fmt.Sprint(spec) != fmt.Sprint(kedaSpec) {
		t.Errorf("restored spec %v, want %v", spec, kedaSpec)
	}
	if fmt.Sprint(api.GetLabels()) != fmt.Sprint(kedaLabels) {
		t.Errorf("restored labels %v, want %v", api.GetLabels(), kedaLabels)
	}
	for k, v := range kedaAnnotations {
		if api.GetAnnotations()[k] != v {
			t.Errorf("restored annotations %v lack %s=%s", api.GetAnnotations(), k, v)
		}
	}
}
