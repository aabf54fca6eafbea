// SPDX-License-Identifier: Apache-2.0

// Package activation measures how long a target at zero replicas takes to get
// its first replica after the first message arrives: the figure KEDA users
// wait up to a polling interval for (11.7 s median, 16.8 s max at KEDA's
// default 30 s poll, as measured on this kind of machine).
//
//	go test -run '^$' -bench FirstMessage -benchtime 20x ./tests/bench/activation/
//
// BenchmarkFirstMessageToFirstReplicaBesideBlackholes measures the same
// with 200 ScaledObjects in another namespace on a broker address that
// never answers.
package activation

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	amqp "github.com/rabbitmq/amqp091-go"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/controller"
	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/rabbitmq"
	"github.com/ebbscale/ebb/tests/blackhole"
	"github.com/ebbscale/ebb/tests/controlplane"
)

const rabbitURL = "amqp://guest:guest@127.0.0.1:5672/"

// BenchmarkFirstMessageToFirstReplica publishes one message into an empty
// queue b.N times and measures, each time, the wall time until the target's
// replica count is 1, at Ebb's default polling interval (30 s) and activation
// probe (1 s). The ScaledObject sets cooldownPeriod 0 and scaleToZero direct,
// not the defaults, so that each run is back at zero quickly; neither acts on
// the 0 → 1 measured. It reports the median and the maximum.
func BenchmarkFirstMessageToFirstReplica(b *testing.B) {
	for _, protocol := range []string{"amqp", "http"} {
		b.Run(protocol, func(b *testing.B) { benchActivation(b, activationSetup{protocol: protocol}) })
	}
}

// BenchmarkFirstMessageToFirstReplicaBesideBlackholes is the amqp case of
// BenchmarkFirstMessageToFirstReplica with 200 more ScaledObjects, in a
// namespace of their own, whose RabbitMQ host accepts connections and never
// answers (tests/blackhole), and the operator's 64 poll workers. Their
// targets rest at zero, so they are probed every second, and each read
// hangs until its 30 s timeout.
func BenchmarkFirstMessageToFirstReplicaBesideBlackholes(b *testing.B) {
	benchActivation(b, activationSetup{protocol: "amqp", blackholed: 200, workers: 64})
}

type activationSetup struct {
	protocol string
	// blackholed ScaledObjects on a broker that never answers, in a
	// namespace of their own.
	blackholed int
	// workers are the scale loop's poll workers; 0: controller.Setup's
	// default.
	workers int
}

func benchActivation(b *testing.B, setup activationSetup) {
	protocol := setup.protocol
	ctx := b.Context()
	cp := controlplane.Start(b)
	conn, err := amqp.Dial(rabbitURL)
	if err != nil {
		b.Fatalf("RabbitMQ on 127.0.0.1:5672 is required: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	queue := fmt.Sprintf("ebb-activation-%d", time.Now().UnixNano())
	if _, err := ch.QueueDeclare(queue, false, false, false, false, nil); err != nil {
		b.Fatal(err)
	}
	defer ch.QueueDelete(queue, false, false, false)

	defer startController(b, cp, rabbitmq.NewType(), setup.workers)()

	c := cp.Client
	if setup.blackholed > 0 {
		createBlackholed(b, c, "dark", "amqp://guest:guest@"+blackhole.Start(b)+"/", setup.blackholed)
	}
	ns := "act-" + protocol
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	labels := map[string]string{"app": "worker"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "worker", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "w", Image: "example.invalid/w:1"}}}},
		},
	}
	if err := c.Create(ctx, dep); err != nil {
		b.Fatal(err)
	}
	host := rabbitURL
	if protocol == "http" {
		host = "http://guest:guest@127.0.0.1:15672/"
	}
	so := &v1alpha1.ScaledObject{
		ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: ns},
		Spec: v1alpha1.ScaledObjectSpec{
			ScaleTargetRef: v1alpha1.ScaleTarget{Name: "worker"},
			CooldownPeriod: ptr.To[int32](0),
			Advanced:       &v1alpha1.AdvancedConfig{ScaleToZero: v1alpha1.ScaleToZeroDirect},
			Triggers: []v1alpha1.Trigger{{Type: "rabbitmq", Name: "queue", Metadata: map[string]string{
				"host": host, "queueName": queue, "value": "10"}}},
		},
	}
	if err := c.Create(ctx, so); err != nil {
		b.Fatal(err)
	}
	replicas := func() int32 {
		var d appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKeyFromObject(dep), &d); err != nil {
			b.Fatal(err)
		}
		return *d.Spec.Replicas
	}
	waitFor := func(what string, cond func() bool) {
		deadline := time.Now().Add(2 * time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				b.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Ready, and the queue read empty at least once.
	waitFor("the ScaledObject to read the empty queue", func() bool {
		var got v1alpha1.ScaledObject
		_ = c.Get(ctx, client.ObjectKeyFromObject(so), &got)
		return len(got.Status.Triggers) == 1 && got.Status.Triggers[0].Value == "0"
	})

	var took []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if _, err := ch.QueuePurge(queue, false); err != nil {
			b.Fatal(err)
		}
		waitFor("zero replicas", func() bool { return replicas() == 0 })
		// Let the loop settle into its probing rhythm at zero: a random phase.
		time.Sleep(time.Duration(i%10) * 97 * time.Millisecond)
		b.StartTimer()
		start := time.Now()
		if err := ch.PublishWithContext(ctx, "", queue, false, false, amqp.Publishing{Body: []byte("x")}); err != nil {
			b.Fatal(err)
		}
		waitFor("the first replica", func() bool { return replicas() == 1 })
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	median := took[len(took)/2]
	b.ReportMetric(median.Seconds(), "median-s")
	b.ReportMetric(took[len(took)-1].Seconds(), "max-s")
	b.ReportMetric(0, "ns/op")
	b.Logf("%s: %d activations, median %s, max %s, all %v", protocol, len(took), median, took[len(took)-1], took)
}

// startController runs Ebb's controller and scale loop in process against
// cp with the trigger type typ, and returns the function that stops it.
func startController(b *testing.B, cp *controlplane.ControlPlane, typ scalers.Type, workers int) (stop func()) {
	b.Helper()
	mgr, err := ctrl.NewManager(cp.Config, ctrl.Options{
		Scheme: cp.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}, Logger: logr.Discard(),
	})
	if err != nil {
		b.Fatal(err)
	}
	reg, err := scalers.NewRegistry(typ)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := controller.Setup(mgr, controller.Options{Registry: reg, OperatorNamespace: "default", PollWorkers: workers}); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(b.Context())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	return func() { cancel(); <-done }
}

// createBlackholed creates n Deployments at zero and n ScaledObjects with a
// rabbitmq trigger on host, which never answers, in namespace ns, and waits
// until the scale loop has polled each once (its status says the trigger
// is unknown).
func createBlackholed(b *testing.B, c client.Client, ns, host string, n int) {
	b.Helper()
	ctx := b.Context()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		name := fmt.Sprintf("dark-%03d", i)
		labels := map[string]string{"app": name}
		dep := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "w", Image: "example.invalid/w:1"}}}},
			},
		}
		if err := c.Create(ctx, dep); err != nil {
			b.Fatal(err)
		}
		so := &v1alpha1.ScaledObject{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: v1alpha1.ScaledObjectSpec{
				ScaleTargetRef: v1alpha1.ScaleTarget{Name: name},
				Triggers: []v1alpha1.Trigger{{Type: "rabbitmq", Name: "queue", Metadata: map[string]string{
					"host": host, "queueName": "orders", "value": "10"}}},
			},
		}
		if err := c.Create(ctx, so); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var list v1alpha1.ScaledObjectList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		polled := 0
		for _, so := range list.Items {
			if len(so.Status.Conditions) > 0 {
				polled++
			}
		}
		if polled == n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d blackholed ScaledObjects polled after 5 minutes", polled, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
