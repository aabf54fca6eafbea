// SPDX-License-Identifier: Apache-2.0

package foundation_test

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
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/tests/controlplane"
)

// The path Ebb's HPAs take works before Ebb exists: the real
// horizontal-pod-autoscaler controller in kube-controller-manager scales a
// Deployment through its /scale subresource, and the deployment controller
// passes the count on to the ReplicaSet. minReplicas above the current
// count needs no metric value, so no metrics adapter is involved yet.
func TestHPAPath(t *testing.T) {
	t.Parallel()
	cp := controlplane.Start(t, controlplane.WithControllerManager())
	ctx := t.Context()
	c := cp.Client

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "hpa-path"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "worker"}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "worker"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				// Never runs: there is no scheduler and no kubelet.
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "worker", Image: "registry.invalid/worker:1"}}},
			},
		},
	}
	if err := c.Create(ctx, deploy); err != nil {
		t.Fatal(err)
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "worker"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: deploy.Name},
			MinReplicas:    ptr.To[int32](3),
			MaxReplicas:    5,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ExternalMetricSourceType,
				External: &autoscalingv2.ExternalMetricSource{
					Metric: autoscalingv2.MetricIdentifier{Name: "s0-rabbitmq-work"},
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("10"))},
				},
			}},
		},
	}
	if err := c.Create(ctx, hpa); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		sentence string
		replicas func() (int32, error)
	}{
		{"the HPA raises the Deployment from 1 to its minReplicas 3", func() (int32, error) {
			var d appsv1.Deployment
			err := c.Get(ctx, client.ObjectKeyFromObject(deploy), &d)
			return ptr.Deref(d.Spec.Replicas, -1), err
		}},
		{"the deployment controller gives its ReplicaSet 3 replicas", func() (int32, error) {
			var rss appsv1.ReplicaSetList
			if err := c.List(ctx, &rss, client.InNamespace(ns.Name), client.MatchingLabels(labels)); err != nil {
				return 0, err
			}
			if len(rss.Items) != 1 {
				return 0, fmt.Errorf("%d ReplicaSets", len(rss.Items))
			}
			return ptr.Deref(rss.Items[0].Spec.Replicas, -1), nil
		}},
		{"the HPA's status records the scale to 3", func() (int32, error) {
			var h autoscalingv2.HorizontalPodAutoscaler
			err := c.Get(ctx, client.ObjectKeyFromObject(hpa), &h)
			return h.Status.DesiredReplicas, err
		}},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			eventually(t, 60*time.Second, func() (bool, string) {
				n, err := tc.replicas()
				if err != nil {
					return false, err.Error()
				}
				return n == 3, fmt.Sprintf("replicas %d", n)
			})
		})
	}
}

// eventually polls cond every 200 ms until it holds or timeout passes, then
// fails with cond's last word.
func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		var ok bool
		ok, last = cond()
		return ok, nil
	})
	if err != nil {
		t.Fatalf("not within %s: %s", timeout, last)
	}
}
