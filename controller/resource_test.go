// SPDX-License-Identifier: Apache-2.0

package controller_test

import (
	"fmt"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

// cpu and memory triggers are passed to the HPA as Resource metrics (a
// ContainerResource one with containerName), never read by Ebb: a
// ScaledObject with only such triggers is Ready, brings a target at zero up
// to its minimum, serves no external metric, and its HPA is rebuilt with
// them after someone edits it.
func TestResourceTriggersArePassedToTheHPA(t *testing.T) {
	e := newEnv(t, false)
	e.startOperator("", 0)
	e.deployment("api", 0)
	so := e.scaledObject("api", "api",
		cpuTrigger("60"),
		v1alpha1.Trigger{Type: "memory", Name: "memory", MetricType: v1alpha1.MetricTypeAverageValue, Metadata: map[string]string{"value": "512Mi", "containerName": "app"}})
	so.Spec.MinReplicaCount = ptr.To[int32](2)
	e.create(so)

	ready := e.waitCondition("api", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 30*time.Second)
	if len(ready.Status.ExternalMetricNames) != 0 {
		t.Errorf("external metric names %v: cpu and memory are not external metrics", ready.Status.ExternalMetricNames)
	}
	want := func(h *autoscalingv2.HorizontalPodAutoscaler) string {
		if len(h.Spec.Metrics) != 2 {
			return fmt.Sprintf("%d metrics, want 2", len(h.Spec.Metrics))
		}
		cpu, mem := h.Spec.Metrics[0], h.Spec.Metrics[1]
		if cpu.Type != autoscalingv2.ResourceMetricSourceType || cpu.Resource == nil || cpu.Resource.Name != corev1.ResourceCPU ||
			cpu.Resource.Target.Type != autoscalingv2.UtilizationMetricType || ptr.Deref(cpu.Resource.Target.AverageUtilization, 0) != 60 {
			return fmt.Sprintf("cpu metric %+v", cpu)
		}
		if mem.Type != autoscalingv2.ContainerResourceMetricSourceType || mem.ContainerResource == nil || mem.ContainerResource.Container != "app" ||
			mem.ContainerResource.Target.AverageValue == nil || mem.ContainerResource.Target.AverageValue.String() != "512Mi" {
			return fmt.Sprintf("memory metric %+v", mem)
		}
		if ptr.Deref(h.Spec.MinReplicas, 0) != 2 {
			return fmt.Sprintf("minReplicas %d, want 2", ptr.Deref(h.Spec.MinReplicas, 0))
		}
		return ""
	}
	var h *autoscalingv2.HorizontalPodAutoscaler
	e.waitFor(30*time.Second, "the HPA with a cpu Resource and a memory ContainerResource metric", func() (bool, error) {
		var err error
		h, err = e.hpa(so.HPAName())
		return err == nil && want(h) == "", nil
	})
	e.waitReplicas("api", 2, 30*time.Second)

	// Someone drops the metrics from the HPA: Ebb writes them back.
	e.update(h, func() { h.Spec.Metrics = h.Spec.Metrics[:1] })
	e.waitFor(30*time.Second, "the HPA's metrics restored", func() (bool, error) {
		h, err := e.hpa(so.HPAName())
		return err == nil && want(h) == "", nil
	})
}
