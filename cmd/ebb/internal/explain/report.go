// SPDX-License-Identifier: Apache-2.0

package explain

import "time"

// Report is what `ebb explain` says about one ScaledObject: a verdict, then
// the facts behind it. `-o json` prints it as it is.
type Report struct {
	// Verdict is one sentence: the target, its replicas and why.
	Verdict string `json:"verdict"`
	// Now is the time the report was made at; ages count from it.
	Now       time.Time `json:"now"`
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`

	Target     Target      `json:"target"`
	Spec       Spec        `json:"spec"`
	Conditions []Condition `json:"conditions"`
	Triggers   []Trigger   `json:"triggers"`
	HPA        HPA         `json:"hpa"`
	ToZero     ToZero      `json:"scaleToZero"`
	Pause      Pause       `json:"pause"`
	Fallback   Fallback    `json:"fallback"`
	// Events of the ScaledObject and its HPA, oldest first, newest last.
	Events      []Event `json:"events"`
	EventsError string  `json:"eventsError,omitempty"`
}

// Target is the workload the ScaledObject scales.
type Target struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	// Replicas is spec.replicas of its /scale subresource; nil when it
	// could not be read (Error says why).
	Replicas *int32 `json:"replicas"`
	Error    string `json:"error,omitempty"`
}

// Spec is the ScaledObject's replica range and timing, defaults filled in.
type Spec struct {
	MinReplicas            int32   `json:"minReplicaCount"`
	MaxReplicas            int32   `json:"maxReplicaCount"`
	IdleReplicas           *int32  `json:"idleReplicaCount,omitempty"`
	PollingIntervalSeconds float64 `json:"pollingIntervalSeconds"`
	CooldownSeconds        float64 `json:"cooldownPeriodSeconds"`
	InitialCooldownSeconds float64 `json:"initialCooldownPeriodSeconds"`
	// ScaleToZero is stepwise (the default) or direct.
	ScaleToZero string `json:"scaleToZero"`
}

// Condition is one status condition of the ScaledObject or the HPA.
type Condition struct {
	Type    string    `json:"type"`
	Status  string    `json:"status"`
	Reason  string    `json:"reason,omitempty"`
	Message string    `json:"message,omitempty"`
	Since   time.Time `json:"lastTransitionTime,omitzero"`
}

// Trigger is one trigger as Ebb's status records it, with the replica
// count it asks the HPA for.
type Trigger struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	MetricName string `json:"metricName,omitempty"`
	// MetricType is AverageValue or Value.
	MetricType string `json:"metricType"`
	// Value and Target are decimal strings, as in the status; Value is
	// empty until the trigger has been read.
	Value  string `json:"value,omitempty"`
	Target string `json:"target,omitempty"`
	// Activation is the activation threshold and ActivationFrom where it
	// comes from (a metadata key, or "default").
	Activation     string `json:"activationThreshold"`
	ActivationFrom string `json:"activationFrom"`
	Active         bool   `json:"active"`
	// Known says the last read succeeded.
	Known               bool       `json:"known"`
	ConsecutiveFailures int32      `json:"consecutiveFailures"`
	LastError           string     `json:"lastError,omitempty"`
	LastReadTime        *time.Time `json:"lastReadTime,omitempty"`
	// Composite marks the metric of advanced.scalingModifiers: the HPA
	// scales on it, not on the triggers it combines.
	Composite bool `json:"composite,omitempty"`
	// Wants is the replica count the HPA computes from this trigger's
	// value; nil when it computes none (unknown value, zero replicas, a
	// trigger inside a composite). Arithmetic shows how.
	Wants      *int32 `json:"wants,omitempty"`
	Arithmetic string `json:"arithmetic,omitempty"`
	// WithinTolerance says the value is close enough to the target for the
	// HPA to keep the current count.
	WithinTolerance bool `json:"withinTolerance,omitempty"`
}

// HPA is the HPA Ebb owns for the ScaledObject.
type HPA struct {
	Name string `json:"name"`
	// Found says it exists; Error says why it could not be read.
	Found           bool       `json:"found"`
	Error           string     `json:"error,omitempty"`
	MinReplicas     int32      `json:"minReplicas"`
	MaxReplicas     int32      `json:"maxReplicas"`
	CurrentReplicas int32      `json:"currentReplicas"`
	DesiredReplicas int32      `json:"desiredReplicas"`
	LastScaleTime   *time.Time `json:"lastScaleTime,omitempty"`
	// Wants is the highest count the triggers ask for, within
	// MinReplicas..MaxReplicas: what the HPA computes before its behavior
	// (rate limits, stabilization) applies.
	Wants *int32 `json:"wants,omitempty"`
	// ToleranceUp and ToleranceDown: the HPA leaves the count alone while
	// the ratio of value to target is within 1-down..1+up.
	ToleranceUp   float64 `json:"toleranceUp"`
	ToleranceDown float64 `json:"toleranceDown"`
	// ScaleUpWindowSeconds and ScaleDownWindowSeconds are the behavior's
	// stabilization windows; BehaviorDefault says the HPA has no behavior
	// of its own, so Kubernetes' defaults apply.
	ScaleUpWindowSeconds   int32       `json:"scaleUpStabilizationWindowSeconds"`
	ScaleDownWindowSeconds int32       `json:"scaleDownStabilizationWindowSeconds"`
	BehaviorDefault        bool        `json:"behaviorDefault"`
	Metrics                []HPAMetric `json:"metrics"`
	Conditions             []Condition `json:"conditions"`
}

// HPAMetric is one External metric of the HPA: its target and what the
// HPA last read.
type HPAMetric struct {
	Name string `json:"name"`
	// TargetType is AverageValue or Value (Utilization or AverageValue for
	// cpu and memory).
	TargetType string `json:"targetType"`
	Target     string `json:"target"`
	// Current is what the HPA status reports: per pod for AverageValue.
	Current string `json:"current,omitempty"`
}

// ToZero is the state of the way to zero (or idle) and back.
type ToZero struct {
	LastActiveTime  *time.Time `json:"lastActiveTime,omitempty"`
	CooldownSeconds float64    `json:"cooldownPeriodSeconds"`
	// CooldownRemainingSeconds is how long until the target may go to its
	// resting count, while it waits for that.
	CooldownRemainingSeconds float64 `json:"cooldownRemainingSeconds"`
	// Rest is the count the target rests at: idleReplicaCount, else
	// minReplicaCount.
	Rest int32 `json:"restReplicas"`
	// State says in a sentence where the target stands.
	State string `json:"state"`
	// NextReplicas is the count Ebb's scale loop would write now, if any.
	NextReplicas *int32 `json:"nextReplicas,omitempty"`
}

// Pause is the pause annotations' effect.
type Pause struct {
	Paused   bool   `json:"paused"`
	Replicas *int32 `json:"pausedReplicas,omitempty"`
}

// Fallback is the fallback configuration and whether it holds.
type Fallback struct {
	Configured       bool   `json:"configured"`
	FailureThreshold int32  `json:"failureThreshold,omitempty"`
	Replicas         int32  `json:"replicas,omitempty"`
	Behavior         string `json:"behavior,omitempty"`
	Active           bool   `json:"active"`
	// HoldReplicas is the count that holds while Active.
	HoldReplicas int32  `json:"holdReplicas,omitempty"`
	Message      string `json:"message,omitempty"`
}

// Event is one Kubernetes Event of the ScaledObject or its HPA.
type Event struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	Reason  string    `json:"reason"`
	Object  string    `json:"object"`
	Message string    `json:"message"`
	Count   int32     `json:"count,omitempty"`
}
