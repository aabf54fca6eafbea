// SPDX-License-Identifier: Apache-2.0

package faults_test

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/tests/blackhole"
)

// A blackholed source: 100 ScaledObjects in one namespace read a broker
// address that accepts connections and never answers. They must not hold
// up another namespace: its ScaledObject still goes 0 → 1 on new work
// within the bound, and none of the blackholed ones moves or reads as zero.
func TestBlackholedSourcesDoNotStarveOthers(t *testing.T) {
	const n = 100
	hole := blackhole.Start(t)
	tenant := newScenario(t)
	op := tenant.startOperator()
	tenant.ready(op)

	name := func(i int) string { return fmt.Sprintf("h%03d", i) }
	parallel(t, n, func(i int) error {
		labels := map[string]string{"app": name(i)}
		return tenant.c.Create(t.Context(), &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: tenant.ns, Name: name(i)},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](1),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: podTemplate(labels),
			},
		})
	})
	parallel(t, n, func(i int) error {
		so := tenant.scaledObject(name(i), name(i), 3, v1alpha1.Trigger{Type: "rabbitmq", Metadata: map[string]string{
			"host": "amqp://guest:guest@" + hole + "/", "queueName": "q", "mode": "QueueLength", "value": "10",
		}})
		return tenant.c.Create(t.Context(), so)
	})
	tenant.waitStatus(name(0), 60*time.Second, "a blackholed trigger has failed", func(so *v1alpha1.ScaledObject) (bool, string) {
		return failures(so) >= 1, fmt.Sprintf("%d consecutive failures", failures(so))
	})
	watched := tenant.watchReplicas(name(0), 1)

	// Another namespace, a healthy source.
	other := newScenario(t)
	other.ops = tenant.ops
	q := newRabbitQueue(t)
	other.deployment("healthy", 0)
	other.create(other.scaledObject("healthy", "healthy", 3, q.trigger(other)))
	other.waitStatus("healthy", boundScale, "read once: no trigger active", func(so *v1alpha1.ScaledObject) (bool, string) {
		return conditionIs(so, v1alpha1.ConditionActive, metav1.ConditionFalse)
	})
	q.publish(5)
	d := other.waitReplicas("healthy", 1, boundBack, "new work beside 100 blackholed ScaledObjects: 0 → 1")
	figure(t, "beside 100 blackholed ScaledObjects, message → first replica", d, boundBack)
	q.purge()
	watched.stop()
	for _, i := range []int{0, n / 2, n - 1} {
		so, err := tenant.get(t.Context(), name(i))
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range so.Status.Triggers {
			if tr.LastError == "" && tr.Value != "" {
				t.Errorf("%s: a blackholed trigger shows a value (%s) and no error", name(i), tr.Value)
			}
		}
	}
	other.release("healthy", q.Proxy)
	// The 100 blackholed objects go too, with their HPAs, so that the
	// suite's later operators do not carry them.
	tenant.noLeaks(nil, 0)
	if err := tenant.c.DeleteAllOf(t.Context(), &appsv1.Deployment{}, client.InNamespace(tenant.ns)); err != nil {
		t.Error(err)
	}
}
