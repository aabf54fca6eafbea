// SPDX-License-Identifier: Apache-2.0

package e2e_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/controller"
	"github.com/ebbscale/ebb/tests/chartrbac"
	"github.com/ebbscale/ebb/tests/controlplane"
	"github.com/ebbscale/ebb/tests/operatorproc"
)

// The annotations KEDA users rely on, with the real HPA in
// kube-controller-manager reading Ebb's adapter through the aggregator and
// the operator running as a process under the chart's RBAC:
//   - ebb.dev/paused-scale-in: the HPA's scale-down is disabled, so a drop of
//     the queue does not lower the replicas (the HPA says ScaleDownLimit) and
//     the scale loop does not take the target to zero past the cooldown,
//     while a rise still raises them;
//   - ebb.dev/paused-scale-out: the mirror, set on a running target; the
//     loop does not wake it from zero either;
//   - ebb.dev/force-activation: a target whose queue is empty is woken from
//     idle to its minimum and held there past the cooldown; without the
//     annotation it rests again.
//
// Every queue reads 10 per replica (AverageValue), polled every 5 s, with a
// 10 s cooldown and no HPA scale-down window (workerScaledObject).
func TestDirectionalPausesAndForceActivationWithTheRealHPA(t *testing.T) {
	bin := operatorproc.Build(t, "")
	cp := controlplane.Start(t, controlplane.WithControllerManager(), controlplane.WithAggregator())
	port := operatorproc.FreePort(t)
	operatorproc.Register(t, cp.Client, port)
	id := chartrbac.Operator(t, cp, chartrbac.Options{Namespace: operatorproc.Namespace})
	op := operatorproc.Start(t, bin, operatorproc.Options{Kubeconfig: id.Kubeconfig, AdapterPort: port, MetricsPort: operatorproc.FreePort(t), Args: []string{"--v=1", "--hpa-sync-period=1s"}})
	operatorproc.Eventually(t, op, 90*time.Second, "APIService Available", func(ctx context.Context) (bool, string) {
		ok, reason, _, err := apiServiceState(ctx, cp.Client)
		if err != nil {
			return false, err.Error()
		}
		return ok, reason
	})

	t.Run("paused-scale-in: a drop does not lower the replicas, a rise still raises them", func(t *testing.T) {
		t.Parallel()
		c := newControlsCase(t, cp, op, "e2e-scale-in")
		so := c.scaledObject(6, map[string]string{v1alpha1.AnnotationPausedScaleIn: "true"})
		c.waitHPA("the HPA's scale-down disabled", func(h *autoscalingv2.HorizontalPodAutoscaler) bool {
			return selectPolicy(h.Spec.Behavior, false) == autoscalingv2.DisabledPolicySelect && selectPolicy(h.Spec.Behavior, true) == ""
		})
		c.waitPaused(controller.ReasonScaleInPaused, "")

		c.src.publish(t, 30)
		c.waitReplicas(3, "30 messages: the loop wakes the target, the HPA brings it to 3")

		c.src.drain(t)
		floor := c.holdAtLeast(3)
		c.waitHPALimited("ScaleDownLimit", 0, "the HPA reads 0 and would scale down, but may not")
		// Past the cooldown the loop would take the target to zero, or
		// wait for the HPA to bring it to 1; it says it holds instead.
		c.waitPastCooldown(so)
		c.waitPaused(controller.ReasonScaleInPaused, "no trigger active: not scaling from 3 to 0, scale-in is paused by annotation ebb.dev/paused-scale-in")
		floor.check()
		if n := c.replicas(); n != 3 {
			t.Fatalf("replicas = %d after the drop and past the cooldown, want 3 held", n)
		}

		c.src.publish(t, 60)
		c.waitReplicas(6, "60 messages: the HPA still scales up, to 6")
		floor.check()

		// Without the annotation the HPA and the loop take it down again.
		c.annotate(so, v1alpha1.AnnotationPausedScaleIn, "")
		c.src.drain(t)
		c.waitReplicas(0, "without the annotation the target goes back to zero")
	})

	t.Run("paused-scale-out: a rise does not raise the replicas, a drop still lowers them, and zero is not woken", func(t *testing.T) {
		t.Parallel()
		c := newControlsCase(t, cp, op, "e2e-scale-out")
		so := c.scaledObject(6, nil)
		c.src.publish(t, 30)
		c.waitReplicas(3, "30 messages: the target runs 3 replicas")

		c.annotate(so, v1alpha1.AnnotationPausedScaleOut, "true")
		c.waitHPA("the HPA's scale-up disabled", func(h *autoscalingv2.HorizontalPodAutoscaler) bool {
			return selectPolicy(h.Spec.Behavior, true) == autoscalingv2.DisabledPolicySelect
		})
		c.waitPaused(controller.ReasonScaleOutPaused, "")
		ceiling := c.holdAtMost(3)
		c.src.publish(t, 30)
		c.waitHPALimited("ScaleUpLimit", 60, "the HPA reads 60 and would scale up, but may not")
		ceiling.check()
		if n := c.replicas(); n != 3 {
			t.Fatalf("replicas = %d after the rise, want 3 held", n)
		}

		c.src.drain(t)
		c.src.publish(t, 10)
		c.waitReplicas(1, "10 messages: the HPA still scales down, to 1")
		c.src.drain(t)
		c.waitReplicas(0, "an empty queue: past the cooldown the loop still scales to zero")

		c.src.publish(t, 5)
		c.waitPaused(controller.ReasonScaleOutPaused, "not scaling from 0 to 1, scale-out is paused by annotation ebb.dev/paused-scale-out")
		ceiling.check()
		if n := c.replicas(); n != 0 {
			t.Fatalf("replicas = %d with 5 messages and scale-out paused, want 0", n)
		}
		c.annotate(so, v1alpha1.AnnotationPausedScaleOut, "")
		c.waitReplicas(1, "without the annotation the waiting messages wake the target")
	})

	t.Run("force-activation: an idle target with an empty queue rises to its minimum and stays there", func(t *testing.T) {
		t.Parallel()
		c := newControlsCase(t, cp, op, "e2e-force")
		so := c.scaledObject(6, map[string]string{v1alpha1.AnnotationForceActivation: "true"}, func(so *v1alpha1.ScaledObject) {
			so.Spec.MinReplicaCount = ptr.To[int32](2)
			so.Spec.IdleReplicaCount = ptr.To[int32](0)
		})
		c.waitReplicas(2, "force-activation brings the idle target to its minimum, 2")
		floor := c.holdAtLeast(2)
		got := c.waitCondition(v1alpha1.ConditionActive, controller.ReasonForcedActivation)
		if v := triggerValue(got); v != "0" {
			t.Errorf("the trigger reads %q, want 0: the queue is empty", v)
		}
		c.waitEvent(controller.ReasonForcedActivation)
		// Forced activity moves lastActiveTime with every poll: wait a
		// cooldown and two polls from the ScaledObject's creation.
		wait := so.Spec.CooldownPeriodDuration() + 2*so.Spec.PollingIntervalDuration()
		operatorproc.Eventually(t, op, 2*wait, "a cooldown and two polls since the ScaledObject was made", func(ctx context.Context) (bool, string) {
			cur, err := c.get(ctx)
			if err != nil {
				return false, err.Error()
			}
			since := time.Since(cur.CreationTimestamp.Time)
			return since > wait+time.Second, since.Round(time.Second).String()
		})
		floor.check()
		if n := c.replicas(); n != 2 {
			t.Fatalf("replicas = %d past the cooldown with force-activation, want 2", n)
		}

		c.annotate(so, v1alpha1.AnnotationForceActivation, "")
		c.waitReplicas(0, "without the annotation the target goes back to idle after the cooldown")
	})
}

// controlsCase is one scenario's namespace, queue and Deployment "worker".
type controlsCase struct {
	t   *testing.T
	c   client.Client
	op  *operatorproc.Process
	ns  string
	src *rabbitSource
	dep *appsv1.Deployment
}

func newControlsCase(t *testing.T, cp *controlplane.ControlPlane, op *operatorproc.Process, ns string) *controlsCase {
	t.Helper()
	c := &controlsCase{t: t, c: cp.Client, op: op, ns: ns, src: &rabbitSource{}}
	if err := c.c.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	c.dep = worker(ns, nil)
	if err := c.c.Create(t.Context(), c.dep); err != nil {
		t.Fatal(err)
	}
	return c
}

// scaledObject creates the worker's ScaledObject on the case's queue, with
// annotations, up to max replicas.
func (c *controlsCase) scaledObject(max int32, annotations map[string]string, mutate ...func(*v1alpha1.ScaledObject)) *v1alpha1.ScaledObject {
	c.t.Helper()
	so := workerScaledObject(c.dep, max, c.src.setup(c.t, c.c, c.ns))
	so.Annotations = annotations
	for _, m := range mutate {
		m(so)
	}
	if err := c.c.Create(c.t.Context(), so); err != nil {
		c.t.Fatal(err)
	}
	return so
}

// annotate sets (or, with value "", removes) an annotation of so.
func (c *controlsCase) annotate(so *v1alpha1.ScaledObject, key, value string) {
	c.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cur v1alpha1.ScaledObject
		if err := c.c.Get(c.t.Context(), client.ObjectKeyFromObject(so), &cur); err != nil {
			return err
		}
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		if value == "" {
			delete(cur.Annotations, key)
		} else {
			cur.Annotations[key] = value
		}
		return c.c.Update(c.t.Context(), &cur)
	})
	if err != nil {
		c.t.Fatal(err)
	}
}

func (c *controlsCase) replicas() int32 {
	c.t.Helper()
	var d appsv1.Deployment
	if err := c.c.Get(c.t.Context(), client.ObjectKeyFromObject(c.dep), &d); err != nil {
		c.t.Fatal(err)
	}
	return ptr.Deref(d.Spec.Replicas, -1)
}

func (c *controlsCase) waitReplicas(want int32, why string) {
	c.t.Helper()
	operatorproc.Eventually(c.t, c.op, 120*time.Second, why, func(ctx context.Context) (bool, string) {
		var d appsv1.Deployment
		if err := c.c.Get(ctx, client.ObjectKeyFromObject(c.dep), &d); err != nil {
			return false, err.Error()
		}
		n := ptr.Deref(d.Spec.Replicas, -1)
		return n == want, fmt.Sprintf("replicas %d, want %d", n, want)
	})
}

func (c *controlsCase) hpa(ctx context.Context) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	var h autoscalingv2.HorizontalPodAutoscaler
	err := c.c.Get(ctx, client.ObjectKey{Namespace: c.ns, Name: "ebb-" + c.dep.Name}, &h)
	return &h, err
}

func (c *controlsCase) waitHPA(what string, cond func(*autoscalingv2.HorizontalPodAutoscaler) bool) {
	c.t.Helper()
	operatorproc.Eventually(c.t, c.op, 60*time.Second, what, func(ctx context.Context) (bool, string) {
		h, err := c.hpa(ctx)
		if err != nil {
			return false, err.Error()
		}
		return cond(h), fmt.Sprintf("behavior %+v", h.Spec.Behavior)
	})
}

// waitHPALimited waits until the HPA has read value (the queue's length)
// and reports that the behavior limits its scaling with reason.
func (c *controlsCase) waitHPALimited(reason string, value float64, why string) {
	c.t.Helper()
	operatorproc.Eventually(c.t, c.op, 60*time.Second, why, func(ctx context.Context) (bool, string) {
		h, err := c.hpa(ctx)
		if err != nil {
			return false, err.Error()
		}
		read := math.NaN()
		for _, m := range h.Status.CurrentMetrics {
			if m.External != nil && m.External.Current.AverageValue != nil {
				// AverageValue: the HPA shows value / current replicas.
				read = m.External.Current.AverageValue.AsApproximateFloat64() * float64(h.Status.CurrentReplicas)
			}
		}
		for _, cond := range h.Status.Conditions {
			if cond.Type == autoscalingv2.ScalingLimited {
				ok := cond.Status == corev1.ConditionTrue && cond.Reason == reason && math.Abs(read-value) < 0.01
				return ok, fmt.Sprintf("HPA read %v (want %v), ScalingLimited %s %s: %s", read, value, cond.Status, cond.Reason, cond.Message)
			}
		}
		return false, fmt.Sprintf("HPA read %v, no ScalingLimited condition yet", read)
	})
}

func (c *controlsCase) get(ctx context.Context) (*v1alpha1.ScaledObject, error) {
	var so v1alpha1.ScaledObject
	err := c.c.Get(ctx, client.ObjectKey{Namespace: c.ns, Name: c.dep.Name}, &so)
	return &so, err
}

// waitCondition waits for the condition typ True with reason.
func (c *controlsCase) waitCondition(typ, reason string) *v1alpha1.ScaledObject {
	c.t.Helper()
	var got *v1alpha1.ScaledObject
	operatorproc.Eventually(c.t, c.op, 60*time.Second, typ+" True ("+reason+")", func(ctx context.Context) (bool, string) {
		so, err := c.get(ctx)
		if err != nil {
			return false, err.Error()
		}
		got = so
		cond := meta.FindStatusCondition(so.Status.Conditions, typ)
		if cond == nil {
			return false, "no condition"
		}
		return cond.Status == metav1.ConditionTrue && cond.Reason == reason, fmt.Sprintf("%s %s: %s", cond.Status, cond.Reason, cond.Message)
	})
	return got
}

// waitPaused waits for the Paused condition True with reason and a message
// containing msg.
func (c *controlsCase) waitPaused(reason, msg string) {
	c.t.Helper()
	operatorproc.Eventually(c.t, c.op, 60*time.Second, "Paused True ("+reason+") saying "+msg, func(ctx context.Context) (bool, string) {
		so, err := c.get(ctx)
		if err != nil {
			return false, err.Error()
		}
		cond := meta.FindStatusCondition(so.Status.Conditions, v1alpha1.ConditionPaused)
		if cond == nil {
			return false, "no Paused condition"
		}
		return cond.Status == metav1.ConditionTrue && cond.Reason == reason && strings.Contains(cond.Message, msg), fmt.Sprintf("%s %s: %s", cond.Status, cond.Reason, cond.Message)
	})
}

// waitPastCooldown waits until the cooldown since the status's
// lastActiveTime has passed, and two polls more.
func (c *controlsCase) waitPastCooldown(so *v1alpha1.ScaledObject) {
	c.t.Helper()
	wait := so.Spec.CooldownPeriodDuration() + 2*so.Spec.PollingIntervalDuration()
	var since time.Time
	operatorproc.Eventually(c.t, c.op, 2*wait+30*time.Second, "the cooldown to pass", func(ctx context.Context) (bool, string) {
		cur, err := c.get(ctx)
		if err != nil {
			return false, err.Error()
		}
		if la := cur.Status.LastActiveTime; la != nil && (since.IsZero() || la.After(since)) {
			since = la.Time
		}
		if since.IsZero() {
			return false, "no lastActiveTime yet"
		}
		// lastActiveTime is truncated to the second in status.
		return time.Since(since) > wait+time.Second, fmt.Sprintf("%s since lastActiveTime", time.Since(since).Round(time.Second))
	})
}

func (c *controlsCase) waitEvent(reason string) {
	c.t.Helper()
	operatorproc.Eventually(c.t, c.op, 60*time.Second, "an Event "+reason, func(ctx context.Context) (bool, string) {
		var list corev1.EventList
		if err := c.c.List(ctx, &list, client.InNamespace(c.ns)); err != nil {
			return false, err.Error()
		}
		for _, ev := range list.Items {
			if ev.InvolvedObject.Kind == "ScaledObject" && ev.Reason == reason {
				return true, ev.Message
			}
		}
		return false, fmt.Sprintf("%d events, none %s", len(list.Items), reason)
	})
}

// bound watches the Deployment's replica count in the background until
// check, failing the test if it ever leaves the bound.
type bound struct {
	t      *testing.T
	stop   chan struct{}
	done   chan string
	broken string
}

func (c *controlsCase) holdAtLeast(n int32) *bound {
	return c.watch(func(r int32) bool { return r >= n }, fmt.Sprintf("at least %d", n))
}
func (c *controlsCase) holdAtMost(n int32) *bound {
	return c.watch(func(r int32) bool { return r <= n }, fmt.Sprintf("at most %d", n))
}

func (c *controlsCase) watch(ok func(int32) bool, what string) *bound {
	b := &bound{t: c.t, stop: make(chan struct{}), done: make(chan string, 1)}
	ctx, stop := c.t.Context(), b.stop
	go func() {
		// Once a second: the test's client is shared and rate-limited.
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			var d appsv1.Deployment
			if err := c.c.Get(ctx, client.ObjectKeyFromObject(c.dep), &d); err == nil {
				if n := ptr.Deref(d.Spec.Replicas, -1); !ok(n) {
					b.done <- fmt.Sprintf("replicas went to %d, want %s throughout", n, what)
					return
				}
			}
			select {
			case <-stop:
				b.done <- ""
				return
			case <-ctx.Done():
				b.done <- ""
				return
			case <-tick.C:
			}
		}
	}()
	return b
}

// check stops the watch (once) and fails the test if the bound broke.
func (b *bound) check() {
	b.t.Helper()
	if b.stop != nil {
		close(b.stop)
		b.stop = nil
		b.broken = <-b.done
	}
	if b.broken != "" {
		b.t.Fatal(b.broken)
	}
}

func selectPolicy(b *autoscalingv2.HorizontalPodAutoscalerBehavior, up bool) autoscalingv2.ScalingPolicySelect {
	if b == nil {
		return ""
	}
	r := b.ScaleDown
	if up {
		r = b.ScaleUp
	}
	if r == nil || r.SelectPolicy == nil {
		return ""
	}
	return *r.SelectPolicy
}

func triggerValue(so *v1alpha1.ScaledObject) string {
	if len(so.Status.Triggers) == 0 {
		return ""
	}
	return so.Status.Triggers[0].Value
}
