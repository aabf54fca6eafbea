// SPDX-License-Identifier: Apache-2.0

package faults_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

// 1,000 ScaledObjects created in a burst, then deleted in a burst, all on
// one queue. Every one gets its HPA and becomes Ready; the broker sees one
// connection for all of them; no target moves (the queue is empty); after
// the deletion no HPA, no connection and no goroutine is left.
func TestBurstOf1000ScaledObjects(t *testing.T) {
	const n = 1000
	bound := 120 * time.Second
	s := newScenario(t)
	op := s.startOperator()
	s.ready(op)
	baseline := s.goroutines(op)
	q := newRabbitQueue(t)
	trig := q.trigger(s)

	name := func(i int) string { return fmt.Sprintf("w%04d", i) }
	parallel(t, n, func(i int) error {
		labels := map[string]string{"app": name(i)}
		return s.c.Create(t.Context(), &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: name(i)},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](0),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: podTemplate(labels),
			},
		})
	})

	start := time.Now()
	parallel(t, n, func(i int) error {
		so := s.scaledObject(name(i), name(i), 3, trig)
		so.Spec.PollingInterval = ptr.To[int32](5)
		return s.c.Create(t.Context(), so)
	})
	created := time.Since(start)
	d := pollList(t, bound, "1,000 HPAs exist and 1,000 ScaledObjects are Ready", func(ctx context.Context) (bool, string) {
		var hpas autoscalingv2.HorizontalPodAutoscalerList
		if err := s.c.List(ctx, &hpas, client.InNamespace(s.ns)); err != nil {
			return false, err.Error()
		}
		var sos v1alpha1.ScaledObjectList
		if err := s.c.List(ctx, &sos, client.InNamespace(s.ns)); err != nil {
			return false, err.Error()
		}
		ready := 0
		for i := range sos.Items {
			if meta.IsStatusConditionTrue(sos.Items[i].Status.Conditions, v1alpha1.ConditionReady) {
				ready++
			}
		}
		return len(hpas.Items) == n && ready == n, fmt.Sprintf("%d HPAs, %d Ready", len(hpas.Items), ready)
	})
	figure(t, fmt.Sprintf("1,000 ScaledObjects created (in %.1f s) → all HPAs and all Ready", created.Seconds()), d+created, bound)
	if c := q.Proxy.Conns(); c > 2 { // the operator's side and the broker's side of one connection
		t.Errorf("%d connections through the proxy for 1,000 identical triggers, want one (2 ends)", c)
	}
	t.Logf("FIGURE 1,000 identical triggers: %d connection(s) opened to the broker", q.Proxy.Dialed())
	var deps appsv1.DeploymentList
	if err := s.c.List(t.Context(), &deps, client.InNamespace(s.ns)); err != nil {
		t.Fatal(err)
	}
	for _, dep := range deps.Items {
		if r := ptr.Deref(dep.Spec.Replicas, 0); r != 0 {
			t.Errorf("%s has %d replicas with an empty queue", dep.Name, r)
		}
	}

	start = time.Now()
	s.noLeaks(op, baseline, q.Proxy)
	figure(t, "1,000 ScaledObjects deleted → none, no HPA, no connection, goroutines back", time.Since(start), bound)
	if err := s.c.DeleteAllOf(t.Context(), &appsv1.Deployment{}, client.InNamespace(s.ns)); err != nil {
		t.Error(err)
	}
}

// parallel runs f(0..n-1) on 16 workers and fails the test on the first
// error.
func parallel(t *testing.T, n int, f func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	next := make(chan int)
	errs := make(chan error, n)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
