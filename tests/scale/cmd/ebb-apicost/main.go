// SPDX-License-Identifier: Apache-2.0

// Command ebb-apicost measures what each kind of request Ebb's controller
// makes for a new ScaledObject costs the API server: it starts a fresh
// control plane (etcd + kube-apiserver), sends n requests of each kind from
// 32 clients at once, and divides the CPU time kube-apiserver and etcd used
// by n. No operator runs, so no watch fans the writes out.
//
//	go run ./tests/scale/cmd/ebb-apicost -n 1000
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/controller"
	"github.com/ebbscale/ebb/tests/controlplane"
	"github.com/ebbscale/ebb/tests/scale"
)

func main() {
	n := flag.Int("n", 1000, "requests of each kind")
	flag.Parse()
	if err := run(context.Background(), *n); err != nil {
		fmt.Fprintln(os.Stderr, "ebb-apicost:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, n int) error {
	cp, err := controlplane.New(ctx, controlplane.Options{})
	if err != nil {
		return err
	}
	defer cp.Stop()
	pids, err := controlplane.Processes(cp.Dir)
	if err != nil {
		return err
	}
	cfg := rest.CopyConfig(cp.Config)
	cfg.QPS, cfg.Burst = 5000, 10000
	c, err := client.New(cfg, client.Options{Scheme: cp.Scheme})
	if err != nil {
		return err
	}
	const ns = "apicost"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	measure := func(name string, f func(i int) error) error {
		time.Sleep(2 * time.Second) // let the previous kind's work finish
		cpu0, t0 := scale.ProcessCPU(pids), time.Now()
		if err := parallel(n, 32, f); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		took := time.Since(t0)
		time.Sleep(500 * time.Millisecond)
		cpu := scale.ProcessCPU(pids) - cpu0
		fmt.Printf("| %s | %.2f ms | %.0f /s |\n", name, float64(cpu.Microseconds())/1000/float64(n), float64(n)/took.Seconds())
		return nil
	}
	sos := make([]*v1alpha1.ScaledObject, n)
	status := func(i int, value string) *v1alpha1.ScaledObjectStatus {
		now := metav1.Now()
		one := int32(1)
		st := &v1alpha1.ScaledObjectStatus{ObservedGeneration: 1, ScaleTargetKind: "apps/v1, Kind=Deployment", OriginalReplicaCount: &one,
			HPAName: sos[i].HPAName(), ExternalMetricNames: []string{"s0-rabbitmq-q"}}
		for _, t := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionActive, v1alpha1.ConditionFallback, v1alpha1.ConditionPaused} {
			st.Conditions = append(st.Conditions, metav1.Condition{Type: t, Status: metav1.ConditionFalse, Reason: "Reason",
				Message: "a message of the usual length for " + t, ObservedGeneration: 1, LastTransitionTime: now})
		}
		st.Triggers = []v1alpha1.TriggerStatus{{Name: "queue", Type: "rabbitmq", MetricName: "s0-rabbitmq-q", Target: "5", Value: value, LastReadTime: &now}}
		return st
	}
	status1 := controller.NewStatusWriter(c)
	fmt.Println("| request | API server + etcd CPU per request | rate (32 clients) |")
	fmt.Println("|---|---|---|")
	steps := []struct {
		name string
		f    func(i int) error
	}{
		{"CREATE deployments (the user's)", func(i int) error {
			zero := int32(0)
			labels := map[string]string{"app": fmt.Sprint(i)}
			return c.Create(ctx, &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("w-%05d", i), Namespace: ns},
				Spec: appsv1.DeploymentSpec{Replicas: &zero, Selector: &metav1.LabelSelector{MatchLabels: labels},
					Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
						Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "worker", Image: "example.invalid/worker:1"}}}}},
			})
		}},
		{"CREATE scaledobjects (the user's)", func(i int) error {
			sos[i] = &v1alpha1.ScaledObject{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("so-%05d", i), Namespace: ns},
				Spec: v1alpha1.ScaledObjectSpec{ScaleTargetRef: v1alpha1.ScaleTarget{Name: fmt.Sprintf("w-%05d", i)},
					Triggers: []v1alpha1.Trigger{{Type: "rabbitmq", Name: "queue", Metadata: map[string]string{
						"host": "amqp://guest:guest@127.0.0.1:5672/", "queueName": "q", "mode": "QueueLength", "value": "5"}}}},
			}
			return c.Create(ctx, sos[i])
		}},
		{"GET deployments/scale", func(i int) error {
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("w-%05d", i), Namespace: ns}}
			return c.SubResource("scale").Get(ctx, d, &autoscalingv1.Scale{})
		}},
		{"APPLY horizontalpodautoscalers (creates it)", func(i int) error {
			so := sos[i]
			h := controller.DesiredHPA(so, controller.Target{APIVersion: "apps/v1", Kind: "Deployment", Name: so.Spec.ScaleTargetRef.Name},
				nil, nil)
			data, err := json.Marshal(map[string]any{"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": h.ObjectMeta, "spec": h.Spec})
			if err != nil {
				return err
			}
			out := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: h.Name}}
			return c.Patch(ctx, out, client.RawPatch(types.ApplyPatchType, data), client.FieldOwner(controller.FieldOwner), client.ForceOwnership)
		}},
		{"APPLY scaledobjects/status (the first status)", func(i int) error {
			return status1.WriteStatus(ctx, sos[i], status(i, "0"))
		}},
		{"APPLY scaledobjects/status (a value changed)", func(i int) error {
			return status1.WriteStatus(ctx, sos[i], status(i, "1"))
		}},
		{"PATCH scaledobjects (merge patch adding a finalizer)", func(i int) error {
			so := &v1alpha1.ScaledObject{ObjectMeta: metav1.ObjectMeta{Name: sos[i].Name, Namespace: ns}}
			return c.Patch(ctx, so, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":["`+controller.Finalizer+`"]}}`)))
		}},
		{"GET scaledobjects", func(i int) error {
			return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: sos[i].Name}, &v1alpha1.ScaledObject{})
		}},
	}
	for _, s := range steps {
		if err := measure(s.name, s.f); err != nil {
			return err
		}
	}
	return nil
}

// parallel runs f(0..n-1) on workers goroutines and returns the first error.
func parallel(n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}
