// SPDX-License-Identifier: Apache-2.0

package explain

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

var now = time.Date(2026, 11, 26, 12, 10, 0, 0, time.UTC)

func ago(d time.Duration) *metav1.Time { return &metav1.Time{Time: now.Add(-d)} }

// scaledObject builds demo/worker scaling Deployment worker on one
// rabbitmq trigger "lag" with target 100, max 10, cooldown 300 s, Ready.
func scaledObject(opts ...func(*v1alpha1.ScaledObject)) *v1alpha1.ScaledObject {
	so := &v1alpha1.ScaledObject{
		ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "worker", CreationTimestamp: *ago(time.Hour)},
		Spec: v1alpha1.ScaledObjectSpec{
			ScaleTargetRef:  v1alpha1.ScaleTarget{Name: "worker"},
			MaxReplicaCount: ptr(int32(10)),
			Triggers: []v1alpha1.Trigger{{
				Type: "rabbitmq", Name: "lag",
				Metadata: map[string]string{"queueName": "jobs", "value": "100", "activationValue": "5"},
			}},
		},
		Status: v1alpha1.ScaledObjectStatus{
			HPAName: "ebb-worker",
			Conditions: []metav1.Condition{
				{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Ready", Message: "the HPA and the scale loop are set up", LastTransitionTime: *ago(time.Hour)},
			},
		},
	}
	for _, o := range opts {
		o(so)
	}
	return so
}

// reading sets trigger lag's status: value, active flag, read 5 s ago.
func reading(value string, active bool) func(*v1alpha1.ScaledObject) {
	return func(so *v1alpha1.ScaledObject) {
		so.Status.Triggers = []v1alpha1.TriggerStatus{{
			Name: "lag", Type: "rabbitmq", MetricName: "s0-rabbitmq-jobs", Value: value, Target: "100", Active: active,
			LastReadTime: ago(5 * time.Second),
		}}
		if active {
			so.Status.LastActiveTime = ago(5 * time.Second)
		}
	}
}

func failing(failures int32, msg string) func(*v1alpha1.ScaledObject) {
	return func(so *v1alpha1.ScaledObject) {
		so.Status.Triggers = []v1alpha1.TriggerStatus{{
			Name: "lag", Type: "rabbitmq", MetricName: "s0-rabbitmq-jobs", Value: "40", Target: "100",
			ConsecutiveFailures: failures, LastError: msg, LastReadTime: ago(5 * time.Second),
		}}
	}
}

func lastActive(d time.Duration) func(*v1alpha1.ScaledObject) {
	return func(so *v1alpha1.ScaledObject) { so.Status.LastActiveTime = ago(d) }
}

func annotate(k, v string) func(*v1alpha1.ScaledObject) {
	return func(so *v1alpha1.ScaledObject) { so.Annotations = map[string]string{k: v} }
}

func condition(typ, status, reason, msg string) func(*v1alpha1.ScaledObject) {
	return func(so *v1alpha1.ScaledObject) {
		for i := range so.Status.Conditions {
			if so.Status.Conditions[i].Type == typ {
				so.Status.Conditions[i] = metav1.Condition{Type: typ, Status: metav1.ConditionStatus(status), Reason: reason, Message: msg}
				return
			}
		}
		so.Status.Conditions = append(so.Status.Conditions, metav1.Condition{Type: typ, Status: metav1.ConditionStatus(status), Reason: reason, Message: msg})
	}
}

// hpa builds ebb-worker (1–10) at current → desired, on the trigger's metric.
func hpa(current, desired int32, conds ...autoscalingv2.HorizontalPodAutoscalerCondition) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "ebb-worker"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			MinReplicas: ptr(int32(1)), MaxReplicas: 10,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: "s0-rabbitmq-jobs"},
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: resource.NewQuantity(100, resource.DecimalSI)},
			}}},
		},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{
			CurrentReplicas: current, DesiredReplicas: desired, Conditions: conds,
			LastScaleTime: ago(time.Minute),
		},
	}
}

func hpaCond(typ autoscalingv2.HorizontalPodAutoscalerConditionType, status, reason string) autoscalingv2.HorizontalPodAutoscalerCondition {
	return autoscalingv2.HorizontalPodAutoscalerCondition{Type: typ, Status: corev1.ConditionStatus(status), Reason: reason, Message: "the HPA says so"}
}

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		sentence string
		facts    Facts
		verdict  string
		check    func(t *testing.T, r Report)
	}{
		{
			sentence: "an active trigger and the HPA at the count it asks for",
			facts:    Facts{ScaledObject: scaledObject(reading("250", true)), Replicas: ptr(int32(3)), HPA: hpa(3, 3)},
			verdict:  `deployment/worker has 3 replicas because trigger "lag" (value 250, target 100 per replica) asks for 3`,
			check: func(t *testing.T, r Report) {
				tr := r.Triggers[0]
				if tr.Arithmetic != "ceil(250 / 100) = 3 (ratio 250 / (100 × 3) = 0.83, outside the 0.1 tolerance)" {
					t.Errorf("arithmetic %q", tr.Arithmetic)
				}
				if tr.Activation != "5" || tr.ActivationFrom != "activationValue" {
					t.Errorf("activation %q from %q, want 5 from activationValue", tr.Activation, tr.ActivationFrom)
				}
				if r.HPA.Wants == nil || *r.HPA.Wants != 3 || r.HPA.DesiredReplicas != 3 {
					t.Errorf("HPA wants %v desired %d, want 3 and 3", r.HPA.Wants, r.HPA.DesiredReplicas)
				}
				if !r.HPA.BehaviorDefault || r.HPA.ScaleDownWindowSeconds != 300 {
					t.Errorf("behavior: default %v, scale-down window %d; want the defaults, 300", r.HPA.BehaviorDefault, r.HPA.ScaleDownWindowSeconds)
				}
			},
		},
		{
			sentence: "a value within the tolerance keeps the count",
			facts:    Facts{ScaledObject: scaledObject(reading("305", true)), Replicas: ptr(int32(3)), HPA: hpa(3, 3)},
			verdict:  `deployment/worker has 3 replicas because trigger "lag" (value 305, target 100 per replica) is within the HPA's 0.1 tolerance of 3`,
		},
		{
			sentence: "a value right on target asks for the count it has",
			facts:    Facts{ScaledObject: scaledObject(reading("300", true)), Replicas: ptr(int32(3)), HPA: hpa(3, 3)},
			verdict:  `deployment/worker has 3 replicas because trigger "lag" (value 300, target 100 per replica) asks for 3`,
		},
		{
			sentence: "a Value metric scales the current count by the ratio",
			facts: Facts{ScaledObject: scaledObject(reading("250", true), func(so *v1alpha1.ScaledObject) {
				so.Spec.Triggers[0].MetricType = v1alpha1.MetricTypeValue
			}), Replicas: ptr(int32(2)), HPA: hpa(2, 5)},
			verdict: `deployment/worker has 2 replicas: trigger "lag" (value 250, target 100 in total) asks for 5; the HPA (desired 5) has not acted on it yet`,
			check: func(t *testing.T, r Report) {
				if a := r.Triggers[0].Arithmetic; a != "ceil(2 × 250 / 100) = 5 (ratio 2.50, outside the 0.1 tolerance)" {
					t.Errorf("arithmetic %q", a)
				}
			},
		},
		{
			sentence: "at zero after the cooldown",
			facts:    Facts{ScaledObject: scaledObject(reading("0", false), lastActive(9*time.Minute)), Replicas: ptr(int32(0)), HPA: hpa(0, 0)},
			verdict:  "deployment/worker has 0 replicas: no trigger active since 12:01:00 (9m0s ago); scaled to zero after the 300 s cooldown",
			check: func(t *testing.T, r Report) {
				if r.ToZero.CooldownRemainingSeconds != 0 || r.ToZero.NextReplicas != nil {
					t.Errorf("to zero: %+v, want nothing left to do", r.ToZero)
				}
				if r.Triggers[0].Wants != nil {
					t.Errorf("the HPA computes nothing at zero, got wants %d", *r.Triggers[0].Wants)
				}
			},
		},
		{
			sentence: "at zero with an active trigger: Ebb is scaling it up",
			facts:    Facts{ScaledObject: scaledObject(reading("40", true)), Replicas: ptr(int32(0)), HPA: hpa(0, 0)},
			verdict:  `deployment/worker has 0 replicas: trigger "lag" is active (value 40 above activation 5); Ebb is scaling it to 1 now`,
		},
		{
			sentence: "in the cooldown with time remaining, at the HPA's minimum",
			facts: Facts{ScaledObject: scaledObject(reading("0", false), lastActive(time.Minute)), Replicas: ptr(int32(1)),
				HPA: hpa(1, 1, hpaCond(autoscalingv2.ScalingLimited, "True", "TooFewReplicas"))},
			verdict: `deployment/worker has 1 replica, the HPA's minimum: trigger "lag" (value 0, target 100 per replica) asks for 0, raised to its minReplicas 1; no trigger active since 12:09:00: 4m0s of the 300 s cooldown left before it may go to 0`,
			check: func(t *testing.T, r Report) {
				if r.ToZero.CooldownRemainingSeconds != 240 {
					t.Errorf("cooldown remaining %v s, want 240", r.ToZero.CooldownRemainingSeconds)
				}
			},
		},
		{
			sentence: "past the cooldown, held up by the HPA's scale-down window",
			facts: Facts{ScaledObject: scaledObject(reading("0", false), lastActive(6*time.Minute)), Replicas: ptr(int32(4)),
				HPA: hpa(4, 4, hpaCond(autoscalingv2.AbleToScale, "True", "ScaleDownStabilized"))},
			verdict: `deployment/worker has 4 replicas: trigger "lag" (value 0, target 100 per replica) asks for 0, but the HPA's 300 s scale-down stabilization window holds the highest count it computed in that window; no trigger active since 12:04:00, cooldown over: it goes to 0 once the HPA has brought it to 1`,
			check: func(t *testing.T, r Report) {
				if !strings.Contains(r.ToZero.State, "waiting for the HPA to bring 4 replicas down to 1") {
					t.Errorf("state %q", r.ToZero.State)
				}
			},
		},
		{
			sentence: "past the cooldown at one replica: Ebb drops it to zero",
			facts:    Facts{ScaledObject: scaledObject(reading("0", false), lastActive(6*time.Minute)), Replicas: ptr(int32(1)), HPA: hpa(1, 1)},
			verdict:  `deployment/worker has 1 replica, the HPA's minimum: trigger "lag" (value 0, target 100 per replica) asks for 0, raised to its minReplicas 1; no trigger active since 12:04:00, cooldown over: Ebb scales it to 0 at its next check`,
		},
		{
			sentence: "paused where it is",
			facts:    Facts{ScaledObject: scaledObject(reading("250", true), annotate(v1alpha1.AnnotationPaused, "true")), Replicas: ptr(int32(2)), HPA: hpa(2, 2)},
			verdict:  `deployment/worker has 2 replicas: frozen by annotation ebb.dev/paused="true" (the HPA is held at the same count)`,
		},
		{
			sentence: "paused at a count it has not reached yet",
			facts:    Facts{ScaledObject: scaledObject(reading("250", true), annotate(v1alpha1.AnnotationPausedReplicas, "5")), Replicas: ptr(int32(2)), HPA: hpa(2, 2)},
			verdict:  `deployment/worker has 2 replicas: paused at 5 by annotation ebb.dev/paused-replicas; Ebb is scaling it to 5`,
			check: func(t *testing.T, r Report) {
				if !r.Pause.Paused || r.Pause.Replicas == nil || *r.Pause.Replicas != 5 {
					t.Errorf("pause %+v", r.Pause)
				}
			},
		},
		{
			sentence: "in fallback after repeated failures",
			facts: Facts{ScaledObject: scaledObject(failing(5, "dial tcp 127.0.0.1:5672: connect: connection refused"), func(so *v1alpha1.ScaledObject) {
				so.Spec.Fallback = &v1alpha1.Fallback{FailureThreshold: 3, Replicas: 4}
			}), Replicas: ptr(int32(4)), HPA: hpa(4, 4)},
			verdict: `deployment/worker has 4 replicas: trigger "lag" failed 5 times in a row (last error: dial tcp 127.0.0.1:5672: connect: connection refused); the fallback of 4 replicas holds until it reads again`,
			check: func(t *testing.T, r Report) {
				if !r.Fallback.Active || r.Fallback.HoldReplicas != 4 {
					t.Errorf("fallback %+v", r.Fallback)
				}
			},
		},
		{
			sentence: "a trigger erroring at zero keeps it there",
			facts:    Facts{ScaledObject: scaledObject(failing(1, "queue jobs not found")), Replicas: ptr(int32(0)), HPA: hpa(0, 0)},
			verdict:  `deployment/worker has 0 replicas: trigger "lag" cannot be read (queue jobs not found); it stays here until a trigger reads active (an unknown trigger never counts as active)`,
		},
		{
			sentence: "a new ScaledObject whose trigger has not been read yet",
			facts:    Facts{ScaledObject: scaledObject(), Replicas: ptr(int32(0))},
			verdict:  `deployment/worker has 0 replicas: trigger "lag" has not been read yet; it stays here until a trigger reads active (an unknown trigger never counts as active)`,
		},
		{
			sentence: "a trigger erroring above zero holds the count",
			facts:    Facts{ScaledObject: scaledObject(failing(2, "queue jobs not found")), Replicas: ptr(int32(3)), HPA: hpa(3, 3)},
			verdict:  `deployment/worker has 3 replicas; trigger "lag" cannot be read (queue jobs not found), so the HPA has nothing to compute from: the count holds (with no fallback) until it reads again`,
		},
		{
			sentence: "the HPA limited by maxReplicas",
			facts: Facts{ScaledObject: scaledObject(reading("2000", true)), Replicas: ptr(int32(10)),
				HPA: hpa(10, 10, hpaCond(autoscalingv2.ScalingLimited, "True", "TooManyReplicas"))},
			verdict: `deployment/worker has 10 replicas, its maximum: trigger "lag" (value 2000, target 100 per replica) asks for 20, capped at maxReplicaCount 10`,
			check: func(t *testing.T, r Report) {
				if r.HPA.Wants == nil || *r.HPA.Wants != 10 {
					t.Errorf("HPA wants %v, want 10 (20 capped)", r.HPA.Wants)
				}
			},
		},
		{
			sentence: "the HPA missing",
			facts:    Facts{ScaledObject: scaledObject(reading("250", true)), Replicas: ptr(int32(2))},
			verdict:  `deployment/worker has 2 replicas; the HPA ebb-worker that should move it between 1 and 10 does not exist (see the ScaledObject's Ready condition and events)`,
			check: func(t *testing.T, r Report) {
				if r.HPA.Found || r.Triggers[0].Wants != nil {
					t.Errorf("HPA %+v, trigger wants %v: want no HPA and no ask", r.HPA, r.Triggers[0].Wants)
				}
			},
		},
		{
			sentence: "a ScaledObject that is not Ready",
			facts: Facts{ScaledObject: scaledObject(condition(v1alpha1.ConditionReady, "False", "Conflict", "HPA other already scales Deployment worker")),
				Replicas: ptr(int32(6))},
			verdict: `deployment/worker has 6 replicas, not set by Ebb: the ScaledObject is not Ready (Conflict: HPA other already scales Deployment worker)`,
		},
		{
			sentence: "a target whose /scale cannot be read",
			facts:    Facts{ScaledObject: scaledObject(), ScaleError: `Deployment worker: deployments.apps "worker" not found`},
			verdict:  `deployment/worker: its replica count could not be read from /scale (Deployment worker: deployments.apps "worker" not found)`,
		},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			r := Explain(tc.facts, now)
			if r.Verdict != tc.verdict {
				t.Errorf("verdict\n got: %s\nwant: %s", r.Verdict, tc.verdict)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
			var text, js bytes.Buffer
			if err := r.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(text.String(), tc.verdict+"\n") {
				t.Errorf("the text does not start with the verdict:\n%s", text.String())
			}
			if err := r.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			var back Report
			if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Verdict != tc.verdict {
				t.Errorf("JSON does not round-trip the verdict (err %v):\n%s", err, js.String())
			}
		})
	}
}

func TestTextShowsTheFactsBehindTheVerdict(t *testing.T) {
	h := hpa(3, 3, hpaCond(autoscalingv2.AbleToScale, "True", "ReadyForNewScale"))
	h.Status.CurrentMetrics = []autoscalingv2.MetricStatus{{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricStatus{
		Metric:  autoscalingv2.MetricIdentifier{Name: "s0-rabbitmq-jobs"},
		Current: autoscalingv2.MetricValueStatus{AverageValue: resource.NewMilliQuantity(83334, resource.DecimalSI)},
	}}}
	h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr(int32(60))}}
	f := Facts{ScaledObject: scaledObject(reading("250", true)), Replicas: ptr(int32(3)), HPA: h,
		Events: []corev1.Event{
			{InvolvedObject: corev1.ObjectReference{Kind: "HorizontalPodAutoscaler", Name: "ebb-worker"}, Type: "Normal", Reason: "SuccessfulRescale", Message: "New size: 3; reason: external metric s0-rabbitmq-jobs above target", LastTimestamp: *ago(time.Minute)},
			{InvolvedObject: corev1.ObjectReference{Kind: "ScaledObject", Name: "worker"}, Type: "Normal", Reason: "ScaledFromZero", Message: `Deployment worker: trigger "lag" active (value 40): scaling from 0 to 1`, LastTimestamp: *ago(2 * time.Minute)},
		}}
	r := Explain(f, now)
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"target:   Deployment worker (apps/v1), 3 replicas",
		"replicas: min 0, max 10, idle not set",
		"value 250, target 100 (AverageValue), activation threshold 5 (activationValue): active",
		"asks the HPA for 3: ceil(250 / 100) = 3",
		"range 1–10, current 3, desired 3",
		"metric s0-rabbitmq-jobs: current 83.334 per pod, target 100 per pod (AverageValue)",
		"stabilization windows: scale up 0 s, scale down 60 s",
		"AbleToScale  True  ReadyForNewScale",
		"last active 12:09:55 (5s ago); cooldown 300 s",
		"not paused",
		"no fallback configured",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the text lacks %q:\n%s", want, out)
		}
	}
	// Events, newest last.
	from0, rescale := strings.Index(out, "ScaledFromZero"), strings.Index(out, "SuccessfulRescale")
	if from0 < 0 || rescale < 0 || from0 > rescale {
		t.Errorf("events not listed oldest first:\n%s", out)
	}
	if !strings.Contains(out, "2m0s ago") {
		t.Errorf("events lack their age:\n%s", out)
	}
	// Only the activation threshold of the metadata is shown: not the
	// queue name or anything else a user put there.
	if strings.Contains(out, "jobs\n") || strings.Contains(out, "queueName") {
		t.Errorf("the text shows trigger metadata:\n%s", out)
	}
}

func TestConfigSaysWhereItLooked(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"HOME": dir}
	getenv := func(k string) string { return env[k] }
	_, err := Config("", "", getenv)
	if err == nil || !strings.Contains(err.Error(), dir+"/.kube/config does not exist") || !strings.Contains(err.Error(), "$KUBECONFIG is not set") {
		t.Errorf("no kubeconfig anywhere: error %v", err)
	}
	env["KUBECONFIG"] = dir + "/a:" + dir + "/b"
	_, err = Config("", "", getenv)
	if err == nil || !strings.Contains(err.Error(), dir+"/a, "+dir+"/b") {
		t.Errorf("$KUBECONFIG files missing: error %v", err)
	}
	_, err = Config(dir+"/c", "", getenv)
	if err == nil || !strings.Contains(err.Error(), dir+"/c (--kubeconfig)") {
		t.Errorf("--kubeconfig missing: error %v", err)
	}
}
