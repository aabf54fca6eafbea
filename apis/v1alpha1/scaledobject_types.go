// SPDX-License-Identifier: Apache-2.0

package v1alpha1

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotations a user sets on a ScaledObject.
const (
	// AnnotationPaused set to "true" freezes the target's replicas where they are.
	AnnotationPaused = "ebb.dev/paused"
	// AnnotationPausedReplicas set to a whole number scales the target to it and freezes it.
	AnnotationPausedReplicas = "ebb.dev/paused-replicas"
	// AnnotationPausedScaleIn set to "true" lets the target grow but never
	// shrink: the HPA's scale-down is disabled, and Ebb neither scales it to
	// zero (or idle) nor lowers it to a fallback count.
	AnnotationPausedScaleIn = "ebb.dev/paused-scale-in"
	// AnnotationPausedScaleOut set to "true" lets the target shrink but never
	// grow: the HPA's scale-up is disabled, and Ebb neither wakes it from
	// zero (or idle) nor raises it to a minimum or fallback count.
	AnnotationPausedScaleOut = "ebb.dev/paused-scale-out"
	// AnnotationForceActivation set to "true" treats the ScaledObject as
	// active whatever its triggers read: the target is woken from zero (or
	// idle) and never scaled back there while it is set. The HPA still
	// scales between 1 and N on the triggers' values.
	AnnotationForceActivation = "ebb.dev/force-activation"
)

// LabelScaledObject labels what Ebb makes for a ScaledObject (its HPA) and is
// the label selector of every external metric it serves.
const LabelScaledObject = "ebb.dev/scaledobject"

// Condition types of a ScaledObject.
const (
	ConditionReady    = "Ready"
	ConditionActive   = "Active"
	ConditionFallback = "Fallback"
	ConditionPaused   = "Paused"
)

// ScaledObject scales one workload with a /scale subresource on events: the
// values of its triggers. Ebb owns an HPA for it (1↔N) and moves the workload
// between zero and one itself.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="metadata.name must be at most 63 characters: Ebb uses it as a label value"
// +kubebuilder:resource:shortName=ebbso;ebbsos,categories=ebb
// +kubebuilder:printcolumn:name="Kind",type=string,JSONPath=`.spec.scaleTargetRef.kind`
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.scaleTargetRef.name`
// +kubebuilder:printcolumn:name="Min",type=integer,JSONPath=`.spec.minReplicaCount`
// +kubebuilder:printcolumn:name="Max",type=integer,JSONPath=`.spec.maxReplicaCount`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.status.currentReplicas`
// +kubebuilder:printcolumn:name="Triggers",type=string,JSONPath=`.spec.triggers[*].type`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Active",type=string,JSONPath=`.status.conditions[?(@.type=="Active")].status`
// +kubebuilder:printcolumn:name="Fallback",type=string,JSONPath=`.status.conditions[?(@.type=="Fallback")].status`
// +kubebuilder:printcolumn:name="Paused",type=string,JSONPath=`.status.conditions[?(@.type=="Paused")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ScaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ScaledObjectSpec   `json:"spec"`
	Status ScaledObjectStatus `json:"status,omitempty"`
}

// ScaledObjectList is a list of ScaledObjects.
//
// +kubebuilder:object:root=true
type ScaledObjectList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ScaledObject `json:"items"`
}

// ScaledObjectSpec is what the user asks for.
//
// +kubebuilder:validation:XValidation:rule="self.minReplicaCount <= self.maxReplicaCount",message="minReplicaCount must be less than or equal to maxReplicaCount",fieldPath=".minReplicaCount"
// +kubebuilder:validation:XValidation:rule="!has(self.idleReplicaCount) || self.idleReplicaCount < self.minReplicaCount",message="idleReplicaCount must be less than minReplicaCount",fieldPath=".idleReplicaCount"
// +kubebuilder:validation:XValidation:rule="self.triggers.all(t, !has(t.name) || self.triggers.exists_one(u, has(u.name) && u.name == t.name))",message="trigger names must be unique",fieldPath=".triggers"
type ScaledObjectSpec struct {
	// ScaleTargetRef names the workload to scale: any resource with a /scale
	// subresource in the ScaledObject's namespace.
	ScaleTargetRef ScaleTarget `json:"scaleTargetRef"`

	// PollingInterval is how often, in seconds, each trigger is read.
	// +kubebuilder:default=30
	// +kubebuilder:validation:Minimum=1
	// +optional
	PollingInterval *int32 `json:"pollingInterval,omitempty"`

	// CooldownPeriod is how long, in seconds, no trigger may be active since
	// the last active time before the target goes back to zero (or idle).
	// +kubebuilder:default=300
	// +kubebuilder:validation:Minimum=0
	// +optional
	CooldownPeriod *int32 `json:"cooldownPeriod,omitempty"`

	// InitialCooldownPeriod is how long, in seconds after the ScaledObject is
	// created, the target may not be scaled to zero.
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +optional
	InitialCooldownPeriod *int32 `json:"initialCooldownPeriod,omitempty"`

	// IdleReplicaCount, when set, lets a target with minReplicaCount > 0 rest
	// at this count while no trigger is active; it must be less than
	// minReplicaCount. The HPA cannot hold a count below its minReplicas other
	// than zero, so the only value allowed is 0.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=0
	// +optional
	IdleReplicaCount *int32 `json:"idleReplicaCount,omitempty"`

	// MinReplicaCount is the lowest replica count; 0 allows scaling to zero.
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +optional
	MinReplicaCount *int32 `json:"minReplicaCount,omitempty"`

	// MaxReplicaCount is the highest replica count.
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxReplicaCount *int32 `json:"maxReplicaCount,omitempty"`

	// Fallback holds a replica count while triggers keep failing.
	// +optional
	Fallback *Fallback `json:"fallback,omitempty"`

	// Advanced tunes the HPA Ebb owns and the way to zero.
	// +optional
	Advanced *AdvancedConfig `json:"advanced,omitempty"`

	// Triggers are the event sources the target scales on.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	Triggers []Trigger `json:"triggers"`
}

// ScaleTarget names the workload a ScaledObject scales.
type ScaleTarget struct {
	// APIVersion of the target.
	// +kubebuilder:default="apps/v1"
	// +kubebuilder:validation:MinLength=1
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`

	// Kind of the target. It must have a /scale subresource.
	// +kubebuilder:default="Deployment"
	// +kubebuilder:validation:MinLength=1
	// +optional
	Kind string `json:"kind,omitempty"`

	// Name of the target, in the ScaledObject's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// EnvSourceContainerName names the container whose environment supplies
	// `...FromEnv` trigger parameters; the first container when empty.
	// +optional
	EnvSourceContainerName string `json:"envSourceContainerName,omitempty"`
}

// FallbackBehavior says how the fallback replica count combines with the
// current one.
// +kubebuilder:validation:Enum=static;currentReplicas;currentReplicasIfHigher;currentReplicasIfLower
type FallbackBehavior string

// Fallback behaviours.
const (
	FallbackStatic                  FallbackBehavior = "static"
	FallbackCurrentReplicas         FallbackBehavior = "currentReplicas"
	FallbackCurrentReplicasIfHigher FallbackBehavior = "currentReplicasIfHigher"
	FallbackCurrentReplicasIfLower  FallbackBehavior = "currentReplicasIfLower"
)

// Fallback holds Replicas once a trigger has failed FailureThreshold times in
// a row, until it reads again.
type Fallback struct {
	// FailureThreshold is the number of consecutive failures of a trigger
	// after which the fallback holds.
	// +kubebuilder:validation:Minimum=1
	FailureThreshold int32 `json:"failureThreshold"`

	// Replicas is the replica count held while in fallback.
	// +kubebuilder:validation:Minimum=0
	Replicas int32 `json:"replicas"`

	// Behavior combines Replicas with the current replica count.
	// +kubebuilder:default=static
	// +optional
	Behavior FallbackBehavior `json:"behavior,omitempty"`
}

// ScaleToZero says how a target goes from N to zero.
// +kubebuilder:validation:Enum=stepwise;direct
type ScaleToZero string

// Ways to zero.
const (
	// ScaleToZeroStepwise waits until the HPA has brought the target down to
	// one replica, honouring its scale-down behaviour, then drops to zero.
	ScaleToZeroStepwise ScaleToZero = "stepwise"
	// ScaleToZeroDirect drops from any replica count to zero in one step.
	ScaleToZeroDirect ScaleToZero = "direct"
)

// AdvancedConfig tunes the HPA and the way to and from zero.
type AdvancedConfig struct {
	// RestoreToOriginalReplicaCount sets the target back to the replica count
	// it had before Ebb scaled it when the ScaledObject is deleted.
	// +optional
	RestoreToOriginalReplicaCount bool `json:"restoreToOriginalReplicaCount,omitempty"`

	// ScaleToZero is stepwise (the default) or direct.
	// +kubebuilder:default=stepwise
	// +optional
	ScaleToZero ScaleToZero `json:"scaleToZero,omitempty"`

	// ActivationProbeInterval is how often a target at zero (or idle) is
	// probed for activation; it lets 0→1 take about this long instead of up
	// to a polling interval.
	// +kubebuilder:default="1s"
	// +kubebuilder:validation:Format=duration
	// +optional
	ActivationProbeInterval *metav1.Duration `json:"activationProbeInterval,omitempty"`

	// HorizontalPodAutoscalerConfig shapes the HPA Ebb owns.
	// +optional
	HorizontalPodAutoscalerConfig *HorizontalPodAutoscalerConfig `json:"horizontalPodAutoscalerConfig,omitempty"`

	// ScalingModifiers combines the triggers into one composite metric.
	// +optional
	ScalingModifiers *ScalingModifiers `json:"scalingModifiers,omitempty"`
}

// HorizontalPodAutoscalerConfig shapes the HPA Ebb owns.
type HorizontalPodAutoscalerConfig struct {
	// Name of the HPA; ebb-<ScaledObject name> when empty.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Name string `json:"name,omitempty"`

	// Behavior is passed to the HPA as it is.
	// +optional
	Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
}

// MetricType is how a trigger's value is compared to its target.
// +kubebuilder:validation:Enum=AverageValue;Value;Utilization
type MetricType string

// Metric types.
const (
	// MetricTypeAverageValue: desired replicas = ceil(value / target).
	MetricTypeAverageValue MetricType = "AverageValue"
	// MetricTypeValue: desired replicas = ceil(current × value / target).
	MetricTypeValue MetricType = "Value"
	// MetricTypeUtilization: for cpu and memory triggers only, the average
	// use across the pods as a percentage of their requests.
	MetricTypeUtilization MetricType = "Utilization"
)

// ScalingModifiers replaces the per-trigger metrics with one composite metric
// computed by a formula over the trigger names.
//
// +kubebuilder:validation:XValidation:rule="has(self.formula) == has(self.target)",message="formula and target must be set together",fieldPath=".target"
type ScalingModifiers struct {
	// Formula is a numeric expression over trigger names, e.g. "(queue + lag) / 2".
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Formula string `json:"formula,omitempty"`

	// Target is the composite metric's target, a decimal number.
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?$`
	// +optional
	Target string `json:"target,omitempty"`

	// ActivationTarget is the composite metric's activation threshold.
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?$`
	// +optional
	ActivationTarget string `json:"activationTarget,omitempty"`

	// MetricType of the composite metric.
	// +kubebuilder:default=AverageValue
	// +optional
	MetricType MetricType `json:"metricType,omitempty"`
}

// Trigger is one event source.
type Trigger struct {
	// Type names the scaler: rabbitmq, kafka, prometheus, postgresql, mysql, ...
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Type string `json:"type"`

	// Name identifies the trigger in status, events, metric names and formulas.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Name string `json:"name,omitempty"`

	// Metadata configures the scaler; the keys are the scaler's own.
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`

	// AuthenticationRef names the TriggerAuthentication (or
	// ClusterTriggerAuthentication) that supplies credentials.
	// +optional
	AuthenticationRef *AuthenticationRef `json:"authenticationRef,omitempty"`

	// MetricType is AverageValue (the default) or Value; cpu and memory
	// triggers take Utilization or AverageValue.
	// +kubebuilder:default=AverageValue
	// +optional
	MetricType MetricType `json:"metricType,omitempty"`
}

// AuthenticationRef names a TriggerAuthentication or ClusterTriggerAuthentication.
type AuthenticationRef struct {
	// Name of the authentication object.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`

	// Kind is TriggerAuthentication (the default) or ClusterTriggerAuthentication.
	// +kubebuilder:default=TriggerAuthentication
	// +kubebuilder:validation:Enum=TriggerAuthentication;ClusterTriggerAuthentication
	// +optional
	Kind string `json:"kind,omitempty"`
}

// ScaledObjectStatus is what Ebb observed and decided.
type ScaledObjectStatus struct {
	// ObservedGeneration is the generation of the spec last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Active, Fallback and Paused.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ScaleTargetKind is the group, version and kind of the resolved target.
	// +optional
	ScaleTargetKind string `json:"scaleTargetKind,omitempty"`

	// OriginalReplicaCount is the target's replica count before Ebb first scaled it.
	// +optional
	OriginalReplicaCount *int32 `json:"originalReplicaCount,omitempty"`

	// LastActiveTime is the last time any trigger was active.
	// +optional
	LastActiveTime *metav1.Time `json:"lastActiveTime,omitempty"`

	// CurrentReplicas is the target's replica count as last seen.
	// +optional
	CurrentReplicas int32 `json:"currentReplicas,omitempty"`

	// DesiredReplicas is the replica count Ebb or its HPA last asked for.
	// +optional
	DesiredReplicas int32 `json:"desiredReplicas,omitempty"`

	// HPAName is the name of the HPA Ebb owns for this ScaledObject.
	// +optional
	HPAName string `json:"hpaName,omitempty"`

	// ExternalMetricNames are the external metrics served for this ScaledObject.
	// +listType=atomic
	// +optional
	ExternalMetricNames []string `json:"externalMetricNames,omitempty"`

	// Triggers holds the health of each trigger, in spec order.
	// +listType=atomic
	// +optional
	Triggers []TriggerStatus `json:"triggers,omitempty"`
}

// TriggerStatus is the last reading of one trigger.
type TriggerStatus struct {
	// Name of the trigger (its spec name, or its generated one).
	Name string `json:"name"`

	// Type of the trigger.
	Type string `json:"type"`

	// MetricName is the external metric the trigger is served as.
	// +optional
	MetricName string `json:"metricName,omitempty"`

	// Value is the last value read, as a decimal string.
	// +optional
	Value string `json:"value,omitempty"`

	// Target is the trigger's target value, as a decimal string.
	// +optional
	Target string `json:"target,omitempty"`

	// Active says whether the last value was above the activation threshold.
	// +optional
	Active bool `json:"active,omitempty"`

	// ConsecutiveFailures counts the reads that failed since the last success.
	// +optional
	ConsecutiveFailures int32 `json:"consecutiveFailures,omitempty"`

	// LastError is the last read's error, with no credential in it.
	// +optional
	LastError string `json:"lastError,omitempty"`

	// LastReadTime is when the trigger was last read.
	// +optional
	LastReadTime *metav1.Time `json:"lastReadTime,omitempty"`
}
