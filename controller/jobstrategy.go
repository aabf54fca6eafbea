// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"fmt"
	"math"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

// JobTrigger is one trigger's reading as a ScaledJob's strategy sees it.
type JobTrigger struct {
	Name string
	// Queue is the trigger's value: the work waiting (messages, rows...).
	Queue float64
	// Target is the work one Job takes.
	Target float64
	// Active says whether the value is above the activation threshold.
	Active bool
	// Known is false when the last read failed (or none was made yet).
	Known bool
}

// JobInputs is everything a ScaledJob's Job count depends on.
type JobInputs struct {
	Strategy    v1alpha1.JobScalingStrategy
	Calculation v1alpha1.MultipleScalersCalculation
	Triggers    []JobTrigger
	// Running counts the ScaledJob's Jobs that have not finished; Pending
	// counts those among them whose pods do not run yet.
	Running, Pending int32
	Min, Max         int32
	// QueueDeduction and RunningPercentage are the custom strategy's
	// parameters.
	QueueDeduction    int32
	RunningPercentage float64
	Paused            bool
}

// JobDecision is how many Jobs to create now, and why.
type JobDecision struct {
	// Create is the number of Jobs to create now (0 or more).
	Create int32
	// Wanted is the number of Jobs the queued work asks for, ceil(W), before
	// the strategy subtracts running ones and caps at max.
	Wanted int32
	// Known is false when a trigger could not be read: then no Job is made
	// for work (only up to minReplicaCount).
	Known bool
	// Active says whether a trigger is active.
	Active bool
	// Unknown names the triggers that could not be read.
	Unknown []string
	Reason  string
	Message string
}

// Reasons of Job decisions.
const (
	ReasonJobsCreated   = "JobsCreated"
	ReasonNoWork        = "NoWork"
	ReasonAtMax         = "MaxReplicaCount"
	ReasonEnoughRunning = "EnoughRunning"
	ReasonTriggerError  = "TriggerError"
	ReasonMinJobs       = "MinReplicaCount"
)

// JobWork is W, the queued work measured in Jobs: each trigger's
// queue ÷ target, combined across triggers by calc (max, min, avg or sum).
// It is 0 when no trigger is active. Call it with known triggers only.
func JobWork(calc v1alpha1.MultipleScalersCalculation, ts []JobTrigger) float64 {
	var w []float64
	active := false
	for _, t := range ts {
		target := t.Target
		if target <= 0 {
			target = 1
		}
		w = append(w, max(t.Queue, 0)/target)
		active = active || t.Active
	}
	if len(w) == 0 || !active {
		return 0
	}
	out := w[0]
	switch calc {
	case v1alpha1.CalculationMin:
		for _, x := range w[1:] {
			out = min(out, x)
		}
	case v1alpha1.CalculationAvg, v1alpha1.CalculationSum:
		for _, x := range w[1:] {
			out += x
		}
		if calc == v1alpha1.CalculationAvg {
			out /= float64(len(w))
		}
	default: // max
		for _, x := range w[1:] {
			out = max(out, x)
		}
	}
	return out
}

// DecideJobs computes how many Jobs a ScaledJob creates on one poll. With
// W = JobWork, wanted = ceil(W), R = running Jobs, P = pending Jobs and
// free = max − R:
//
//	default:  wanted − R
//	custom:   wanted − customScalingQueueLengthDeduction − ⌊customScalingRunningJobPercentage × R⌋
//	accurate: wanted − P, or free when wanted + R > max
//	eager:    wanted
//
// each then capped to [0, free], and raised to min − R when fewer than
// minReplicaCount Jobs run. A paused ScaledJob creates nothing; one with a
// trigger that could not be read creates only up to minReplicaCount: an
// unknown value is never taken for a zero, nor for work.
func DecideJobs(in JobInputs) JobDecision {
	d := JobDecision{Known: true}
	var known []JobTrigger
	for _, t := range in.Triggers {
		if !t.Known {
			d.Known = false
			d.Unknown = append(d.Unknown, t.Name)
			continue
		}
		known = append(known, t)
		d.Active = d.Active || t.Active
	}
	free := max(in.Max-in.Running, 0)
	if in.Paused {
		d.Reason, d.Message = ReasonPaused, "paused by annotation: no Job is created"
		return d
	}
	floor := min(max(in.Min-in.Running, 0), free)
	if !d.Known {
		d.Create = floor
		d.Reason = ReasonTriggerError
		d.Message = fmt.Sprintf("%s could not be read: no Job is created for work", triggerList(d.Unknown))
		if floor > 0 {
			d.Message += fmt.Sprintf("; %d created to keep minReplicaCount %d running", floor, in.Min)
		}
		return d
	}
	w := JobWork(in.Calculation, known)
	wanted := int64(math.Ceil(w))
	if wanted > math.MaxInt32 {
		wanted = math.MaxInt32
	}
	d.Wanted = int32(wanted)
	running, pending := int64(in.Running), int64(in.Pending)
	var n int64
	switch in.Strategy {
	case v1alpha1.JobScalingCustom:
		n = wanted - int64(in.QueueDeduction) - int64(math.Floor(in.RunningPercentage*float64(running)))
	case v1alpha1.JobScalingAccurate:
		if wanted+running > int64(in.Max) {
			n = int64(free)
		} else {
			n = wanted - pending
		}
	case v1alpha1.JobScalingEager:
		n = wanted
	default:
		n = wanted - running
	}
	n = min(max(n, 0), int64(free))
	d.Create = max(int32(n), floor)
	switch {
	case d.Create > 0 && n == 0:
		d.Reason, d.Message = ReasonMinJobs, fmt.Sprintf("%d running, minReplicaCount %d", in.Running, in.Min)
	case d.Create > 0:
		d.Reason, d.Message = ReasonJobsCreated, fmt.Sprintf("queued work asks for %d Jobs, %d running", wanted, in.Running)
	case wanted == 0:
		d.Reason, d.Message = ReasonNoWork, "no queued work"
	case free == 0:
		d.Reason, d.Message = ReasonAtMax, fmt.Sprintf("%d Jobs running, maxReplicaCount %d", in.Running, in.Max)
	default:
		d.Reason, d.Message = ReasonEnoughRunning, fmt.Sprintf("queued work asks for %d Jobs, %d running (%d pending)", wanted, in.Running, in.Pending)
	}
	return d
}
