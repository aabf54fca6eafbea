// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	amqp "github.com/rabbitmq/amqp091-go"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/cmd/ebb/internal/demo"
	"github.com/ebbscale/ebb/cmd/ebb/internal/explain"
	"github.com/ebbscale/ebb/controller"
	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/rabbitmq"
	"github.com/ebbscale/ebb/tests/controlplane"
)

func TestExplainRefusesWhatItCannotUse(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", "")
	for _, tc := range []struct {
		sentence string
		args     []string
		want     string
	}{
		{"an argument that is not namespace/name", []string{"worker"}, `argument "worker": want namespace/name of a ScaledObject`},
		{"an argument with an empty name", []string{"shop/"}, `argument "shop/": want namespace/name`},
		{"no argument", nil, "want one argument, namespace/name of a ScaledObject; got 0"},
		{"an unknown output format", []string{"-o", "yaml", "shop/worker"}, `-o "yaml": want text or json`},
		{"no kubeconfig anywhere", []string{"shop/worker"}, "no kubeconfig: --kubeconfig is not set, $KUBECONFIG is not set, and " + filepath.Join(home, ".kube", "config") + " does not exist"},
		{"a --kubeconfig that does not exist", []string{"--kubeconfig", filepath.Join(home, "nope"), "shop/worker"}, filepath.Join(home, "nope") + " (--kubeconfig)"},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := explainCommand(t.Context(), tc.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
			if stdout.Len() > 0 {
				t.Errorf("printed %q on an error", stdout.String())
			}
		})
	}
}

// TestExplainALiveScaledObject runs a real API server with the real HPA
// (kube-controller-manager), Ebb's operator and metrics adapter in this
// process, and a queue on the real RabbitMQ. 30 messages on a target of 10
// per replica scale the Deployment to 3; `ebb explain` must say so, with
// the trigger's value and target and the HPA's count. Then the queue is
// emptied: `ebb explain` must tell the cooldown running at 1 replica, and
// then the drop to zero after it.
func TestExplainALiveScaledObject(t *testing.T) {
	const amqpURL = "amqp://guest:guest@127.0.0.1:5672/"
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Fatalf("RabbitMQ is not reachable on 127.0.0.1:5672 (%v): this test needs the real broker (make services starts it)", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	queue := fmt.Sprintf("ebb-explain-%d", time.Now().UnixNano())
	if _, err := ch.QueueDeclare(queue, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = ch.QueueDelete(queue, false, false, false) })

	cp := controlplane.Start(t, controlplane.WithControllerManager(), controlplane.WithAggregator())
	startExplainOperator(t, cp)
	ctx := t.Context()
	c := cp.Client
	const ns = "explain"
	mustDo(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	labels := map[string]string{"app": "worker"}
	mustDo(t, c.Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "worker"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(0)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "worker", Image: "worker:test"}}},
			},
		},
	}))
	// The broker's URL, with its password, comes through a Secret: it must
	// not appear in what ebb explain prints.
	mustDo(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rabbitmq"}, StringData: map[string]string{"host": amqpURL}}))
	mustDo(t, c.Create(ctx, &v1alpha1.TriggerAuthentication{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rabbitmq"},
		Spec:       v1alpha1.TriggerAuthenticationSpec{SecretTargetRef: []v1alpha1.KeyRef{{Parameter: "host", Name: "rabbitmq", Key: "host"}}},
	}))
	const cooldown = 60
	mustDo(t, c.Create(ctx, &v1alpha1.ScaledObject{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "worker"},
		Spec: v1alpha1.ScaledObjectSpec{
			ScaleTargetRef:  v1alpha1.ScaleTarget{Name: "worker"},
			PollingInterval: ptr.To(int32(1)),
			CooldownPeriod:  ptr.To(int32(cooldown)),
			MaxReplicaCount: ptr.To(int32(5)),
			Advanced: &v1alpha1.AdvancedConfig{HorizontalPodAutoscalerConfig: &v1alpha1.HorizontalPodAutoscalerConfig{
				Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To(int32(0))}},
			}},
			Triggers: []v1alpha1.Trigger{{
				Type: "rabbitmq", Name: "queue",
				Metadata:          map[string]string{"queueName": queue, "mode": "QueueLength", "value": "10"},
				AuthenticationRef: &v1alpha1.AuthenticationRef{Name: "rabbitmq"},
			}},
		},
	}))

	kubeconfig := cp.Kubeconfig
	explainJSON := func() (explain.Report, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := explainCommand(ctx, []string{"--kubeconfig", kubeconfig, "-o", "json", ns + "/worker"}, &stdout, &stderr); err != nil {
			t.Fatalf("ebb explain -o json: %v (stderr %s)", err, stderr.String())
		}
		var r explain.Report
		if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
			t.Fatalf("ebb explain -o json printed no report: %v\n%s", err, stdout.String())
		}
		return r, stdout.String()
	}
	explainText := func() string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := explainCommand(ctx, []string{"--kubeconfig", kubeconfig, ns + "/worker"}, &stdout, &stderr); err != nil {
			t.Fatalf("ebb explain: %v (stderr %s)", err, stderr.String())
		}
		out := stdout.String()
		if strings.Contains(out, "guest:guest") || strings.Contains(out, amqpURL) {
			t.Fatalf("ebb explain printed the broker's credentials:\n%s", out)
		}
		return out
	}

	// A ScaledObject that does not exist is named in the error.
	var stdout, stderr bytes.Buffer
	err = explainCommand(ctx, []string{"--kubeconfig", kubeconfig, ns + "/nope"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "ScaledObject explain/nope: not found") || !errors.Is(err, explain.ErrNotFound) {
		t.Errorf("explain of a missing ScaledObject: error %v, want one naming explain/nope as not found", err)
	}

	// Resting at zero until there is work.
	waitFor(t, 2*time.Minute, "the ScaledObject to be Ready with its HPA, at 0 replicas, its trigger read", func() (bool, explain.Report) {
		r, _ := explainJSON()
		ready, _ := reportCondition(r.Conditions, v1alpha1.ConditionReady)
		ok := ready.Status == "True" && r.HPA.Found && r.Target.Replicas != nil && *r.Target.Replicas == 0 &&
			len(r.Triggers) == 1 && r.Triggers[0].Known
		return ok, r
	})
	if out := explainText(); !strings.HasPrefix(out, "deployment/worker has 0 replicas: no trigger has been active since Ebb started watching it\n") {
		t.Errorf("at rest, never active:\n%s", out)
	}

	// 30 messages, 10 per replica: 3 replicas.
	publishJobs(t, ch, queue, 30)
	want := `deployment/worker has 3 replicas because trigger "queue" (value 30, target 10 per replica) asks for 3`
	r := waitFor(t, 3*time.Minute, "ebb explain to say: "+want, func() (bool, explain.Report) {
		r, _ := explainJSON()
		// The HPA writes /scale before its own status: wait for both.
		return r.Verdict == want && r.HPA.CurrentReplicas == 3 && r.HPA.DesiredReplicas == 3, r
	})
	tr := r.Triggers[0]
	if *r.Target.Replicas != 3 || tr.Value != "30" || tr.Target != "10" || !tr.Active || tr.MetricType != "AverageValue" ||
		tr.Wants == nil || *tr.Wants != 3 || tr.Arithmetic == "" || !strings.HasPrefix(tr.Arithmetic, "ceil(30 / 10) = 3") {
		t.Errorf("trigger facts at 3 replicas: %+v", tr)
	}
	if r.HPA.DesiredReplicas != 3 || r.HPA.Wants == nil || *r.HPA.Wants != 3 || r.HPA.MinReplicas != 1 || r.HPA.MaxReplicas != 5 ||
		r.HPA.ScaleDownWindowSeconds != 0 || r.HPA.BehaviorDefault {
		t.Errorf("HPA facts at 3 replicas: %+v", r.HPA)
	}
	if !reportHasEvent(r.Events, "ScaledObject/worker", controller.ReasonScaledFromZero) || !reportHasEvent(r.Events, "HorizontalPodAutoscaler/ebb-worker", "SuccessfulRescale") {
		t.Errorf("events lack Ebb's ScaledFromZero or the HPA's SuccessfulRescale: %+v", r.Events)
	}
	out := explainText()
	t.Logf("ebb explain at 3 replicas:\n%s", out)
	for _, s := range []string{want + "\n", "asks the HPA for 3: ceil(30 / 10) = 3", "range 1–5, current 3, desired 3", "stabilization windows: scale up 0 s, scale down 0 s"} {
		if !strings.Contains(out, s) {
			t.Errorf("ebb explain at 3 replicas lacks %q:\n%s", s, out)
		}
	}

	// The work is gone: the HPA goes down to 1 at once (no stabilization
	// window), and the cooldown runs.
	if _, err := ch.QueuePurge(queue, false); err != nil {
		t.Fatal(err)
	}
	prefix := `deployment/worker has 1 replica, the HPA's minimum: trigger "queue" (value 0, target 10 per replica) asks for 0, raised to its minReplicas 1; no trigger active since `
	r = waitFor(t, 2*time.Minute, "ebb explain to tell the cooldown at 1 replica", func() (bool, explain.Report) {
		r, _ := explainJSON()
		return strings.HasPrefix(r.Verdict, prefix) && strings.HasSuffix(r.Verdict, fmt.Sprintf(" of the %d s cooldown left before it may go to 0", cooldown)), r
	})
	if r.ToZero.LastActiveTime == nil || r.ToZero.CooldownRemainingSeconds <= 0 || r.ToZero.CooldownRemainingSeconds > cooldown {
		t.Errorf("scale to zero facts in the cooldown: %+v", r.ToZero)
	}
	if !strings.Contains(r.ToZero.State, "no trigger active; cooling down for") {
		t.Errorf("state in the cooldown: %q", r.ToZero.State)
	}
	t.Logf("ebb explain in the cooldown:\n%s", explainText())

	// After the cooldown, Ebb drops it to zero.
	wantZero := fmt.Sprintf("; scaled to zero after the %d s cooldown", cooldown)
	r = waitFor(t, 3*time.Minute, "ebb explain to tell the drop to zero", func() (bool, explain.Report) {
		r, _ := explainJSON()
		return strings.HasPrefix(r.Verdict, "deployment/worker has 0 replicas: no trigger active since ") && strings.HasSuffix(r.Verdict, wantZero), r
	})
	if !reportHasEvent(r.Events, "ScaledObject/worker", controller.ReasonScaledToZero) {
		t.Errorf("events lack Ebb's ScaledToZero: %+v", r.Events)
	}
	t.Logf("ebb explain at zero:\n%s", explainText())
}

// startOperator runs Ebb's operator in this process, as cmd/ebb-operator
// does: the controller (reconciler and scale loop) and the metrics adapter
// in one manager, the adapter registered with the API server's aggregator.
func startExplainOperator(t *testing.T, cp *controlplane.ControlPlane) {
	t.Helper()
	logFile, err := os.Create(filepath.Join(t.TempDir(), "operator.log"))
	if err != nil {
		t.Fatal(err)
	}
	log := funcr.New(func(prefix, args string) { fmt.Fprintln(logFile, prefix, args) }, funcr.Options{})
	// The process-wide logger of controller-runtime, which ebb's main sets
	// and the command's client uses.
	ctrllog.SetLogger(log)
	reg, err := scalers.NewRegistry(rabbitmq.NewType())
	if err != nil {
		t.Fatal(err)
	}
	op, err := demo.StartOperator(cp, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := op.Stop(); err != nil {
			t.Errorf("operator: %v", err)
		}
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("operator log (last 4 KiB):\n%s", lastBytes(b, 4096))
		}
		_ = logFile.Close()
	})
	if err := op.WaitAvailable(t.Context(), cp, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
}

func publishJobs(t *testing.T, ch *amqp.Channel, queue string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for range n {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false, amqp.Publishing{Body: []byte("job")})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := dc.WaitContext(ctx); err != nil || !ok {
			t.Fatalf("publish to %s not confirmed: ok=%v err=%v", queue, ok, err)
		}
	}
}

// eventually checks cond every 250 ms until it holds, and fails the test
// with cond's last word when it has not within the timeout.
func waitFor[T any](t *testing.T, timeout time.Duration, what string, cond func() (bool, T)) T {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, last := cond()
		if ok {
			return last
		}
		if time.Now().After(deadline) {
			if r, ok := any(last).(explain.Report); ok {
				t.Fatalf("waited %s for %s; last verdict: %s", timeout, what, r.Verdict)
			}
			t.Fatalf("waited %s for %s; last: %v", timeout, what, last)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatalf("waiting for %s: %v", what, t.Context().Err())
		}
	}
}

func reportCondition(cs []explain.Condition, typ string) (explain.Condition, bool) {
	for _, c := range cs {
		if c.Type == typ {
			return c, true
		}
	}
	return explain.Condition{}, false
}

func reportHasEvent(es []explain.Event, object, reason string) bool {
	for _, e := range es {
		if e.Object == object && e.Reason == reason {
			return true
		}
	}
	return false
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
