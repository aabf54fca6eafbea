// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"math"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
)

// LabelManagedBy marks objects Ebb made.
const LabelManagedBy = "app.kubernetes.io/managed-by"

// DesiredHPA builds the HPA Ebb owns for a ScaledObject: minReplicas
// max(min, 1), one External metric per trigger (or the composite one) with
// the selector ebb.dev/scaledobject=<name>, a Resource (or ContainerResource)
// metric per cpu or memory trigger, behavior passed through. While
// paused, minReplicas = maxReplicas = frozen (at least 1), so the HPA holds
// the count; at zero replicas the HPA is inactive by itself. Otherwise a
// directional pause (ControlsOf) sets the selectPolicy of that direction's
// behavior to Disabled: paused-scale-in its scaleDown, paused-scale-out its
// scaleUp; the rest of the behavior is the user's.
func DesiredHPA(so *v1alpha1.ScaledObject, t Target, metrics []scalers.MetricSpec, frozen *int32) *autoscalingv2.HorizontalPodAutoscaler {
	spec := &so.Spec
	minR := max(spec.MinReplicas(), 1)
	maxR := max(spec.MaxReplicas(), minR)
	if frozen != nil {
		minR = max(*frozen, 1)
		maxR = minR
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{
			Name:      so.HPAName(),
			Namespace: so.Namespace,
			Labels:    map[string]string{v1alpha1.LabelScaledObject: so.Name, LabelManagedBy: "ebb"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: v1alpha1.GroupVersion.String(), Kind: "ScaledObject", Name: so.Name, UID: so.UID,
				Controller: ptrTo(true), BlockOwnerDeletion: ptrTo(true),
			}},
		},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: t.APIVersion, Kind: t.Kind, Name: t.Name},
			MinReplicas:    &minR,
			MaxReplicas:    maxR,
		},
	}
	if frozen == nil {
		hpa.Spec.Behavior = HPABehavior(so)
	} else if a := spec.Advanced; a != nil && a.HorizontalPodAutoscalerConfig != nil && a.HorizontalPodAutoscalerConfig.Behavior != nil {
		hpa.Spec.Behavior = a.HorizontalPodAutoscalerConfig.Behavior.DeepCopy()
	}
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{v1alpha1.LabelScaledObject: so.Name}}
	for _, m := range metrics {
		if m.Resource != nil {
			hpa.Spec.Metrics = append(hpa.Spec.Metrics, resourceMetric(m))
			continue
		}
		target := autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: quantity(m.Target)}
		if m.Type == v1alpha1.MetricTypeValue {
			target = autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: quantity(m.Target)}
		}
		hpa.Spec.Metrics = append(hpa.Spec.Metrics, autoscalingv2.MetricSpec{
			Type: autoscalingv2.ExternalMetricSourceType,
			External: &autoscalingv2.ExternalMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: m.Name, Selector: selector.DeepCopy()},
				Target: target,
			},
		})
	}
	return hpa
}

// HPABehavior is the behavior of the HPA Ebb owns for so when it is not
// fully paused: the user's (a copy; nil when none), with the selectPolicy of
// each direction a directional pause holds (ControlsOf) set to Disabled. The
// API server fills in the fields of a direction's rules left unset with the
// defaults, so the rest of that direction is unchanged.
func HPABehavior(so *v1alpha1.ScaledObject) *autoscalingv2.HorizontalPodAutoscalerBehavior {
	var b *autoscalingv2.HorizontalPodAutoscalerBehavior
	if a := so.Spec.Advanced; a != nil && a.HorizontalPodAutoscalerConfig != nil && a.HorizontalPodAutoscalerConfig.Behavior != nil {
		b = a.HorizontalPodAutoscalerConfig.Behavior.DeepCopy()
	}
	c := ControlsOf(so)
	if !c.PausedScaleIn && !c.PausedScaleOut {
		return b
	}
	if b == nil {
		b = &autoscalingv2.HorizontalPodAutoscalerBehavior{}
	}
	disabled := autoscalingv2.DisabledPolicySelect
	if c.PausedScaleIn {
		if b.ScaleDown == nil {
			b.ScaleDown = &autoscalingv2.HPAScalingRules{}
		}
		b.ScaleDown.SelectPolicy = &disabled
	}
	if c.PausedScaleOut {
		if b.ScaleUp == nil {
			b.ScaleUp = &autoscalingv2.HPAScalingRules{}
		}
		b.ScaleUp.SelectPolicy = &disabled
	}
	return b
}

// resourceMetric is a resource trigger's metric as the HPA takes it: a
// Resource metric, or a ContainerResource one for a named container.
func resourceMetric(m scalers.MetricSpec) autoscalingv2.MetricSpec {
	r := m.Resource
	target := autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptrTo(r.Utilization)}
	if m.Type == v1alpha1.MetricTypeAverageValue {
		q, err := resource.ParseQuantity(r.AverageValue)
		if err != nil {
			// The trigger's parser wrote it from a parsed quantity.
			q = resource.Quantity{}
		}
		target = autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &q}
	}
	name := corev1.ResourceName(r.Name)
	if r.Container != "" {
		return autoscalingv2.MetricSpec{Type: autoscalingv2.ContainerResourceMetricSourceType,
			ContainerResource: &autoscalingv2.ContainerResourceMetricSource{Name: name, Container: r.Container, Target: target}}
	}
	return autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{Name: name, Target: target}}
}

// quantity renders a float as a Quantity with milli precision.
func quantity(v float64) *resource.Quantity {
	if v >= math.MaxInt64/1000 {
		return resource.NewQuantity(math.MaxInt64/1000, resource.DecimalSI)
	}
	return resource.NewMilliQuantity(int64(math.Round(v*1000)), resource.DecimalSI)
}

func ptrTo[T any](v T) *T { return &v }
