package controller_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

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
	so2.Spec.CooldownPeriod = ptr.To[int32](1)
	if err := e.c.Update(t.Context(), so2); err != nil {
		t.Fatal(err)
	}
	e.waitReplicas("worker", 0, 60*time.Second) // only a leader scales: the follower leads now
}
