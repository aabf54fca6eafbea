// SPDX-License-Identifier: Apache-2.0

package e2e_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/tests/controlplane"
	"github.com/ebbscale/ebb/tests/operatorproc"
	"github.com/ebbscale/ebb/tests/podmetrics"
)

// resourceScenario is the most common pair of triggers there is, a queue
// plus CPU, with the real HPA reading the pods' use through the aggregator
// (podmetrics stands where metrics-server would): the queue wakes the
// Deployment from zero (the scale loop), CPU at four times its target
// scales it to its max (the HPA, on a Resource metric Ebb passed through),
// and once both fall the HPA brings it to 1 and the scale loop to 0 after
// the cooldown, on the queue alone.
func resourceScenario(t *testing.T, cp *controlplane.ControlPlane, op *operatorproc.Process, pm *podmetrics.Server) {
	ctx := t.Context()
	c := cp.Client
	const ns = "e2e-cpu"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	deploy := worker(ns, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")})
	labels := deploy.Spec.Selector.MatchLabels
	if err := c.Create(ctx, deploy); err != nil {
		t.Fatal(err)
	}
	queue := &rabbitSource{}
	qt := queue.setup(t, c, ns)
	qt.Name = "queue"
	so := workerScaledObject(deploy, 4, qt,
		v1alpha1.Trigger{Type: "cpu", Name: "cpu", MetricType: v1alpha1.MetricTypeUtilization, Metadata: map[string]string{"value": "50"}})
	if err := c.Create(ctx, so); err != nil {
		t.Fatal(err)
	}
	pm.SetUse(ns, "50m", "32Mi")

	// Each wait also does what a kubelet would: the pods the ReplicaSet
	// made start and turn ready.
	waitReplicas := func(want int32, timeout time.Duration, why string) {
		t.Helper()
		operatorproc.Eventually(t, op, timeout, why, func(ctx context.Context) (bool, string) {
			running, err := podmetrics.MarkRunning(ctx, c, ns, labels)
			if err != nil {
				return false, err.Error()
			}
			var d appsv1.Deployment
			if err := c.Get(ctx, client.ObjectKeyFromObject(deploy), &d); err != nil {
				return false, err.Error()
			}
			n := ptr.Deref(d.Spec.Replicas, -1)
			return n == want, fmt.Sprintf("replicas %d (%d pods running), want %d", n, running, want)
		})
	}

	var hpa autoscalingv2.HorizontalPodAutoscaler
	operatorproc.Eventually(t, op, 60*time.Second, "the operator makes the HPA with the queue's External metric and a cpu Resource metric", func(ctx context.Context) (bool, string) {
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: so.HPAName()}, &hpa); err != nil {
			return false, err.Error()
		}
		if len(hpa.Spec.Metrics) != 2 || hpa.Spec.Metrics[0].External == nil || hpa.Spec.Metrics[1].Resource == nil {
			return false, fmt.Sprintf("HPA metrics %+v", hpa.Spec.Metrics)
		}
		r := hpa.Spec.Metrics[1].Resource
		ok := r.Name == corev1.ResourceCPU && r.Target.Type == autoscalingv2.UtilizationMetricType && ptr.Deref(r.Target.AverageUtilization, 0) == 50
		return ok, fmt.Sprintf("cpu metric %+v", r)
	})

	// 0 → 1: the queue, through the scale loop. CPU never wakes a target:
	// the HPA reads it only from running pods.
	queue.one(t)
	waitReplicas(1, 60*time.Second, "one message brings the Deployment from 0 to 1")

	// 1 → 4: CPU at 200% of requests against a 50% target, through the HPA.
	pm.SetUse(ns, "200m", "32Mi")
	waitReplicas(4, 120*time.Second, "CPU at four times its target makes the HPA scale the Deployment to its max 4")
	operatorproc.Eventually(t, op, 60*time.Second, "the HPA's status shows the pods' CPU utilization", func(ctx context.Context) (bool, string) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(&hpa), &hpa); err != nil {
			return false, err.Error()
		}
		for _, m := range hpa.Status.CurrentMetrics {
			if m.Resource != nil && m.Resource.Name == corev1.ResourceCPU {
				u := ptr.Deref(m.Resource.Current.AverageUtilization, -1)
				return u == 200, fmt.Sprintf("cpu utilization %d%%, want 200%%", u)
			}
		}
		return false, fmt.Sprintf("no cpu metric in the HPA's status: %+v", hpa.Status.CurrentMetrics)
	})

	// 4 → 1 → 0: CPU falls and the queue drains: the HPA down to 1, then
	// the scale loop to 0 after the cooldown, on the queue alone.
	pm.SetUse(ns, "10m", "32Mi")
	queue.drain(t)
	waitReplicas(1, 120*time.Second, "with CPU at 10% and the queue empty the HPA brings the Deployment to 1")
	waitReplicas(0, 120*time.Second, "after the cooldown the scale loop brings it to 0 although CPU triggers never activate")
}
