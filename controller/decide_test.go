// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"strings"
	"testing"
	"time"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// base is a ScaledObject at its defaults: min 0, max 100, cooldown 300 s,
// created an hour ago, one known, inactive trigger.
func base(mut ...func(*Inputs)) Inputs {
	in := Inputs{
		Now: t0, Created: t0.Add(-time.Hour), Min: 0, Max: 100, Cooldown: 300 * time.Second,
		Triggers: []TriggerHealth{{Name: "queue", Known: true}},
	}
	for _, m := range mut {
		m(&in)
	}
	return in
}

func current(n int32) func(*Inputs) { return func(in *Inputs) { in.Current = n } }
func lastActive(ago time.Duration) func(*Inputs) {
	return func(in *Inputs) { la := t0.Add(-ago); in.LastActive = &la }
}
func activeTrigger(v float64) func(*Inputs) {
	return func(in *Inputs) { in.Triggers = []TriggerHealth{{Name: "queue", Known: true, Active: true, Value: v}} }
}
func failingTrigger(failures int32) func(*Inputs) {
	return func(in *Inputs) { in.Triggers = []TriggerHealth{{Name: "queue", Failures: failures}} }
}
func fallback(threshold, replicas int32, b v1alpha1.FallbackBehavior) func(*Inputs) {
	return func(in *Inputs) {
		in.Fallback = &v1alpha1.Fallback{FailureThreshold: threshold, Replicas: replicas, Behavior: b}
	}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name       string
		in         Inputs
		want       *int32 // replicas to write, nil for none
		reason     string
		msg        string
		fallback   bool
		paused     bool
		cooldownIn time.Duration
	}{
		// Activation.
		{"an active trigger at zero scales to one at once", base(current(0), activeTrigger(37)), ptr[int32](1), ReasonScaledFromZero, `trigger "queue" active (value 37)`, false, false, 0},
		{"an active trigger at zero scales to minReplicaCount when it is above one", base(current(0), activeTrigger(1), func(in *Inputs) { in.Min = 3 }), ptr[int32](3), ReasonScaledFromZero, "from 0 to 3", false, false, 0},
		{"an active trigger at idle scales to minReplicaCount", base(current(0), activeTrigger(1), func(in *Inputs) { in.Min = 2; in.Idle = ptr[int32](0) }), ptr[int32](2), ReasonScaledFromZero, "", false, false, 0},
		{"an active trigger above zero leaves the count to the HPA", base(current(4), activeTrigger(80)), nil, "", "", false, false, 0},
		{"an inactive trigger at zero stays at zero", base(current(0)), nil, "", "", false, false, 0},
		{"zero replicas below a minReplicaCount rise to it even when inactive", base(current(0), func(in *Inputs) { in.Min = 2 }), ptr[int32](2), ReasonBelowMinimum, "below minReplicaCount", false, false, 0},
		{"idle replicas below minReplicaCount stay idle while inactive", base(current(0), func(in *Inputs) { in.Min = 2; in.Idle = ptr[int32](0) }), nil, "", "", false, false, 0},

		// Cooldown.
		{"inactive within the cooldown since last active waits", base(current(1), lastActive(100*time.Second)), nil, "", "cooling down for 3m20s more", false, false, 200 * time.Second},
		{"inactive past the cooldown at one replica scales to zero", base(current(1), lastActive(301*time.Second)), ptr[int32](0), ReasonScaledToZero, "no trigger active for 5m0s", false, false, 0},
		{"inactive exactly at the cooldown scales to zero", base(current(1), lastActive(300*time.Second)), ptr[int32](0), ReasonScaledToZero, "", false, false, 0},
		{"never active and past the initial cooldown scales to zero", base(current(1)), ptr[int32](0), ReasonScaledToZero, "", false, false, 0},
		{"inactive within the initial cooldown waits", base(current(1), func(in *Inputs) { in.InitialCooldown = 2 * time.Hour }), nil, "", "initial cooldown", false, false, time.Hour},
		{"idle replicas are the resting count past the cooldown", base(current(2), lastActive(time.Hour), func(in *Inputs) { in.Min = 2; in.Idle = ptr[int32](0) }), ptr[int32](0), ReasonScaledToIdle, "", false, false, 0},
		{"minReplicaCount above zero never goes to zero", base(current(2), lastActive(time.Hour), func(in *Inputs) { in.Min = 2 }), nil, "", "", false, false, 0},

		// Step-wise and direct.
		{"step-wise waits for the HPA to reach one replica", base(current(5), lastActive(time.Hour)), nil, "", "waiting for the HPA to bring 5 replicas down to 1", false, false, 0},
		{"direct drops from any count to zero", base(current(5), lastActive(time.Hour), func(in *Inputs) { in.ScaleToZero = v1alpha1.ScaleToZeroDirect }), ptr[int32](0), ReasonScaledToZero, "from 5 to 0", false, false, 0},

		// Errors are not zeros.
		{"an unknown trigger never lets the target go to zero", base(current(1), lastActive(time.Hour), failingTrigger(1)), nil, "", `trigger "queue" unknown`, false, false, 0},
		{"an unknown trigger beside an inactive one still holds", base(current(1), lastActive(time.Hour), func(in *Inputs) {
			in.Triggers = []TriggerHealth{{Name: "a", Known: true}, {Name: "b"}}
		}), nil, "", `trigger "b" unknown`, false, false, 0},
		{"an unknown trigger never activates", base(current(0), failingTrigger(1)), nil, "", "", false, false, 0},
		{"an active trigger beside an unknown one activates", base(current(0), func(in *Inputs) {
			in.Triggers = []TriggerHealth{{Name: "a", Known: true, Active: true, Value: 3}, {Name: "b"}}
		}), ptr[int32](1), ReasonScaledFromZero, "", false, false, 0},

		// Fallback.
		{"below the failure threshold there is no fallback", base(current(0), failingTrigger(2), fallback(3, 4, "")), nil, "", "", false, false, 0},
		{"static fallback at zero replicas scales to the fallback count", base(current(0), failingTrigger(3), fallback(3, 4, v1alpha1.FallbackStatic)), ptr[int32](4), ReasonFallback, "failed 3 or more times", true, false, 0},
		{"static fallback above zero is left to the HPA, which reads the fallback metric", base(current(7), failingTrigger(3), fallback(3, 4, v1alpha1.FallbackStatic)), nil, "", "the HPA holds the fallback of 4", true, false, 0},
		{"currentReplicas fallback holds the current count", base(current(6), failingTrigger(9), fallback(3, 4, v1alpha1.FallbackCurrentReplicas)), nil, "", "fallback of 6", true, false, 0},
		{"currentReplicasIfHigher fallback takes the higher count", base(current(0), failingTrigger(3), fallback(3, 4, v1alpha1.FallbackCurrentReplicasIfHigher)), ptr[int32](4), ReasonFallback, "", true, false, 0},
		{"currentReplicasIfLower fallback takes the lower count", base(current(6), failingTrigger(3), fallback(3, 4, v1alpha1.FallbackCurrentReplicasIfLower)), nil, "", "fallback of 4", true, false, 0},
		{"fallback to zero replicas drops an inactive target", base(current(3), failingTrigger(3), fallback(3, 0, v1alpha1.FallbackStatic)), ptr[int32](0), ReasonFallback, "", true, false, 0},
		{"fallback never scales to zero through the cooldown", base(current(1), lastActive(time.Hour), failingTrigger(5), fallback(3, 1, "")), nil, "", "", true, false, 0},

		// Pause.
		{"paused freezes the count, even when active at zero", base(current(0), activeTrigger(50), func(in *Inputs) { in.Paused = true }), nil, "", "paused", false, true, 0},
		{"paused-replicas scales to its count", base(current(5), func(in *Inputs) { in.PausedReplicas = ptr[int32](2) }), ptr[int32](2), ReasonPausedReplicas, "paused at 2", false, true, 0},
		{"paused-replicas wins over paused", base(current(5), func(in *Inputs) { in.Paused = true; in.PausedReplicas = ptr[int32](0) }), ptr[int32](0), ReasonPausedReplicas, "", false, true, 0},
		{"paused-replicas at its count does nothing", base(current(2), func(in *Inputs) { in.PausedReplicas = ptr[int32](2) }), nil, "", "", false, true, 0},
		{"pause wins over fallback", base(current(0), failingTrigger(9), fallback(1, 4, ""), func(in *Inputs) { in.Paused = true }), nil, "", "", false, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.in)
			checkMove(t, d, tt.want, tt.reason, tt.msg)
			if d.InFallback != tt.fallback {
				t.Errorf("InFallback = %v, want %v", d.InFallback, tt.fallback)
			}
			if d.Paused != tt.paused {
				t.Errorf("Paused = %v, want %v", d.Paused, tt.paused)
			}
			if d.CooldownRemaining != tt.cooldownIn {
				t.Errorf("CooldownRemaining = %s, want %s", d.CooldownRemaining, tt.cooldownIn)
			}
		})
	}
}

// checkMove checks a decision's move (nil: none), its reason and that its
// message contains msg.
func checkMove(t *testing.T, d Decision, want *int32, reason, msg string) {
	t.Helper()
	switch {
	case want == nil && d.Replicas != nil:
		t.Errorf("Replicas = %d (%s: %s), want no change", *d.Replicas, d.Reason, d.Message)
	case want != nil && d.Replicas == nil:
		t.Errorf("no change (%s), want %d", d.Message, *want)
	case want != nil && *d.Replicas != *want:
		t.Errorf("Replicas = %d, want %d", *d.Replicas, *want)
	}
	if d.Reason != reason {
		t.Errorf("Reason = %q, want %q", d.Reason, reason)
	}
	if !strings.Contains(d.Message, msg) {
		t.Errorf("Message = %q, want it to contain %q", d.Message, msg)
	}
}

func TestDecideRecordsLastActiveTime(t *testing.T) {
	d := Decide(base(current(3), activeTrigger(1), lastActive(time.Hour)))
	if d.LastActive == nil || !d.LastActive.Equal(t0) {
		t.Errorf("LastActive = %v, want now", d.LastActive)
	}
	la := t0.Add(-time.Minute)
	d = Decide(base(current(3), func(in *Inputs) { in.LastActive = &la }))
	if d.LastActive == nil || !d.LastActive.Equal(la) {
		t.Errorf("an inactive decision changed LastActive to %v", d.LastActive)
	}
	if d := Decide(base(failingTrigger(1))); !d.NoneKnown || d.Active {
		t.Errorf("all triggers failing: NoneKnown=%v Active=%v, want true/false", d.NoneKnown, d.Active)
	}
}
