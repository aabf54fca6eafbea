// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
)

func pausedScaleIn(in *Inputs)   { in.Controls.PausedScaleIn = true }
func pausedScaleOut(in *Inputs)  { in.Controls.PausedScaleOut = true }
func forceActivation(in *Inputs) { in.Controls.ForceActivation = true }

// The directional annotations as the scale loop applies them: a paused
// direction withholds Ebb's own moves that way (0↔1, idle, minimum,
// fallback) and says so; force-activation wakes the target and keeps it up.
func TestDecideWithControls(t *testing.T) {
	tests := []struct {
		sentence string
		in       Inputs
		want     *int32 // replicas to write, nil for none
		reason   string
		msg      string
		held     bool
	}{
		// paused-scale-in: grows, never shrinks.
		{"paused-scale-in keeps a target past the cooldown off zero", base(current(1), lastActive(time.Hour), pausedScaleIn), nil, "",
			"no trigger active: not scaling from 1 to 0, scale-in is paused by annotation ebb.dev/paused-scale-in", true},
		{"paused-scale-in keeps a direct scale-to-zero from dropping", base(current(5), lastActive(time.Hour), pausedScaleIn, func(in *Inputs) { in.ScaleToZero = v1alpha1.ScaleToZeroDirect }), nil, "", "not scaling from 5 to 0", true},
		{"paused-scale-in keeps an idle count from being applied", base(current(2), lastActive(time.Hour), pausedScaleIn, func(in *Inputs) { in.Min = 2; in.Idle = ptr[int32](0) }), nil, "", "not scaling from 2 to 0", true},
		{"paused-scale-in keeps a fallback of zero from dropping the target", base(current(3), failingTrigger(3), fallback(3, 0, ""), pausedScaleIn), nil, "", "not scaling from 3 to 0, scale-in is paused", true},
		{"paused-scale-in still wakes a target from zero", base(current(0), activeTrigger(7), pausedScaleIn), ptr[int32](1), ReasonScaledFromZero, `trigger "queue" active (value 7): scaling from 0 to 1`, false},
		{"paused-scale-in still raises zero to the minimum", base(current(0), pausedScaleIn, func(in *Inputs) { in.Min = 2 }), ptr[int32](2), ReasonBelowMinimum, "", false},
		{"paused-scale-in still raises zero to a fallback count", base(current(0), failingTrigger(3), fallback(3, 4, ""), pausedScaleIn), ptr[int32](4), ReasonFallback, "", false},
		{"paused-scale-in leaves an active target to the HPA", base(current(4), activeTrigger(80), pausedScaleIn), nil, "", "", false},

		// paused-scale-out: shrinks, never grows.
		{"paused-scale-out keeps an active target at zero", base(current(0), activeTrigger(7), pausedScaleOut), nil, "",
			`trigger "queue" active (value 7): not scaling from 0 to 1, scale-out is paused by annotation ebb.dev/paused-scale-out`, true},
		{"paused-scale-out keeps an idle target idle", base(current(0), activeTrigger(1), pausedScaleOut, func(in *Inputs) { in.Min = 2; in.Idle = ptr[int32](0) }), nil, "", "not scaling from 0 to 2", true},
		{"paused-scale-out keeps zero below the minimum", base(current(0), pausedScaleOut, func(in *Inputs) { in.Min = 2 }), nil, "", "below minReplicaCount: not scaling from 0 to 2", true},
		{"paused-scale-out keeps zero below a fallback count", base(current(0), failingTrigger(3), fallback(3, 4, ""), pausedScaleOut), nil, "", "not scaling from 0 to 4", true},
		{"paused-scale-out still scales to zero past the cooldown", base(current(1), lastActive(time.Hour), pausedScaleOut), ptr[int32](0), ReasonScaledToZero, "scaling from 1 to 0", false},
		{"paused-scale-out still drops to a fallback of zero", base(current(3), failingTrigger(3), fallback(3, 0, ""), pausedScaleOut), ptr[int32](0), ReasonFallback, "", false},

		// Both directions hold the count.
		{"both directions paused hold zero against activity", base(current(0), activeTrigger(7), pausedScaleIn, pausedScaleOut), nil, "", "scale-out is paused", true},
		{"both directions paused hold a count past the cooldown", base(current(1), lastActive(time.Hour), pausedScaleIn, pausedScaleOut), nil, "", "scale-in is paused", true},

		// force-activation: active whatever the triggers read.
		{"force-activation wakes a target at zero with no trigger active", base(current(0), forceActivation), ptr[int32](1), ReasonForcedActivation,
			"active by annotation ebb.dev/force-activation: scaling from 0 to 1", false},
		{"force-activation wakes an idle target to its minimum", base(current(0), forceActivation, func(in *Inputs) { in.Min = 3; in.Idle = ptr[int32](0) }), ptr[int32](3), ReasonForcedActivation, "from 0 to 3", false},
		{"force-activation wakes a target whose triggers cannot be read", base(current(0), failingTrigger(1), forceActivation), ptr[int32](1), ReasonForcedActivation, "", false},
		{"force-activation keeps a target past the cooldown off zero", base(current(1), lastActive(time.Hour), forceActivation), nil, "", "", false},
		{"force-activation keeps a direct scale-to-zero off zero", base(current(4), lastActive(time.Hour), forceActivation, func(in *Inputs) { in.ScaleToZero = v1alpha1.ScaleToZeroDirect }), nil, "", "", false},
		{"force-activation keeps a fallback of zero from dropping the target", base(current(2), failingTrigger(3), fallback(3, 0, ""), forceActivation), nil, "", "the HPA holds the fallback of 0", false},
		{"force-activation with an active trigger names the trigger", base(current(0), activeTrigger(2), forceActivation), ptr[int32](1), ReasonScaledFromZero, `trigger "queue" active`, false},
		{"force-activation yields to paused-scale-out", base(current(0), forceActivation, pausedScaleOut), nil, "", "not scaling from 0 to 1, scale-out is paused", true},
		{"force-activation yields to a full pause", base(current(0), forceActivation, func(in *Inputs) { in.Paused = true }), nil, "", "paused by annotation ebb.dev/paused", false},

		// A full pause wins over the directions.
		{"paused-replicas wins over paused-scale-in", base(current(5), pausedScaleIn, func(in *Inputs) { in.PausedReplicas = ptr[int32](2) }), ptr[int32](2), ReasonPausedReplicas, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.sentence, func(t *testing.T) {
			d := Decide(tt.in)
			checkMove(t, d, tt.want, tt.reason, tt.msg)
			if d.Held != tt.held {
				t.Errorf("Held = %v, want %v (%s)", d.Held, tt.held, d.Message)
			}
		})
	}
}

// Forced activity counts as activity: the last active time moves, so the
// cooldown runs from when the annotation is removed.
func TestForceActivationIsActivity(t *testing.T) {
	d := Decide(base(current(1), lastActive(time.Hour), forceActivation))
	if !d.Active || !d.Forced || d.LastActive == nil || !d.LastActive.Equal(t0) {
		t.Errorf("Active=%v Forced=%v LastActive=%v, want true, true, now", d.Active, d.Forced, d.LastActive)
	}
	if d := Decide(base(current(1), activeTrigger(3), forceActivation)); d.Forced {
		t.Error("Forced with a trigger active: the trigger is the reason")
	}
	la := t0.Add(-time.Second)
	if d := Decide(base(current(1), func(in *Inputs) { in.LastActive = &la; in.Cooldown = 0 })); d.Replicas == nil || *d.Replicas != 0 {
		t.Errorf("without the annotation the target goes to zero: %+v", d)
	}
}

func TestControlsOf(t *testing.T) {
	so := &v1alpha1.ScaledObject{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
		v1alpha1.AnnotationPausedScaleIn:   "true",
		v1alpha1.AnnotationPausedScaleOut:  "false",
		v1alpha1.AnnotationForceActivation: "yes", // refused at admission; not true here
	}}}
	if got, want := ControlsOf(so), (Controls{PausedScaleIn: true}); got != want {
		t.Errorf("ControlsOf = %+v, want %+v", got, want)
	}
	if got := ControlsOf(&v1alpha1.ScaledObject{}); got != (Controls{}) {
		t.Errorf("no annotations: %+v", got)
	}
}

// The owned HPA under a directional pause: that direction's selectPolicy is
// Disabled, the user's behavior is kept otherwise, and a full pause (which
// freezes min and max) leaves the behavior as the user wrote it.
func TestDesiredHPAWithDirectionalPauses(t *testing.T) {
	window := int32(30)
	userBehavior := &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &window},
	}
	build := func(ann map[string]string, behavior *autoscalingv2.HorizontalPodAutoscalerBehavior, frozen *int32) *autoscalingv2.HorizontalPodAutoscaler {
		so := &v1alpha1.ScaledObject{ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: "ns", Annotations: ann}}
		if behavior != nil {
			so.Spec.Advanced = &v1alpha1.AdvancedConfig{HorizontalPodAutoscalerConfig: &v1alpha1.HorizontalPodAutoscalerConfig{Behavior: behavior}}
		}
		return DesiredHPA(so, Target{APIVersion: "apps/v1", Kind: "Deployment", Name: "worker"}, []scalers.MetricSpec{{Name: "s0-queue", Target: 10}}, frozen)
	}
	policy := func(r *autoscalingv2.HPAScalingRules) string {
		if r == nil || r.SelectPolicy == nil {
			return ""
		}
		return string(*r.SelectPolicy)
	}
	t.Run("paused-scale-in disables scale-down only", func(t *testing.T) {
		h := build(map[string]string{v1alpha1.AnnotationPausedScaleIn: "true"}, nil, nil)
		if h.Spec.Behavior == nil || policy(h.Spec.Behavior.ScaleDown) != "Disabled" || h.Spec.Behavior.ScaleUp != nil {
			t.Errorf("behavior = %+v", h.Spec.Behavior)
		}
	})
	t.Run("paused-scale-out disables scale-up only", func(t *testing.T) {
		h := build(map[string]string{v1alpha1.AnnotationPausedScaleOut: "true"}, nil, nil)
		if h.Spec.Behavior == nil || policy(h.Spec.Behavior.ScaleUp) != "Disabled" || h.Spec.Behavior.ScaleDown != nil {
			t.Errorf("behavior = %+v", h.Spec.Behavior)
		}
	})
	t.Run("the user's behavior is kept beside the disabled direction, and not changed in the spec", func(t *testing.T) {
		h := build(map[string]string{v1alpha1.AnnotationPausedScaleIn: "true", v1alpha1.AnnotationPausedScaleOut: "true"}, userBehavior, nil)
		b := h.Spec.Behavior
		if policy(b.ScaleDown) != "Disabled" || policy(b.ScaleUp) != "Disabled" || b.ScaleDown.StabilizationWindowSeconds == nil || *b.ScaleDown.StabilizationWindowSeconds != 30 {
			t.Errorf("behavior = %+v / %+v", b.ScaleUp, b.ScaleDown)
		}
		if userBehavior.ScaleDown.SelectPolicy != nil || userBehavior.ScaleUp != nil {
			t.Error("DesiredHPA changed the ScaledObject's behavior")
		}
		if *h.Spec.MinReplicas != 1 || h.Spec.MaxReplicas != 100 {
			t.Errorf("min/max = %d/%d, want the spec's 1/100", *h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
	})
	t.Run("false and absent annotations leave the behavior alone", func(t *testing.T) {
		if h := build(map[string]string{v1alpha1.AnnotationPausedScaleIn: "false"}, nil, nil); h.Spec.Behavior != nil {
			t.Errorf("behavior = %+v", h.Spec.Behavior)
		}
		if h := build(nil, userBehavior, nil); policy(h.Spec.Behavior.ScaleDown) != "" {
			t.Errorf("behavior = %+v", h.Spec.Behavior.ScaleDown)
		}
	})
	t.Run("a full pause freezes min and max and ignores the directions", func(t *testing.T) {
		h := build(map[string]string{v1alpha1.AnnotationPausedScaleIn: "true"}, nil, ptr[int32](3))
		if *h.Spec.MinReplicas != 3 || h.Spec.MaxReplicas != 3 || h.Spec.Behavior != nil {
			t.Errorf("min %d max %d behavior %+v", *h.Spec.MinReplicas, h.Spec.MaxReplicas, h.Spec.Behavior)
		}
	})
}

// The Paused condition says which direction holds, and what it withheld.
func TestPausedConditionForDirections(t *testing.T) {
	tests := []struct {
		sentence string
		d        Decision
		status   metav1.ConditionStatus
		reason   string
		msg      string
	}{
		{"no pause", Decision{}, metav1.ConditionFalse, ReasonNotPaused, "scaling is not paused"},
		{"a full pause", Decision{Paused: true, PausedScaleIn: true, Message: "paused by annotation ebb.dev/paused"}, metav1.ConditionTrue, ReasonPaused, "paused by annotation ebb.dev/paused"},
		{"scale-in", Decision{PausedScaleIn: true}, metav1.ConditionTrue, ReasonScaleInPaused, "scale-in paused by annotation ebb.dev/paused-scale-in: the target may grow but does not shrink"},
		{"scale-out with a held move", Decision{PausedScaleOut: true, Held: true, Message: "x: not scaling from 0 to 1"}, metav1.ConditionTrue, ReasonScaleOutPaused, "does not grow; x: not scaling from 0 to 1"},
		{"both", Decision{PausedScaleIn: true, PausedScaleOut: true}, metav1.ConditionTrue, ReasonPaused, "scale-in and scale-out paused"},
	}
	for _, tt := range tests {
		t.Run(tt.sentence, func(t *testing.T) {
			c := pausedCondition(tt.d, 7)
			if c.Status != tt.status || c.Reason != tt.reason || !strings.Contains(c.Message, tt.msg) || c.ObservedGeneration != 7 {
				t.Errorf("condition = %+v, want %s %s containing %q", c, tt.status, tt.reason, tt.msg)
			}
		})
	}
}

// Admission refuses a directional annotation that is not "true" or
// "false", naming it, and bounds the value it quotes.
func TestValidateSpecRefusesBadControlAnnotations(t *testing.T) {
	reg, err := scalers.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{v1alpha1.AnnotationPaused, v1alpha1.AnnotationPausedScaleIn, v1alpha1.AnnotationPausedScaleOut, v1alpha1.AnnotationForceActivation} {
		for _, v := range []string{"yes", "True", "", "1", strings.Repeat("x", 10000)} {
			so := &v1alpha1.ScaledObject{ObjectMeta: metav1.ObjectMeta{Name: "o", Namespace: "ns", Annotations: map[string]string{key: v}}}
			msg := ValidateSpec(reg, so).ToAggregate()
			if msg == nil || !strings.Contains(msg.Error(), "metadata.annotations["+key+"]") || !strings.Contains(msg.Error(), `expected "true" or "false"`) {
				t.Errorf("%s=%.10q: %v", key, v, msg)
			} else if len(msg.Error()) > 400 {
				t.Errorf("%s: the error quotes %d bytes", key, len(msg.Error()))
			}
		}
		for _, v := range []string{"true", "false"} {
			so := &v1alpha1.ScaledObject{ObjectMeta: metav1.ObjectMeta{Name: "o", Namespace: "ns", Annotations: map[string]string{key: v}}}
			if errs := ValidateSpec(reg, so); errs != nil {
				t.Errorf("%s=%s: %v", key, v, errs)
			}
		}
	}
}
