// SPDX-License-Identifier: Apache-2.0

package v1alpha1

import (
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LabelScaledJob labels every Job Ebb creates for a ScaledJob; its value is
// the ScaledJob's name.
const LabelScaledJob = "ebb.dev/scaledjob"

// ScaledJob runs Kubernetes Jobs on events: every polling interval it reads
// its triggers and creates as many Jobs as the queued work needs, each Job
// taking a batch of the work, up to maxReplicaCount running at once.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="metadata.name must be at most 63 characters: Ebb uses it as a label value"
// +kubebuilder:resource:shortName=ebbsj;ebbsjs,categories=ebb
// +kubebuilder:printcolumn:name="Strategy",type=string,JSONPath=`.spec.scalingStrategy.strategy`
// +kubebuilder:printcolumn:name="Max",type=integer,JSONPath=`.spec.maxReplicaCount`
// +kubebuilder:printcolumn:name="Running",type=integer,JSONPath=`.status.runningJobs`
// +kubebuilder:printcolumn:name="Triggers",type=string,JSONPath=`.spec.triggers[*].type`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Active",type=string,JSONPath=`.status.conditions[?(@.type=="Active")].status`
// +kubebuilder:printcolumn:name="Paused",type=string,JSONPath=`.status.conditions[?(@.type=="Paused")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ScaledJob struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ScaledJobSpec   `json:"spec"`
	Status ScaledJobStatus `json:"status,omitempty"`
}

// ScaledJobList is a list of ScaledJobs.
//
// +kubebuilder:object:root=true
type ScaledJobList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ScaledJob `json:"items"`
}

// ScaledJobSpec is what the user asks for.
//
// +kubebuilder:validation:XValidation:rule="self.minReplicaCount <= self.maxReplicaCount",message="minReplicaCount must be less than or equal to maxReplicaCount",fieldPath=".minReplicaCount"
// +kubebuilder:validation:XValidation:rule="self.triggers.all(t, !has(t.name) || self.triggers.exists_one(u, has(u.name) && u.name == t.name))",message="trigger names must be unique",fieldPath=".triggers"
type ScaledJobSpec struct {
	// JobTargetRef is the spec of every Job created: its pod template,
	// parallelism, completions, activeDeadlineSeconds, backoffLimit...
	JobTargetRef batchv1.JobSpec `json:"jobTargetRef"`

	// PollingInterval is how often, in seconds, the triggers are read and
	// Jobs created.
	// +kubebuilder:default=30
	// +kubebuilder:validation:Minimum=1
	// +optional
	PollingInterval *int32 `json:"pollingInterval,omitempty"`

	// SuccessfulJobsHistoryLimit is how many completed Jobs are kept; older
	// ones are deleted.
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=0
	// +optional
	SuccessfulJobsHistoryLimit *int32 `json:"successfulJobsHistoryLimit,omitempty"`

	// FailedJobsHistoryLimit is how many failed Jobs are kept; older ones are
	// deleted.
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=0
	// +optional
	FailedJobsHistoryLimit *int32 `json:"failedJobsHistoryLimit,omitempty"`

	// MinReplicaCount is the number of Jobs kept running even when there is
	// no work: each poll creates Jobs until at least this many run.
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +optional
	MinReplicaCount *int32 `json:"minReplicaCount,omitempty"`

	// MaxReplicaCount is the highest number of Jobs running at once.
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxReplicaCount *int32 `json:"maxReplicaCount,omitempty"`

	// Rollout says what happens to running Jobs when the ScaledJob changes
	// or is deleted.
	// +optional
	Rollout *Rollout `json:"rollout,omitempty"`

	// ScalingStrategy says how the number of Jobs to create is computed.
	// +optional
	ScalingStrategy *ScalingStrategy `json:"scalingStrategy,omitempty"`

	// EnvSourceContainerName names the container of the Job template whose
	// environment supplies `...FromEnv` trigger parameters; the first
	// container when empty.
	// +optional
	EnvSourceContainerName string `json:"envSourceContainerName,omitempty"`

	// Triggers are the event sources whose queued work the Jobs take.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	Triggers []Trigger `json:"triggers"`
}

// RolloutStrategy says what happens to running Jobs when their ScaledJob
// changes or goes.
// +kubebuilder:validation:Enum=default;gradual
type RolloutStrategy string

// Rollout strategies.
const (
	// RolloutDefault deletes the running Jobs of the old spec (and of a
	// deleted ScaledJob).
	RolloutDefault RolloutStrategy = "default"
	// RolloutGradual leaves running Jobs to finish; only new Jobs use the new
	// spec.
	RolloutGradual RolloutStrategy = "gradual"
)

// Rollout configures what happens to running Jobs on a change.
type Rollout struct {
	// Strategy is default (running Jobs are deleted) or gradual (they are
	// left to finish).
	// +kubebuilder:default=default
	// +optional
	Strategy RolloutStrategy `json:"strategy,omitempty"`
}

// JobScalingStrategy names how the number of Jobs to create is computed.
// +kubebuilder:validation:Enum=default;custom;accurate;eager
type JobScalingStrategy string

// Job scaling strategies; docs/scaledjob.md gives their formulas.
const (
	JobScalingDefault  JobScalingStrategy = "default"
	JobScalingCustom   JobScalingStrategy = "custom"
	JobScalingAccurate JobScalingStrategy = "accurate"
	JobScalingEager    JobScalingStrategy = "eager"
)

// MultipleScalersCalculation combines the triggers' Job counts.
// +kubebuilder:validation:Enum=max;min;avg;sum
type MultipleScalersCalculation string

// Ways to combine triggers.
const (
	CalculationMax MultipleScalersCalculation = "max"
	CalculationMin MultipleScalersCalculation = "min"
	CalculationAvg MultipleScalersCalculation = "avg"
	CalculationSum MultipleScalersCalculation = "sum"
)

// ScalingStrategy says how many Jobs a poll creates.
//
// +kubebuilder:validation:XValidation:rule="!has(self.customScalingQueueLengthDeduction) && !has(self.customScalingRunningJobPercentage) || self.strategy == 'custom'",message="customScalingQueueLengthDeduction and customScalingRunningJobPercentage need strategy custom",fieldPath=".strategy"
type ScalingStrategy struct {
	// Strategy is default, custom, accurate or eager.
	// +kubebuilder:default=default
	// +optional
	Strategy JobScalingStrategy `json:"strategy,omitempty"`

	// CustomScalingQueueLengthDeduction is subtracted from the queue length
	// (strategy custom).
	// +kubebuilder:validation:Minimum=0
	// +optional
	CustomScalingQueueLengthDeduction *int32 `json:"customScalingQueueLengthDeduction,omitempty"`

	// CustomScalingRunningJobPercentage is the share of running Jobs, a
	// decimal number from 0 to 1, subtracted as already taking work
	// (strategy custom).
	// +kubebuilder:validation:Pattern=`^(0(\.[0-9]+)?|1(\.0+)?)$`
	// +optional
	CustomScalingRunningJobPercentage string `json:"customScalingRunningJobPercentage,omitempty"`

	// PendingPodConditions are the pod condition types a Job's pod must all
	// have before the Job counts as running rather than pending (strategies
	// accurate and custom). Empty: a Job counts as pending until it has a
	// ready pod.
	// +listType=atomic
	// +optional
	PendingPodConditions []string `json:"pendingPodConditions,omitempty"`

	// MultipleScalersCalculation combines the triggers: max (the default),
	// min, avg or sum of their queue lengths and targets.
	// +kubebuilder:default=max
	// +optional
	MultipleScalersCalculation MultipleScalersCalculation `json:"multipleScalersCalculation,omitempty"`
}

// ScaledJobStatus is what Ebb observed and decided.
type ScaledJobStatus struct {
	// ObservedGeneration is the generation of the spec last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Active and Paused.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// LastActiveTime is the last time any trigger was active.
	// +optional
	LastActiveTime *metav1.Time `json:"lastActiveTime,omitempty"`

	// RunningJobs is the number of the ScaledJob's Jobs not yet finished, as
	// last counted.
	// +optional
	RunningJobs int32 `json:"runningJobs,omitempty"`

	// PendingJobs is the number of running Jobs whose pods are not yet
	// running, as last counted.
	// +optional
	PendingJobs int32 `json:"pendingJobs,omitempty"`

	// LastCreatedJobs is the number of Jobs the last poll created.
	// +optional
	LastCreatedJobs int32 `json:"lastCreatedJobs,omitempty"`

	// Triggers holds the health of each trigger, in spec order.
	// +listType=atomic
	// +optional
	Triggers []TriggerStatus `json:"triggers,omitempty"`
}
