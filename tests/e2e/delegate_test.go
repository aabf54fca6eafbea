// SPDX-License-Identifier: Apache-2.0

package e2e_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/metrics/pkg/apis/external_metrics"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	basecmd "sigs.k8s.io/custom-metrics-apiserver/pkg/cmd"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/tests/chartrbac"
	"github.com/ebbscale/ebb/tests/controlplane"
	"github.com/ebbscale/ebb/tests/operatorproc"
)

// Where the other adapter (KEDA's metrics server, in a real cluster) is
// registered, and what it serves.
const (
	otherNamespace = "other-system"
	otherService   = "other-adapter"
	otherMetric    = "other-queue"
	// The other adapter refuses this user itself, whatever RBAC says.
	refusedUser = "mallory"
)

// otherProvider is the other adapter's external metrics: otherMetric with a
// value the test sets; it records who asked.
type otherProvider struct {
	value atomic.Int64
	mu    sync.Mutex
	users []callerSeen
}

type callerSeen struct {
	name   string
	groups []string
	extra  map[string][]string
}

func (p *otherProvider) GetExternalMetric(ctx context.Context, namespace string, selector labels.Selector, info provider.ExternalMetricInfo) (*external_metrics.ExternalMetricValueList, error) {
	u, ok := request.UserFrom(ctx)
	if !ok {
		return nil, apierrors.NewInternalError(errors.New("no user"))
	}
	p.mu.Lock()
	p.users = append(p.users, callerSeen{name: u.GetName(), groups: u.GetGroups(), extra: u.GetExtra()})
	p.mu.Unlock()
	if u.GetName() == refusedUser {
		return nil, apierrors.NewForbidden(external_metrics.Resource(info.Metric), "", errors.New("the other adapter does not serve "+refusedUser))
	}
	if info.Metric != otherMetric {
		return nil, apierrors.NewNotFound(external_metrics.Resource(info.Metric), "")
	}
	return &external_metrics.ExternalMetricValueList{Items: []external_metrics.ExternalMetricValue{{
		MetricName: otherMetric, MetricLabels: map[string]string{"app": "other"},
		Timestamp: metav1.Now(), Value: *resource.NewQuantity(p.value.Load(), resource.DecimalSI),
	}}}, nil
}

func (p *otherProvider) ListAllExternalMetrics() []provider.ExternalMetricInfo {
	return []provider.ExternalMetricInfo{{Metric: otherMetric}}
}

func (p *otherProvider) saw(name string) (callerSeen, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, u := range slices.Backward(p.users) {
		if u.name == name {
			return u, true
		}
	}
	return callerSeen{}, false
}

// startOtherAdapter runs a second real adapter, built with
// custom-metrics-apiserver, on 127.0.0.1:port with a serving certificate for
// <otherService>.<otherNamespace>.svc, authenticating and authorizing as
// aggregated API servers do (the front-proxy CA and headers the API server
// publishes, SubjectAccessReview). It returns its CA and a stop function.
func startOtherAdapter(t *testing.T, cp *controlplane.ControlPlane, p *otherProvider, port int) (caPEM []byte, stop func()) {
	t.Helper()
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey(otherService+"."+otherNamespace+".svc", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	crt, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(crt, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	a := &basecmd.AdapterBase{Name: "other-adapter", FlagSet: pflag.NewFlagSet("other-adapter", pflag.ContinueOnError)}
	if err := a.Flags().Parse([]string{
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + crt, "--tls-private-key-file=" + key,
		"--lister-kubeconfig=" + cp.Kubeconfig,
		"--authentication-kubeconfig=" + cp.Kubeconfig, "--authorization-kubeconfig=" + cp.Kubeconfig,
	}); err != nil {
		t.Fatal(err)
	}
	a.WithExternalMetrics(p)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("the other adapter: %v", err)
				}
			case <-time.After(60 * time.Second):
				t.Error("the other adapter did not stop within 60 s")
			}
		})
	}
	t.Cleanup(stop)
	return certPEM, stop
}

// Ebb's adapter and another adapter serve one cluster: the other one owned
// the APIService v1beta1.external.metrics.k8s.io first (as KEDA's metrics
// server does before Ebb is installed); Ebb took it over and delegates every
// external metric no ScaledObject serves to it, over TLS verified with the
// CA its APIService had, presenting the API server's front-proxy client
// certificate and the caller's identity. The real HPA in
// kube-controller-manager reads both metrics through the real aggregator.
func TestAnotherAdaptersMetricsAreServedThroughEbbsAdapter(t *testing.T) {
	bin := operatorproc.Build(t, "")
	cp := controlplane.Start(t, controlplane.WithControllerManager(), controlplane.WithAggregator())
	ctx := t.Context()
	c := cp.Client
	kc, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}

	// Before Ebb: the other adapter owns the APIService.
	other := &otherProvider{}
	other.value.Store(400)
	otherPort := operatorproc.FreePort(t)
	otherCA, stopOther := startOtherAdapter(t, cp, other, otherPort)
	if err := (controlplane.LoopbackAPIService{
		GroupVersion: schema.GroupVersion{Group: external_metrics.GroupName, Version: "v1beta1"},
		Namespace:    otherNamespace, Service: otherService, Port: otherPort,
	}).Register(ctx, c); err != nil {
		t.Fatal(err)
	}
	api := &unstructured.Unstructured{}
	api.SetAPIVersion("apiregistration.k8s.io/v1")
	api.SetKind("APIService")
	api.SetName(apiServiceName)
	patch := fmt.Sprintf(`{"spec":{"caBundle":%q}}`, base64.StdEncoding.EncodeToString(otherCA))
	if err := c.Patch(ctx, api, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, nil, c, "the other adapter's APIService is Available")

	// Ebb takes the APIService over (helm install --take-ownership does it
	// with the chart's APIService); the operator is told where the other
	// adapter is, as the chart tells it from what it recorded.
	delegateDir := t.TempDir()
	caFile := filepath.Join(delegateDir, "ca.crt")
	if err := os.WriteFile(caFile, otherCA, 0o600); err != nil {
		t.Fatal(err)
	}
	clientDir := filepath.Join(delegateDir, "client")
	if err := os.MkdirAll(clientDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{cp.FrontProxy.ClientCertFile: "tls.crt", cp.FrontProxy.ClientKeyFile: "tls.key"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(clientDir, dst), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	port := operatorproc.FreePort(t)
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: adapterService},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "localhost",
			Ports: []corev1.ServicePort{{Name: "https", Port: int32(port)}}},
	}); err != nil {
		t.Fatal(err)
	}
	takeOver := fmt.Sprintf(`{"spec":{"caBundle":null,"service":{"namespace":%q,"name":%q,"port":%d}}}`, operatorNamespace, adapterService, port)
	if err := c.Patch(ctx, api, client.RawPatch("application/merge-patch+json", []byte(takeOver))); err != nil {
		t.Fatal(err)
	}
	id := chartrbac.Operator(t, cp, chartrbac.Options{Namespace: operatorNamespace})
	op := operatorproc.Start(t, bin, operatorproc.Options{Kubeconfig: id.Kubeconfig, AdapterPort: port, MetricsPort: operatorproc.FreePort(t), Args: []string{
		"--v=1", "--hpa-sync-period=1s",
		"--adapter-delegate-address=127.0.0.1:" + strconv.Itoa(otherPort),
		"--adapter-delegate-server-name=" + otherService + "." + otherNamespace + ".svc",
		"--adapter-delegate-ca-file=" + caFile,
		"--adapter-delegate-client-cert-dir=" + clientDir,
		"--adapter-delegate-timeout=3s",
	}})
	waitAvailable(t, op, c, "Ebb's APIService is Available")

	// Ebb's metric: a metrics-api trigger on a stats endpoint of the test.
	var ebbValue atomic.Int64
	ebbValue.Store(300)
	stats := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"depth": %d}`, ebbValue.Load())
	}))
	t.Cleanup(stats.Close)
	ns := "coexist"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	ebbWorker := worker(ns, nil)
	if err := c.Create(ctx, ebbWorker); err != nil {
		t.Fatal(err)
	}
	so := workerScaledObject(ebbWorker, 5, v1alpha1.Trigger{Type: "metrics-api", Metadata: map[string]string{
		"url": stats.URL + "/stats", "valueLocation": "depth", "targetValue": "100",
	}})
	if err := c.Create(ctx, so); err != nil {
		t.Fatal(err)
	}

	// The other adapter's HPA, as KEDA made it: on a Deployment at 1.
	otherWorker := worker(ns, nil)
	otherWorker.Name = "other-worker"
	otherWorker.Spec.Replicas = ptr.To[int32](1)
	otherLabels := map[string]string{"app": "other-worker"}
	otherWorker.Spec.Selector = &metav1.LabelSelector{MatchLabels: otherLabels}
	otherWorker.Spec.Template.Labels = otherLabels
	if err := c.Create(ctx, otherWorker); err != nil {
		t.Fatal(err)
	}
	otherHPA := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "other-worker"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: otherWorker.Name},
			MinReplicas:    ptr.To[int32](1), MaxReplicas: 5,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: otherMetric, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}},
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: resource.NewQuantity(100, resource.DecimalSI)},
			}}},
		},
	}
	if err := c.Create(ctx, otherHPA); err != nil {
		t.Fatal(err)
	}

	var ebbMetric string
	operatorproc.Eventually(t, op, 60*time.Second, "the operator makes its HPA", func(ctx context.Context) (bool, string) {
		var hpa autoscalingv2.HorizontalPodAutoscaler
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: so.HPAName()}, &hpa); err != nil {
			return false, err.Error()
		}
		if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].External == nil {
			return false, "no external metric yet"
		}
		ebbMetric = hpa.Spec.Metrics[0].External.Metric.Name
		return true, ""
	})

	t.Run("the real HPA gets both metrics: Ebb's from Ebb, the other from the other adapter through Ebb", func(t *testing.T) {
		waitHPAValue(t, op, c, ns, so.HPAName(), ebbMetric, 300)
		waitHPAValue(t, op, c, ns, otherHPA.Name, otherMetric, 400)
		waitDeployment(t, op, c, ebbWorker, 3)
		waitDeployment(t, op, c, otherWorker, 4)
	})

	t.Run("discovery lists both adapters' metrics", func(t *testing.T) {
		operatorproc.Eventually(t, op, 60*time.Second, "both metrics in the group's discovery", func(ctx context.Context) (bool, string) {
			list, err := kc.Discovery().ServerResourcesForGroupVersion("external.metrics.k8s.io/v1beta1")
			if err != nil {
				return false, err.Error()
			}
			var names []string
			for _, r := range list.APIResources {
				names = append(names, r.Name)
			}
			return slices.Contains(names, ebbMetric) && slices.Contains(names, otherMetric), fmt.Sprintf("listed %v", names)
		})
	})

	// Two users who may read external metrics (RBAC), each through the
	// aggregator, impersonated by the administrator.
	reader := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "external-metrics-reader-coexist"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"external.metrics.k8s.io"}, Resources: []string{"*"}, Verbs: []string{"get", "list"}}}}
	if err := c.Create(ctx, reader); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "external-metrics-reader-coexist"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reader.Name},
		Subjects: []rbacv1.Subject{
			{APIGroup: rbacv1.GroupName, Kind: "User", Name: "alice"},
			{APIGroup: rbacv1.GroupName, Kind: "User", Name: refusedUser},
		}}); err != nil {
		t.Fatal(err)
	}
	as := func(t *testing.T, name string) kubernetes.Interface {
		cfg := rest.CopyConfig(cp.Config)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: name, Groups: []string{"team-a", "system:authenticated"}, Extra: map[string][]string{"ticket": {"MIG-7"}}}
		// JSON, as kubectl get --raw reads: the errors are Status objects
		// in JSON.
		cfg.ContentType, cfg.AcceptContentTypes = "application/json", "application/json"
		k, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	t.Run("the other adapter sees the original caller and its authorization applies to it", func(t *testing.T) {
		operatorproc.Eventually(t, op, 60*time.Second, "alice reads the other adapter's metric", func(ctx context.Context) (bool, string) {
			got, err := readExternal(ctx, as(t, "alice"), ns, otherMetric, "app=other")
			if err != nil {
				return false, err.Error()
			}
			return len(got.Items) == 1 && got.Items[0].Value.Value() == 400, fmt.Sprintf("%+v", got.Items)
		})
		seen, ok := other.saw("alice")
		if !ok {
			t.Fatal("the other adapter never saw alice")
		}
		if !slices.Contains(seen.groups, "team-a") || !slices.Equal(seen.extra["ticket"], []string{"MIG-7"}) {
			t.Errorf("the other adapter saw alice in groups %v with extra %v, want team-a and ticket=MIG-7", seen.groups, seen.extra)
		}
		// Do, not DoRaw: the Status in the body becomes the error.
		err := as(t, refusedUser).CoreV1().RESTClient().Get().AbsPath("/apis/external.metrics.k8s.io/v1beta1/namespaces", ns, otherMetric).
			Param("labelSelector", "app=other").Timeout(10 * time.Second).Do(ctx).Error()
		if !isStatus(err, http.StatusForbidden) || !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "the other adapter does not serve "+refusedUser) {
			t.Errorf("mallory's read: %v, want the other adapter's own Forbidden with its message", err)
		}
		if _, ok := other.saw(refusedUser); !ok {
			t.Error("mallory's read never reached the other adapter")
		}
	})

	t.Run("with the other adapter down its HPA gets an error and Ebb's is unaffected", func(t *testing.T) {
		stopOther()
		operatorproc.Eventually(t, op, 60*time.Second, "a read of the other metric is ServiceUnavailable", func(ctx context.Context) (bool, string) {
			_, err := readExternal(ctx, kc, ns, otherMetric, "app=other")
			return isStatus(err, http.StatusServiceUnavailable), fmt.Sprintf("read: %v", err)
		})
		operatorproc.Eventually(t, op, 60*time.Second, "the other HPA reports that it cannot get its metric", func(ctx context.Context) (bool, string) {
			var hpa autoscalingv2.HorizontalPodAutoscaler
			if err := c.Get(ctx, client.ObjectKeyFromObject(otherHPA), &hpa); err != nil {
				return false, err.Error()
			}
			for _, cond := range hpa.Status.Conditions {
				if cond.Type == autoscalingv2.ScalingActive {
					return cond.Status == corev1.ConditionFalse && cond.Reason == "FailedGetExternalMetric", fmt.Sprintf("ScalingActive %s %s: %s", cond.Status, cond.Reason, cond.Message)
				}
			}
			return false, "no ScalingActive condition"
		})
		ebbValue.Store(500)
		waitHPAValue(t, op, c, ns, so.HPAName(), ebbMetric, 500)
		waitDeployment(t, op, c, ebbWorker, 5)
		var hpa autoscalingv2.HorizontalPodAutoscaler
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: so.HPAName()}, &hpa); err != nil {
			t.Fatal(err)
		}
		for _, cond := range hpa.Status.Conditions {
			if cond.Type == autoscalingv2.ScalingActive && cond.Status != corev1.ConditionTrue {
				t.Errorf("Ebb's HPA: ScalingActive %s %s: %s", cond.Status, cond.Reason, cond.Message)
			}
		}
	})
}

func waitAvailable(t *testing.T, op *operatorproc.Process, c client.Client, what string) {
	t.Helper()
	operatorproc.Eventually(t, op, 90*time.Second, what, func(ctx context.Context) (bool, string) {
		ok, reason, _, err := apiServiceState(ctx, c)
		if err != nil {
			return false, err.Error()
		}
		return ok, reason
	})
}

// waitHPAValue waits until the HPA's status shows want for metric
// (AverageValue × current replicas) and its ScalingActive is True.
func waitHPAValue(t *testing.T, op *operatorproc.Process, c client.Client, ns, name, metric string, want float64) {
	t.Helper()
	operatorproc.Eventually(t, op, 90*time.Second, fmt.Sprintf("HPA %s shows %s = %v", name, metric, want), func(ctx context.Context) (bool, string) {
		var hpa autoscalingv2.HorizontalPodAutoscaler
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &hpa); err != nil {
			return false, err.Error()
		}
		active := false
		for _, cond := range hpa.Status.Conditions {
			if cond.Type == autoscalingv2.ScalingActive {
				active = cond.Status == corev1.ConditionTrue
				if !active {
					return false, fmt.Sprintf("ScalingActive %s %s: %s", cond.Status, cond.Reason, cond.Message)
				}
			}
		}
		for _, m := range hpa.Status.CurrentMetrics {
			if m.External == nil || m.External.Metric.Name != metric || m.External.Current.AverageValue == nil {
				continue
			}
			got := m.External.Current.AverageValue.AsApproximateFloat64() * float64(hpa.Status.CurrentReplicas)
			return active && math.Abs(got-want) < 0.01*float64(hpa.Status.CurrentReplicas)+0.001,
				fmt.Sprintf("average %s × %d replicas = %v, ScalingActive %v", m.External.Current.AverageValue, hpa.Status.CurrentReplicas, got, active)
		}
		return false, fmt.Sprintf("no value of %s yet: %+v", metric, hpa.Status.CurrentMetrics)
	})
}

func waitDeployment(t *testing.T, op *operatorproc.Process, c client.Client, d *appsv1.Deployment, want int32) {
	t.Helper()
	operatorproc.Eventually(t, op, 90*time.Second, fmt.Sprintf("Deployment %s at %d replicas", d.Name, want), func(ctx context.Context) (bool, string) {
		var cur appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKeyFromObject(d), &cur); err != nil {
			return false, err.Error()
		}
		n := ptr.Deref(cur.Spec.Replicas, -1)
		return n == want, fmt.Sprintf("replicas %d", n)
	})
}
