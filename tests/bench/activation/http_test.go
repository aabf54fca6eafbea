// SPDX-License-Identifier: Apache-2.0

package activation

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	ebbhttp "github.com/ebbscale/ebb/scalers/http"
	"github.com/ebbscale/ebb/scalers/http/interceptor"
	"github.com/ebbscale/ebb/tests/controlplane"
)

// BenchmarkHeldRequestToFirstReplica sends one request through an
// ebb-interceptor to a route whose target is at zero replicas, b.N times,
// and measures the wall time until the target's replica count is 1, with
// Ebb's defaults (polling interval 30 s, activation probe 1 s): "push" with
// the interceptor's activation long poll, "probe-only" with an interceptor
// that does not serve it (the scale loop's 1 s probe activates). Each run
// uses a new ScaledObject and Deployment, read once at zero before the
// request, which comes at a varied phase of the probe rhythm.
//
//	go test -run '^$' -bench HeldRequestToFirstReplica -benchtime 10x ./tests/bench/activation/
func BenchmarkHeldRequestToFirstReplica(b *testing.B) {
	cp := controlplane.Start(b)
	for _, mode := range []string{"push", "probe-only"} {
		b.Run(mode, func(b *testing.B) { benchHeldRequest(b, cp, mode) })
	}
}

func benchHeldRequest(b *testing.B, cp *controlplane.ControlPlane, mode string) {
	ctx := b.Context()
	const token = "bench-interceptor-token"
	ic, err := interceptor.New(interceptor.Config{HoldTimeout: 5 * time.Minute, Routes: []interceptor.Route{{
		Name: "web", Host: "web.example", Backend: "http://127.0.0.1:1", Namespace: "ns", Service: "web",
	}}})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	proxy := interceptor.NewServer("", ic)
	go func() { _ = proxy.Serve(ln) }()
	defer proxy.Close()
	adminHandler := ic.AdminHandler(token)
	if mode == "probe-only" {
		mux := http.NewServeMux()
		mux.Handle("/", adminHandler)
		mux.Handle("/v1/activations", http.NotFoundHandler())
		adminHandler = mux
	}
	admin := httptest.NewServer(adminHandler)
	defer admin.Close()

	defer startController(b, cp, ebbhttp.NewType(), 0)()

	c := cp.Client
	ns := fmt.Sprintf("held-%s-%d", mode, b.N)
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "interceptor", Namespace: ns}, StringData: map[string]string{"token": token}},
		&v1alpha1.TriggerAuthentication{ObjectMeta: metav1.ObjectMeta{Name: "interceptor", Namespace: ns},
			Spec: v1alpha1.TriggerAuthenticationSpec{SecretTargetRef: []v1alpha1.KeyRef{{Parameter: "bearerToken", Name: "interceptor", Key: "token"}}}},
	} {
		if err := c.Create(ctx, o); err != nil {
			b.Fatal(err)
		}
	}
	waitFor := func(what string, cond func() bool) {
		deadline := time.Now().Add(2 * time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				b.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	var took []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		name := fmt.Sprintf("web-%d", i)
		labels := map[string]string{"app": name}
		dep := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "w", Image: "example.invalid/w:1"}}}},
			},
		}
		so := &v1alpha1.ScaledObject{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: v1alpha1.ScaledObjectSpec{
				ScaleTargetRef: v1alpha1.ScaleTarget{Name: name},
				Triggers: []v1alpha1.Trigger{{Type: "http", Name: "web", AuthenticationRef: &v1alpha1.AuthenticationRef{Name: "interceptor"},
					Metadata: map[string]string{"interceptorURL": admin.URL, "route": "web", "targetConcurrency": "1"}}},
			},
		}
		for _, o := range []client.Object{dep, so} {
			if err := c.Create(ctx, o); err != nil {
				b.Fatal(err)
			}
		}
		waitFor("the ScaledObject to read the idle route", func() bool {
			var got v1alpha1.ScaledObject
			_ = c.Get(ctx, client.ObjectKeyFromObject(so), &got)
			return len(got.Status.Triggers) == 1 && got.Status.Triggers[0].Value == "0"
		})
		// A varied phase of the 1 s probe rhythm.
		time.Sleep(time.Duration(i%10) * 97 * time.Millisecond)
		rctx, cancel := context.WithCancel(ctx)
		b.StartTimer()
		start := time.Now()
		go func() {
			req, _ := http.NewRequestWithContext(rctx, http.MethodGet, "http://"+ln.Addr().String()+"/", nil)
			req.Host = "web.example"
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		waitFor("the first replica", func() bool {
			var d appsv1.Deployment
			return c.Get(ctx, client.ObjectKeyFromObject(dep), &d) == nil && *d.Spec.Replicas == 1
		})
		took = append(took, time.Since(start))
		b.StopTimer()
		cancel()
		waitFor("no held request", func() bool { return ic.Stats(0, "web")[0].Held == 0 })
		if err := c.Delete(ctx, so); err != nil {
			b.Fatal(err)
		}
	}
	slices.Sort(took)
	median := took[len(took)/2]
	b.ReportMetric(median.Seconds(), "median-s")
	b.ReportMetric(took[len(took)-1].Seconds(), "max-s")
	b.ReportMetric(0, "ns/op")
	b.Logf("%s: %d activations, median %s, max %s, all %v", mode, len(took), median, took[len(took)-1], took)
}
