// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"fmt"
	"strings"
	"time"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

// TriggerHealth is what the scale loop knows of one trigger when it decides.
type TriggerHealth struct {
	Name  string
	Value float64
	// Known says the last read succeeded; an unknown trigger neither
	// activates the target nor lets it go to zero.
	Known  bool
	Active bool
	// Failures counts consecutive failed reads.
	Failures int32
}

// Inputs are everything a scale decision depends on. The scale loop gathers
// them; Decide turns them into a Decision with no I/O and no clock of its own.
type Inputs struct {
	Now     time.Time
	Created time.Time // the ScaledObject's creation time

	Min, Max        int32
	Idle            *int32
	Cooldown        time.Duration
	InitialCooldown time.Duration
	ScaleToZero     v1alpha1.ScaleToZero
	Fallback        *v1alpha1.Fallback

	Paused         bool
	PausedReplicas *int32
	// Controls are the directional annotations (ControlsOf); a full pause
	// wins over them.
	Controls Controls

	// Current is the target's replica count (its /scale spec.replicas).
	Current    int32
	LastActive *time.Time
	Triggers   []TriggerHealth
}

// Controls are the annotations that hold a ScaledObject's scaling in one
// direction or force it active (ControlsOf).
type Controls struct {
	// PausedScaleIn: the replica count may rise but never falls.
	PausedScaleIn bool
	// PausedScaleOut: the replica count may fall but never rises.
	PausedScaleOut bool
	// ForceActivation: the ScaledObject is active whatever its triggers
	// read, so the target is never at zero (or idle).
	ForceActivation bool
}

// Reasons of scale decisions; they are the reasons of the Events too.
const (
	// ReasonForcedActivation: woken from zero (or idle) by the annotation
	// ebb.dev/force-activation with no trigger active. It is the Active
	// condition's reason then too.
	ReasonForcedActivation = "ForcedActivation"
	ReasonScaledFromZero   = "ScaledFromZero"
	ReasonScaledToZero     = "ScaledToZero"
	ReasonScaledToIdle     = "ScaledToIdle"
	ReasonBelowMinimum     = "ScaledToMinimum"
	ReasonFallback         = "FallbackReplicas"
	ReasonPausedReplicas   = "PausedReplicas"
)

// Decision is what the scale loop should do now and record in status.
type Decision struct {
	// Replicas, when set, is the replica count to write to the target now.
	// Between 1 and N the HPA decides; Replicas is set only for the moves the
	// HPA cannot make (0↔1, fallback at zero, pause).
	Replicas *int32
	// Reason and Message explain Replicas (an Event) or, when Replicas is
	// nil, why nothing moved.
	Reason  string
	Message string

	// Active says some trigger is active; NoneKnown says no trigger could be
	// read, so activity is unknown.
	Active    bool
	NoneKnown bool
	// LastActive is the updated last active time.
	LastActive *time.Time
	// InFallback says a trigger reached the fallback failure threshold;
	// FallbackReplicas is then the count that holds.
	InFallback       bool
	FallbackReplicas int32
	Paused           bool
	// Forced says the ScaledObject is active by the force-activation
	// annotation alone: no trigger is.
	Forced bool
	// PausedScaleIn and PausedScaleOut are the directional pauses in
	// effect (not under a full pause). Held says one of them withheld a
	// move; Message then says which.
	PausedScaleIn, PausedScaleOut bool
	Held                          bool
	// CooldownRemaining is how long until the target may go to zero (or
	// idle), when it is waiting for that.
	CooldownRemaining time.Duration
}

// Decide applies Ebb's scaling semantics (DESIGN.md, "Scaling semantics").
func Decide(in Inputs) Decision {
	var d Decision
	var active, unknown []string
	var activeValue float64
	for _, t := range in.Triggers {
		switch {
		case !t.Known:
			unknown = append(unknown, t.Name)
		case t.Active:
			if len(active) == 0 {
				activeValue = t.Value
			}
			active = append(active, t.Name)
		}
	}
	d.Active = len(active) > 0
	d.NoneKnown = len(in.Triggers) > 0 && len(unknown) == len(in.Triggers)
	if in.Controls.ForceActivation && !d.Active {
		d.Active, d.Forced = true, true
	}
	d.LastActive = in.LastActive
	if d.Active {
		now := in.Now
		d.LastActive = &now
	}

	// Pause wins over everything; paused-replicas wins over paused.
	if in.PausedReplicas != nil {
		d.Paused = true
		n := *in.PausedReplicas
		if in.Current != n {
			d.Replicas = &n
			d.Reason = ReasonPausedReplicas
			d.Message = fmt.Sprintf("paused at %d replicas by annotation %s", n, v1alpha1.AnnotationPausedReplicas)
		}
		return d
	}
	if in.Paused {
		d.Paused = true
		d.Message = "paused by annotation " + v1alpha1.AnnotationPaused
		return d
	}
	d.PausedScaleIn, d.PausedScaleOut = in.Controls.PausedScaleIn, in.Controls.PausedScaleOut

	if fb := in.Fallback; fb != nil {
		var failing []string
		for _, t := range in.Triggers {
			if t.Failures >= fb.FailureThreshold {
				failing = append(failing, t.Name)
			}
		}
		if len(failing) > 0 {
			d.InFallback = true
			d.FallbackReplicas = FallbackReplicas(fb, in.Current)
			why := fmt.Sprintf("%s failed %d or more times in a row", triggerList(failing), fb.FailureThreshold)
			switch {
			case in.Current == 0 && d.FallbackReplicas > 0,
				d.FallbackReplicas == 0 && in.Current > 0 && !d.Active:
				n := d.FallbackReplicas
				if d.hold(in, n, why) {
					return d
				}
				d.Replicas = &n
				d.Reason = ReasonFallback
				d.Message = fmt.Sprintf("%s: holding the fallback of %d replicas", why, n)
			default:
				d.Message = fmt.Sprintf("%s: the HPA holds the fallback of %d replicas", why, d.FallbackReplicas)
			}
			return d
		}
	}

	rest := in.Min
	if in.Idle != nil {
		rest = *in.Idle
	}
	working := max(in.Min, 1)

	if d.Active && in.Current <= rest && in.Current < working {
		why := fmt.Sprintf("%s active (value %s)", triggerList(active), formatValue(activeValue))
		reason := ReasonScaledFromZero
		if d.Forced {
			why, reason = "active by annotation "+v1alpha1.AnnotationForceActivation, ReasonForcedActivation
		}
		if d.hold(in, working, why) {
			return d
		}
		d.Replicas = &working
		d.Reason = reason
		if in.Current > 0 {
			d.Reason = ReasonBelowMinimum
		}
		d.Message = fmt.Sprintf("%s: scaling from %d to %d", why, in.Current, working)
		return d
	}
	if in.Current == 0 && rest > 0 {
		if d.hold(in, rest, "below minReplicaCount") {
			return d
		}
		d.Replicas = &rest
		d.Reason = ReasonBelowMinimum
		d.Message = fmt.Sprintf("below minReplicaCount: scaling from 0 to %d", rest)
		return d
	}
	if d.Active || in.Current <= rest {
		return d
	}

	// Inactive and above the resting count: may it go down to rest?
	if d.hold(in, rest, "no trigger active") {
		return d
	}
	if len(unknown) > 0 {
		d.Message = fmt.Sprintf("%s unknown: not scaling to %d while it cannot be read", triggerList(unknown), rest)
		return d
	}
	if wait := in.Created.Add(in.InitialCooldown).Sub(in.Now); wait > 0 {
		d.CooldownRemaining = wait
		d.Message = fmt.Sprintf("in the initial cooldown for %s more", wait.Round(time.Second))
		return d
	}
	if in.LastActive != nil {
		if wait := in.LastActive.Add(in.Cooldown).Sub(in.Now); wait > 0 {
			d.CooldownRemaining = wait
			d.Message = fmt.Sprintf("no trigger active; cooling down for %s more", wait.Round(time.Second))
			return d
		}
	}
	if in.ScaleToZero != v1alpha1.ScaleToZeroDirect && in.Current > working {
		d.Message = fmt.Sprintf("no trigger active past the cooldown; waiting for the HPA to bring %d replicas down to %d", in.Current, working)
		return d
	}
	d.Replicas = &rest
	d.Reason = ReasonScaledToZero
	if rest > 0 || in.Idle != nil {
		d.Reason = ReasonScaledToIdle
	}
	d.Message = fmt.Sprintf("no trigger active for %s (cooldown): scaling from %d to %d", in.Cooldown, in.Current, rest)
	return d
}

// hold says whether a directional pause forbids the move from in.Current to
// n; then it records why in d (Held and Message), why being what asked for
// the move.
func (d *Decision) hold(in Inputs, n int32, why string) bool {
	var dir, annotation string
	switch {
	case n > in.Current && in.Controls.PausedScaleOut:
		dir, annotation = "scale-out", v1alpha1.AnnotationPausedScaleOut
	case n < in.Current && in.Controls.PausedScaleIn:
		dir, annotation = "scale-in", v1alpha1.AnnotationPausedScaleIn
	default:
		return false
	}
	d.Held = true
	d.Message = fmt.Sprintf("%s: not scaling from %d to %d, %s is paused by annotation %s", why, in.Current, n, dir, annotation)
	return true
}

// ControlsOf reads the directional annotations of so. A value other than
// "true" is false here; admission rejects anything but "true" and "false".
func ControlsOf(so *v1alpha1.ScaledObject) Controls {
	a := so.Annotations
	return Controls{
		PausedScaleIn:   a[v1alpha1.AnnotationPausedScaleIn] == "true",
		PausedScaleOut:  a[v1alpha1.AnnotationPausedScaleOut] == "true",
		ForceActivation: a[v1alpha1.AnnotationForceActivation] == "true",
	}
}

// FallbackReplicas is the replica count that holds while fb is in effect
// and the target has current replicas, by fb's behavior.
func FallbackReplicas(fb *v1alpha1.Fallback, current int32) int32 {
	switch fb.Behavior {
	case v1alpha1.FallbackCurrentReplicas:
		return current
	case v1alpha1.FallbackCurrentReplicasIfHigher:
		return max(current, fb.Replicas)
	case v1alpha1.FallbackCurrentReplicasIfLower:
		return min(current, fb.Replicas)
	default:
		return fb.Replicas
	}
}

func triggerList(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	if len(names) == 1 {
		return "trigger " + quoted[0]
	}
	return "triggers " + strings.Join(quoted, ", ")
}

func formatValue(v float64) string {
	return fmt.Sprintf("%g", v)
}
