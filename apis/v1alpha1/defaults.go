// SPDX-License-Identifier: Apache-2.0

package v1alpha1

import (
	"strconv"
	"time"
)

// Defaults of the scaling contract. The CRD schema fills the same values in at
// the API server; these serve objects built in memory.
const (
	DefaultPollingInterval         = 30 * time.Second
	DefaultCooldownPeriod          = 300 * time.Second
	DefaultMaxReplicaCount         = int32(100)
	DefaultActivationProbeInterval = time.Second
	// HPANamePrefix prefixes the name of the HPA Ebb owns unless it is set.
	HPANamePrefix = "ebb-"
)

func seconds(p *int32, def time.Duration) time.Duration {
	if p == nil {
		return def
	}
	return time.Duration(*p) * time.Second
}

// PollingIntervalDuration is spec.pollingInterval, or its default.
func (s *ScaledObjectSpec) PollingIntervalDuration() time.Duration {
	return seconds(s.PollingInterval, DefaultPollingInterval)
}

// CooldownPeriodDuration is spec.cooldownPeriod, or its default.
func (s *ScaledObjectSpec) CooldownPeriodDuration() time.Duration {
	return seconds(s.CooldownPeriod, DefaultCooldownPeriod)
}

// InitialCooldownPeriodDuration is spec.initialCooldownPeriod, or zero.
func (s *ScaledObjectSpec) InitialCooldownPeriodDuration() time.Duration {
	return seconds(s.InitialCooldownPeriod, 0)
}

// MinReplicas is spec.minReplicaCount, or zero.
func (s *ScaledObjectSpec) MinReplicas() int32 {
	if s.MinReplicaCount == nil {
		return 0
	}
	return *s.MinReplicaCount
}

// MaxReplicas is spec.maxReplicaCount, or its default.
func (s *ScaledObjectSpec) MaxReplicas() int32 {
	if s.MaxReplicaCount == nil {
		return DefaultMaxReplicaCount
	}
	return *s.MaxReplicaCount
}

// ActivationProbeInterval is spec.advanced.activationProbeInterval, or its default.
func (s *ScaledObjectSpec) ActivationProbeInterval() time.Duration {
	if s.Advanced == nil || s.Advanced.ActivationProbeInterval == nil || s.Advanced.ActivationProbeInterval.Duration <= 0 {
		return DefaultActivationProbeInterval
	}
	return s.Advanced.ActivationProbeInterval.Duration
}

// HPAName is the name of the HPA Ebb owns for the ScaledObject.
func (so *ScaledObject) HPAName() string {
	if a := so.Spec.Advanced; a != nil && a.HorizontalPodAutoscalerConfig != nil && a.HorizontalPodAutoscalerConfig.Name != "" {
		return a.HorizontalPodAutoscalerConfig.Name
	}
	return HPANamePrefix + so.Name
}

// TriggerName is the name of trigger i: its own, or "<type>-<i>" when unset.
func (s *ScaledObjectSpec) TriggerName(i int) string {
	t := s.Triggers[i]
	if t.Name != "" {
		return t.Name
	}
	return t.Type + "-" + strconv.Itoa(i)
}

// Defaults of a ScaledJob.
const (
	DefaultJobsHistoryLimit = int32(100)
)

// PollingIntervalDuration is spec.pollingInterval, or its default.
func (s *ScaledJobSpec) PollingIntervalDuration() time.Duration {
	return seconds(s.PollingInterval, DefaultPollingInterval)
}

// MinReplicas is spec.minReplicaCount, or zero.
func (s *ScaledJobSpec) MinReplicas() int32 {
	if s.MinReplicaCount == nil {
		return 0
	}
	return *s.MinReplicaCount
}

// MaxReplicas is spec.maxReplicaCount, or its default.
func (s *ScaledJobSpec) MaxReplicas() int32 {
	if s.MaxReplicaCount == nil {
		return DefaultMaxReplicaCount
	}
	return *s.MaxReplicaCount
}

// SuccessfulHistory is spec.successfulJobsHistoryLimit, or its default.
func (s *ScaledJobSpec) SuccessfulHistory() int32 {
	if s.SuccessfulJobsHistoryLimit == nil {
		return DefaultJobsHistoryLimit
	}
	return *s.SuccessfulJobsHistoryLimit
}

// FailedHistory is spec.failedJobsHistoryLimit, or its default.
func (s *ScaledJobSpec) FailedHistory() int32 {
	if s.FailedJobsHistoryLimit == nil {
		return DefaultJobsHistoryLimit
	}
	return *s.FailedJobsHistoryLimit
}

// RolloutStrategy is spec.rollout.strategy, or default.
func (s *ScaledJobSpec) RolloutStrategy() RolloutStrategy {
	if s.Rollout == nil || s.Rollout.Strategy == "" {
		return RolloutDefault
	}
	return s.Rollout.Strategy
}

// Strategy is spec.scalingStrategy.strategy, or default.
func (s *ScaledJobSpec) Strategy() JobScalingStrategy {
	if s.ScalingStrategy == nil || s.ScalingStrategy.Strategy == "" {
		return JobScalingDefault
	}
	return s.ScalingStrategy.Strategy
}

// Calculation is spec.scalingStrategy.multipleScalersCalculation, or max.
func (s *ScaledJobSpec) Calculation() MultipleScalersCalculation {
	if s.ScalingStrategy == nil || s.ScalingStrategy.MultipleScalersCalculation == "" {
		return CalculationMax
	}
	return s.ScalingStrategy.MultipleScalersCalculation
}

// TriggerName is the name of trigger i: its own, or "<type>-<i>" when unset.
func (s *ScaledJobSpec) TriggerName(i int) string {
	t := s.Triggers[i]
	if t.Name != "" {
		return t.Name
	}
	return t.Type + "-" + strconv.Itoa(i)
}
