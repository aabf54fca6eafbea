// SPDX-License-Identifier: Apache-2.0

package e2e_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/tests/chartrbac"
	"github.com/ebbscale/ebb/tests/controlplane"
	"github.com/ebbscale/ebb/tests/operatorproc"
)

// BenchmarkBurstToHPAScaleUp measures 1 → N with default settings: the time
// from a burst of 100 messages into a RabbitMQ queue, with one replica
// running, to the HPA's first scale-up (the Deployment's replicas above 1).
// kube-controller-manager runs the HPA at its default 15 s sync period, the
// operator at its defaults, the ScaledObjects at the default 30 s polling
// interval. EBB_BURST_RUNS ScaledObjects (default 5) burst at once, each at
// its own phase of the HPA's sync (spread evenly over one period), and the
// median, min and max are reported. EBB_BURST_OPERATOR_ARGS adds operator
// flags: --hpa-sync-period=480s gives the earlier rule (a stored value
// served for a whole polling interval).
//
//	go test -run '^$' -bench BenchmarkBurstToHPAScaleUp -benchtime 1x ./tests/e2e/
func BenchmarkBurstToHPAScaleUp(b *testing.B) {
	const hpaSync = 15 * time.Second
	runs := 5
	if v := os.Getenv("EBB_BURST_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("EBB_BURST_RUNS=%q: want a positive number", v)
		}
		runs = n
	}
	bin := operatorproc.Build(b, "")
	cp := controlplane.Start(b, controlplane.WithHPASyncPeriod(hpaSync), controlplane.WithAggregator())
	port := operatorproc.FreePort(b)
	operatorproc.Register(b, cp.Client, port)
	id := chartrbac.Operator(b, cp, chartrbac.Options{Namespace: operatorproc.Namespace})
	op := operatorproc.Start(b, bin, operatorproc.Options{Kubeconfig: id.Kubeconfig, AdapterPort: port, MetricsPort: operatorproc.FreePort(b),
		Args: strings.Fields(os.Getenv("EBB_BURST_OPERATOR_ARGS"))})
	operatorproc.Eventually(b, op, 90*time.Second, "APIService Available", func(ctx context.Context) (bool, string) {
		ok, reason, _, err := apiServiceState(ctx, cp.Client)
		if err != nil {
			return false, err.Error()
		}
		return ok, reason
	})

	for i := 0; i < b.N; i++ {
		took := make([]time.Duration, runs)
		var wg sync.WaitGroup
		for r := range runs {
			wg.Go(func() {
				phase := time.Duration(float64(hpaSync) * (float64(r) + 0.5) / float64(runs))
				took[r] = burstOnce(b, cp, op, fmt.Sprintf("bench-burst-%d-%d", i, r), phase)
			})
		}
		wg.Wait()
		if b.Failed() {
			return
		}
		b.Logf("burst → first scale-up, by phase after an HPA sync: %v", took)
		slices.Sort(took)
		b.ReportMetric(took[len(took)/2].Seconds(), "median-s")
		b.ReportMetric(took[0].Seconds(), "min-s")
		b.ReportMetric(took[len(took)-1].Seconds(), "max-s")
	}
}

// burstOnce makes a ScaledObject at the defaults over a queue holding one
// message and a Deployment at one replica; once the HPA has synced on that,
// it waits phase, bursts 100 messages, and returns the time to the HPA's
// first scale-up.
func burstOnce(b *testing.B, cp *controlplane.ControlPlane, op *operatorproc.Process, ns string, phase time.Duration) time.Duration {
	ctx := b.Context()
	c := cp.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Error(err)
		return 0
	}
	deploy := worker(ns, nil)
	deploy.Spec.Replicas = ptr.To[int32](1)
	if err := c.Create(ctx, deploy); err != nil {
		b.Error(err)
		return 0
	}
	src := &rabbitSource{}
	trig := src.declare(b, c, ns)
	src.publish(b, 1)
	so := &v1alpha1.ScaledObject{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "worker"},
		Spec: v1alpha1.ScaledObjectSpec{
			ScaleTargetRef:  v1alpha1.ScaleTarget{APIVersion: "apps/v1", Kind: "Deployment", Name: deploy.Name},
			MaxReplicaCount: ptr.To[int32](5),
			Triggers:        []v1alpha1.Trigger{trig},
		},
	}
	if err := c.Create(ctx, so); err != nil {
		b.Error(err)
		return 0
	}
	defer func() { _ = c.Delete(context.WithoutCancel(ctx), so) }()
	// The HPA's status changes at each sync that brings something new; the
	// first one with the metric is a sync's moment, which phase counts from.
	operatorproc.Eventually(b, op, 120*time.Second, ns+": the HPA synced on one message", func(ctx context.Context) (bool, string) {
		var hpa autoscalingv2.HorizontalPodAutoscaler
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: so.HPAName()}, &hpa); err != nil {
			return false, err.Error()
		}
		return len(hpa.Status.CurrentMetrics) > 0, fmt.Sprintf("current metrics %+v", hpa.Status.CurrentMetrics)
	})
	select {
	case <-time.After(phase):
	case <-ctx.Done():
		return 0
	}
	src.publish(b, 100)
	start := time.Now()
	for {
		var d appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKeyFromObject(deploy), &d); err != nil {
			b.Error(err)
			return 0
		}
		if ptr.Deref(d.Spec.Replicas, 0) > 1 {
			return time.Since(start)
		}
		if time.Since(start) > 2*time.Minute {
			b.Errorf("%s: no scale-up 2 minutes after the burst", ns)
			return 0
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return 0
		}
	}
}
