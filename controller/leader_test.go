// SPDX-License-Identifier: Apache-2.0

package controller_test

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/controller"
)

// With two replicas, one leads and scales; the other still answers metric
// reads for the adapter, and takes over when the leader goes.
func TestEveryReplicaServesMetricsAndTheFollowerTakesOver(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	q := mq.queue()
	a, loopA := e.startOperatorWith("", 0, true)
	e.waitFor(30*time.Second, "the first operator to lead", func() (bool, error) { return a.leader(), nil })
	b, loopB := e.startOperatorWith("", 0, true)

	e.deployment("worker", 0)
	so := e.scaledObject("orders", "worker", rabbitTrigger(rabbitURL, q, "10"))
	so.Spec.PollingInterval = ptr.To[int32](1)
	e.create(so)
	got := e.waitCondition("orders", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 30*time.Second)
	metric := controller.MetricRef{Namespace: e.ns, ScaledObject: "orders", Metric: got.Status.ExternalMetricNames[0]}
	mq.publish(q, 7)
	for name, l := range map[string]*controller.ScaleLoop{"leader": loopA, "follower": loopB} {
		e.waitFor(30*time.Second, "the "+name+" to serve the metric", func() (bool, error) {
			v, err := l.ExternalMetric(t.Context(), metric)
			return err == nil && v == 7, err
		})
	}
	if b.leader() {
		t.Fatal("both operators lead")
	}
	e.waitReplicas("worker", 1, 30*time.Second)

	a.stop(t)
	e.waitFor(60*time.Second, "the follower to take over", func() (bool, error) { return b.leader(), nil })
	mq.purge(q)
	so2 := e.get("orders")
	e.update(so2, func() { so2.Spec.CooldownPeriod = ptr.To[int32](1) })
	e.waitReplicas("worker", 0, 60*time.Second) // only a leader scales: the follower leads now
}

// A ScaledObject's scalingModifiers metric is served by the follower as by
// the leader: the follower does not poll, so it reads the formula's triggers
// through and evaluates the formula itself, as fresh as a plain metric.
func TestEveryReplicaServesTheCompositeMetric(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	qa, qb := mq.queue(), mq.queue()
	a, loopA := e.startOperatorWith("", 0, true)
	e.waitFor(30*time.Second, "the first operator to lead", func() (bool, error) { return a.leader(), nil })
	b, loopB := e.startOperatorWith("", 0, true)

	e.deployment("worker", 1)
	ta, tb := rabbitTrigger(rabbitURL, qa, "10"), rabbitTrigger(rabbitURL, qb, "10")
	ta.Name, tb.Name = "a", "b"
	so := e.scaledObject("formula", "worker", ta, tb)
	so.Spec.PollingInterval = ptr.To[int32](2)
	so.Spec.Advanced = &v1alpha1.AdvancedConfig{ScalingModifiers: &v1alpha1.ScalingModifiers{Formula: "a + 2 * b", Target: "5"}}
	e.create(so)
	got := e.waitCondition("formula", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 30*time.Second)
	if n := got.Status.ExternalMetricNames; len(n) != 1 || n[0] != controller.CompositeMetricName {
		t.Fatalf("external metrics %v, want the composite one only", n)
	}
	metric := controller.MetricRef{Namespace: e.ns, ScaledObject: "formula", Metric: controller.CompositeMetricName}
	served := func(want float64) {
		t.Helper()
		for _, r := range []struct {
			name string
			loop *controller.ScaleLoop
		}{{"leader", loopA}, {"follower", loopB}} {
			e.waitFor(30*time.Second, fmt.Sprintf("the %s to serve the formula's %v", r.name, want), func() (bool, error) {
				v, err := r.loop.ExternalMetric(t.Context(), metric)
				if err != nil {
					return false, err
				}
				return v == want, fmt.Errorf("served %v", v)
			})
		}
	}
	mq.publish(qa, 3)
	mq.publish(qb, 2)
	served(7)
	mq.publish(qb, 4) // the follower's value follows the source, not a poll
	served(15)
	if b.leader() {
		t.Fatal("both operators lead")
	}
}

// Followers serve the fallback the leader decides: the leader's failure
// counts and the target's replica count come from the status the leader
// writes, not from the follower's own reads or from the count when the
// follower built its scalers. For a plain metric and for a formula alike.
func TestEveryReplicaServesTheLeadersFallback(t *testing.T) {
	e := newEnv(t, false)
	a, loopA := e.startOperatorWith("", 0, true)
	e.waitFor(30*time.Second, "the first operator to lead", func() (bool, error) { return a.leader(), nil })
	b, loopB := e.startOperatorWith("", 0, true)

	// Nothing listens on port 1: every read fails at once.
	const down = "amqp://guest:guest@127.0.0.1:1/"
	fallback := &v1alpha1.Fallback{FailureThreshold: 2, Replicas: 2, Behavior: v1alpha1.FallbackCurrentReplicasIfHigher}
	const interval = 20 // seconds; the follower reads through at most once per interval
	plain := e.scaledObject("plain", "plain-worker", rabbitTrigger(down, "q", "5"))
	formula := e.scaledObject("formula", "formula-worker", rabbitTrigger(down, "q", "10"))
	formula.Spec.Advanced = &v1alpha1.AdvancedConfig{ScalingModifiers: &v1alpha1.ScalingModifiers{Formula: "queue * 3", Target: "5"}}
	var refs []controller.MetricRef
	for _, so := range []*v1alpha1.ScaledObject{plain, formula} {
		e.deployment(so.Spec.ScaleTargetRef.Name, 0)
		so.Spec.PollingInterval = ptr.To[int32](interval)
		so.Spec.Fallback = fallback
		e.create(so)
		got := e.waitCondition(so.Name, v1alpha1.ConditionReady, metav1.ConditionTrue, "", 30*time.Second)
		refs = append(refs, controller.MetricRef{Namespace: e.ns, ScaledObject: so.Name, Metric: got.Status.ExternalMetricNames[0]})
	}
	served := func(want float64, within time.Duration) {
		t.Helper()
		for _, ref := range refs {
			for _, r := range []struct {
				name string
				loop *controller.ScaleLoop
			}{{"leader", loopA}, {"follower", loopB}} {
				e.waitFor(within, fmt.Sprintf("the %s to serve %v for %s", r.name, want, ref.ScaledObject), func() (bool, error) {
					v, err := r.loop.ExternalMetric(t.Context(), ref)
					if err != nil {
						return false, err
					}
					return v == want, fmt.Errorf("served %v", v)
				})
			}
		}
	}

	// The leader probes the target at zero every second: two failures, and
	// it holds the fallback of 2 replicas.
	for _, so := range []*v1alpha1.ScaledObject{plain, formula} {
		e.waitCondition(so.Name, v1alpha1.ConditionFallback, metav1.ConditionTrue, controller.ReasonFallbackActive, 60*time.Second)
		e.waitReplicas(so.Spec.ScaleTargetRef.Name, 2, 30*time.Second)
	}
	// The follower has read the source through at most once by now: it is
	// in fallback only by the leader's count. Well within one polling
	// interval, so that its own reads cannot get it there.
	served(5*2, 15*time.Second)

	// The HPA (here: a person) moves the targets to 4: the leader reads
	// the count at its next poll and writes it into status; the follower's
	// fallback values follow.
	for _, so := range []*v1alpha1.ScaledObject{plain, formula} {
		var d appsv1.Deployment
		if err := e.c.Get(t.Context(), client.ObjectKey{Namespace: e.ns, Name: so.Spec.ScaleTargetRef.Name}, &d); err != nil {
			t.Fatal(err)
		}
		d.Spec.Replicas = ptr.To[int32](4)
		if err := e.c.Update(t.Context(), &d); err != nil {
			t.Fatal(err)
		}
	}
	served(5*4, 3*interval*time.Second)
	if b.leader() {
		t.Fatal("both operators lead")
	}
}
