// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"testing"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

func queue(name string, q, target float64) JobTrigger {
	return JobTrigger{Name: name, Queue: q, Target: target, Active: q > 0, Known: true}
}

func TestDecideJobs(t *testing.T) {
	type in = JobInputs
	one := func(q, target float64) []JobTrigger { return []JobTrigger{queue("q", q, target)} }
	cases := []struct {
		name   string
		in     JobInputs
		create int32
		reason string
	}{
		{"default: 10 messages at 2 a Job and none running make 5 Jobs",
			in{Triggers: one(10, 2), Max: 100}, 5, ReasonJobsCreated},
		{"default: 9 messages at 2 a Job round up to 5 Jobs",
			in{Triggers: one(9, 2), Max: 100}, 5, ReasonJobsCreated},
		{"default: running Jobs are subtracted",
			in{Triggers: one(10, 2), Running: 3, Max: 100}, 2, ReasonJobsCreated},
		{"default: as many running as wanted creates nothing",
			in{Triggers: one(10, 2), Running: 5, Max: 100}, 0, ReasonEnoughRunning},
		{"default: maxReplicaCount caps the Jobs running",
			in{Triggers: one(100, 1), Running: 2, Max: 5}, 3, ReasonJobsCreated},
		{"default: at maxReplicaCount nothing is created",
			in{Triggers: one(100, 1), Running: 5, Max: 5}, 0, ReasonAtMax},
		{"default: an empty queue creates nothing",
			in{Triggers: one(0, 1), Max: 10}, 0, ReasonNoWork},
		{"an inactive trigger (value at or below its activation threshold) is no work",
			in{Triggers: []JobTrigger{{Name: "q", Queue: 3, Target: 1, Known: true}}, Max: 10}, 0, ReasonNoWork},
		{"minReplicaCount keeps Jobs running without work",
			in{Triggers: one(0, 1), Running: 1, Min: 3, Max: 10}, 2, ReasonMinJobs},
		{"minReplicaCount adds to work below it",
			in{Triggers: one(1, 1), Min: 3, Max: 10}, 3, ReasonJobsCreated},
		{"a trigger that cannot be read creates no Job for work",
			in{Triggers: []JobTrigger{{Name: "q", Target: 1}}, Max: 10}, 0, ReasonTriggerError},
		{"a trigger that cannot be read still keeps minReplicaCount",
			in{Triggers: []JobTrigger{{Name: "q", Target: 1}}, Min: 2, Max: 10}, 2, ReasonTriggerError},
		{"one unknown trigger among known ones creates no Job for work",
			in{Triggers: []JobTrigger{queue("a", 50, 1), {Name: "b", Target: 1}}, Max: 100}, 0, ReasonTriggerError},
		{"paused creates nothing, not even minReplicaCount",
			in{Triggers: one(10, 1), Min: 2, Max: 10, Paused: true}, 0, ReasonPaused},

		{"custom: deduction and a share of the running Jobs are subtracted",
			in{Strategy: v1alpha1.JobScalingCustom, Triggers: one(20, 1), Running: 4, QueueDeduction: 2, RunningPercentage: 0.5, Max: 100}, 16, ReasonJobsCreated},
		{"custom: the running share rounds down",
			in{Strategy: v1alpha1.JobScalingCustom, Triggers: one(10, 1), Running: 3, RunningPercentage: 0.5, Max: 100}, 9, ReasonJobsCreated},
		{"custom: never below zero",
			in{Strategy: v1alpha1.JobScalingCustom, Triggers: one(2, 1), QueueDeduction: 5, Max: 100}, 0, ReasonEnoughRunning},
		{"custom: capped by the free slots",
			in{Strategy: v1alpha1.JobScalingCustom, Triggers: one(50, 1), Running: 8, Max: 10}, 2, ReasonJobsCreated},

		{"accurate: the queue excludes taken work, so only pending Jobs are subtracted",
			in{Strategy: v1alpha1.JobScalingAccurate, Triggers: one(6, 1), Running: 4, Pending: 1, Max: 100}, 5, ReasonJobsCreated},
		{"accurate: fills the free slots when the work would pass max",
			in{Strategy: v1alpha1.JobScalingAccurate, Triggers: one(8, 1), Running: 4, Pending: 4, Max: 10}, 6, ReasonJobsCreated},
		{"accurate: pending Jobs cover the queue",
			in{Strategy: v1alpha1.JobScalingAccurate, Triggers: one(3, 1), Running: 3, Pending: 3, Max: 10}, 0, ReasonEnoughRunning},

		{"eager: running Jobs are not subtracted while there is work",
			in{Strategy: v1alpha1.JobScalingEager, Triggers: one(3, 1), Running: 4, Max: 10}, 3, ReasonJobsCreated},
		{"eager: fills up to max",
			in{Strategy: v1alpha1.JobScalingEager, Triggers: one(30, 1), Running: 4, Max: 10}, 6, ReasonJobsCreated},
		{"eager: no work, no Job",
			in{Strategy: v1alpha1.JobScalingEager, Triggers: one(0, 1), Running: 4, Max: 10}, 0, ReasonNoWork},

		{"max of several triggers (the default)",
			in{Triggers: []JobTrigger{queue("a", 4, 1), queue("b", 10, 5)}, Max: 100}, 4, ReasonJobsCreated},
		{"min of several triggers",
			in{Calculation: v1alpha1.CalculationMin, Triggers: []JobTrigger{queue("a", 4, 1), queue("b", 10, 5)}, Max: 100}, 2, ReasonJobsCreated},
		{"avg of several triggers rounds up after averaging",
			in{Calculation: v1alpha1.CalculationAvg, Triggers: []JobTrigger{queue("a", 4, 1), queue("b", 5, 5)}, Max: 100}, 3, ReasonJobsCreated},
		{"sum of several triggers",
			in{Calculation: v1alpha1.CalculationSum, Triggers: []JobTrigger{queue("a", 4, 1), queue("b", 10, 5)}, Max: 100}, 6, ReasonJobsCreated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := DecideJobs(c.in)
			if d.Create != c.create || d.Reason != c.reason {
				t.Errorf("DecideJobs = create %d (%s: %s), want %d (%s)", d.Create, d.Reason, d.Message, c.create, c.reason)
			}
			if d.Create > max(c.in.Max-c.in.Running, 0) {
				t.Errorf("creates %d with %d of %d running", d.Create, c.in.Running, c.in.Max)
			}
		})
	}
}
