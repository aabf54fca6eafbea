// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/controller"
	"github.com/ebbscale/ebb/scalers"
	ebbhttp "github.com/ebbscale/ebb/scalers/http"
	"github.com/ebbscale/ebb/scalers/http/interceptor"
	"github.com/ebbscale/ebb/tests/chartrbac"
	"github.com/ebbscale/ebb/tests/controlplane"
)

// The interceptor, run as the command runs it with routes from the cluster,
// serves the route of a ScaledObject; a request for it, held while the
// target is at zero, activates the target through the push (the activation
// probe interval is 30 s, longer than the test waits), and is answered once
// the Service has a ready endpoint and the backend listens.
func TestRoutesFromTheClusterAndPushActivation(t *testing.T) {
	cp := controlplane.Start(t)
	ctx := t.Context()
	c := cp.Client
	const ns, token = "shop", "push-token-8c1d"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}

	// The backend's port is bound now; it serves only once "scaled up".
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "web "+r.URL.Path)
	}))
	t.Cleanup(backend.Close)

	// The interceptor, as the chart's interceptor ServiceAccount under the
	// chart's RBAC.
	interceptorID := chartrbac.Interceptor(t, cp, chartrbac.Options{Namespace: "default"})
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, token)
	ictx, stopInterceptor := context.WithCancel(ctx)
	addrs := make(chan [2]net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ictx, []string{"--kubeconfig", interceptorID.Kubeconfig, "--token-file", tokenFile, "--hold-timeout", "2m",
			"--resolve", "web.shop.svc.cluster.local:80=" + backend.Listener.Addr().String(),
			"--proxy-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0"},
			io.Discard, func(p, a net.Addr) { addrs <- [2]net.Addr{p, a} })
	}()
	t.Cleanup(func() {
		stopInterceptor()
		if err := <-done; err != nil {
			t.Errorf("interceptor: %v", err)
		}
	})
	var proxy, admin string
	select {
	case a := <-addrs:
		proxy, admin = "http://"+a[0].String(), "http://"+a[1].String()
	case err := <-done:
		t.Fatalf("the interceptor stopped: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the interceptor did not start")
	}

	// The operator, with the http trigger type.
	startOperator(t, cp)

	// The target at zero, the token for the trigger, the ScaledObject.
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "example.invalid/web:1"}}}},
		},
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "interceptor", Namespace: ns}, StringData: map[string]string{"token": token}}
	auth := &v1alpha1.TriggerAuthentication{
		ObjectMeta: metav1.ObjectMeta{Name: "interceptor", Namespace: ns},
		Spec:       v1alpha1.TriggerAuthenticationSpec{SecretTargetRef: []v1alpha1.KeyRef{{Parameter: "bearerToken", Name: "interceptor", Key: "token"}}},
	}
	so := &v1alpha1.ScaledObject{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: v1alpha1.ScaledObjectSpec{
			ScaleTargetRef:  v1alpha1.ScaleTarget{Name: "web"},
			PollingInterval: ptr.To[int32](300),
			Advanced:        &v1alpha1.AdvancedConfig{ActivationProbeInterval: &metav1.Duration{Duration: 30 * time.Second}},
			Triggers: []v1alpha1.Trigger{{Type: "http", Name: "web", AuthenticationRef: &v1alpha1.AuthenticationRef{Name: "interceptor"},
				Metadata: map[string]string{
					"interceptorURL": admin, "targetConcurrency": "10",
					"host": "web.example", "service": "web", "port": "80",
				}}},
		},
	}
	for _, o := range []client.Object{dep, secret, auth, so} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	created := time.Now()

	// The route is served (held: no ready endpoint) and the loop has read
	// the trigger once; its next poll is 30 s away.
	eventually(t, "the route served and the trigger read", func() bool {
		var got v1alpha1.ScaledObject
		if err := c.Get(ctx, client.ObjectKeyFromObject(so), &got); err != nil {
			return false
		}
		if len(got.Status.Triggers) != 1 || got.Status.Triggers[0].LastReadTime == nil {
			return false
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, admin+"/v1/routes?route=shop/web/web", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var sr interceptor.StatsResponse
		return json.NewDecoder(resp.Body).Decode(&sr) == nil && len(sr.Routes) == 1
	})

	answered := make(chan string, 1)
	sent := time.Now()
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, proxy+"/hello", nil)
		req.Host = "web.example"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answered <- fmt.Sprint(resp.StatusCode, " ", string(b))
	}()

	replicas := func() int32 {
		var d appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKeyFromObject(dep), &d); err != nil {
			return -1
		}
		return *d.Spec.Replicas
	}
	deadline := created.Add(25 * time.Second) // before the next probe
	for replicas() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no replica %s after the request (%s after the ScaledObject): the push did not activate", time.Since(sent), time.Since(created))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("held request → 1 replica in %s", time.Since(sent).Round(time.Millisecond))

	// The replica becomes ready: the held request is answered.
	backend.Start()
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: "web-x1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"192.0.2.10"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "web-0"}}},
		Ports: []discoveryv1.EndpointPort{{Port: ptr.To[int32](80)}},
	}
	if err := c.Create(ctx, slice); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-answered:
		if got != "200 web /hello" {
			t.Errorf("the held request was answered %q", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the held request was not answered once the Service was ready")
	}
}

// startOperator runs Ebb's controller with the http trigger type in this
// process until the test ends.
func startOperator(t *testing.T, cp *controlplane.ControlPlane) {
	t.Helper()
	startOperatorWith(t, cp, nil, controller.Options{})
}

// startOperatorWith runs the controller as the chart's operator
// ServiceAccount (namespace default) under the chart's RBAC rendered with
// values, with o (its Registry and OperatorNamespace filled in), and returns
// its identity.
func startOperatorWith(t *testing.T, cp *controlplane.ControlPlane, values map[string]any, o controller.Options) *chartrbac.Identity {
	t.Helper()
	// As the chart's ServiceAccount, under the chart's RBAC.
	id := chartrbac.Operator(t, cp, chartrbac.Options{Namespace: "default", Values: values})
	mgr, err := ctrl.NewManager(id.Config, ctrl.Options{
		Scheme: cp.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}, Logger: logr.Discard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := scalers.NewRegistry(ebbhttp.NewType())
	if err != nil {
		t.Fatal(err)
	}
	// Without ScaledJobs, as the chart's default.
	o.Registry, o.OperatorNamespace, o.DisableScaledJobs = reg, "default", true
	if _, err := controller.Setup(mgr, o); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("operator: %v", err)
		}
	})
	return id
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
