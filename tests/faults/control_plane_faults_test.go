// SPDX-License-Identifier: Apache-2.0

package faults_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

// The operator is SIGKILLed in the middle of a cooldown. The cooldown lives
// in status (lastActiveTime), so the next leader neither restarts it nor
// forgets it: the target goes to zero at lastActiveTime + cooldown (or as
// soon as the new leader leads, if that is later), never before.
func TestOperatorSIGKILLMidCooldown(t *testing.T) {
	const cooldown = 30 * time.Second
	s := newScenario(t)
	op1 := s.startOperator()
	s.ready(op1)
	q := newRabbitQueue(t)
	s.deployment("worker", 0)
	s.create(s.scaledObject("worker", "worker", int32(cooldown/time.Second), q.trigger(s)))
	q.publish(1)
	s.waitReplicas("worker", 1, boundScale, "one message: 0 → 1")
	w := s.watchReplicas("worker", 1)
	q.purge()
	var lastActive time.Time
	s.waitStatus("worker", 30*time.Second, "the queue drained: Active=False with a lastActiveTime", func(so *v1alpha1.ScaledObject) (bool, string) {
		ok, why := conditionIs(so, v1alpha1.ConditionActive, metav1.ConditionFalse)
		if so.Status.LastActiveTime == nil {
			return false, "no lastActiveTime"
		}
		lastActive = so.Status.LastActiveTime.Time
		return ok, why
	})
	// Zero is allowed from lastActiveTime + cooldown on, never before.
	due := lastActive.Add(cooldown)
	w.holdUntil(1, due)
	s.within(cooldown, "a third of the cooldown has passed", func(context.Context) (bool, string) {
		return time.Since(lastActive) >= cooldown/3, fmt.Sprintf("%s since the last activity", time.Since(lastActive).Round(time.Second))
	})
	op1.Kill()
	killed := time.Now()
	s.frontToLiveOperators()
	t.Logf("SIGKILL %.1f s into a %s cooldown", killed.Sub(lastActive).Seconds(), cooldown)

	op2 := s.startOperator()
	s.waitLeader(op2, 60*time.Second)
	led := time.Now()
	figure(t, "SIGKILL → the next operator leads (lease expiry)", led.Sub(killed), 60*time.Second)
	s.waitAdapter(op2, 90*time.Second)

	if wait := time.Until(due); wait > 0 {
		s.within(wait+5*time.Second, "the replica floor holds until the cooldown is over", func(context.Context) (bool, string) {
			return !time.Now().Before(due), "cooling down"
		})
	}
	w.check()
	w.hold(0)
	expected := due
	if led.After(expected) {
		expected = led
	}
	const bound = 10 * time.Second
	s.waitReplicas("worker", 0, time.Until(expected.Add(bound))+time.Second, "zero once the remaining cooldown is over")
	late := time.Since(expected)
	figure(t, fmt.Sprintf("zero after lastActiveTime + cooldown (or the new leader's start), killed at %.0f s of %s", killed.Sub(lastActive).Seconds(), cooldown), late, bound)
	if late > bound {
		t.Errorf("zero %.1f s after it was due: the cooldown was restarted, not resumed", late.Seconds())
	}
	// op2 started as a follower with the object already there: it has no
	// goroutine level from before the scenario to come back to.
	s.noLeaks(nil, 0, q.Proxy)
}

// kube-apiserver restarts, etcd kept, under two operator replicas as the
// chart runs them. Nothing drops meanwhile; once the API server is back a
// replica leads (the old leader, or the follower if the leader lost its
// lease and exited, as controller-runtime does), writes status again, and
// the HPA follows new work.
func TestKubeAPIServerRestart(t *testing.T) {
	s := newScenario(t)
	op1 := s.startOperator()
	s.ready(op1)
	op2 := s.startOperator()
	q := newRabbitQueue(t)
	s.deployment("worker", 0)
	s.create(s.scaledObject("worker", "worker", 3, q.trigger(s)))
	q.publish(30)
	s.waitReplicas("worker", 3, boundScale, "30 messages: the HPA scales to 3")
	w := s.watchReplicas("worker", 3)

	stopped := time.Now()
	graceful, err := shared.cp.StopAPIServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-apiserver stopped (graceful exit within 20 s of SIGTERM: %v) after %.1f s", graceful, time.Since(stopped).Seconds())
	t.Cleanup(func() { _ = shared.cp.StartAPIServer() }) // the package's next tests need it
	if err := shared.cp.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	t.Logf("FIGURE kube-apiserver down (stop + start) for %.1f s", back.Sub(stopped).Seconds())

	var leader *operator
	d := s.within(60*time.Second, "a replica leads once the API server is back", func(ctx context.Context) (bool, string) {
		for _, op := range []*operator{op1, op2} {
			if gone, _ := op.Exited(); gone {
				continue
			}
			if v, err := scrape(ctx, op.metricsPort, `leader_election_master_status{name="`+leaseName+`"}`); err == nil && v == 1 {
				leader = op
				return true, ""
			}
		}
		return false, "no replica leads"
	})
	for i, op := range []*operator{op1, op2} {
		if gone, err := op.Exited(); gone {
			t.Logf("FIGURE replica %d exited across the restart (%v); last log lines:\n%s", i+1, err, op.LogTail(5))
		}
	}
	s.frontToLiveOperators()
	figure(t, fmt.Sprintf("kube-apiserver back → replica %d leads", map[bool]int{true: 1, false: 2}[leader == op1]), d, 60*time.Second)
	s.waitStatus("worker", 60*time.Second, "the leader writes status again", func(so *v1alpha1.ScaledObject) (bool, string) {
		return lastRead(so).After(back), fmt.Sprintf("last read %s", lastRead(so))
	})
	figure(t, "kube-apiserver back → status written again", time.Since(back), 60*time.Second)
	q.publish(20)
	s.waitReplicas("worker", 5, boundScale, "new work after the restart: the HPA scales to 5")
	figure(t, "kube-apiserver back → the HPA has followed new work (3 → 5)", time.Since(back), boundScale)
	w.check()
	w.hold(0)
	q.purge()
	s.waitReplicas("worker", 0, boundScale, "drained: back to zero after the cooldown")
	// The leader may be the former follower: it has no goroutine level from
	// before the scenario to come back to.
	s.noLeaks(nil, 0, q.Proxy)
}

// The metrics adapter is unreachable (its port refuses, open connections
// are cut): the HPA holds its replicas, the scale loop goes on, and the HPA
// follows the source again once the adapter is back.
func TestAdapterUnreachable(t *testing.T) {
	s := newScenario(t)
	op := s.startOperator()
	s.ready(op)
	baseline := s.goroutines(op)
	q := newRabbitQueue(t)
	s.deployment("worker", 0)
	s.create(s.scaledObject("worker", "worker", 3, q.trigger(s)))
	q.publish(30)
	s.waitReplicas("worker", 3, boundScale, "30 messages: the HPA scales to 3")
	w := s.watchReplicas("worker", 3)

	shared.front.Cut()
	t.Cleanup(func() { _ = shared.front.Restore() })
	cut := time.Now()
	s.waitHPA("worker", autoscalingv2.ScalingActive, corev1.ConditionFalse, 60*time.Second, "the HPA cannot read the metric")
	q.publish(20) // the HPA cannot see it
	s.waitStatus("worker", 30*time.Second, "the scale loop goes on: it reads the new work", func(so *v1alpha1.ScaledObject) (bool, string) {
		v := ""
		if len(so.Status.Triggers) > 0 {
			v = so.Status.Triggers[0].Value
		}
		return v == "50" && lastRead(so).After(cut), fmt.Sprintf("value %q", v)
	})
	if n := w.maxSinceHold(); n != 3 {
		t.Errorf("replicas reached %d while the adapter was unreachable, want 3 held", n)
	}
	w.check()

	if err := shared.front.Restore(); err != nil {
		t.Fatal(err)
	}
	d := s.waitReplicas("worker", 5, 120*time.Second, "the adapter back: the HPA sees the new work and scales to 5")
	figure(t, "adapter back → the HPA acts again (3 → 5)", d, 120*time.Second)
	w.hold(0)
	q.purge()
	s.waitReplicas("worker", 0, boundScale, "drained: back to zero after the cooldown")
	s.noLeaks(op, baseline, q.Proxy)
}
