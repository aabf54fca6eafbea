// SPDX-License-Identifier: Apache-2.0

package controller_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/tests/blackhole"
)

// A hundred ScaledObjects in one namespace whose broker never answers (the
// connection opens, no byte comes back) do not keep a ScaledObject in
// another namespace from scaling: their reads go on in the background past
// the read budget, their namespace holds no more than its share of the poll
// workers, and they are never taken for a zero. The bound asserted is
// generous; docs/benchmarks.md has the figure.
func TestBlackholedNamespaceDoesNotStarveAnother(t *testing.T) {
	e := newEnv(t, false)
	dark := newEnv(t, false)
	mq := newRabbit(t)
	hole := "amqp://guest:guest@" + blackhole.Start(t) + "/"
	e.startOperator("", 0)

	const n = 100
	ctx := t.Context()
	for i := range n {
		name := fmt.Sprintf("dark-%03d", i)
		labels := map[string]string{"app": name}
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: dark.ns},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "w", Image: "example.invalid/w:1"}}}}},
		}
		if err := dark.c.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		dark.create(dark.scaledObject(name, name, rabbitTrigger(hole, "orders", "10")))
	}
	// Every blackholed object has been polled: its first status is written
	// while its read still hangs, and says the trigger is unknown.
	e.waitFor(2*time.Minute, "every blackholed ScaledObject to report its trigger unknown", func() (bool, error) {
		var list v1alpha1.ScaledObjectList
		if err := dark.c.List(ctx, &list, client.InNamespace(dark.ns)); err != nil {
			return false, err
		}
		unknown := 0
		for _, so := range list.Items {
			for _, c := range so.Status.Conditions {
				if c.Type == v1alpha1.ConditionActive && c.Status == metav1.ConditionUnknown {
					unknown++
				}
			}
		}
		return unknown == n, nil
	})

	q := mq.queue()
	e.deployment("worker", 0)
	e.create(e.scaledObject("orders", "worker", rabbitTrigger(rabbitURL, q, "10")))
	e.waitFor(time.Minute, "the healthy ScaledObject to read its empty queue", func() (bool, error) {
		so := e.get("orders")
		return len(so.Status.Triggers) == 1 && so.Status.Triggers[0].Value == "0", nil
	})
	mq.publish(q, 1)
	took := e.waitReplicas("worker", 1, 20*time.Second)
	t.Logf("0→1 took %s with %d ScaledObjects on a blackholed broker in another namespace", took, n)

	// None of the blackholed ones was scaled, or read as a zero.
	var list v1alpha1.ScaledObjectList
	if err := dark.c.List(context.Background(), &list, client.InNamespace(dark.ns)); err != nil {
		t.Fatal(err)
	}
	for _, so := range list.Items {
		for _, ts := range so.Status.Triggers {
			if ts.Value != "" && ts.LastError == "" {
				t.Errorf("%s: trigger %s reads %q without an error from a broker that never answered", so.Name, ts.Name, ts.Value)
			}
		}
	}
}
