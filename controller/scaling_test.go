// SPDX-License-Identifier: Apache-2.0

package controller_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ebbscale/ebb/tests/faultproxy"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/controller"
)

// A message in an empty queue brings the first replica in about the
// activation probe interval, although the polling interval is five minutes.
func TestFirstMessageActivatesWithinTheProbeInterval(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	q := mq.queue()
	e.startOperator("", 0)
	e.deployment("worker", 0)
	so := e.scaledObject("orders", "worker", rabbitTrigger(rabbitURL, q, "10"))
	so.Spec.PollingInterval = ptr.To[int32](300)
	e.create(so)

	got := e.waitCondition("orders", v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonReady, 30*time.Second)
	if got.Status.HPAName != "ebb-orders" || len(got.Status.ExternalMetricNames) != 1 || got.Status.OriginalReplicaCount == nil || *got.Status.OriginalReplicaCount != 0 {
		t.Errorf("status after Ready: hpa %q, metrics %v, original %v", got.Status.HPAName, got.Status.ExternalMetricNames, got.Status.OriginalReplicaCount)
	}
	hpa, err := e.hpa("ebb-orders")
	if err != nil {
		t.Fatalf("the owned HPA: %v", err)
	}
	if *hpa.Spec.MinReplicas != 1 || hpa.Spec.MaxReplicas != 100 || len(hpa.Spec.Metrics) != 1 ||
		hpa.Spec.Metrics[0].External.Metric.Selector.MatchLabels[v1alpha1.LabelScaledObject] != "orders" {
		t.Errorf("HPA spec = %+v", hpa.Spec)
	}
	if e.replicas("worker") != 0 {
		t.Fatal("an empty queue scaled the target up")
	}

	mq.publish(q, 1)
	took := e.waitReplicas("worker", 1, 60*time.Second)
	t.Logf("0→1 took %s after the first message (polling interval 300 s)", took)
	ev := e.waitEvent("orders", controller.ReasonScaledFromZero)
	if !strings.Contains(ev, `trigger "queue" active (value 1)`) {
		t.Errorf("event %q does not name the trigger and value", ev)
	}
	so2 := e.waitCondition("orders", v1alpha1.ConditionActive, metav1.ConditionTrue, controller.ReasonTriggerActive, 30*time.Second)
	if so2.Status.LastActiveTime == nil {
		t.Error("no lastActiveTime while active")
	}
}

// Past the cooldown with no trigger active, the target goes back to zero,
// and the event says why.
func TestNoActivityPastTheCooldownScalesToZero(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	q := mq.queue()
	e.startOperator("", 0)
	e.deployment("worker", 0)
	so := e.scaledObject("orders", "worker", rabbitTrigger(rabbitURL, q, "10"))
	so.Spec.PollingInterval = ptr.To[int32](1)
	so.Spec.CooldownPeriod = ptr.To[int32](3)
	e.create(so)

	mq.publish(q, 5)
	e.waitReplicas("worker", 1, 60*time.Second)
	mq.purge(q)
	e.waitReplicas("worker", 0, 60*time.Second)
	ev := e.waitEvent("orders", controller.ReasonScaledToZero)
	if !strings.Contains(ev, "no trigger active for 3s") {
		t.Errorf("event %q does not give the cooldown", ev)
	}
	got := e.waitCondition("orders", v1alpha1.ConditionActive, metav1.ConditionFalse, controller.ReasonNoTriggerActive, 30*time.Second)
	if len(got.Status.Triggers) != 1 || got.Status.Triggers[0].Value != "0" || got.Status.Triggers[0].Target != "10" {
		t.Errorf("trigger status = %+v", got.Status.Triggers)
	}
}

// A broker that goes away is never a zero: the target keeps its replica past
// the cooldown, and after failureThreshold failures the fallback count holds,
// also from zero replicas.
func TestBrokerOutageHoldsReplicasAndFallsBack(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	q := mq.queue()
	px := faultproxy.New(t, "127.0.0.1:5672", nil)
	e.startOperator("", 0)

	t.Run("no scale-to-zero while the broker is down", func(t *testing.T) {
		e.deployment("held", 0)
		so := e.scaledObject("held", "held", rabbitTrigger("amqp://guest:guest@"+px.Addr()+"/", q, "10"))
		so.Spec.PollingInterval = ptr.To[int32](1)
		so.Spec.CooldownPeriod = ptr.To[int32](2)
		e.create(so)
		mq.publish(q, 1)
		e.waitReplicas("held", 1, 60*time.Second)
		mq.purge(q)
		px.Stop()
		// Five failed polls a second apart: well past the 2 s cooldown.
		e.waitFor(60*time.Second, "five consecutive failures", func() (bool, error) {
			so := e.get("held")
			return len(so.Status.Triggers) == 1 && so.Status.Triggers[0].ConsecutiveFailures >= 5, nil
		})
		if n := e.replicas("held"); n != 1 {
			t.Fatalf("replicas = %d while the broker was unreachable, want 1 held", n)
		}
		so = e.get("held")
		if so.Status.Triggers[0].LastError == "" || strings.Contains(so.Status.Triggers[0].LastError, "guest:guest") {
			t.Errorf("lastError = %q: want an error without credentials", so.Status.Triggers[0].LastError)
		}
		px.Start(t)
		e.waitReplicas("held", 0, 60*time.Second)
	})

	t.Run("fallback replicas hold from zero when the broker is unreachable", func(t *testing.T) {
		px.Stop()
		e.deployment("fb", 0)
		so := e.scaledObject("fb", "fb", rabbitTrigger("amqp://guest:guest@"+px.Addr()+"/", q, "10"))
		so.Spec.PollingInterval = ptr.To[int32](1)
		so.Spec.CooldownPeriod = ptr.To[int32](1)
		so.Spec.Fallback = &v1alpha1.Fallback{FailureThreshold: 3, Replicas: 2}
		so.Spec.Advanced = &v1alpha1.AdvancedConfig{ScaleToZero: v1alpha1.ScaleToZeroDirect}
		e.create(so)
		e.waitReplicas("fb", 2, 60*time.Second)
		got := e.waitCondition("fb", v1alpha1.ConditionFallback, metav1.ConditionTrue, controller.ReasonFallbackActive, 30*time.Second)
		if got.Status.Triggers[0].ConsecutiveFailures < 3 {
			t.Errorf("fallback with %d failures, threshold 3", got.Status.Triggers[0].ConsecutiveFailures)
		}
		e.waitEvent("fb", controller.ReasonFallback)
		px.Start(t)
		e.waitCondition("fb", v1alpha1.ConditionFallback, metav1.ConditionFalse, controller.ReasonNoFallback, 60*time.Second)
		e.waitReplicas("fb", 0, 60*time.Second)
	})
}

// An operator restarted in the middle of a cooldown neither restarts the
// cooldown nor forgets it: lastActiveTime lives in the status.
func TestOperatorRestartMidCooldownKeepsTheCooldown(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	q := mq.queue()
	op := e.startOperator("", 0)
	e.deployment("worker", 0)
	const cooldown = 20 * time.Second
	so := e.scaledObject("orders", "worker", rabbitTrigger(rabbitURL, q, "10"))
	so.Spec.PollingInterval = ptr.To[int32](1)
	so.Spec.CooldownPeriod = ptr.To[int32](int32(cooldown / time.Second))
	e.create(so)

	mq.publish(q, 1)
	e.waitReplicas("worker", 1, 60*time.Second)
	mq.purge(q)
	// Wait until the status shows the trigger inactive: lastActiveTime is final.
	got := e.waitCondition("orders", v1alpha1.ConditionActive, metav1.ConditionFalse, "", 30*time.Second)
	lastActive := got.Status.LastActiveTime.Time
	// Restart in the middle of the cooldown, so that "kept" and "restarted"
	// are half a cooldown apart whatever the machine's load.
	e.waitFor(cooldown, "the middle of the cooldown", func() (bool, error) {
		return time.Since(lastActive) >= cooldown/2, nil
	})
	op.stop(t)
	restarted := time.Now()
	e.startOperator("", 0)
	if n := e.replicas("worker"); n != 1 {
		t.Fatalf("replicas = %d right after the restart, want 1 (the cooldown must not be forgotten)", n)
	}
	e.waitReplicas("worker", 0, 2*cooldown)
	zeroAt := time.Now()
	// lastActiveTime is truncated to the second in status.
	if zeroAt.Before(lastActive.Add(cooldown - time.Second)) {
		t.Errorf("scaled to zero %s after lastActiveTime, before the %s cooldown ended", zeroAt.Sub(lastActive), cooldown)
	}
	if !zeroAt.Before(restarted.Add(cooldown)) {
		t.Errorf("scaled to zero %s after the restart: the cooldown restarted with the operator", zeroAt.Sub(restarted))
	}
}

// One owner per target: a second ScaledObject, or a foreign HPA, makes a
// ScaledObject Ready=False with reason Conflict, and nothing is touched.
func TestConflictsAreDetected(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	q := mq.queue()
	e.startOperator("", 0)
	e.deployment("worker", 0)
	e.create(e.scaledObject("first", "worker", rabbitTrigger(rabbitURL, q, "10")))
	e.waitCondition("first", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 30*time.Second)

	e.create(e.scaledObject("second", "worker", rabbitTrigger(rabbitURL, q, "10")))
	got := e.waitCondition("second", v1alpha1.ConditionReady, metav1.ConditionFalse, controller.ReasonConflict, 30*time.Second)
	if c := findCond(got, v1alpha1.ConditionReady); !strings.Contains(c.Message, "already scaled by ScaledObject first") {
		t.Errorf("Ready message = %q", c.Message)
	}
	if _, err := e.hpa("ebb-second"); !isNotFound(err) {
		t.Errorf("the conflicting ScaledObject made an HPA (err %v)", err)
	}

	e.deployment("api", 0)
	foreign := foreignHPA(e.ns, "api-hpa", "api")
	e.create(foreign)
	e.create(e.scaledObject("third", "api", rabbitTrigger(rabbitURL, q, "10")))
	got = e.waitCondition("third", v1alpha1.ConditionReady, metav1.ConditionFalse, controller.ReasonConflict, 30*time.Second)
	if c := findCond(got, v1alpha1.ConditionReady); !strings.Contains(c.Message, "HorizontalPodAutoscaler api-hpa") {
		t.Errorf("Ready message = %q", c.Message)
	}
	e.waitEvent("third", controller.ReasonConflict)
}

// An edit of the owned HPA is reverted.
func TestManualHPAEditIsReverted(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	q := mq.queue()
	e.startOperator("", 0)
	e.deployment("worker", 0)
	so := e.scaledObject("orders", "worker", rabbitTrigger(rabbitURL, q, "10"))
	so.Spec.MaxReplicaCount = ptr.To[int32](7)
	e.create(so)
	e.waitCondition("orders", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 30*time.Second)
	hpa, err := e.hpa("ebb-orders")
	if err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(hpa.DeepCopy())
	hpa.Spec.MaxReplicas = 42
	if err := e.c.Patch(t.Context(), hpa, patch); err != nil {
		t.Fatal(err)
	}
	e.waitFor(30*time.Second, "the HPA's maxReplicas back at 7", func() (bool, error) {
		h, err := e.hpa("ebb-orders")
		return err == nil && h.Spec.MaxReplicas == 7, err
	})
}

// Deleting a ScaledObject removes its HPA and, when asked, restores the
// target's original replica count.
func TestDeleteRestoresTheOriginalReplicaCount(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	q := mq.queue()
	e.startOperator("", 0)
	e.deployment("worker", 4)
	so := e.scaledObject("orders", "worker", rabbitTrigger(rabbitURL, q, "10"))
	so.Spec.PollingInterval = ptr.To[int32](1)
	so.Spec.CooldownPeriod = ptr.To[int32](0)
	so.Spec.Advanced = &v1alpha1.AdvancedConfig{RestoreToOriginalReplicaCount: true, ScaleToZero: v1alpha1.ScaleToZeroDirect}
	e.create(so)
	e.waitReplicas("worker", 0, 60*time.Second)
	// The status write follows the scale: wait for it.
	e.waitFor(30*time.Second, "originalReplicaCount 4 in the status", func() (bool, error) {
		got := e.get("orders").Status.OriginalReplicaCount
		return got != nil && *got == 4, nil
	})
	if err := e.c.Delete(t.Context(), e.get("orders")); err != nil {
		t.Fatal(err)
	}
	e.waitReplicas("worker", 4, 30*time.Second)
	e.waitFor(30*time.Second, "the ScaledObject and its HPA to be gone", func() (bool, error) {
		_, herr := e.hpa("ebb-orders")
		serr := e.c.Get(t.Context(), client.ObjectKey{Namespace: e.ns, Name: "orders"}, &v1alpha1.ScaledObject{})
		return isNotFound(herr) && isNotFound(serr), nil
	})
}

// Pause annotations: paused-replicas scales to its count and the HPA holds
// it; removing the annotations resumes scaling.
func TestPauseAndResume(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	q := mq.queue()
	e.startOperator("", 0)
	e.deployment("worker", 0)
	so := e.scaledObject("orders", "worker", rabbitTrigger(rabbitURL, q, "10"))
	so.Spec.PollingInterval = ptr.To[int32](1)
	so.Spec.CooldownPeriod = ptr.To[int32](1)
	so.Annotations = map[string]string{v1alpha1.AnnotationPausedReplicas: "2"}
	e.create(so)
	e.waitReplicas("worker", 2, 60*time.Second)
	e.waitCondition("orders", v1alpha1.ConditionPaused, metav1.ConditionTrue, controller.ReasonPaused, 30*time.Second)
	e.waitFor(30*time.Second, "the HPA frozen at 2", func() (bool, error) {
		h, err := e.hpa("ebb-orders")
		return err == nil && *h.Spec.MinReplicas == 2 && h.Spec.MaxReplicas == 2, err
	})
	mq.publish(q, 500) // paused: activity changes nothing

	got := e.get("orders")
	patch := client.MergeFrom(got.DeepCopy())
	got.Annotations = map[string]string{v1alpha1.AnnotationPaused: "true"}
	if err := e.c.Patch(t.Context(), got, patch); err != nil {
		t.Fatal(err)
	}
	e.waitFor(30*time.Second, "the HPA frozen at the current 2 under ebb.dev/paused", func() (bool, error) {
		h, err := e.hpa("ebb-orders")
		return err == nil && *h.Spec.MinReplicas == 2 && h.Spec.MaxReplicas == 2, err
	})
	mq.purge(q)

	got = e.get("orders")
	patch = client.MergeFrom(got.DeepCopy())
	got.Annotations = nil
	if err := e.c.Patch(t.Context(), got, patch); err != nil {
		t.Fatal(err)
	}
	e.waitCondition("orders", v1alpha1.ConditionPaused, metav1.ConditionFalse, controller.ReasonNotPaused, 30*time.Second)
	e.waitFor(30*time.Second, "the HPA unfrozen", func() (bool, error) {
		h, err := e.hpa("ebb-orders")
		return err == nil && *h.Spec.MinReplicas == 1 && h.Spec.MaxReplicas == 100, err
	})
}

func findCond(so *v1alpha1.ScaledObject, typ string) metav1.Condition {
	for _, c := range so.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}
