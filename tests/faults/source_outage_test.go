// SPDX-License-Identifier: Apache-2.0

package faults_test

import (
	"fmt"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/tests/faultproxy"
)

// source is an event source behind a fault proxy, as a scenario drives it.
type source interface {
	trigger(s *scenario) v1alpha1.Trigger
	// add adds n units of work (messages, rows).
	add(n int)
	drain()
	proxy() *faultproxy.Proxy
}

func (q *rabbitQueue) add(n int)                      { q.publish(n) }
func (q *rabbitQueue) drain()                         { q.purge() }
func (q *rabbitQueue) proxy() *faultproxy.Proxy       { return q.Proxy }
func (p *pgTable) add(n int)                          { p.insert(n) }
func (p *pgTable) proxy() *faultproxy.Proxy           { return p.Proxy }
func (p *pgTable) trigger(*scenario) v1alpha1.Trigger { return p.triggerSpec() }

// Bounds the scenarios promise (docs/reliability.md).
const (
	// boundBack: a source that comes back is read again within this.
	boundBack = 15 * time.Second
	// boundFallback: fallback replicas hold within this of the source going
	// away (failureThreshold 3 × the 1 s poll, one HPA sync, slack).
	boundFallback = 30 * time.Second
	// boundScale: the target follows the source within this (0→1, the HPA
	// to N, and down to 0 after a 3 s cooldown).
	boundScale = 60 * time.Second
)

// The broker goes away and comes back, with the target above zero and at
// zero, with and without a fallback. The broker (the machine's RabbitMQ)
// stays up for everyone else; only the operator's path to it, through a
// fault proxy, is cut: connections refused, the open one closed.
func TestBrokerGoesAwayAndComesBack(t *testing.T) {
	s := newScenario(t)
	op := s.startOperator()
	s.ready(op)
	baseline := s.goroutines(op)

	queue := newRabbitQueue
	t.Run("cases", func(t *testing.T) {
		t.Run("above zero without fallback: the HPA holds its replicas until the broker is back", func(t *testing.T) {
			t.Parallel()
			s := s.in(t)
			q := queue(t)
			outageAboveZero(s, "above", q)
			s.release("above", q.Proxy)
		})
		t.Run("above zero with fallback: the fallback count holds until the broker is back", func(t *testing.T) {
			t.Parallel()
			s := s.in(t)
			q := queue(t)
			s.deployment("fb", 0)
			so := s.scaledObject("fb", "fb", 3, q.trigger(s))
			so.Spec.Fallback = &v1alpha1.Fallback{FailureThreshold: 3, Replicas: 2}
			s.create(so)
			q.publish(40)
			s.waitReplicas("fb", 4, boundScale, "40 messages: the HPA scales to 4")
			w := s.watchReplicas("fb", 1)

			q.Proxy.Stop()
			d := s.waitReplicas("fb", 2, boundFallback, "the broker gone: the fallback of 2 replicas holds")
			figure(t, "broker gone above zero → fallback replicas", d, boundFallback)
			w.hold(2)
			s.waitStatus("fb", 30*time.Second, "Fallback=True", func(so *v1alpha1.ScaledObject) (bool, string) {
				return conditionIs(so, v1alpha1.ConditionFallback, metav1.ConditionTrue)
			})
			s.waitStatus("fb", 30*time.Second, "more failed polls while the fallback holds", func(so *v1alpha1.ScaledObject) (bool, string) {
				return failures(so) >= 8, fmt.Sprintf("%d consecutive failures", failures(so))
			})
			w.check()

			q.Proxy.Start(t)
			d = s.waitStatus("fb", boundBack, "Fallback=False once the broker is back", func(so *v1alpha1.ScaledObject) (bool, string) {
				return conditionIs(so, v1alpha1.ConditionFallback, metav1.ConditionFalse)
			})
			figure(t, "broker back → fallback ends", d, boundBack)
			w.hold(1)
			s.waitReplicas("fb", 4, boundScale, "the HPA follows the queue again: 4")
			w.hold(0)
			q.purge()
			s.waitReplicas("fb", 0, boundScale, "drained: back to zero after the cooldown")
			s.release("fb", q.Proxy)
		})
		t.Run("at zero without fallback: nothing moves while the broker is away, and work that came meanwhile scales it once back", func(t *testing.T) {
			t.Parallel()
			s := s.in(t)
			q := queue(t)
			s.deployment("zero", 0)
			s.create(s.scaledObject("zero", "zero", 3, q.trigger(s)))
			s.waitStatus("zero", boundScale, "read once: no trigger active", func(so *v1alpha1.ScaledObject) (bool, string) {
				return conditionIs(so, v1alpha1.ConditionActive, metav1.ConditionFalse)
			})
			w := s.watchReplicas("zero", 0)
			q.Proxy.Stop()
			q.publish(10) // straight to the broker: the operator cannot see it
			s.waitStatus("zero", 30*time.Second, "five failed polls", func(so *v1alpha1.ScaledObject) (bool, string) {
				return failures(so) >= 5, fmt.Sprintf("%d consecutive failures", failures(so))
			})
			if n := w.maxSinceHold(); n != 0 {
				t.Errorf("the target moved to %d replicas while its only trigger was unknown", n)
			}
			q.Proxy.Start(t)
			d := s.waitReplicas("zero", 1, boundBack, "the broker back: the waiting work scales the target from 0 to 1")
			figure(t, "broker back at zero → first replica", d, boundBack)
			q.purge()
			s.waitReplicas("zero", 0, boundScale, "drained: back to zero after the cooldown")
			s.release("zero", q.Proxy)
		})
		t.Run("at zero with fallback: the fallback count holds from zero, and zero comes back with the broker", func(t *testing.T) {
			t.Parallel()
			s := s.in(t)
			q := queue(t)
			s.deployment("zerofb", 0)
			so := s.scaledObject("zerofb", "zerofb", 3, q.trigger(s))
			so.Spec.Fallback = &v1alpha1.Fallback{FailureThreshold: 3, Replicas: 2}
			s.create(so)
			s.waitStatus("zerofb", boundScale, "read once: no trigger active", func(so *v1alpha1.ScaledObject) (bool, string) {
				return conditionIs(so, v1alpha1.ConditionActive, metav1.ConditionFalse)
			})
			w := s.watchReplicas("zerofb", 0)
			q.Proxy.Stop()
			d := s.waitReplicas("zerofb", 2, boundFallback, "the broker gone: the fallback of 2 replicas holds from zero")
			figure(t, "broker gone at zero → fallback replicas", d, boundFallback)
			w.hold(2)
			s.waitStatus("zerofb", 30*time.Second, "more failed polls while the fallback holds", func(so *v1alpha1.ScaledObject) (bool, string) {
				return failures(so) >= 6, fmt.Sprintf("%d consecutive failures", failures(so))
			})
			w.check()
			w.hold(0)
			q.Proxy.Start(t)
			d = s.waitReplicas("zerofb", 0, boundScale, "the broker back with an empty queue: back to zero")
			figure(t, "broker back, empty queue → zero again", d, boundScale)
			s.release("zerofb", q.Proxy)
		})
	})
	s.noLeaks(op, baseline)
}

// PostgreSQL restarts: every connection is cut and the port refuses for a
// while (the fault proxy; the machine's PostgreSQL is not stopped).
func TestPostgreSQLRestart(t *testing.T) {
	s := newScenario(t)
	op := s.startOperator()
	s.ready(op)
	baseline := s.goroutines(op)
	p := newPGTable(t)
	outageAboveZero(s, "pg", p)
	s.noLeaks(op, baseline, p.Proxy)
}

// outageAboveZero: a target the HPA runs at 3 keeps 3 replicas while its
// source is away (well past the cooldown: an error is never a zero, and the
// HPA holds on a failed metric), then follows the source again.
func outageAboveZero(s *scenario, name string, src source) {
	t := s.t
	s.deployment(name, 0)
	s.create(s.scaledObject(name, name, 3, src.trigger(s)))
	src.add(30)
	s.waitReplicas(name, 3, boundScale, "30 units of work: the HPA scales to 3")
	w := s.watchReplicas(name, 3)

	src.proxy().Stop()
	gone := time.Now()
	s.waitStatus(name, 30*time.Second, "six failed polls: twice the cooldown", func(so *v1alpha1.ScaledObject) (bool, string) {
		return failures(so) >= 6, fmt.Sprintf("%d consecutive failures", failures(so))
	})
	s.waitHPA(name, autoscalingv2.ScalingActive, corev1.ConditionFalse, 30*time.Second, "the HPA cannot read the metric")
	w.check()

	src.proxy().Start(t)
	back := time.Now()
	d := s.waitStatus(name, boundBack, "read again once the source is back", func(so *v1alpha1.ScaledObject) (bool, string) {
		return failures(so) == 0 && lastRead(so).After(back.Add(-time.Second)), fmt.Sprintf("%d consecutive failures, last read %s", failures(so), lastRead(so))
	})
	figure(t, fmt.Sprintf("%s: source back → read again (outage %.0f s)", name, back.Sub(gone).Seconds()), d, boundBack)
	src.add(20)
	d = s.waitReplicas(name, 5, boundScale, "more work after the outage: the HPA scales to 5")
	figure(t, name+": source back → HPA follows new work (3 → 5)", d, boundScale)
	w.hold(0)
	src.drain()
	s.waitReplicas(name, 0, boundScale, "drained: back to zero after the cooldown")
}
