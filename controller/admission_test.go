// SPDX-License-Identifier: Apache-2.0

package controller_test

import (
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

func foreignHPA(ns, name, target string) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: target},
			MinReplicas:    ptr.To[int32](1), MaxReplicas: 3,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: "anything"},
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resourceQuantity("1"))},
			}}},
		},
	}
}

// The admission webhook runs the scalers' own metadata parser, so a typo
// fails at `kubectl apply` naming the trigger and the key; a second owner of
// a target is refused too.
func TestAdmissionRejectsBadScaledObjectsNamingTheField(t *testing.T) {
	e := newEnv(t, true)
	e.deployment("worker", 0)
	e.deployment("api", 0)
	e.create(foreignHPA(e.ns, "api-hpa", "api"))
	e.create(e.scaledObject("owner", "worker", rabbitTrigger(rabbitURL, "q", "10")))

	tests := []struct {
		sentence string
		so       *v1alpha1.ScaledObject
		want     []string
	}{
		{"a target value that is not a number", e.scaledObject("a", "other", rabbitTrigger(rabbitURL, "q", "ten")),
			[]string{`spec.triggers[0].metadata[value]`, `key "value" expected a number, found "ten"`}},
		{"a misspelt metadata key", e.scaledObject("b", "other", v1alpha1.Trigger{Type: "rabbitmq", Metadata: map[string]string{"host": rabbitURL, "queueName": "q", "value": "1", "queuename": "x"}}),
			[]string{`spec.triggers[0].metadata[queuename]`, "is not a key of rabbitmq triggers"}},
		{"an unknown trigger type", e.scaledObject("c", "other", v1alpha1.Trigger{Type: "rabbit", Metadata: map[string]string{}}),
			[]string{`spec.triggers[0].type`, `"rabbit"`}},
		{"a required key missing", e.scaledObject("d", "other", v1alpha1.Trigger{Type: "postgresql", Metadata: map[string]string{"targetQueryValue": "1", "host": "h"}}),
			[]string{`spec.triggers[0].metadata[query]`, `key "query"`}},
		{"a formula that does not compile", withFormula(e.scaledObject("e", "other", rabbitTrigger(rabbitURL, "q", "1")), "queue +* 2"),
			[]string{"spec.advanced.scalingModifiers.formula"}},
		{"a formula naming an unknown trigger", withFormula(e.scaledObject("f", "other", rabbitTrigger(rabbitURL, "q", "1")), "queue + lag"),
			[]string{"spec.advanced.scalingModifiers.formula", "lag"}},
		{"a paused-replicas annotation that is not a count", withAnnotation(e.scaledObject("g", "other", rabbitTrigger(rabbitURL, "q", "1")), v1alpha1.AnnotationPausedReplicas, "two"),
			[]string{"metadata.annotations[ebb.dev/paused-replicas]"}},
		{"a paused-scale-in annotation that is not true or false", withAnnotation(e.scaledObject("g2", "other", rabbitTrigger(rabbitURL, "q", "1")), v1alpha1.AnnotationPausedScaleIn, "yes"),
			[]string{"metadata.annotations[ebb.dev/paused-scale-in]", `"yes"`, `expected "true" or "false"`}},
		{"a paused-scale-out annotation that is not true or false", withAnnotation(e.scaledObject("g3", "other", rabbitTrigger(rabbitURL, "q", "1")), v1alpha1.AnnotationPausedScaleOut, "1"),
			[]string{"metadata.annotations[ebb.dev/paused-scale-out]", `expected "true" or "false"`}},
		{"a force-activation annotation that is not true or false", withAnnotation(e.scaledObject("g4", "other", rabbitTrigger(rabbitURL, "q", "1")), v1alpha1.AnnotationForceActivation, "TRUE"),
			[]string{"metadata.annotations[ebb.dev/force-activation]", `expected "true" or "false"`}},
		{"a target another ScaledObject scales", e.scaledObject("h", "worker", rabbitTrigger(rabbitURL, "q", "1")),
			[]string{"spec.scaleTargetRef", "already scaled by ScaledObject owner"}},
		{"a name too long for a label value", e.scaledObject(strings.Repeat("n", 64), "other", rabbitTrigger(rabbitURL, "q", "1")),
			[]string{"metadata.name", "at most 63"}},
		{"a target a foreign HPA scales", e.scaledObject("i", "api", rabbitTrigger(rabbitURL, "q", "1")),
			[]string{"spec.scaleTargetRef", "already scaled by HorizontalPodAutoscaler api-hpa"}},
		{"only cpu and memory triggers with minReplicaCount 0: nothing would wake the target", e.scaledObject("k", "other", cpuTrigger("50"), v1alpha1.Trigger{Type: "memory", MetricType: v1alpha1.MetricTypeAverageValue, Metadata: map[string]string{"value": "256Mi"}}),
			[]string{"spec.minReplicaCount", "expected 1 or more"}},
		{"the metric type Utilization on an event trigger", e.scaledObject("l", "other", withMetricType(rabbitTrigger(rabbitURL, "q", "1"), v1alpha1.MetricTypeUtilization)),
			[]string{"spec.triggers[0].metricType", `"Utilization"`}},
		{"the metric type Value on a cpu trigger", e.scaledObject("m", "other", rabbitTrigger(rabbitURL, "q", "1"), withMetricType(cpuTrigger("50"), v1alpha1.MetricTypeValue)),
			[]string{"spec.triggers[1].metricType", `"Value"`}},
		{"a cpu utilization that is not a whole percentage", e.scaledObject("n", "other", rabbitTrigger(rabbitURL, "q", "1"), cpuTrigger("half")),
			[]string{"spec.triggers[1].metadata[value]", "whole percentage"}},
		{"a formula over a cpu trigger", withFormula(e.scaledObject("o", "other", rabbitTrigger(rabbitURL, "q", "1"), cpuTrigger("50")), "queue + cpu"),
			[]string{"spec.advanced.scalingModifiers.formula", "uses a cpu or memory trigger"}},
	}
	for _, tt := range tests {
		t.Run(tt.sentence, func(t *testing.T) {
			var err error
			// The owner may take a moment to reach the webhook's cache.
			e.waitFor(10*time.Second, "a rejection", func() (bool, error) {
				err = e.c.Create(t.Context(), tt.so)
				if err == nil {
					_ = e.c.Delete(t.Context(), tt.so)
					tt.so.ResourceVersion = ""
				}
				return err != nil, nil
			})
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}

	t.Run("a valid ScaledObject is admitted", func(t *testing.T) {
		e.create(e.scaledObject("fine", "other", rabbitTrigger(rabbitURL, "q", "1")))
	})
	t.Run("a queue plus cpu may rest at zero, and cpu alone from 1", func(t *testing.T) {
		e.create(e.scaledObject("queue-and-cpu", "other3", rabbitTrigger(rabbitURL, "q", "1"), cpuTrigger("50")))
		cpuOnly := e.scaledObject("cpu-only", "other4", cpuTrigger("50"))
		cpuOnly.Spec.MinReplicaCount = ptr.To[int32](1)
		e.create(cpuOnly)
	})
	t.Run("credentials in metadata are never echoed", func(t *testing.T) {
		so := e.scaledObject("j", "other2", v1alpha1.Trigger{Type: "rabbitmq", Metadata: map[string]string{"host": rabbitURL, "queueName": "q", "value": "1", "password": "hunter22"}})
		err := e.c.Create(t.Context(), so)
		if err == nil || strings.Contains(err.Error(), "hunter22") {
			t.Errorf("error = %v: want a rejection that does not show the password", err)
		}
	})
}

func cpuTrigger(percent string) v1alpha1.Trigger {
	return v1alpha1.Trigger{Type: "cpu", Name: "cpu", MetricType: v1alpha1.MetricTypeUtilization, Metadata: map[string]string{"value": percent}}
}

func withMetricType(t v1alpha1.Trigger, mt v1alpha1.MetricType) v1alpha1.Trigger {
	t.MetricType = mt
	return t
}

func withFormula(so *v1alpha1.ScaledObject, f string) *v1alpha1.ScaledObject {
	so.Spec.Advanced = &v1alpha1.AdvancedConfig{ScalingModifiers: &v1alpha1.ScalingModifiers{Formula: f, Target: "5"}}
	return so
}

func withAnnotation(so *v1alpha1.ScaledObject, k, v string) *v1alpha1.ScaledObject {
	so.Annotations = map[string]string{k: v}
	return so
}
