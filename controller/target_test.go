// SPDX-License-Identifier: Apache-2.0

package controller_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/controller"
)

// A ScaledObject whose target does not exist is Ready=False (TargetNotFound)
// with a Warning Event; once the Deployment is created, the operator's watch
// of Deployments makes it Ready, and its status shows the Deployment's
// replica count, also after the count changes (read from the watch, not
// from /scale).
func TestAMissingTargetIsReportedThenFound(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	q := mq.queue()
	e.startOperator("", 0)
	// minReplicaCount 2, so that nothing moves the Deployment created below
	// at 2 replicas.
	so := e.scaledObject("orders", "worker", rabbitTrigger(rabbitURL, q, "10"))
	so.Spec.MinReplicaCount = ptr.To[int32](2)
	e.create(so)
	got := e.waitCondition("orders", v1alpha1.ConditionReady, metav1.ConditionFalse, controller.ReasonTargetNotFound, 30*time.Second)
	if c := findCond(got, v1alpha1.ConditionReady); !strings.Contains(c.Message, `Deployment "worker" not found`) {
		t.Errorf("Ready message = %q, want it to name the missing Deployment", c.Message)
	}
	if ev := e.waitEvent("orders", controller.ReasonTargetNotFound); !strings.Contains(ev, `"worker"`) {
		t.Errorf("Event = %q, want it to name the missing Deployment", ev)
	}

	created := time.Now()
	e.deployment("worker", 2)
	e.waitCondition("orders", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 30*time.Second)
	t.Logf("Ready %s after the Deployment was created (the retry of a missing target is 15 s away; the watch's create event comes first)", time.Since(created).Round(time.Millisecond))
	e.waitFor(30*time.Second, "status.currentReplicas 2", func() (bool, error) {
		return e.get("orders").Status.CurrentReplicas == 2, nil
	})
}

// A target whose kind has no /scale subresource (a ConfigMap) is reported
// the same way, naming what is missing.
func TestATargetWithoutScaleIsReported(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	e.startOperator("", 0)
	if err := e.c.Create(t.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "settings"}}); err != nil {
		t.Fatal(err)
	}
	so := e.scaledObject("orders", "settings", rabbitTrigger(rabbitURL, mq.queue(), "10"))
	so.Spec.ScaleTargetRef.APIVersion, so.Spec.ScaleTargetRef.Kind = "v1", "ConfigMap"
	e.create(so)
	got := e.waitCondition("orders", v1alpha1.ConditionReady, metav1.ConditionFalse, controller.ReasonTargetNotFound, 30*time.Second)
	if c := findCond(got, v1alpha1.ConditionReady); !strings.Contains(c.Message, "no /scale subresource") {
		t.Errorf("Ready message = %q, want it to say the kind has no /scale", c.Message)
	}
	if ev := e.waitEvent("orders", controller.ReasonTargetNotFound); !strings.Contains(ev, "no /scale subresource") {
		t.Errorf("Event = %q", ev)
	}
}

// The status follows a target's replica count changed by someone else
// (here by hand), from the watch of Deployments.
func TestStatusFollowsTheTargetsCount(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	e.startOperator("", 0)
	d := e.deployment("worker", 1)
	so := e.scaledObject("orders", "worker", rabbitTrigger(rabbitURL, mq.queue(), "10"))
	so.Spec.MinReplicaCount = ptr.To[int32](1)
	so.Spec.PollingInterval = ptr.To[int32](1)
	e.create(so)
	e.waitCondition("orders", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 30*time.Second)
	e.waitFor(30*time.Second, "status.currentReplicas 1", func() (bool, error) {
		return e.get("orders").Status.CurrentReplicas == 1, nil
	})
	patch := client.MergeFrom(d.DeepCopy())
	d.Spec.Replicas = ptr.To[int32](3)
	if err := e.c.Patch(t.Context(), d, patch); err != nil {
		t.Fatal(err)
	}
	e.waitFor(30*time.Second, "status.currentReplicas 3", func() (bool, error) {
		return e.get("orders").Status.CurrentReplicas == 3, nil
	})
}
