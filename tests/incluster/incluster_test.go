// SPDX-License-Identifier: Apache-2.0

package incluster_test

// The tests run in this file's order on the one release TestMain installed:
// the leader failover and the upgrade change it, and the last test
// uninstalls it.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/tests/cluster"
)

// The objects the chart makes that the tests look at.
const (
	operatorDeployment    = "ebb-operator"
	interceptorDeployment = "ebb-interceptor"
	apiServiceName        = "v1beta1.external.metrics.k8s.io"
	adapterService        = "ebb-metrics-adapter"
	webhookService        = "ebb-webhook"
	webhookConfiguration  = "ebb-operator"
	leaseName             = "ebb-operator.ebb.dev"
	interceptorTokenName  = "ebb-interceptor-token"
)

var operatorLabels = map[string]string{"app.kubernetes.io/name": "ebb-operator", "app.kubernetes.io/instance": releaseName}

var apiServiceGVK = schema.GroupVersionKind{Group: "apiregistration.k8s.io", Version: "v1", Kind: "APIService"}

// TestAPIServiceAvailableThroughTheService: the aggregator reaches the
// metrics adapter of the operator's pods through the chart's ClusterIP
// Service, verifying it with the caBundle the operator wrote.
func TestAPIServiceAvailableThroughTheService(t *testing.T) {
	s := need(t)
	ctx := t.Context()
	as := &unstructured.Unstructured{}
	as.SetGroupVersionKind(apiServiceGVK)
	cluster.WaitFor(t, 2*time.Minute, "the APIService Available", func() (bool, string) {
		if err := s.c.Client.Get(ctx, client.ObjectKey{Name: apiServiceName}, as); err != nil {
			return false, err.Error()
		}
		return conditionTrue(as, "Available")
	})
	svcNS, _, _ := unstructured.NestedString(as.Object, "spec", "service", "namespace")
	svcName, _, _ := unstructured.NestedString(as.Object, "spec", "service", "name")
	if svcNS != releaseNamespace || svcName != adapterService {
		t.Fatalf("the APIService's service: %s/%s, want %s/%s", svcNS, svcName, releaseNamespace, adapterService)
	}
	if skip, _, _ := unstructured.NestedBool(as.Object, "spec", "insecureSkipTLSVerify"); skip {
		t.Fatal("the APIService skips TLS verification")
	}
	if ca, _, _ := unstructured.NestedString(as.Object, "spec", "caBundle"); ca == "" {
		t.Fatal("the APIService has no caBundle")
	}
	var svc corev1.Service
	if err := s.c.Client.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: adapterService}, &svc); err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Type != corev1.ServiceTypeClusterIP || svc.Spec.ClusterIP == "" {
		t.Fatalf("the adapter's Service: type %s cluster IP %q, want a ClusterIP Service", svc.Spec.Type, svc.Spec.ClusterIP)
	}
	// Every replica serves the adapter, the follower too: both are Ready
	// endpoints of the Service.
	cluster.WaitFor(t, time.Minute, "both operator replicas ready endpoints of "+adapterService, func() (bool, string) {
		n, err := readyEndpoints(ctx, s.c.Client, releaseNamespace, adapterService)
		if err != nil {
			return false, err.Error()
		}
		return n == 2, fmt.Sprintf("%d ready endpoints", n)
	})

	body, err := s.clientset.RESTClient().Get().AbsPath("/apis/external.metrics.k8s.io/v1beta1").DoRaw(ctx)
	if err != nil {
		t.Fatalf("GET /apis/external.metrics.k8s.io/v1beta1 through the aggregator: %v", err)
	}
	if !strings.Contains(string(body), `"groupVersion":"external.metrics.k8s.io/v1beta1"`) {
		t.Fatalf("GET /apis/external.metrics.k8s.io/v1beta1: %s", body)
	}
}

// TestWebhookRejectsABadScaledObject: the API server calls the validating
// webhook through its Service and refuses a ScaledObject whose trigger
// metadata does not parse, naming the field.
func TestWebhookRejectsABadScaledObject(t *testing.T) {
	s := need(t)
	ctx := t.Context()
	var vwc unstructured.Unstructured
	vwc.SetGroupVersionKind(schema.GroupVersionKind{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "ValidatingWebhookConfiguration"})
	if err := s.c.Client.Get(ctx, client.ObjectKey{Name: webhookConfiguration}, &vwc); err != nil {
		t.Fatal(err)
	}
	hooks, _, _ := unstructured.NestedSlice(vwc.Object, "webhooks")
	if len(hooks) == 0 {
		t.Fatal("the ValidatingWebhookConfiguration has no webhook")
	}
	for _, h := range hooks {
		m := h.(map[string]any)
		name, _, _ := unstructured.NestedString(m, "clientConfig", "service", "name")
		ns, _, _ := unstructured.NestedString(m, "clientConfig", "service", "namespace")
		if name != webhookService || ns != releaseNamespace {
			t.Fatalf("webhook %v calls service %s/%s, want %s/%s", m["name"], ns, name, releaseNamespace, webhookService)
		}
	}

	ns := newNamespace(t, "webhook")
	bad := &v1alpha1.ScaledObject{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bad"},
		Spec: v1alpha1.ScaledObjectSpec{
			ScaleTargetRef: v1alpha1.ScaleTarget{Name: "worker"},
			Triggers: []v1alpha1.Trigger{{
				Type:     "rabbitmq",
				Metadata: map[string]string{"queueName": "orders", "mode": "QueueLenght", "value": "10", "host": "amqp://rabbitmq.example:5672/"},
			}},
		},
	}
	// The webhook's certificate and caBundle are written by the operator at
	// start: until then the call fails with a TLS error, which is not the
	// refusal this test is about.
	var err error
	cluster.WaitFor(t, time.Minute, "the webhook to answer", func() (bool, string) {
		err = s.c.Client.Create(ctx, bad.DeepCopy())
		if err == nil {
			t.Fatal("the ScaledObject with mode QueueLenght was accepted")
		}
		return strings.Contains(err.Error(), "denied the request"), err.Error()
	})
	msg := err.Error()
	if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
		t.Errorf("the refusal is %v, want Forbidden or Invalid", apierrors.ReasonForError(err))
	}
	for _, want := range []string{"mode", "QueueLenght"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the refusal does not name %q: %s", want, msg)
		}
	}
	t.Logf("refused: %s", msg)
}

// TestWorkerScalesOnAQueue: a worker Deployment at zero consuming a queue of
// the machine's RabbitMQ goes 0 → 1 (the scale loop), 1 → max (the HPA in
// kube-controller-manager reading the external metric from the adapter in
// the operator's pods), and back to 0 once its pods have drained the queue.
func TestWorkerScalesOnAQueue(t *testing.T) {
	s := need(t)
	ctx := t.Context()
	const max = 3
	w := newWorker(t, s, "queue", max)
	waitScaledObjectReady(t, s, w.ns, "worker")
	if n := deploymentReplicas(t, s, w.ns, "worker"); n != 0 {
		t.Fatalf("the worker runs %d replicas before any message, want 0", n)
	}

	w.publish(t, 150)
	var hpa autoscalingv2.HorizontalPodAutoscaler
	cluster.WaitFor(t, 3*time.Minute, fmt.Sprintf("%d Ready worker pods, scaled by the HPA", max), func() (bool, string) {
		pods, err := readyPods(ctx, s.c.Client, w.ns, w.labels)
		if err != nil {
			return false, err.Error()
		}
		if err := s.c.Client.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "ebb-worker"}, &hpa); err != nil {
			return false, err.Error()
		}
		return len(pods) == max, fmt.Sprintf("%d ready pods; HPA desired %d, metrics %s", len(pods), hpa.Status.DesiredReplicas, hpaMetrics(&hpa))
	})
	if hpa.Status.DesiredReplicas != max {
		t.Errorf("the HPA desires %d replicas, want %d", hpa.Status.DesiredReplicas, max)
	}
	if len(hpa.Status.CurrentMetrics) != 1 || hpa.Status.CurrentMetrics[0].External == nil ||
		hpa.Status.CurrentMetrics[0].External.Current.AverageValue == nil {
		t.Errorf("the HPA read no external metric: %s", hpaMetrics(&hpa))
	}
	if c := hpaCondition(&hpa, autoscalingv2.ScalingActive); c == nil || c.Status != corev1.ConditionTrue {
		t.Errorf("the HPA's ScalingActive condition: %+v, want True (it reads the metric)", c)
	}

	cluster.WaitFor(t, 3*time.Minute, "the queue drained and the worker back to 0 replicas", func() (bool, string) {
		var d appsv1.Deployment
		if err := s.c.Client.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "worker"}, &d); err != nil {
			return false, err.Error()
		}
		msgs, err := w.depth()
		if err != nil {
			return false, err.Error()
		}
		return ptr.Deref(d.Spec.Replicas, -1) == 0 && d.Status.Replicas == 0 && msgs == 0,
			fmt.Sprintf("replicas %d (running %d), %d messages in the queue", ptr.Deref(d.Spec.Replicas, -1), d.Status.Replicas, msgs)
	})
}

// TestInterceptorWakesTheBackend: a request for an http ScaledObject's host,
// sent to the interceptor's Service while the backend runs no pod, is held
// by the interceptor's pod, wakes the backend (0 → 1) and is answered by
// the backend's pod.
func TestInterceptorWakesTheBackend(t *testing.T) {
	s := need(t)
	ctx := t.Context()
	ns := newNamespace(t, "http")
	labels := map[string]string{"app": "web"}
	host := ns + ".incluster.test"

	var token corev1.Secret
	if err := s.c.Client.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: interceptorTokenName}, &token); err != nil {
		t.Fatalf("the interceptor's admin token: %v", err)
	}
	create(t, s,
		zeroDeployment(ns, "web", s.images[backendRef], labels, nil),
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec: corev1.ServiceSpec{
				Selector: labels,
				Ports:    []corev1.ServicePort{{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(8080)}},
			},
		},
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "interceptor-admin"},
			Data:       map[string][]byte{"token": token.Data["token"]},
		},
		&v1alpha1.TriggerAuthentication{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "interceptor-admin"},
			Spec: v1alpha1.TriggerAuthenticationSpec{SecretTargetRef: []v1alpha1.KeyRef{
				{Parameter: "bearerToken", Name: "interceptor-admin", Key: "token"},
			}},
		},
		&v1alpha1.ScaledObject{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec: v1alpha1.ScaledObjectSpec{
				ScaleTargetRef:  v1alpha1.ScaleTarget{Name: "web"},
				PollingInterval: ptr.To[int32](5),
				MaxReplicaCount: ptr.To[int32](1),
				Triggers: []v1alpha1.Trigger{{
					Type: "http",
					Name: "web",
					Metadata: map[string]string{
						"interceptorURL":    fmt.Sprintf("http://ebb-interceptor-admin.%s.svc:9090", releaseNamespace),
						"host":              host,
						"service":           "web",
						"port":              "8080",
						"targetConcurrency": "1",
					},
					AuthenticationRef: &v1alpha1.AuthenticationRef{Name: "interceptor-admin"},
				}},
			},
		},
	)
	waitScaledObjectReady(t, s, ns, "web")
	if n := deploymentReplicas(t, s, ns, "web"); n != 0 {
		t.Fatalf("the backend runs %d replicas before any request, want 0", n)
	}
	if n, err := readyEndpoints(ctx, s.c.Client, ns, "web"); err != nil || n != 0 {
		t.Fatalf("the backend's Service has %d ready endpoints (%v) before any request, want 0", n, err)
	}

	var svc corev1.Service
	if err := s.c.Client.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: interceptorDeployment}, &svc); err != nil {
		t.Fatal(err)
	}
	url := "http://" + net.JoinHostPort(svc.Spec.ClusterIP, fmt.Sprint(svc.Spec.Ports[0].Port)) + "/hello"
	// Until the interceptor has loaded the route it answers 404; the first
	// request it routes is held until the backend has a ready pod.
	var status int
	var body string
	var held time.Duration
	cluster.WaitFor(t, 3*time.Minute, "the interceptor to answer "+host+" from the backend", func() (bool, string) {
		start := time.Now()
		var err error
		status, body, err = get(ctx, url, host, 2*time.Minute)
		held = time.Since(start)
		if err != nil {
			return false, err.Error()
		}
		return status != http.StatusNotFound, fmt.Sprintf("%d %s", status, body)
	})
	if status != http.StatusOK || !strings.HasPrefix(body, "backend web-") || !strings.Contains(body, " /hello") {
		t.Fatalf("GET %s (Host %s): %d %q, want 200 and the backend's answer", url, host, status, body)
	}
	pods, err := readyPods(ctx, s.c.Client, ns, labels)
	if err != nil {
		t.Fatal(err)
	}
	pod := strings.Fields(body)[1]
	if !slices.ContainsFunc(pods, func(p corev1.Pod) bool { return p.Name == pod }) {
		t.Fatalf("the answer came from %s, not a Ready pod of the backend (%d ready)", pod, len(pods))
	}
	if n := deploymentReplicas(t, s, ns, "web"); n != 1 {
		t.Fatalf("the backend runs %d replicas after the request, want 1", n)
	}
	t.Logf("the request was held %s and answered by %s", held.Round(10*time.Millisecond), pod)
}

// TestLeaderFailover: killing the operator pod that holds the leader Lease
// hands the Lease to the other replica, which goes on scaling: a new worker
// goes 0 → 1 on its queue.
func TestLeaderFailover(t *testing.T) {
	s := need(t)
	ctx := t.Context()
	waitDeploymentAvailable(t, s, operatorDeployment, 2*time.Minute)
	leader := leaderPod(t, s)
	var before corev1.PodList
	if err := s.c.Client.List(ctx, &before, client.InNamespace(releaseNamespace), client.MatchingLabels(operatorLabels)); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(before.Items, func(p corev1.Pod) bool { return p.Name == leader }) {
		t.Fatalf("the Lease holder %s is not an operator pod", leader)
	}
	t.Logf("killing the leader %s", leader)
	kill := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: releaseNamespace, Name: leader}}
	if err := s.c.Client.Delete(ctx, kill, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	var next string
	cluster.WaitFor(t, 2*time.Minute, "another operator pod to take the Lease", func() (bool, string) {
		var l coordinationv1.Lease
		if err := s.c.Client.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: leaseName}, &l); err != nil {
			return false, err.Error()
		}
		next = holderPod(ptr.Deref(l.Spec.HolderIdentity, ""))
		return next != "" && next != leader, "holder " + ptr.Deref(l.Spec.HolderIdentity, "")
	})
	t.Logf("the new leader is %s", next)

	w := newWorker(t, s, "failover", 2)
	waitScaledObjectReady(t, s, w.ns, "worker")
	w.publish(t, 20)
	cluster.WaitFor(t, 2*time.Minute, "a Ready worker pod after the failover", func() (bool, string) {
		pods, err := readyPods(ctx, s.c.Client, w.ns, w.labels)
		if err != nil {
			return false, err.Error()
		}
		return len(pods) >= 1, fmt.Sprintf("%d ready pods", len(pods))
	})
	waitDeploymentAvailable(t, s, operatorDeployment, 2*time.Minute)
}

// TestUpgradeAndUninstall: helm upgrade with a changed value rolls it out,
// and helm uninstall removes every object the release made. The CRDs come
// from the chart's crds/ folder, which Helm installs but never upgrades or
// deletes: they stay, with the ScaledObjects in them.
func TestUpgradeAndUninstall(t *testing.T) {
	s := need(t)
	ctx := t.Context()
	values := deepCopyValues(s.values)
	values["logLevel"] = 1
	values["interceptor"].(map[string]any)["replicaCount"] = 2
	rel, err := s.helm.upgrade(ctx, values)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Version != 2 {
		t.Errorf("the upgraded release is revision %d, want 2", rel.Version)
	}
	t.Run("the changed values take effect", func(t *testing.T) {
		waitDeploymentAvailable(t, s, operatorDeployment, 2*time.Minute)
		pods, err := readyPods(ctx, s.c.Client, releaseNamespace, operatorLabels)
		if err != nil {
			t.Fatal(err)
		}
		if len(pods) != 2 {
			t.Fatalf("%d Ready operator pods after the upgrade, want 2", len(pods))
		}
		for _, p := range pods {
			if !slices.Contains(p.Spec.Containers[0].Args, "--v=1") {
				t.Errorf("operator pod %s runs %v, want --v=1", p.Name, p.Spec.Containers[0].Args)
			}
		}
		waitDeploymentAvailable(t, s, interceptorDeployment, 2*time.Minute)
		ic, err := readyPods(ctx, s.c.Client, releaseNamespace, map[string]string{"app.kubernetes.io/name": "ebb-interceptor"})
		if err != nil {
			t.Fatal(err)
		}
		if len(ic) != 2 {
			t.Errorf("%d Ready interceptor pods after the upgrade, want 2", len(ic))
		}
		as := &unstructured.Unstructured{}
		as.SetGroupVersionKind(apiServiceGVK)
		cluster.WaitFor(t, time.Minute, "the APIService Available after the upgrade", func() (bool, string) {
			if err := s.c.Client.Get(ctx, client.ObjectKey{Name: apiServiceName}, as); err != nil {
				return false, err.Error()
			}
			return conditionTrue(as, "Available")
		})
	})

	objs, err := manifestObjects(rel)
	if err != nil {
		t.Fatal(err)
	}
	var made []string
	for _, o := range objs {
		if err := s.c.Client.Get(ctx, client.ObjectKeyFromObject(o), o.DeepCopy()); err != nil {
			t.Errorf("%s of the release: %v", describe(o), err)
		}
		made = append(made, describe(o))
	}
	slices.Sort(made)
	t.Logf("the release made %d objects:\n  %s", len(made), strings.Join(made, "\n  "))
	t.Run("what the operator made at run time is owned by its Deployment", func(t *testing.T) {
		var dep appsv1.Deployment
		if err := s.c.Client.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: operatorDeployment}, &dep); err != nil {
			t.Fatal(err)
		}
		for _, o := range runtimeObjects() {
			if err := s.c.Client.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil {
				t.Errorf("%s: %v", describe(o), err)
				continue
			}
			refs := o.GetOwnerReferences()
			if len(refs) != 1 || refs[0].Kind != "Deployment" || refs[0].UID != dep.UID {
				t.Errorf("%s is owned by %+v, want the Deployment %s (uid %s)", describe(o), refs, operatorDeployment, dep.UID)
			}
		}
	})

	if err := s.helm.uninstall(); err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		cluster.WaitFor(t, time.Minute, describe(o)+" deleted", func() (bool, string) {
			err := s.c.Client.Get(ctx, client.ObjectKeyFromObject(o), o.DeepCopy())
			return apierrors.IsNotFound(err), fmt.Sprintf("get: %v", err)
		})
	}
	// Nothing of Ebb is left cluster-wide or in the release namespace: what
	// the operator made at run time, which Helm does not know of, goes with
	// the operator's Deployment (the garbage collector).
	cluster.WaitFor(t, 2*time.Minute, "nothing of the release left in "+releaseNamespace+" or cluster-wide", func() (bool, string) {
		left, err := leftovers(ctx, s)
		if err != nil {
			return false, err.Error()
		}
		return len(left) == 0, "left: " + strings.Join(left, ", ")
	})
	var crd apiextensionsv1.CustomResourceDefinition
	if err := s.c.Client.Get(ctx, client.ObjectKey{Name: "scaledobjects.ebb.dev"}, &crd); err != nil {
		t.Errorf("the ScaledObject CRD (the chart's crds/, which Helm keeps): %v", err)
	}
}

// runtimeObjects are what the operator makes at run time in the release
// namespace, not rendered by the chart (so that `helm template` renders no
// key material and upgrades keep them), owned by the operator's Deployment.
func runtimeObjects() []client.Object {
	key := func(o client.Object, name string) client.Object {
		o.SetNamespace(releaseNamespace)
		o.SetName(name)
		return o
	}
	return []client.Object{
		key(&corev1.Secret{}, "ebb-interceptor-token"),
		key(&corev1.Secret{}, "ebb-metrics-adapter-ca"),
		key(&corev1.Secret{}, "ebb-webhook-ca"),
		key(&corev1.ConfigMap{}, "ebb-host-claims"),
		key(&coordinationv1.Lease{}, leaseName),
	}
}

// leftovers lists the objects in the release namespace other than those
// every namespace has (the default ServiceAccount, kube-root-ca.crt), and
// the cluster-wide objects whose name starts with "ebb" (RBAC, webhook
// configurations) or that are the metrics APIService.
func leftovers(ctx context.Context, s *suite) ([]string, error) {
	var left []string
	kinds := []schema.GroupVersionKind{
		{Version: "v1", Kind: "PodList"},
		{Version: "v1", Kind: "ServiceList"},
		{Version: "v1", Kind: "SecretList"},
		{Version: "v1", Kind: "ConfigMapList"},
		{Version: "v1", Kind: "ServiceAccountList"},
		{Group: "apps", Version: "v1", Kind: "DeploymentList"},
		{Group: "apps", Version: "v1", Kind: "ReplicaSetList"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleList"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBindingList"},
		{Group: "coordination.k8s.io", Version: "v1", Kind: "LeaseList"},
		{Group: "policy", Version: "v1", Kind: "PodDisruptionBudgetList"},
		{Group: "discovery.k8s.io", Version: "v1", Kind: "EndpointSliceList"},
	}
	for _, gvk := range kinds {
		var l unstructured.UnstructuredList
		l.SetGroupVersionKind(gvk)
		if err := s.c.Client.List(ctx, &l, client.InNamespace(releaseNamespace)); err != nil {
			return nil, err
		}
		for _, o := range l.Items {
			if (o.GetKind() == "ServiceAccount" && o.GetName() == "default") ||
				(o.GetKind() == "ConfigMap" && o.GetName() == "kube-root-ca.crt") {
				continue
			}
			left = append(left, describe(&o))
		}
	}
	for _, gvk := range []schema.GroupVersionKind{
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleList"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleBindingList"},
		{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "ValidatingWebhookConfigurationList"},
		{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "MutatingWebhookConfigurationList"},
		{Group: "apiregistration.k8s.io", Version: "v1", Kind: "APIServiceList"},
	} {
		var l unstructured.UnstructuredList
		l.SetGroupVersionKind(gvk)
		if err := s.c.Client.List(ctx, &l); err != nil {
			return nil, err
		}
		for _, o := range l.Items {
			if strings.HasPrefix(o.GetName(), "ebb") || o.GetName() == apiServiceName {
				left = append(left, describe(&o))
			}
		}
	}
	return left, nil
}

func describe(o client.Object) string {
	gvk := o.GetObjectKind().GroupVersionKind()
	kind := strings.TrimSuffix(gvk.Kind, "List")
	if o.GetNamespace() != "" {
		return kind + " " + o.GetNamespace() + "/" + o.GetName()
	}
	return kind + " " + o.GetName()
}

// worker is a Deployment at zero that consumes a queue of its own on the
// machine's RabbitMQ, and the ScaledObject that scales it on the queue's
// length (10 messages per replica, polled every second, back to zero 5 s
// after the queue is empty, HPA scale-down without stabilization).
type worker struct {
	ns, queue string
	labels    map[string]string
	ch        *amqp.Channel
}

func newWorker(t *testing.T, s *suite, prefix string, max int32) *worker {
	t.Helper()
	w := &worker{ns: newNamespace(t, prefix), queue: "incluster-" + randomSuffix(), labels: map[string]string{"app": "worker"}}
	conn, err := amqp.Dial("amqp://guest:guest@" + rabbitAddr + "/")
	if err != nil {
		t.Fatalf("RabbitMQ at %s: %v", rabbitAddr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if w.ch, err = conn.Channel(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ch.QueueDeclare(w.queue, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if ch, err := conn.Channel(); err == nil {
			_, _ = ch.QueueDelete(w.queue, false, false, false)
		}
	})
	url := "amqp://guest:guest@" + s.rabbitInCluster + "/"
	create(t, s,
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "rabbitmq"},
			StringData: map[string]string{"host": url},
		},
		&v1alpha1.TriggerAuthentication{
			ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "rabbitmq"},
			Spec: v1alpha1.TriggerAuthenticationSpec{SecretTargetRef: []v1alpha1.KeyRef{
				{Parameter: "host", Name: "rabbitmq", Key: "host"},
			}},
		},
		zeroDeployment(w.ns, "worker", s.images[consumerRef], w.labels, []corev1.EnvVar{
			{Name: "AMQP_URL", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "rabbitmq"}, Key: "host",
			}}},
			{Name: "QUEUE", Value: w.queue},
			{Name: "WORK", Value: "200ms"},
		}),
		&v1alpha1.ScaledObject{
			ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "worker"},
			Spec: v1alpha1.ScaledObjectSpec{
				ScaleTargetRef:  v1alpha1.ScaleTarget{Name: "worker"},
				PollingInterval: ptr.To[int32](1),
				CooldownPeriod:  ptr.To[int32](5),
				MaxReplicaCount: ptr.To(max),
				Advanced: &v1alpha1.AdvancedConfig{HorizontalPodAutoscalerConfig: &v1alpha1.HorizontalPodAutoscalerConfig{
					Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
						ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](0)},
					},
				}},
				Triggers: []v1alpha1.Trigger{{
					Type:              "rabbitmq",
					Name:              "queue",
					Metadata:          map[string]string{"queueName": w.queue, "mode": "QueueLength", "value": "10"},
					AuthenticationRef: &v1alpha1.AuthenticationRef{Name: "rabbitmq"},
				}},
			},
		},
	)
	return w
}

// zeroDeployment is a Deployment at 0 replicas of one container running a
// loaded image, Ready when GET :8080/ready answers 200.
func zeroDeployment(ns, name, image string, labels map[string]string, env []corev1.EnvVar) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](0),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](5),
					Containers: []corev1.Container{{
						Name: name, Image: image, ImagePullPolicy: corev1.PullNever, Env: env,
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}},
							PeriodSeconds: 1,
						},
					}},
				},
			},
		},
	}
}

func (w *worker) publish(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for i := range n {
		if err := w.ch.PublishWithContext(ctx, "", w.queue, false, false, amqp.Publishing{Body: fmt.Appendf(nil, "job %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// depth is the queue's ready messages (those not delivered to a consumer).
func (w *worker) depth() (int, error) {
	q, err := w.ch.QueueDeclarePassive(w.queue, false, false, false, false, nil)
	if err != nil {
		return 0, err
	}
	return q.Messages, nil
}

// newNamespace makes a namespace for the test, deleted at its end.
func newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	s := env
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: prefix + "-" + randomSuffix()}}
	if err := s.c.Client.Create(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.c.Client.Delete(ctx, ns)
	})
	return ns.Name
}

func randomSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func create(t *testing.T, s *suite, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := s.c.Client.Create(t.Context(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

func waitScaledObjectReady(t *testing.T, s *suite, ns, name string) {
	t.Helper()
	cluster.WaitFor(t, time.Minute, "ScaledObject "+ns+"/"+name+" Ready", func() (bool, string) {
		var so v1alpha1.ScaledObject
		if err := s.c.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &so); err != nil {
			return false, err.Error()
		}
		for _, c := range so.Status.Conditions {
			if c.Type == v1alpha1.ConditionReady {
				return c.Status == metav1.ConditionTrue && c.ObservedGeneration == so.Generation,
					fmt.Sprintf("Ready %s %s: %s", c.Status, c.Reason, c.Message)
			}
		}
		return false, "no Ready condition"
	})
}

func waitDeploymentAvailable(t *testing.T, s *suite, name string, timeout time.Duration) {
	t.Helper()
	cluster.WaitFor(t, timeout, "Deployment "+name+" available", func() (bool, string) {
		var d appsv1.Deployment
		if err := s.c.Client.Get(t.Context(), client.ObjectKey{Namespace: releaseNamespace, Name: name}, &d); err != nil {
			return false, err.Error()
		}
		return deploymentAvailable(&d)
	})
}

func deploymentReplicas(t *testing.T, s *suite, ns, name string) int32 {
	t.Helper()
	var d appsv1.Deployment
	if err := s.c.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &d); err != nil {
		t.Fatal(err)
	}
	return ptr.Deref(d.Spec.Replicas, 1)
}

// readyEndpoints counts the ready endpoints of a Service's EndpointSlices.
func readyEndpoints(ctx context.Context, c client.Client, ns, service string) (int, error) {
	var slices discoveryv1.EndpointSliceList
	if err := c.List(ctx, &slices, client.InNamespace(ns), client.MatchingLabels{discoveryv1.LabelServiceName: service}); err != nil {
		return 0, err
	}
	n := 0
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if ptr.Deref(e.Conditions.Ready, false) {
				n++
			}
		}
	}
	return n, nil
}

// leaderPod is the name of the operator pod holding the leader Lease.
func leaderPod(t *testing.T, s *suite) string {
	t.Helper()
	var leader string
	cluster.WaitFor(t, time.Minute, "a leader", func() (bool, string) {
		var l coordinationv1.Lease
		if err := s.c.Client.Get(t.Context(), client.ObjectKey{Namespace: releaseNamespace, Name: leaseName}, &l); err != nil {
			return false, err.Error()
		}
		leader = holderPod(ptr.Deref(l.Spec.HolderIdentity, ""))
		return leader != "", "no holder"
	})
	return leader
}

// holderPod is the pod name of a leader election identity,
// "<hostname>_<uuid>" (a pod's hostname is its name).
func holderPod(identity string) string {
	name, _, _ := strings.Cut(identity, "_")
	return name
}

func conditionTrue(o *unstructured.Unstructured, typ string) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			return m["status"] == "True", fmt.Sprintf("%s %v: %v %v", typ, m["status"], m["reason"], m["message"])
		}
	}
	return false, "no " + typ + " condition"
}

func hpaCondition(h *autoscalingv2.HorizontalPodAutoscaler, typ autoscalingv2.HorizontalPodAutoscalerConditionType) *autoscalingv2.HorizontalPodAutoscalerCondition {
	for i := range h.Status.Conditions {
		if h.Status.Conditions[i].Type == typ {
			return &h.Status.Conditions[i]
		}
	}
	return nil
}

func hpaMetrics(h *autoscalingv2.HorizontalPodAutoscaler) string {
	var b strings.Builder
	for _, m := range h.Status.CurrentMetrics {
		if m.External != nil && m.External.Current.AverageValue != nil {
			fmt.Fprintf(&b, "%s=%s ", m.External.Metric.Name, m.External.Current.AverageValue)
		}
	}
	for _, c := range h.Status.Conditions {
		fmt.Fprintf(&b, "[%s %s %s: %s] ", c.Type, c.Status, c.Reason, c.Message)
	}
	return b.String()
}

// get sends GET url with the Host header host and returns the status and
// body.
func get(ctx context.Context, url, host string, timeout time.Duration) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b), err
}

// deepCopyValues copies nested values maps so that a change does not reach
// the installed release's.
func deepCopyValues(v map[string]any) map[string]any {
	out := make(map[string]any, len(v))
	for k, x := range v {
		if m, ok := x.(map[string]any); ok {
			out[k] = deepCopyValues(m)
		} else {
			out[k] = x
		}
	}
	return out
}
