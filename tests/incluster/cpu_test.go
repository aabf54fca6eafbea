// SPDX-License-Identifier: Apache-2.0

package incluster_test

import (
	"fmt"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/internal/ociimage"
	"github.com/ebbscale/ebb/tests/cluster"
)

// TestCPUTriggerWithTheRealMetricsServer: a cpu trigger becomes a Resource
// metric of the HPA, which reads the pods' usage as the kubelet measures it
// and metrics-server serves it: a pod burning its 200m limit against a 100m
// request (200 % of its request, the target 50 %) takes the Deployment from
// 1 to its maximum of 2 Ready pods.
func TestCPUTriggerWithTheRealMetricsServer(t *testing.T) {
	s := need(t)
	ctx := t.Context()
	image, err := s.c.LoadImage(ctx, ociimage.Spec{Package: "./tests/incluster/testdata/burner", Ref: "ebb.local/incluster-burner:test"})
	if err != nil {
		t.Fatal(err)
	}
	ns := newNamespace(t, "cpu")
	labels := map[string]string{"app": "burner"}
	dep := zeroDeployment(ns, "burner", image, labels, nil)
	dep.Spec.Replicas = ptr.To[int32](1)
	dep.Spec.Template.Spec.Containers[0].Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")},
	}
	const max = 2
	create(t, s, dep, &v1alpha1.ScaledObject{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "burner"},
		Spec: v1alpha1.ScaledObjectSpec{
			ScaleTargetRef:  v1alpha1.ScaleTarget{Name: "burner"},
			MinReplicaCount: ptr.To[int32](1),
			MaxReplicaCount: ptr.To[int32](max),
			Triggers: []v1alpha1.Trigger{{
				Type:       "cpu",
				Name:       "cpu",
				MetricType: v1alpha1.MetricTypeUtilization,
				Metadata:   map[string]string{"value": "50"},
			}},
		},
	})
	waitScaledObjectReady(t, s, ns, "burner")

	var hpa autoscalingv2.HorizontalPodAutoscaler
	cluster.WaitFor(t, 4*time.Minute, fmt.Sprintf("%d Ready burner pods, scaled by the HPA on CPU", max), func() (bool, string) {
		pods, err := readyPods(ctx, s.c.Client, ns, labels)
		if err != nil {
			return false, err.Error()
		}
		if err := s.c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ebb-burner"}, &hpa); err != nil {
			return false, err.Error()
		}
		return len(pods) == max, fmt.Sprintf("%d ready pods; HPA desired %d, metrics %s", len(pods), hpa.Status.DesiredReplicas, hpaMetrics(&hpa))
	})
	var util *int32
	for _, m := range hpa.Status.CurrentMetrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU {
			util = m.Resource.Current.AverageUtilization
		}
	}
	if util == nil || *util < 100 {
		t.Errorf("the HPA's current CPU utilization: %v, want at least 100 %% (a pod burning its 200m limit on a 100m request)", util)
	}
	if c := hpaCondition(&hpa, autoscalingv2.ScalingActive); c == nil || c.Status != corev1.ConditionTrue {
		t.Errorf("the HPA's ScalingActive condition: %+v, want True (it reads the pods' CPU from metrics-server)", c)
	}
}
